package groups_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/groups"
	"github.com/pistoke/pistoke/pistoketest"
)

// A handler that joins before it first uses its connection is a member
// by the time the client's Dial returns: two clients, one sends at once,
// the other receives, every time, without polling presence.
func TestMemberAsSoonAsDialReturns(t *testing.T) {
	ctx := context.Background()
	hub, err := groups.New(ctx, nil, &groups.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /rooms/{room}", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		room := ws.Request().PathValue("room")
		if _, err := hub.Join(ws, room, nil); err != nil {
			return err
		}
		for _, msg := range ws.Messages() {
			if err := hub.PublishText(ws.Context(), room, string(msg)); err != nil {
				return err
			}
		}
		return ws.Err()
	}))
	c := pistoketest.NewClient(pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()}))
	defer c.Close()
	for i := range 1000 {
		alice, err := c.Dial(ctx, "/rooms/r", nil)
		if err != nil {
			t.Fatal(err)
		}
		bob, err := c.Dial(ctx, "/rooms/r", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := alice.SendText("hi bob"); err != nil {
			t.Fatal(err)
		}
		if got, err := bob.ReceiveText(); err != nil || got != "hi bob" {
			t.Fatalf("run %d: bob received %q, %v", i, got, err)
		}
		if got, err := alice.ReceiveText(); err != nil || got != "hi bob" {
			t.Fatalf("run %d: alice received %q, %v", i, got, err)
		}
		if err := errors.Join(alice.Close(), bob.Close()); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
}
