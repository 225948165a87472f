// Package grouptest serves sockets that join the groups of a
// [groups.Hub] over real TCP, for the tests of package groups and of its
// backends.
//
// A socket at /g/{group}?id=ID joins the group, is told "joined", then
// publishes to the group every message it sends. A test dials such
// sockets with [Server.Dial] and reads them with a deadline, so that a
// message that never comes fails the test rather than hanging it.
package grouptest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/groups"
)

// DefaultTimeout bounds each dial and each receive when Options.Timeout
// is zero. It keeps a test that misses a message from hanging; it is no
// assertion on speed.
const DefaultTimeout = 20 * time.Second

var (
	// ErrNotJoined reports a socket whose first message was not "joined".
	ErrNotJoined = errors.New("grouptest: first message is not \"joined\"")
	// ErrNotText reports a binary message where a text one was expected.
	ErrNotText = errors.New("grouptest: message is not text")
	// ErrNotTCP reports a connection whose buffers cannot be sized,
	// because it is not a TCP connection.
	ErrNotTCP = errors.New("grouptest: not a TCP connection")
)

// TB is the part of testing.TB that a Server and its clients use: they
// fail the test, and close what they opened when it ends. *testing.T and
// *testing.B satisfy it.
type TB interface {
	Helper()
	Cleanup(func())
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// Options configures a Server. The zero value serves sockets without
// presence, with pistoke's defaults but for the bounds on slow clients.
type Options struct {
	// Presence lists every client in its group's presence, under its id.
	// Without it only a client dialled with DialOptions.Presence is
	// listed.
	Presence bool

	// Meta is the metadata of every presence entry.
	Meta map[string]string

	// SendBuffer, when set and positive for a client's id, sizes the
	// server's socket send buffer for that client. A small buffer makes a
	// client that stops reading hold up the server's writes after a few
	// kilobytes rather than a few megabytes.
	SendBuffer func(id string) int

	// Timeout bounds each dial and each receive of the server's clients;
	// 0 means DefaultTimeout.
	Timeout time.Duration

	// Handler holds the options of the sockets' pistoke.Handler. A zero
	// WriteTimeout, SendQueue or PingInterval becomes -1, none, so that
	// the hub's policy alone decides the fate of a slow client; a nil
	// Logger discards.
	Handler pistoke.Options
}

// Server serves the sockets of a hub's groups over real TCP on the
// loopback interface.
type Server struct {
	// Hub is the hub the sockets join.
	Hub *groups.Hub

	url  string // ws://127.0.0.1:PORT
	opts Options

	mu       sync.Mutex
	members  map[string]*groups.Membership // by client id
	joinErrs map[string]error              // by client id
}

// NewServer starts a server whose sockets join the groups of hub, and
// closes it when the test ends. The hub stays the caller's to close.
// opts may be nil.
func NewServer(t TB, hub *groups.Hub, opts *Options) *Server {
	t.Helper()
	s := &Server{Hub: hub, members: make(map[string]*groups.Membership), joinErrs: make(map[string]error)}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.Timeout == 0 {
		s.opts.Timeout = DefaultTimeout
	}
	h := s.opts.Handler
	if h.Logger == nil {
		h.Logger = slog.New(slog.DiscardHandler)
	}
	for _, d := range []*time.Duration{&h.WriteTimeout, &h.PingInterval} {
		if *d == 0 {
			*d = -1
		}
	}
	if h.SendQueue == 0 {
		h.SendQueue = -1
	}
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /g/{group}", pistoke.HandlerFunc(s.serve))
	srv := httptest.NewServer(pistoke.Handler(mux, h))
	t.Cleanup(srv.Close)
	s.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	return s
}

func (s *Server) serve(ws *pistoke.Conn) error {
	r := ws.Request()
	group, id := r.PathValue("group"), r.URL.Query().Get("id")
	if s.opts.SendBuffer != nil {
		if n := s.opts.SendBuffer(id); n > 0 {
			tc, ok := ws.NetConn().(*net.TCPConn)
			if !ok {
				return ErrNotTCP
			}
			if err := tc.SetWriteBuffer(n); err != nil {
				return err
			}
		}
	}
	var opts *groups.JoinOptions
	if s.opts.Presence || r.URL.Query().Get("presence") == "1" {
		opts = &groups.JoinOptions{Presence: &groups.Member{ID: id, Meta: s.opts.Meta}}
	}
	m, err := s.Hub.Join(ws, group, opts)
	s.mu.Lock()
	s.joinErrs[id] = err
	if err == nil {
		s.members[id] = m
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if err := ws.SendText("joined"); err != nil {
		return err
	}
	for typ, msg := range ws.Messages() {
		if err := s.Hub.Publish(ws.Context(), group, typ, msg); err != nil {
			return err
		}
	}
	return ws.Err()
}

// Membership returns the membership of the latest socket that joined
// with id, or nil if none has. Use it to look at what the hub did for
// one client, such as how many messages it dropped.
func (s *Server) Membership(id string) *groups.Membership {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.members[id]
}

// JoinError returns what Hub.Join returned for the latest socket that
// joined with id: nil once it joined, the hub's error when it did not
// (the client then sees its socket closed with 1011). Use it to check
// why the hub refused a client.
func (s *Server) JoinError(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.joinErrs[id]
}

// DialOptions configures one client of a Server.
type DialOptions struct {
	// Presence lists the client in its group's presence, whatever the
	// server's Options.Presence.
	Presence bool

	// ReadBuffer, when positive, sizes the client's socket receive
	// buffer. With the server's SendBuffer, it makes a client that stops
	// reading hold up the server's writes early.
	ReadBuffer int

	// CloseNow ends the connection without a closing handshake when the
	// test ends. A client that stopped reading needs it: it could not
	// read the server's answer to its close frame before the backlog
	// ahead of it.
	CloseNow bool
}

// Client is a socket of a test on a Server.
type Client struct {
	// ID is the id the client joined with.
	ID string
	// Conn is the client's side of the socket, for sending and closing.
	Conn *pistoke.Conn

	t       TB
	timeout time.Duration
}

// Dial connects a client as id to group and returns once it has joined.
// The socket is closed when the test ends. opts may be nil. Dial fails
// the test if the socket does not join.
func (s *Server) Dial(t TB, group, id string, opts *DialOptions) *Client {
	t.Helper()
	c, err := s.TryDial(t, group, id, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TryDial is Dial returning its error instead of failing the test. When
// the server closes the socket before it joins, the error wraps the
// *pistoke.CloseError telling how.
func (s *Server) TryDial(t TB, group, id string, opts *DialOptions) (*Client, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	u := s.url + "/g/" + url.PathEscape(group) + "?id=" + url.QueryEscape(id)
	if opts.Presence {
		u += "&presence=1"
	}
	var dopts pistoke.DialOptions
	if n := opts.ReadBuffer; n > 0 {
		dopts.NetDial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			nc, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			tc, ok := nc.(*net.TCPConn)
			if !ok {
				nc.Close()
				return nil, ErrNotTCP
			}
			if err := tc.SetReadBuffer(n); err != nil {
				nc.Close()
				return nil, err
			}
			return nc, nil
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout)
	defer cancel()
	ws, _, err := pistoke.Dial(ctx, u, &dopts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	if opts.CloseNow {
		t.Cleanup(func() { ws.NetConn().Close() })
	} else {
		t.Cleanup(func() { ws.Close(pistoke.CloseNormal, "") })
	}
	c := &Client{ID: id, Conn: ws, t: t, timeout: s.opts.Timeout}
	msg, err := c.TryReceive()
	if err != nil {
		return nil, err
	}
	if msg != "joined" {
		return nil, fmt.Errorf("%s: %w: got %.40q", id, ErrNotJoined, msg)
	}
	return c, nil
}

// Receive returns the next text message, failing the test on anything
// else. Call it from the test's goroutine only; other goroutines call
// TryReceive.
func (c *Client) Receive() string {
	c.t.Helper()
	msg, err := c.TryReceive()
	if err != nil {
		c.t.Fatal(err)
	}
	return msg
}

// TryReceive returns the next text message, or an error naming the
// client: the connection's end, ErrNotText, or a timeout after the
// server's Options.Timeout. It may be called from any goroutine.
func (c *Client) TryReceive() (string, error) {
	_ = c.Conn.NetConn().SetReadDeadline(time.Now().Add(c.timeout))
	typ, p, err := c.Conn.Receive()
	if err != nil {
		return "", fmt.Errorf("%s: %w", c.ID, err)
	}
	if typ != pistoke.Text {
		return "", fmt.Errorf("%s: %w: got a %v message", c.ID, ErrNotText, typ)
	}
	return string(p), nil
}

// WaitClose reads until the connection ends and returns how the server
// closed it (its close code and reason), with how many messages came
// before. It fails the test if the connection ends without a close
// code.
func (c *Client) WaitClose() (ce *pistoke.CloseError, skipped int) {
	c.t.Helper()
	for {
		_, err := c.TryReceive()
		if err == nil {
			skipped++
			continue
		}
		if !errors.As(err, &ce) {
			c.t.Fatalf("connection ended with %v, want a close code", err)
		}
		return ce, skipped
	}
}
