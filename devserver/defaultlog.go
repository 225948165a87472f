package devserver

import (
	"context"
	"io"
	"log"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
)

// While Serve runs, slog's default logger is a routeHandler: pistoke
// logs the events of a pistoke.Handler whose Options.Logger is nil to
// slog.Default() at the time of each event, with the request's context,
// which names the http.Server serving it. The route sends those events
// to the log of the Serve that owns that server, and any other record
// logged through slog's default (or, as slog arranges, the log package)
// to the log of the Serve started last. When the last Serve returns, the
// previous default and the log package's settings come back.

// serving is the state shared by the running Serves.
var serving struct {
	mu     sync.Mutex              // serialises install and removal
	routes atomic.Pointer[[]route] // the running servers, oldest first; read by routeHandler without mu

	// Set while a routeHandler is slog's default:
	installed *routeHandler
	prev      *slog.Logger // the default before
	logOut    io.Writer    // the log package's output before
	logFlags  int          // and its flags
}

// route ties a running server to its log.
type route struct {
	srv *http.Server
	h   slog.Handler
}

// routeDefault makes slog's default logger send the records of requests
// served by srv, and those without a server, to h, until the returned
// function is called.
func routeDefault(srv *http.Server, h slog.Handler) (restore func()) {
	s := &serving
	s.mu.Lock()
	defer s.mu.Unlock()
	setRoutes(append(currentRoutes(), route{srv, h}))
	if s.installed == nil {
		s.prev, s.logOut, s.logFlags = slog.Default(), log.Writer(), log.Flags()
		s.installed = &routeHandler{prev: s.prev.Handler()}
		slog.SetDefault(slog.New(s.installed))
	}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		rs := currentRoutes()
		if len(rs) == 1 && s.installed != nil {
			// The log package is put back while this server is still
			// routed to, before the route can fall back to the previous
			// default: slog's own default handler writes through the
			// log package, which must not lead back here. SetDefault
			// comes first, as it redirects the log package itself.
			if slog.Default().Handler() == slog.Handler(s.installed) {
				slog.SetDefault(s.prev)
				log.SetOutput(s.logOut)
				log.SetFlags(s.logFlags)
			}
			s.installed, s.prev, s.logOut = nil, nil, nil
		}
		var left []route
		for _, r := range rs {
			if r.srv != srv {
				left = append(left, r)
			}
		}
		setRoutes(left)
	}
}

func currentRoutes() []route {
	if p := serving.routes.Load(); p != nil {
		return *p
	}
	return nil
}

// setRoutes publishes rs, which must not be modified afterwards.
func setRoutes(rs []route) {
	rs = append([]route(nil), rs...)
	serving.routes.Store(&rs)
}

// routeHandler is the slog.Handler of the default logger while Serve
// runs. It is safe for concurrent use.
type routeHandler struct {
	prev slog.Handler                      // when no Serve runs any more
	ops  []func(slog.Handler) slog.Handler // WithAttrs and WithGroup, in order
}

// base picks the handler for a record logged with ctx.
func (h *routeHandler) base(ctx context.Context) slog.Handler {
	rs := currentRoutes()
	if len(rs) == 0 {
		return h.prev
	}
	if ctx != nil {
		if srv, ok := ctx.Value(http.ServerContextKey).(*http.Server); ok {
			for _, r := range rs {
				if r.srv == srv {
					return r.h
				}
			}
		}
	}
	return rs[len(rs)-1].h
}

func (h *routeHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.base(ctx).Enabled(ctx, level)
}

func (h *routeHandler) Handle(ctx context.Context, r slog.Record) error {
	target := h.base(ctx)
	for _, op := range h.ops {
		target = op(target)
	}
	return target.Handle(ctx, r)
}

func (h *routeHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	return h.with(func(t slog.Handler) slog.Handler { return t.WithAttrs(attrs) })
}

func (h *routeHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return h.with(func(t slog.Handler) slog.Handler { return t.WithGroup(name) })
}

func (h *routeHandler) with(op func(slog.Handler) slog.Handler) *routeHandler {
	ops := append(h.ops[:len(h.ops):len(h.ops)], op)
	return &routeHandler{prev: h.prev, ops: ops}
}
