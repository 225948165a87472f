package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestIndexPageOpensEchoSocket(t *testing.T) {
	srv := httptest.NewServer(newHandler(slog.New(slog.DiscardHandler)))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, proto := range []string{"", "https"} {
		req, _ := http.NewRequest("GET", srv.URL+"/", nil)
		if proto != "" {
			req.Header.Set("X-Forwarded-Proto", proto) // not trusted: still ws
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := `new WebSocket("ws:\/\/` + host + `/echo/")`
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Fatalf("X-Forwarded-Proto %q: status %d, page lacks %s:\n%s", proto, resp.StatusCode, want, body)
		}
	}
}
