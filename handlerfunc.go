package pistoke

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"runtime"

	"github.com/pistoke/pistoke/internal/hook"
	"github.com/pistoke/pistoke/internal/wire"
)

// HandlerFunc is a socket handler: it talks over ws until it returns.
// Returning nil closes the connection with 1000; returning an error, or
// panicking, closes it with 1011 and logs the error; returning a
// [*CloseError] closes it with that code.
//
// As an http.Handler it serves WebSocket handshakes under the protocol
// that wraps it, or under the default Protocol{} when none does, and
// answers plain HTTP requests with 426 Upgrade Required.
type HandlerFunc func(ws *Conn) error

// ServeHTTP upgrades the handshake and runs f.
func (f HandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hs := handshakeFrom(r.Context())
	if hs == nil {
		serveOutside(w, r, http.HandlerFunc(f.serve))
		return
	}
	f.serve(w, r)
}

func (f HandlerFunc) serve(w http.ResponseWriter, r *http.Request) {
	if c := handshakeFrom(r.Context()).open(w, r); c != nil {
		c.finish(callHandler(f, c))
	}
}

// serveOutside answers a request that reached a socket handler without
// passing through Handler: a handshake is served with the default
// options, with serve as its whole tree; anything else gets 426 Upgrade
// Required.
func serveOutside(w http.ResponseWriter, r *http.Request, serve http.Handler) {
	if wire.IsUpgrade(r) {
		defaultServer.serveHandshake(w, r, serve, false)
		return
	}
	w.Header().Set("Upgrade", "websocket")
	w.Header().Set("Connection", "Upgrade")
	http.Error(w, "This endpoint speaks WebSocket only.", http.StatusUpgradeRequired)
}

// callHandler runs f, turning a panic into a *PanicError.
func callHandler(f func(*Conn) error, c *Conn) (err error) {
	defer func() {
		if v := recover(); v != nil {
			buf := make([]byte, 32<<10)
			err = &PanicError{Value: v, Stack: buf[:runtime.Stack(buf, false)]}
		}
	}()
	return f(c)
}

// finish closes the connection the way the handler's result asks, logs
// what went wrong and tells a test observer.
func (c *Conn) finish(herr error) {
	code, reason := CloseNormal, ""
	var (
		ce *CloseError
		pe *PanicError
	)
	path := ""
	if c.req != nil {
		path = c.req.URL.Path
	}
	ctx := c.ctx.parent
	switch {
	case herr == nil:
	case c.ended() != nil && errors.Is(herr, ErrClosed):
		c.log.LogAttrs(ctx, slog.LevelDebug, "pistoke: handler ended after the connection",
			slog.String("path", path), slog.String("error", herr.Error()))
	case errors.As(herr, &pe):
		code, reason = CloseInternalError, "internal error"
		c.log.LogAttrs(ctx, slog.LevelError, "pistoke: handler panicked",
			slog.String("path", path), slog.Any("panic", pe.Value), slog.String("stack", string(pe.Stack)))
	case errors.As(herr, &ce) && wire.ValidCloseCode(ce.Code):
		code, reason = ce.Code, ce.Reason
	default:
		code, reason = CloseInternalError, "internal error"
		c.log.LogAttrs(ctx, slog.LevelError, "pistoke: handler failed",
			slog.String("path", path), slog.String("error", herr.Error()))
	}
	unread, _ := c.close(code, reason)
	if unread > 0 {
		c.log.LogAttrs(ctx, slog.LevelWarn, "pistoke: handler left input unread",
			slog.String("path", path), slog.Int("messages", unread))
	}
	c.release()
	notifyObserver(ctx, herr, unread, code)
}

func notifyObserver(ctx context.Context, err error, unread, code int) {
	if obs := hook.ObserverFrom(ctx); obs != nil {
		obs.HandlerDone(hook.Result{Err: err, Unread: unread, Code: code})
	}
}
