package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pistoke/pistoke"
)

// ctlClient talks to a server's control listener.
type ctlClient struct {
	base string
	hc   *http.Client
}

func newCtlClient(addr string) *ctlClient {
	return &ctlClient{base: "http://" + addr, hc: &http.Client{Timeout: 2 * time.Minute}}
}

func (c *ctlClient) get(path string, v any) error {
	resp, err := c.hc.Get(c.base + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("control %s: %s: %s", path, resp.Status, bytes.TrimSpace(b))
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func (c *ctlClient) post(path string) error {
	resp, err := c.hc.Post(c.base+path, "text/plain", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("control %s: %s: %s", path, resp.Status, bytes.TrimSpace(b))
	}
	return nil
}

func (c *ctlClient) stats() (stats, error) {
	var s stats
	err := c.get("/stats", &s)
	return s, err
}

func (c *ctlClient) mem() (memory, error) {
	var m memory
	err := c.get("/mem", &m)
	return m, err
}

// waitActive waits until exactly n socket handlers run in the server.
// The server has no way to push this, so it is polled, with a deadline.
func (c *ctlClient) waitActive(n int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		s, err := c.stats()
		if err != nil {
			return err
		}
		if s.Active == n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server runs %d socket handlers after %v, want %d", s.Active, timeout, n)
		}
		time.Sleep(delay)
	}
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
	errs := make([]error, n)
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i := range conns {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := dial(ctx, url)
			if err != nil {
				errs[i] = fmt.Errorf("dial %d: %w", i, err)
				return
			}
			conns[i] = c
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
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
