package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/pistoke/pistoke/pistoketest"
)

func TestPageAndClock(t *testing.T) {
	c := pistoketest.NewClient(newHandler())
	defer c.Close()

	resp, err := c.Get("/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`<h1 id="greeting">` + greeting + `</h1>`,
		`href="/static/style.css"`,
		`data-socket="ws://testserver/clock"`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the page lacks %s:\n%s", want, body)
		}
	}

	ws, err := c.Dial(context.Background(), "/clock", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ws.ReceiveText()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := time.Parse(time.TimeOnly, got); err != nil {
		t.Errorf("the clock sent %q: %v", got, err)
	}
	if err := ws.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}
