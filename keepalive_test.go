package pistoke_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pistoke/pistoke"
)

func TestPingsKeepAnsweringPeerConnected(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /echo/", pistoke.HandlerFunc(echo))
	_, url := startServer(t, pistoke.Handler(mux, pistoke.Options{
		Logger:       quietLogger(),
		PingInterval: 20 * time.Millisecond,
		PongTimeout:  10 * time.Second, // generous: a loaded machine may answer late
	}))
	c, _, err := websocket.DefaultDialer.Dial(url+"/echo/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pings := make(chan struct{}, 100)
	c.SetPingHandler(func(data string) error {
		pings <- struct{}{}
		return c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	// Pings are handled while reading; read in the background.
	read := make(chan error, 1)
	got := make(chan string, 1)
	go func() {
		for {
			_, p, err := c.ReadMessage()
			if err != nil {
				read <- err
				return
			}
			got <- string(p)
		}
	}()
	for range 5 {
		select {
		case <-pings:
		case err := <-read:
			t.Fatalf("connection ended while answering pings: %v", err)
		}
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "still here" {
		t.Fatalf("echo = %q", s)
	}
}

// dialSilent performs a handshake on a raw TCP connection and then
// neither reads nor answers anything: a dead peer, as far as the server
// can tell.
func dialSilent(t *testing.T, url string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", strings.TrimPrefix(url[:strings.Index(url[5:], "/")+5], "ws://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	resp := rawHandshake(t, nc, url[strings.Index(url[5:], "/")+5:])
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %s", resp.Status)
	}
	return nc
}

func TestUnansweredPingsDropThePeer(t *testing.T) {
	ended := make(chan error, 1)
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /wait/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		<-ws.Context().Done()
		_, _, err := ws.Receive()
		ended <- err
		return nil
	}))
	_, url := startServer(t, pistoke.Handler(mux, pistoke.Options{
		Logger:       quietLogger(),
		PingInterval: 20 * time.Millisecond,
		PongTimeout:  40 * time.Millisecond,
	}))
	nc := dialSilent(t, url+"/wait/")

	select {
	case err := <-ended:
		var ce *pistoke.CloseError
		if !errors.As(err, &ce) || ce.Code != pistoke.CloseAbnormal || !strings.Contains(ce.Reason, "no pong") {
			t.Fatalf("handler saw %v, want 1006 for an unanswered ping", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler's context was not cancelled")
	}
	// The server closed TCP: after the pings it sent, the stream ends.
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, nc); err != nil && !isReset(err) {
		t.Fatalf("reading until the server hung up: %v", err)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

func TestSendOnlyHandlerStillReapsDeadPeer(t *testing.T) {
	ended := make(chan error, 1)
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /push/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		// Sends once, then waits without looking at its context: only
		// keepalive can tell that the peer is gone.
		for {
			if err := ws.SendText("tick"); err != nil {
				ended <- err
				return err
			}
			time.Sleep(5 * time.Millisecond) // a push loop's pace, not synchronisation
		}
	}))
	_, url := startServer(t, pistoke.Handler(mux, pistoke.Options{
		Logger:       quietLogger(),
		PingInterval: 20 * time.Millisecond,
	}))
	dialSilent(t, url+"/push/")
	select {
	case err := <-ended:
		if !errors.Is(err, pistoke.ErrClosed) {
			t.Fatalf("Send = %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a send-only handler kept sending to a dead peer")
	}
}

func TestIdleTimeoutCloses(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /echo/", pistoke.HandlerFunc(echo))
	_, url := startServer(t, pistoke.Handler(mux, pistoke.Options{
		Logger:       quietLogger(),
		PingInterval: -1,
		IdleTimeout:  50 * time.Millisecond,
	}))
	// A silent client: the close comes however long the machine takes.
	ws := dialOK(t, url+"/echo/", nil)
	ce := expectClose(t, ws, pistoke.CloseNormal)
	if ce.Reason != "idle timeout" {
		t.Fatalf("close reason %q, want %q", ce.Reason, "idle timeout")
	}
}

func TestMaxConns(t *testing.T) {
	rec := newMetricsRecorder()
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /echo/", pistoke.HandlerFunc(echo))
	_, url := startServer(t, pistoke.Handler(mux, pistoke.Options{
		Logger:   quietLogger(),
		MaxConns: 2,
		Metrics:  rec,
	}))
	a := dialOK(t, url+"/echo/", nil)
	dialOK(t, url+"/echo/", nil)

	_, resp, err := pistoke.Dial(context.Background(), url+"/echo/", nil)
	var he *pistoke.HandshakeError
	if !errors.As(err, &he) || he.Status != http.StatusServiceUnavailable {
		t.Fatalf("third Dial = %v, want 503", err)
	}
	if resp == nil || resp.Header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After")
	}
	if got := rec.handshakes(pistoke.HandshakeOverloaded); got != 1 {
		t.Errorf("overloaded handshakes = %d, want 1", got)
	}

	a.Close(pistoke.CloseNormal, "")
	<-rec.closed // the server has released a's slot
	c := dialOK(t, url+"/echo/", nil)
	c.SendText("room again")
	expectText(t, c, "room again")
}

// The client of the slow-consumer tests never reads, so that what the
// server sends piles up in the kernel buffers and then in Send.
func TestSlowConsumerStalledWrite(t *testing.T) {
	rec := newMetricsRecorder()
	result := make(chan error, 1)
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /flood/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		big := make([]byte, 256<<10)
		for {
			if err := ws.SendBinary(big); err != nil {
				result <- err
				return err
			}
		}
	}))
	_, url := startServer(t, pistoke.Handler(mux, pistoke.Options{
		Logger:       quietLogger(),
		PingInterval: -1,
		WriteTimeout: 50 * time.Millisecond,
		CloseTimeout: 50 * time.Millisecond,
		Metrics:      rec,
	}))
	dialSilent(t, url+"/flood/")
	expectSlowConsumer(t, result, rec)
}

func TestSlowConsumerSendQueueFull(t *testing.T) {
	rec := newMetricsRecorder()
	result := make(chan error, 16)
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /flood/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		big := make([]byte, 256<<10)
		done := make(chan struct{})
		for range 8 {
			go func() {
				for {
					if err := ws.SendBinary(big); err != nil {
						result <- err
						done <- struct{}{}
						return
					}
				}
			}()
		}
		for range 8 {
			<-done
		}
		return nil
	}))
	_, url := startServer(t, pistoke.Handler(mux, pistoke.Options{
		Logger:       quietLogger(),
		PingInterval: -1,
		WriteTimeout: -1, // only the queue bound can act
		SendQueue:    3,
		CloseTimeout: 50 * time.Millisecond,
		Metrics:      rec,
	}))
	dialSilent(t, url+"/flood/")
	expectSlowConsumer(t, result, rec)
}

func expectSlowConsumer(t *testing.T, result chan error, rec *metricsRecorder) {
	t.Helper()
	err := <-result
	var ce *pistoke.CloseError
	if !errors.Is(err, pistoke.ErrSlowConsumer) || !errors.As(err, &ce) || ce.Code != pistoke.ClosePolicyViolation {
		t.Fatalf("Send = %v, want a 1008 close matching ErrSlowConsumer", err)
	}
	if !errors.Is(err, pistoke.ErrClosed) {
		t.Errorf("%v does not match ErrClosed", err)
	}
	info := <-rec.closed
	if info.Code != pistoke.ClosePolicyViolation || info.By != "server" || info.Reason != "slow consumer" {
		t.Errorf("close info %+v, want 1008 slow consumer by the server", info)
	}
	if got := rec.dropped.Load(); got != 1 {
		t.Errorf("SendDropped called %d times, want 1", got)
	}
}
