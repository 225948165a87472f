package groups_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/groups"
)

// receiveTimeout keeps a test that misses a message from hanging; it is
// no assertion on speed.
const receiveTimeout = 20 * time.Second

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testServer serves sockets that join groups over real TCP:
// /g/{group}?id=ID joins the group (listed in presence as ID when
// presence=1), answers "joined", then publishes to the group every
// message its client sends.
type testServer struct {
	hub *groups.Hub
	url string

	mu      sync.Mutex
	members map[string]*groups.Membership // by client id
}

func newTestServer(t *testing.T, opts *groups.Options) *testServer {
	t.Helper()
	return newTestServerOn(t, nil, opts)
}

func newTestServerOn(t *testing.T, b groups.Backend, opts *groups.Options) *testServer {
	t.Helper()
	if opts == nil {
		opts = &groups.Options{}
	}
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	hub, err := groups.New(context.Background(), b, opts)
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{hub: hub, members: make(map[string]*groups.Membership)}
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /g/{group}", pistoke.HandlerFunc(s.serve))
	srv := httptest.NewServer(pistoke.Handler(mux, pistoke.Options{
		Logger: quietLogger(),
		// The hub's policy alone decides the fate of a slow client.
		WriteTimeout: -1,
		SendQueue:    -1,
		PingInterval: -1,
		// A client that stopped reading gets a chance to read its close
		// frame, however loaded the machine.
		CloseTimeout: receiveTimeout,
	}))
	s.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	t.Cleanup(srv.Close)
	t.Cleanup(func() { hub.Close() })
	return s
}

func (s *testServer) serve(ws *pistoke.Conn) error {
	r := ws.Request()
	group, id := r.PathValue("group"), r.URL.Query().Get("id")
	var opts *groups.JoinOptions
	if r.URL.Query().Get("presence") == "1" {
		opts = &groups.JoinOptions{Presence: &groups.Member{ID: id, Meta: map[string]string{"via": "test"}}}
	}
	m, err := s.hub.Join(ws, group, opts)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.members[id] = m
	s.mu.Unlock()
	if err := ws.SendText("joined"); err != nil {
		return err
	}
	for typ, msg := range ws.Messages() {
		if err := s.hub.Publish(ws.Context(), group, typ, msg); err != nil {
			return err
		}
	}
	return ws.Err()
}

// membership returns the membership of the client id.
func (s *testServer) membership(id string) *groups.Membership {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.members[id]
}

// client is a test's socket.
type client struct {
	t  *testing.T
	ws *pistoke.Conn
}

// dial connects id to group and waits until it has joined. query adds
// parameters ("presence=1"). The socket is closed when the test ends.
func (s *testServer) dial(t *testing.T, group, id, query string) *client {
	t.Helper()
	return s.dialWith(t, group, id, query, nil)
}

func (s *testServer) dialWith(t *testing.T, group, id, query string, opts *pistoke.DialOptions) *client {
	t.Helper()
	u := s.url + "/g/" + url.PathEscape(group) + "?id=" + url.QueryEscape(id)
	if query != "" {
		u += "&" + query
	}
	ctx, cancel := context.WithTimeout(context.Background(), receiveTimeout)
	defer cancel()
	ws, _, err := pistoke.Dial(ctx, u, opts)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, ws: ws}
	t.Cleanup(func() { ws.Close(pistoke.CloseNormal, "") })
	if got := c.receive(); got != "joined" {
		t.Fatalf("%s: first message %q, want \"joined\"", id, got)
	}
	return c
}

// receive returns the next text message, failing the test on anything
// else.
func (c *client) receive() string {
	c.t.Helper()
	s, err := c.tryReceive()
	if err != nil {
		c.t.Fatal(err)
	}
	return s
}

// tryReceive is receive returning its error; safe to call from any
// goroutine.
func (c *client) tryReceive() (string, error) {
	_ = c.ws.NetConn().SetReadDeadline(time.Now().Add(receiveTimeout))
	typ, p, err := c.ws.Receive()
	if err != nil {
		return "", err
	}
	if typ != pistoke.Text {
		return "", fmt.Errorf("got a %v message, want text", typ)
	}
	return string(p), nil
}

// closeCode reads until the connection ends and returns the close code.
func (c *client) closeCode() (code, skipped int) {
	c.t.Helper()
	for {
		_, err := c.tryReceive()
		if err == nil {
			skipped++
			continue
		}
		var ce *pistoke.CloseError
		if !errors.As(err, &ce) {
			c.t.Fatalf("connection ended with %v, want a close code", err)
		}
		return ce.Code, skipped
	}
}

// nextEvent waits for the subscription's next event.
func nextEvent(t *testing.T, sub *groups.Subscription) groups.Event {
	t.Helper()
	select {
	case ev, ok := <-sub.C():
		if !ok {
			t.Fatal("subscription channel closed")
		}
		return ev
	case <-time.After(receiveTimeout):
		t.Fatal("no event")
	}
	panic("unreachable")
}

// logCounter is a slog handler that counts records by message.
type logCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func newLogCounter() *logCounter { return &logCounter{counts: make(map[string]int)} }

func (h *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *logCounter) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logCounter) WithGroup(string) slog.Handler            { return h }

func (h *logCounter) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.counts[r.Message]++
	h.mu.Unlock()
	return nil
}

func (h *logCounter) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[msg]
}
