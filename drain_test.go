package pistoke_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pistoke/pistoke"
)

// startServer serves h on a loopback port with a server the test can
// drain, and returns it with its ws:// base URL.
func startServer(t *testing.T, h http.Handler) (*http.Server, string) {
	t.Helper()
	return startServerWith(t, &http.Server{Handler: h})
}

func startServerWith(t *testing.T, srv *http.Server) (*http.Server, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return srv, "ws://" + l.Addr().String()
}

func TestDrainClosesEverySocketWith1001(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 200
	}
	var sawDraining atomic.Int32
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /echo/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		err := echo(ws)
		if pistoke.Draining(ws.Context()) {
			sawDraining.Add(1)
		}
		return err
	}))
	srv, url := startServer(t, pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()}))

	conns := make([]*pistoke.Conn, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 64)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ws, _, err := pistoke.Dial(ctx, url+"/echo/", nil)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = ws
			// One echo proves the socket is open on the server.
			if err := ws.SendText("hi"); err != nil {
				errs <- err
				return
			}
			if _, _, err := ws.Receive(); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("opening sockets: %v", err)
	}

	closes := make(chan error, n)
	for _, ws := range conns {
		go func() {
			_, _, err := ws.Receive()
			closes <- err
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	if err := pistoke.Drain(ctx, srv); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	t.Logf("drained %d sockets in %v", n, time.Since(start).Round(time.Millisecond))
	for range n {
		err := <-closes
		var ce *pistoke.CloseError
		if !errors.As(err, &ce) || ce.Code != pistoke.CloseGoingAway || ce.Reason != "going away" {
			t.Fatalf("client saw %v, want close 1001 %q", err, "going away")
		}
	}
	if got := sawDraining.Load(); got != int32(n) {
		t.Errorf("%d handlers saw Draining, want %d", got, n)
	}
}

// rawHandshake writes a handshake request for path on nc and returns the
// response status line and headers.
func rawHandshake(t *testing.T, nc net.Conn, path string) *http.Response {
	t.Helper()
	fmt.Fprintf(nc, "GET %s HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", path)
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatalf("reading the handshake response: %v", err)
	}
	resp.Body.Close()
	return resp
}

func TestHandshakeDuringDrainGets503(t *testing.T) {
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /hold/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		<-ws.Context().Done()
		<-release // keeps the drain going while the test knocks
		return nil
	}))
	accepted := make(chan struct{}, 4)
	srv, url := startServerWith(t, &http.Server{
		Handler: pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()}),
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				accepted <- struct{}{}
			}
		},
	})
	held := dialOK(t, url+"/hold/", nil)
	<-accepted

	// A connection accepted before the drain, whose request comes after.
	late, err := net.Dial("tcp", strings.TrimPrefix(url, "ws://"))
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	<-accepted

	drained := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		drained <- pistoke.Drain(ctx, srv)
	}()
	expectClose(t, held, pistoke.CloseGoingAway)

	resp := rawHandshake(t, late, "/hold/")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("handshake during the drain: %s, Retry-After %q; want 503 with Retry-After",
			resp.Status, resp.Header.Get("Retry-After"))
	}
	select {
	case err := <-drained:
		t.Fatalf("Drain returned %v while a handler was still running", err)
	default:
	}
	close(release)
	if err := <-drained; err != nil {
		t.Fatalf("Drain: %v", err)
	}
}

func TestDrainTimeoutClosesTheRest(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /stubborn/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		ws.SendText("ready")
		<-release // ignores the drain
		return nil
	}))
	srv, url := startServer(t, pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()}))
	ws := dialOK(t, url+"/stubborn/", nil)
	expectText(t, ws, "ready")

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := pistoke.Drain(ctx, srv)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "1 sockets still open") {
		t.Fatalf("Drain = %v, want a deadline error naming 1 open socket", err)
	}
	// The client still got its 1001 first.
	expectClose(t, ws, pistoke.CloseGoingAway)
}

func TestRunDrainsWhenContextEnds(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /echo/", pistoke.HandlerFunc(echo))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()})}
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() {
		ran <- pistoke.Run(ctx, srv, l, &pistoke.RunOptions{Signals: []os.Signal{}, Logger: quietLogger()})
	}()
	ws := dialOK(t, "ws://"+l.Addr().String()+"/echo/", nil)
	ws.SendText("ping")
	expectText(t, ws, "ping")
	stop()
	expectClose(t, ws, pistoke.CloseGoingAway)
	if err := <-ran; err != nil {
		t.Fatalf("Run = %v, want nil after a clean drain", err)
	}
	if srv.ReadHeaderTimeout != 10*time.Second || srv.MaxHeaderBytes != 64<<10 {
		t.Errorf("ReadHeaderTimeout = %v, MaxHeaderBytes = %d; want Run's defaults 10s and 64 KiB", srv.ReadHeaderTimeout, srv.MaxHeaderBytes)
	}
	if _, err := net.Dial("tcp", l.Addr().String()); err == nil {
		t.Error("the listener still accepts after Run returned")
	}
}

func TestSlowHeadersAreCutOff(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: 100 * time.Millisecond}
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() {
		ran <- pistoke.Run(ctx, srv, l, &pistoke.RunOptions{Signals: []os.Signal{}, Logger: quietLogger()})
	}()
	defer func() {
		stop()
		<-ran
	}()

	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// Half a request line, then nothing: the server must hang up.
	if _, err := nc.Write([]byte("GET / HT")); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	for {
		_, err := nc.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the server kept a connection with incomplete headers open")
		}
		break
	}
}

// A handshake admitted before the drain began but upgraded after it must
// neither escape the drain nor be cut without its 1001.
func TestHandshakeInFlightWhenDrainStarts(t *testing.T) {
	arrived := make(chan context.Context, 1)
	proceed := make(chan struct{})
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /slow/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- r.Context()
		<-proceed // middleware still deciding, say a session lookup
		pistoke.HandlerFunc(echo).ServeHTTP(w, r)
	}))
	srv, url := startServer(t, pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()}))

	dialed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ws, _, err := pistoke.Dial(ctx, url+"/slow/", nil)
		if err == nil {
			ws.NetConn().SetReadDeadline(time.Now().Add(10 * time.Second))
			_, _, err = ws.Receive()
		}
		dialed <- err
	}()
	reqCtx := <-arrived

	drained := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		drained <- pistoke.Drain(ctx, srv)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !pistoke.Draining(reqCtx) {
		if time.Now().After(deadline) {
			t.Fatal("the drain did not begin")
		}
		time.Sleep(time.Millisecond) // waiting for the drain's flag; nothing to signal it
	}
	select {
	case err := <-drained:
		t.Fatalf("Drain returned %v with a handshake still in flight", err)
	default:
	}
	close(proceed)

	err := <-dialed
	var ce *pistoke.CloseError
	if !errors.As(err, &ce) || ce.Code != pistoke.CloseGoingAway {
		t.Fatalf("the late socket saw %v, want 1001", err)
	}
	if err := <-drained; err != nil {
		t.Fatalf("Drain: %v", err)
	}
}

// Run answers a handshake whose request completes after the last socket
// has drained: net/http alone would drop it once Shutdown has begun.
func TestRunAnswersAHandshakeCompletedLate(t *testing.T) {
	logs := &logRecorder{}
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /echo/", pistoke.HandlerFunc(echo))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() {
		srv := &http.Server{Handler: pistoke.Handler(mux, pistoke.Options{Logger: slog.New(logs)})}
		ran <- pistoke.Run(ctx, srv, l, &pistoke.RunOptions{Signals: []os.Signal{}, Logger: quietLogger(), DrainTimeout: 20 * time.Second})
	}()
	ws := dialOK(t, "ws://"+addr+"/echo/", nil)
	ws.SendText("hi")
	expectText(t, ws, "hi")

	// A client that has connected and sent half its handshake.
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	req := "GET /echo/ HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	half := len(req) / 2
	if _, err := io.WriteString(nc, req[:half]); err != nil {
		t.Fatal(err)
	}

	stop()
	expectClose(t, ws, pistoke.CloseGoingAway)
	logs.wait(t, "pistoke: socket closed") // the last socket is gone

	if _, err := io.WriteString(nc, req[half:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatalf("the late handshake got no response: %v", err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("late handshake: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if err := <-ran; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("the listener still accepts after Run returned")
	}
}

// Serving a socket must not keep an http.Server alive once it is done.
func TestServersAreCollected(t *testing.T) {
	const servers = 50
	collected := make(chan struct{}, servers)
	for range servers {
		func() {
			mux := http.NewServeMux()
			mux.Handle("WEBSOCKET /echo/", pistoke.HandlerFunc(echo))
			srv := &http.Server{Handler: pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()})}
			runtime.AddCleanup(srv, func(ch chan struct{}) { ch <- struct{}{} }, collected)
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				srv.Serve(l)
			}()
			ws := dialOK(t, "ws://"+l.Addr().String()+"/echo/", nil)
			ws.SendText("hi")
			expectText(t, ws, "hi")
			if err := ws.Close(pistoke.CloseNormal, ""); err != nil {
				t.Fatal(err)
			}
			if err := srv.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			<-done
		}()
	}
	deadline := time.After(20 * time.Second)
	for n := 0; n < servers; {
		runtime.GC()
		select {
		case <-collected:
			n++
		case <-time.After(10 * time.Millisecond): // give cleanups a chance to run, then collect again
		case <-deadline:
			t.Fatalf("%d of %d servers collected", n, servers)
		}
	}
}

// A socket another library opened inside the tree is not pistoke's to
// close, so a drain does not wait for it.
func TestDrainDoesNotWaitForForeignSockets(t *testing.T) {
	up := websocket.Upgrader{}
	upgraded := make(chan *websocket.Conn, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("WEBSOCKET /g/", func(w http.ResponseWriter, r *http.Request) {
		r.Method = http.MethodGet // as gorilla expects
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		upgraded <- c
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	})
	srv, url := startServer(t, pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()}))
	client, _, err := websocket.DefaultDialer.Dial(url+"/g/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server := <-upgraded
	defer server.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pistoke.Drain(ctx, srv); err != nil {
		t.Fatalf("Drain = %v, want nil without waiting for the foreign socket", err)
	}
}
