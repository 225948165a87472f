package pistoke_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/pistoketest"
)

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// logRecorder keeps log records for tests that assert on them.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
	changed chan struct{} // closed and replaced on each record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r.Clone())
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
	return nil
}

// wait returns the record with msg once it has been logged, failing the
// test after a generous bound.
func (l *logRecorder) wait(t *testing.T, msg string) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		l.mu.Lock()
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		changed := l.changed
		l.mu.Unlock()
		if line, ok := l.find(msg); ok {
			return line
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no log record %q", msg)
		}
	}
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// count returns how many records have msg.
func (l *logRecorder) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.records {
		if r.Message == msg {
			n++
		}
	}
	return n
}

// find returns the first record with msg, as "msg key=value ...".
func (l *logRecorder) find(msg string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.records {
		if r.Message == msg {
			var b strings.Builder
			b.WriteString(r.Message)
			b.WriteString(" level=" + r.Level.String())
			r.Attrs(func(a slog.Attr) bool {
				b.WriteString(" " + a.String())
				return true
			})
			return b.String(), true
		}
	}
	return "", false
}

func echo(ws *pistoke.Conn) error {
	for {
		typ, msg, err := ws.Receive()
		if err != nil {
			return err
		}
		if err := ws.Send(typ, msg); err != nil {
			return err
		}
	}
}

// serve starts a real TCP server for h and returns its ws:// base URL.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func dialOK(t *testing.T, url string, opts *pistoke.DialOptions) *pistoke.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := pistoke.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("Dial(%s): %v", url, err)
	}
	t.Cleanup(func() { ws.Close(pistoke.CloseNormal, "") })
	return ws
}

func dialStatus(t *testing.T, url string, opts *pistoke.DialOptions) int {
	t.Helper()
	_, _, err := pistoke.Dial(context.Background(), url, opts)
	var he *pistoke.HandshakeError
	if !errors.As(err, &he) {
		t.Fatalf("Dial(%s) = %v, want a HandshakeError", url, err)
	}
	return he.Status
}

func expectText(t *testing.T, ws *pistoke.Conn, want string) {
	t.Helper()
	typ, got, err := ws.Receive()
	if err != nil || typ != pistoke.Text || string(got) != want {
		t.Fatalf("Receive = %v %q %v; want text %q", typ, got, err, want)
	}
}

func expectClose(t *testing.T, ws *pistoke.Conn, code int) *pistoke.CloseError {
	t.Helper()
	_, msg, err := ws.Receive()
	var ce *pistoke.CloseError
	if !errors.As(err, &ce) || ce.Code != code {
		t.Fatalf("Receive = %q, %v; want close %d", msg, err, code)
	}
	if !errors.Is(err, pistoke.ErrClosed) {
		t.Fatalf("%v does not match ErrClosed", err)
	}
	return ce
}

func TestServeMuxRoutesWebsocketMethod(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /chat/{room}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "page "+r.PathValue("room"))
	})
	mux.Handle("WEBSOCKET /chat/{room}", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		r := ws.Request()
		return ws.SendText(r.Method + " " + pistoke.OriginalMethod(r) + " " + r.PathValue("room"))
	}))
	mux.HandleFunc("GET /only-get/", func(w http.ResponseWriter, r *http.Request) {})
	base := serve(t, pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()}))

	ws := dialOK(t, base+"/chat/lobby", nil)
	expectText(t, ws, "WEBSOCKET GET lobby")
	expectClose(t, ws, pistoke.CloseNormal)

	resp, err := http.Get(strings.Replace(base, "ws", "http", 1) + "/chat/lobby")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "page lobby" {
		t.Fatalf("GET body %q", body)
	}
	if got := dialStatus(t, base+"/only-get/", nil); got != http.StatusMethodNotAllowed {
		t.Fatalf("handshake to a GET-only route: %d, want 405", got)
	}
	if got := dialStatus(t, base+"/nowhere/", nil); got != http.StatusNotFound {
		t.Fatalf("handshake to an unknown route: %d, want 404", got)
	}
}

func TestChiRoutesWebsocketMethod(t *testing.T) {
	chi.RegisterMethod(pistoke.MethodWebsocket)
	r := chi.NewRouter()
	r.Get("/chat/{room}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "page") })
	r.Method(pistoke.MethodWebsocket, "/chat/{room}", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		return ws.SendText("room " + chi.URLParam(ws.Request(), "room"))
	}))
	r.Get("/only-get/", func(w http.ResponseWriter, r *http.Request) {})
	base := serve(t, pistoke.Handler(r, pistoke.Options{Logger: quietLogger()}))

	ws := dialOK(t, base+"/chat/kitchen", nil)
	expectText(t, ws, "room kitchen")
	if got := dialStatus(t, base+"/only-get/", nil); got != http.StatusMethodNotAllowed {
		t.Fatalf("handshake to a GET-only chi route: %d, want 405", got)
	}
}

func TestBadHandshakes(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /ws/", pistoke.HandlerFunc(echo))
	srv := httptest.NewServer(pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()}))
	defer srv.Close()
	good := "GET /ws/ HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	for _, tc := range []struct {
		name, req string
		status    int
		header    string
	}{
		{"good", good, http.StatusSwitchingProtocols, ""},
		{"tokens in lists, any case", strings.NewReplacer("Upgrade: websocket", "Upgrade: foo, WebSocket",
			"Connection: Upgrade", "Connection: keep-alive, UPGRADE").Replace(good), http.StatusSwitchingProtocols, ""},
		{"version 8", strings.Replace(good, "Version: 13", "Version: 8", 1), http.StatusUpgradeRequired, "13"},
		{"short key", strings.Replace(good, "dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ=", 1), http.StatusBadRequest, ""},
		{"no Connection upgrade", strings.Replace(good, "Connection: Upgrade", "Connection: keep-alive", 1), http.StatusBadRequest, ""},
		{"POST", strings.Replace(good, "GET", "POST", 1), http.StatusMethodNotAllowed, ""},
		{"a body", strings.Replace(good, "\r\n\r\n", "\r\nContent-Length: 6\r\n\r\n\x81\x80abcd", 1), http.StatusBadRequest, ""},
		{"a chunked body", strings.Replace(good, "\r\n\r\n", "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 1), http.StatusBadRequest, ""},
		{"headers over budget", strings.Replace(good, "\r\n\r\n", "\r\nCookie: "+strings.Repeat("x", (16<<10))+"\r\n\r\n", 1),
			http.StatusRequestHeaderFieldsTooLarge, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			io.WriteString(nc, tc.req)
			resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.header != "" && resp.Header.Get("Sec-WebSocket-Version") != tc.header {
				t.Fatalf("Sec-WebSocket-Version %q, want %q", resp.Header.Get("Sec-WebSocket-Version"), tc.header)
			}
		})
	}
}

func TestRedirectToHandshakeBecomes403(t *testing.T) {
	logs := &logRecorder{}
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /login-required/", http.RedirectHandler("/login/", http.StatusFound))
	mux.Handle("WEBSOCKET /ok-page/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") }))
	base := serve(t, pistoke.Handler(mux, pistoke.Options{Logger: slog.New(logs)}))
	for _, path := range []string{"/login-required/", "/ok-page/"} {
		_, resp, err := pistoke.Dial(context.Background(), base+path, nil)
		var he *pistoke.HandshakeError
		if !errors.As(err, &he) || he.Status != http.StatusForbidden {
			t.Fatalf("%s: %v, want 403", path, err)
		}
		if resp.Header.Get("Location") != "" {
			t.Fatalf("%s: the 403 kept the Location header", path)
		}
	}
	if line, ok := logs.find("pistoke: handshake refused"); !ok || !strings.Contains(line, "302") {
		t.Fatalf("refusal not logged with the original status: %q", line)
	}
}

func TestOriginCheck(t *testing.T) {
	logs := &logRecorder{}
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /ws/", pistoke.HandlerFunc(echo))
	mux.Handle("WEBSOCKET /open/", pistoke.OriginExempt(pistoke.HandlerFunc(echo)))
	base := serve(t, pistoke.Handler(mux, pistoke.Options{
		AllowedHosts: []string{"example.com", ".example.org"},
		Logger:       slog.New(logs),
	}))
	host := strings.TrimPrefix(base, "ws://")
	for _, tc := range []struct {
		path, origin string
		ok           bool
	}{
		{"/ws/", "", true},
		{"/ws/", "http://" + host, true},
		{"/ws/", "http://example.com", true},
		{"/ws/", "https://example.com:8443", true},
		{"/ws/", "https://chat.example.org", true},
		{"/ws/", "https://example.org", true},
		{"/ws/", "https://example.com.evil.net", false},
		{"/ws/", "https://evilexample.org", false},
		{"/ws/", "null", false},
		{"/ws/", "http://evil.net", false},
		{"/open/", "http://evil.net", true},
	} {
		opts := &pistoke.DialOptions{Header: http.Header{}}
		if tc.origin != "" {
			opts.Header.Set("Origin", tc.origin)
		}
		if !tc.ok {
			if got := dialStatus(t, base+tc.path, opts); got != http.StatusForbidden {
				t.Errorf("%s from %q: %d, want 403", tc.path, tc.origin, got)
			}
			continue
		}
		ws := dialOK(t, base+tc.path, opts)
		ws.SendText("x")
		expectText(t, ws, "x")
	}
	line, ok := logs.find("pistoke: handshake refused")
	if !ok || !strings.Contains(line, "not allowed") {
		t.Fatalf("origin refusal not logged with a reason: %q", line)
	}
}

func TestCloseCodes(t *testing.T) {
	logs := &logRecorder{}
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /return/", pistoke.HandlerFunc(func(*pistoke.Conn) error { return nil }))
	mux.Handle("WEBSOCKET /error/", pistoke.HandlerFunc(func(*pistoke.Conn) error { return errors.New("database down") }))
	mux.Handle("WEBSOCKET /panic/", pistoke.HandlerFunc(func(*pistoke.Conn) error { panic("kaboom") }))
	mux.Handle("WEBSOCKET /custom/", pistoke.HandlerFunc(func(*pistoke.Conn) error {
		return &pistoke.CloseError{Code: 4001, Reason: "bye"}
	}))
	base := serve(t, pistoke.Handler(mux, pistoke.Options{Logger: slog.New(logs)}))
	expectClose(t, dialOK(t, base+"/return/", nil), pistoke.CloseNormal)
	expectClose(t, dialOK(t, base+"/error/", nil), pistoke.CloseInternalError)
	expectClose(t, dialOK(t, base+"/panic/", nil), pistoke.CloseInternalError)
	if ce := expectClose(t, dialOK(t, base+"/custom/", nil), 4001); ce.Reason != "bye" {
		t.Fatalf("reason %q", ce.Reason)
	}
	// The server survived the panic.
	expectClose(t, dialOK(t, base+"/return/", nil), pistoke.CloseNormal)
	if line, ok := logs.find("pistoke: handler failed"); !ok || !strings.Contains(line, "database down") {
		t.Fatalf("handler error not logged: %q", line)
	}
	if line, ok := logs.find("pistoke: handler panicked"); !ok || !strings.Contains(line, "kaboom") {
		t.Fatalf("panic not logged: %q", line)
	}
}

func TestMiddlewareOrder(t *testing.T) {
	deny := func(status int) func(http.Handler) http.Handler {
		return func(http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, http.StatusText(status), status)
			})
		}
	}
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /outside/", deny(401)(pistoke.HandlerFunc(echo)))
	mux.Handle("WEBSOCKET /inside/", pistoke.Protocol{}.Wrap(deny(401)(pistoke.HandlerFunc(echo))))
	mux.Handle("WEBSOCKET /inside-redirect/", pistoke.Protocol{}.Wrap(http.RedirectHandler("/login/", http.StatusFound)))
	mux.Handle("WEBSOCKET /nested/", pistoke.Protocol{}.Wrap(pistoke.Protocol{}.Wrap(pistoke.HandlerFunc(echo))))
	mux.Handle("WEBSOCKET /protocol-around-raw/", pistoke.Protocol{}.Wrap(pistoke.RawHandlerFunc(func(h *pistoke.Handshake) error {
		t.Error("raw handler inside a protocol was called")
		return nil
	})))
	base := serve(t, pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()}))
	if got := dialStatus(t, base+"/outside/", nil); got != http.StatusUnauthorized {
		t.Errorf("outside: %d, want 401", got)
	}
	if ce := expectClose(t, dialOK(t, base+"/inside/", nil), 4401); ce.Reason != "Unauthorized" {
		t.Errorf("inside: reason %q", ce.Reason)
	}
	expectClose(t, dialOK(t, base+"/inside-redirect/", nil), 4403)
	if got := dialStatus(t, base+"/nested/", nil); got != http.StatusInternalServerError {
		t.Errorf("nested: %d, want 500", got)
	}
	if got := dialStatus(t, base+"/protocol-around-raw/", nil); got != http.StatusInternalServerError {
		t.Errorf("protocol around raw: %d, want 500", got)
	}
}

// wrapWriter is logging middleware that hides Hijack, as some do.
type hidingWriter struct{ http.ResponseWriter }

func TestUpgradeThroughMiddlewareThatHidesHijack(t *testing.T) {
	var sawWebsocket bool
	hide := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sawWebsocket = r.Method == pistoke.MethodWebsocket
			next.ServeHTTP(hidingWriter{w}, r)
		})
	}
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /ws/", hide(pistoke.HandlerFunc(echo)))
	base := serve(t, pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()}))
	ws := dialOK(t, base+"/ws/", nil)
	ws.SendText("through")
	expectText(t, ws, "through")
	if !sawWebsocket {
		t.Fatal("middleware did not see the handshake")
	}
}

func TestMiddlewareHeadersReachUpgradeResponse(t *testing.T) {
	setCookie := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.SetCookie(w, &http.Cookie{Name: "sid", Value: "abc"})
			next.ServeHTTP(w, r)
		})
	}
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /ws/", setCookie(pistoke.Protocol{Header: http.Header{"X-Served-By": {"pistoke"}}}.Wrap(pistoke.HandlerFunc(echo))))
	base := serve(t, pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()}))
	ws, resp, err := pistoke.Dial(context.Background(), base+"/ws/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close(pistoke.CloseNormal, "")
	if resp.Header.Get("X-Served-By") != "pistoke" || len(resp.Cookies()) != 1 || resp.Cookies()[0].Value != "abc" {
		t.Fatalf("101 headers: %v", resp.Header)
	}
}

func TestPlainHTTPToSocketHandlerGets426(t *testing.T) {
	srv := httptest.NewServer(pistoke.HandlerFunc(echo))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired || resp.Header.Get("Upgrade") != "websocket" {
		t.Fatalf("status %d, Upgrade %q", resp.StatusCode, resp.Header.Get("Upgrade"))
	}
}

func TestProtocolWithoutHandler(t *testing.T) {
	// A socket handler works without pistoke.Handler around it too.
	base := serve(t, pistoke.HandlerFunc(echo))
	ws := dialOK(t, base+"/", nil)
	ws.SendText("bare")
	expectText(t, ws, "bare")
}

var _ = pistoketest.ErrTimeout
