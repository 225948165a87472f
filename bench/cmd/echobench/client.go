package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/bench/internal/harness"
)

// ctlClient talks to a server's control listener.
type ctlClient struct {
	*harness.ControlClient
}

func newCtlClient(addr string) *ctlClient {
	return &ctlClient{harness.NewControlClient(addr, 2*time.Minute)}
}

func (c *ctlClient) post(path string) error {
	return c.Post(context.Background(), path)
}

func (c *ctlClient) stats() (stats, error) {
	var s stats
	err := c.Get(context.Background(), "/stats", &s)
	return s, err
}

func (c *ctlClient) mem() (memory, error) {
	var m memory
	err := c.Get(context.Background(), "/mem", &m)
	return m, err
}

// waitActive waits until exactly n socket handlers run in the server.
func (c *ctlClient) waitActive(n int64, timeout time.Duration) error {
	var s stats
	err := harness.Poll(context.Background(), timeout, func() (bool, error) {
		var err error
		s, err = c.stats()
		return s.Active == n, err
	})
	if errors.Is(err, harness.ErrTimeout) {
		return fmt.Errorf("server runs %d socket handlers after %v, want %d", s.Active, timeout, n)
	}
	return err
}

// messageType turns the -type flag into a gorilla message type.
func messageType(name string) (int, error) {
	switch name {
	case "binary":
		return websocket.BinaryMessage, nil
	case "text":
		return websocket.TextMessage, nil
	}
	return 0, fmt.Errorf("message type %q: want binary or text", name)
}

// makePayload returns size bytes to echo: random bytes for a binary
// message, random letters for a text one.
func makePayload(size, typ int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	p := make([]byte, size)
	for i := range p {
		if typ == websocket.TextMessage {
			p[i] = 'a' + byte(r.IntN(26))
		} else {
			p[i] = byte(r.Uint32())
		}
	}
	return p
}

// The client libraries the load can use; the same one serves both
// servers.
const (
	clientGorilla = "gorilla"
	clientPistoke = "pistoke"
)

// wsClient is one client connection, whichever library opened it.
// Message types are gorilla's constants.
type wsClient interface {
	write(typ int, p []byte) error
	read() (typ int, p []byte, err error)
	// close runs the closing handshake, waiting for the server's close
	// frame so that its handler has ended, and closes the connection.
	close()
}

// dialer opens client connections with one library.
type dialer func(ctx context.Context, url string) (wsClient, error)

func newDialer(lib string) (dialer, error) {
	switch lib {
	case clientGorilla:
		d := &websocket.Dialer{HandshakeTimeout: time.Minute}
		return func(ctx context.Context, url string) (wsClient, error) {
			c, resp, err := d.DialContext(ctx, url, nil)
			if err != nil {
				if resp != nil {
					err = fmt.Errorf("%w (HTTP %s)", err, resp.Status)
				}
				return nil, err
			}
			return gorillaClient{c}, nil
		}, nil
	case clientPistoke:
		return func(ctx context.Context, url string) (wsClient, error) {
			c, _, err := pistoke.Dial(ctx, url, nil)
			if err != nil {
				return nil, err
			}
			return pistokeClient{c}, nil
		}, nil
	}
	return nil, fmt.Errorf("client library %q: want %s or %s", lib, clientGorilla, clientPistoke)
}

type gorillaClient struct{ c *websocket.Conn }

func (g gorillaClient) write(typ int, p []byte) error { return g.c.WriteMessage(typ, p) }

func (g gorillaClient) read() (int, []byte, error) { return g.c.ReadMessage() }

func (g gorillaClient) close() {
	defer g.c.Close()
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	if err := g.c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(10*time.Second)); err != nil {
		return
	}
	_ = g.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := g.c.ReadMessage(); err != nil {
			return
		}
	}
}

type pistokeClient struct{ c *pistoke.Conn }

func (p pistokeClient) write(typ int, b []byte) error {
	t := pistoke.Binary
	if typ == websocket.TextMessage {
		t = pistoke.Text
	}
	return p.c.Send(t, b)
}

func (p pistokeClient) read() (int, []byte, error) {
	t, b, err := p.c.Receive()
	if t == pistoke.Text {
		return websocket.TextMessage, b, err
	}
	return websocket.BinaryMessage, b, err
}

func (p pistokeClient) close() { _ = p.c.Close(pistoke.CloseNormal, "") }

// dialAll opens n connections to url, at most par at a time (so as not to
// overflow the server's accept queue).
func dialAll(ctx context.Context, dial dialer, url string, n, par int) ([]wsClient, error) {
	conns := make([]wsClient, n)
	err := harness.Parallel(n, par, func(i int) error {
		c, err := dial(ctx, url)
		if err != nil {
			return fmt.Errorf("dial %d: %w", i, err)
		}
		conns[i] = c
		return nil
	})
	if err != nil {
		closeAll(conns)
		return nil, err
	}
	return conns, nil
}

// roundTrips sends payload on c and reads it back, n times.
func roundTrips(c wsClient, typ int, payload []byte, n int) error {
	for range n {
		if err := c.write(typ, payload); err != nil {
			return err
		}
		got, p, err := c.read()
		if err != nil {
			return err
		}
		if got != typ || !bytes.Equal(p, payload) {
			return fmt.Errorf("echo differs: got type %d, %d bytes; sent type %d, %d bytes", got, len(p), typ, len(payload))
		}
	}
	return nil
}

// everyConn runs f on every connection at once and joins the errors.
func everyConn(conns []wsClient, f func(wsClient) error) error {
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() { errs[i] = f(c) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// closeAll closes the connections with a closing handshake.
func closeAll(conns []wsClient) {
	_ = everyConn(conns, func(c wsClient) error {
		if c != nil {
			c.close()
		}
		return nil
	})
}
