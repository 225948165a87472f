package pistoke_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/pistoke/pistoke"
)

// statusRecorder is logging middleware written without an Unwrap method,
// as much middleware once was.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func TestHijackFailureNamesTheWriter(t *testing.T) {
	logs := &logRecorder{}
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /ws/", pistoke.HandlerFunc(echo))
	outside := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(&statusRecorder{ResponseWriter: w}, r)
		})
	}
	base := serve(t, outside(pistoke.Handler(mux, pistoke.Options{Logger: slog.New(logs)})))
	if got := dialStatus(t, base+"/ws/", nil); got != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", got)
	}
	line := logs.wait(t, "pistoke: handshake refused")
	for _, want := range []string{"*pistoke_test.statusRecorder", "Unwrap() http.ResponseWriter", "status=500"} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %q does not mention %q", line, want)
		}
	}
}

// Middleware outside Handler that wraps the writer properly works, and
// stays inside its ServeHTTP for the socket's life.
func TestUnwrappingMiddlewareOutsideHandler(t *testing.T) {
	returned := make(chan struct{})
	outside := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(&unwrapping{statusRecorder{ResponseWriter: w}}, r)
			if r.Header.Get("Upgrade") != "" {
				close(returned)
			}
		})
	}
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /ws/", pistoke.HandlerFunc(echo))
	base := serve(t, outside(pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()})))
	ws := dialOK(t, base+"/ws/", nil)
	ws.SendText("hi")
	expectText(t, ws, "hi")
	select {
	case <-returned:
		t.Fatal("middleware outside Handler returned while the socket was open")
	default:
	}
	ws.Close(pistoke.CloseNormal, "")
	<-returned
}

type unwrapping struct{ statusRecorder }

func (w *unwrapping) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func TestMethodNotAllowedIsExplained(t *testing.T) {
	logs := &logRecorder{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /page/", func(w http.ResponseWriter, r *http.Request) {})
	base := serve(t, pistoke.Handler(mux, pistoke.Options{Logger: slog.New(logs)}))
	for range 3 {
		_, _, err := pistoke.Dial(context.Background(), base+"/page/", nil)
		var he *pistoke.HandshakeError
		if !errors.As(err, &he) || he.Status != http.StatusMethodNotAllowed {
			t.Fatalf("Dial = %v, want a 405 HandshakeError", err)
		}
		if !strings.Contains(err.Error(), "register it with the WEBSOCKET method") {
			t.Errorf("error %q does not say how to fix it", err)
		}
	}
	line := logs.wait(t, "pistoke: handshake answered 405 Method Not Allowed")
	if !strings.Contains(line, `WEBSOCKET /page/`) || !strings.Contains(line, "level=WARN") {
		t.Errorf("log line %q", line)
	}
	if n := logs.count("pistoke: handshake answered 405 Method Not Allowed"); n != 1 {
		t.Errorf("405 logged %d times for one path, want once", n)
	}

	// A WEBSOCKET route in a tree that Handler does not wrap: the
	// handshake arrives as GET, and the router answers 405.
	bare := http.NewServeMux()
	bare.Handle("WEBSOCKET /ws/", pistoke.HandlerFunc(echo))
	bareBase := serve(t, bare)
	_, _, err := pistoke.Dial(context.Background(), bareBase+"/ws/", nil)
	if err == nil || !strings.Contains(err.Error(), "did not pass through pistoke.Handler") {
		t.Errorf("Dial to an unwrapped WEBSOCKET route = %v, want a hint about pistoke.Handler", err)
	}
}
