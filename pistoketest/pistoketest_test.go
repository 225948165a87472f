package pistoketest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/pistoketest"
)

func clientFor(t *testing.T, pattern string, h http.Handler) *pistoketest.Client {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(pattern, h)
	c := pistoketest.NewClient(pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()}))
	t.Cleanup(c.Close)
	return c
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	c := clientFor(t, "WEBSOCKET /silent/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		select { // looking at the context sends the 101
		case <-release:
		case <-ws.Context().Done():
		}
		return nil
	}))
	c.Timeout = 50 * time.Millisecond
	ws := dial(t, c, "/silent/", nil)
	_, _, err := ws.Receive()
	if !errors.Is(err, pistoketest.ErrTimeout) {
		t.Fatalf("Receive = %v, want ErrTimeout", err)
	}
}

func TestOutputNotRead(t *testing.T) {
	c := clientFor(t, "WEBSOCKET /chatty/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		return ws.SendText("you will not read this")
	}))
	ws := dial(t, c, "/chatty/", nil)
	err := ws.Close()
	if !errors.Is(err, pistoketest.ErrOutputNotRead) {
		t.Fatalf("Close = %v, want ErrOutputNotRead", err)
	}
}

func TestHandlerPanicSurfaces(t *testing.T) {
	c := clientFor(t, "WEBSOCKET /panic/", pistoke.HandlerFunc(func(*pistoke.Conn) error { panic("boom") }))
	ws := dial(t, c, "/panic/", nil)
	code, _, err := ws.CloseCode()
	if err != nil || code != pistoke.CloseInternalError {
		t.Fatalf("CloseCode = %d, %v; want 1011", code, err)
	}
	err = ws.Close()
	var pe *pistoke.PanicError
	if !errors.As(err, &pe) || pe.Value != "boom" {
		t.Fatalf("Close = %v, want a PanicError with value boom", err)
	}
}

func TestHandlerEndedBeforeOpen(t *testing.T) {
	c := clientFor(t, "WEBSOCKET /raw/", pistoke.RawHandlerFunc(func(*pistoke.Handshake) error { return nil }))
	_, err := c.Dial(context.Background(), "/raw/", nil)
	if !errors.Is(err, pistoketest.ErrHandlerEnded) || !errors.Is(err, pistoke.ErrNotAccepted) {
		t.Fatalf("Dial = %v, want ErrHandlerEnded wrapping ErrNotAccepted", err)
	}
	failing := errors.New("no database")
	c = clientFor(t, "WEBSOCKET /raw/", pistoke.RawHandlerFunc(func(*pistoke.Handshake) error { return failing }))
	_, err = c.Dial(context.Background(), "/raw/", nil)
	if !errors.Is(err, pistoketest.ErrHandlerEnded) || !errors.Is(err, failing) {
		t.Fatalf("Dial = %v, want ErrHandlerEnded wrapping the handler's error", err)
	}
}

func TestRefusedCarriesStatusAndBody(t *testing.T) {
	c := clientFor(t, "WEBSOCKET /teapot/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "short and stout", http.StatusTeapot)
	}))
	_, err := c.Dial(context.Background(), "/teapot/", nil)
	var re *pistoketest.RefusedError
	if !errors.As(err, &re) || re.Status != http.StatusTeapot || re.Body != "short and stout\n" {
		t.Fatalf("Dial = %#v", err)
	}
}

func TestHandshakeFailed(t *testing.T) {
	// A handler that hijacks and answers garbage is not a handshake.
	c := clientFor(t, "WEBSOCKET /garbage/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: wrong\r\n\r\n")
		brw.Flush()
		nc.Close()
	}))
	_, err := c.Dial(context.Background(), "/garbage/", nil)
	if !errors.Is(err, pistoketest.ErrHandshakeFailed) {
		t.Fatalf("Dial = %v, want ErrHandshakeFailed", err)
	}
}

func TestCookiesCarryOverFromHTTPToSocket(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "s3cret", Path: "/"})
	})
	mux.Handle("WEBSOCKET /who/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		ck, err := ws.Request().Cookie("session")
		if err != nil {
			return ws.SendText("anonymous")
		}
		return ws.SendText(ck.Value)
	}))
	c := pistoketest.NewClient(pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()}))
	defer c.Close()
	resp, err := c.Get("/login/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ws := dial(t, c, "/who/", nil)
	if got, err := ws.ReceiveText(); err != nil || got != "s3cret" {
		t.Fatalf("got %q, %v", got, err)
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
}

func Example() {
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /shout/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		_, msg, err := ws.Receive()
		if err != nil {
			return err
		}
		return ws.SendText(string(msg) + "!")
	}))
	client := pistoketest.NewClient(pistoke.Handler(mux, pistoke.Options{}))
	defer client.Close()

	ws, err := client.Dial(context.Background(), "/shout/", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	ws.SendText("hello")
	reply, _ := ws.ReceiveText()
	fmt.Println(reply)
	code, _, _ := ws.CloseCode()
	fmt.Println(code)
	fmt.Println(ws.Close())
	// Output:
	// hello!
	// 1000
	// <nil>
}

// room is a group served by a goroutine of its own, as a hub is: joins,
// leaves and messages reach it through a channel.
type room struct {
	ops chan func(map[*pistoke.Conn]bool)
}

func newRoom(t *testing.T) *room {
	rm := &room{ops: make(chan func(map[*pistoke.Conn]bool))}
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		members := map[*pistoke.Conn]bool{}
		for {
			select {
			case op := <-rm.ops:
				op(members)
			case <-done:
				return
			}
		}
	}()
	return rm
}

// do runs op in the room's goroutine and waits for it.
func (rm *room) do(op func(map[*pistoke.Conn]bool)) {
	done := make(chan struct{})
	rm.ops <- func(m map[*pistoke.Conn]bool) { op(m); close(done) }
	<-done
}

func TestDialReturnsAfterTheHandlerSetUp(t *testing.T) {
	rm := newRoom(t)
	c := clientFor(t, "WEBSOCKET /room/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		// Set-up that takes a while, as loading a room's history would.
		for range 50 {
			rm.do(func(map[*pistoke.Conn]bool) {})
		}
		rm.do(func(m map[*pistoke.Conn]bool) { m[ws] = true })
		defer rm.do(func(m map[*pistoke.Conn]bool) { delete(m, ws) })
		for _, msg := range ws.Messages() {
			text := string(msg)
			rm.do(func(m map[*pistoke.Conn]bool) {
				for member := range m {
					if member != ws {
						member.SendText(text)
					}
				}
			})
		}
		return ws.Err()
	}))
	for i := range 1000 {
		alice := dial(t, c, "/room/", nil)
		bob := dial(t, c, "/room/", nil)
		if err := alice.SendText("hello bob"); err != nil {
			t.Fatal(err)
		}
		got, err := bob.ReceiveText()
		if err != nil || got != "hello bob" {
			t.Fatalf("run %d: bob received %q, %v", i, got, err)
		}
		if err := errors.Join(alice.Close(), bob.Close()); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
}

// A raw handler that returns Accept's refusal has refused the handshake;
// the test sees a refusal, as with a Protocol.
func TestRawAcceptRefusalIsARefusal(t *testing.T) {
	c := clientFor(t, "WEBSOCKET /raw/", pistoke.RawHandlerFunc(func(h *pistoke.Handshake) error {
		ws, err := h.Accept(pistoke.Protocol{Subprotocols: []string{"v2"}})
		if err != nil {
			return err
		}
		return ws.Close(pistoke.CloseNormal, "")
	}))
	_, err := c.Dial(context.Background(), "/raw/", &pistoketest.DialOptions{Subprotocols: []string{"v1"}})
	var re *pistoketest.RefusedError
	if !errors.As(err, &re) || re.Status != http.StatusForbidden || errors.Is(err, pistoketest.ErrHandlerEnded) {
		t.Fatalf("Dial = %v, want a 403 RefusedError", err)
	}
}
