package devserver

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/pistoke/pistoke"
)

// RequestMessage is the message of the event [LogRequests] logs for each
// request, with the attributes method, path, status, size (bytes of body
// written) and duration. A WebSocket handshake is logged with the method
// WEBSOCKET and status 101 once upgraded, or the status that refused it;
// pistoke logs the socket's end as "pistoke: socket closed".
const RequestMessage = "http request"

// LogRequests returns a handler that serves next and logs each request it
// served at slog.LevelInfo. Put it in front of everything, so that the
// line shows what the client received.
func LogRequests(next http.Handler, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !logger.Enabled(r.Context(), slog.LevelInfo) {
			next.ServeHTTP(w, r)
			return
		}
		rw := &recorder{ResponseWriter: w, start: time.Now(), logger: logger, r: r, method: r.Method}
		if isHandshake(r) {
			rw.method = pistoke.MethodWebsocket
		}
		next.ServeHTTP(rw, r)
		if !rw.hijacked {
			if rw.status == 0 {
				rw.status = http.StatusOK
			}
			rw.log(r.Context())
		}
	})
}

// isHandshake tells a WebSocket opening handshake from other requests
// before pistoke has looked at it.
func isHandshake(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") && headerHasToken(r.Header, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// recorder notes the status and size of a response for LogRequests.
type recorder struct {
	http.ResponseWriter
	start    time.Time
	logger   *slog.Logger
	r        *http.Request
	method   string
	status   int
	size     int64
	hijacked bool
}

func (w *recorder) log(ctx context.Context) {
	w.logger.LogAttrs(ctx, slog.LevelInfo, RequestMessage,
		slog.String("method", w.method),
		slog.String("path", w.r.URL.RequestURI()),
		slog.Int("status", w.status),
		slog.Int64("size", w.size),
		slog.Duration("duration", time.Since(w.start)))
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.size += int64(n)
	return n, err
}

// ReadFrom keeps the sendfile path of http.FileServer.
func (w *recorder) ReadFrom(src io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(w.ResponseWriter, src)
	}
	w.size += n
	return n, err
}

// Flush lets streaming responses through.
func (w *recorder) Flush() {
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack logs the request as switched to a socket at the moment it is,
// since a socket handler may keep ServeHTTP until the socket ends.
func (w *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && !w.hijacked {
		w.hijacked = true
		if w.status == 0 {
			w.status = http.StatusSwitchingProtocols
		}
		w.log(w.r.Context())
	}
	return c, brw, err
}

// Unwrap gives http.ResponseController the writer underneath.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
