package pistoke

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultDrainTimeout is how long [Run] gives sockets and requests to
// finish once a drain has begun, unless RunOptions says otherwise.
const DefaultDrainTimeout = 5 * time.Second

// DefaultHandshakeTimeout is the ReadHeaderTimeout that [Run] sets on a
// server that has none, so that a client sending its request headers byte
// by byte (slowloris) cannot hold a connection open.
const DefaultHandshakeTimeout = 10 * time.Second

// CloseReasonGoingAway is the reason of the 1001 close frame a drain sends.
const CloseReasonGoingAway = "going away"

// tracker knows the open sockets of one http.Server, which net/http
// forgets once they are hijacked, so that a drain can close them.
//
// A handshake counts from the moment it is admitted, not from the upgrade,
// so that a drain cannot miss a socket that opens while it starts: either
// the handshake sees the drain and gets 503, or the drain waits for it.
type tracker struct {
	mu       sync.Mutex
	conns    map[*Conn]struct{}
	pending  int           // admitted handshakes not yet upgraded or refused
	empty    chan struct{} // closed when nothing is left while draining
	draining atomic.Bool
}

var trackers sync.Map // *http.Server -> *tracker

func lookupTracker(srv *http.Server) *tracker {
	if t, ok := trackers.Load(srv); ok {
		return t.(*tracker)
	}
	return nil
}

// trackerFor returns the tracker of the server that received r, creating
// it on first use; nil when r did not come through an http.Server.
func trackerFor(r *http.Request) *tracker {
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if srv == nil {
		return nil
	}
	if t := lookupTracker(srv); t != nil {
		return t
	}
	t, _ := trackers.LoadOrStore(srv, &tracker{conns: make(map[*Conn]struct{})})
	return t.(*tracker)
}

// begin admits a handshake unless the server drains.
func (t *tracker) begin() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.draining.Load() {
		return false
	}
	t.pending++
	return true
}

// abort forgets an admitted handshake that opened no socket.
func (t *tracker) abort() {
	t.mu.Lock()
	t.pending--
	t.signalLocked()
	t.mu.Unlock()
}

// promote turns an admitted handshake into an open socket. It reports
// whether a drain began meanwhile, in which case the socket must go.
func (t *tracker) promote(c *Conn) (draining bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending--
	t.conns[c] = struct{}{}
	return t.draining.Load()
}

func (t *tracker) remove(c *Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.signalLocked()
	t.mu.Unlock()
}

func (t *tracker) signalLocked() {
	if t.empty != nil && t.pending == 0 && len(t.conns) == 0 {
		close(t.empty)
		t.empty = nil
	}
}

// startDrain marks the tracker draining and returns its open sockets and
// a channel closed once none is left.
func (t *tracker) startDrain() ([]*Conn, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.draining.Store(true)
	conns := make([]*Conn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	empty := make(chan struct{})
	if len(conns) == 0 && t.pending == 0 {
		close(empty)
	} else {
		t.empty = empty
	}
	return conns, empty
}

// Drain shuts srv down gracefully, WebSockets included, which
// http.Server.Shutdown alone would leave open (they are hijacked) until
// the process exits and cuts them with 1006.
//
// Drain first stops taking new sockets: handshakes get 503 with
// Retry-After, while plain requests are still served, without
// keep-alive. It sends every open socket a close frame with 1001 "going
// away", which cancels the handlers' contexts ([Draining] then reports
// true), and waits until every socket handler has returned. Then it shuts
// the HTTP server down (listeners closed, requests finished). When ctx is
// done before all that, Drain closes what is left, network connections
// included, and returns an error wrapping ctx.Err(); a handler that
// ignores its context may still run, but its connection is gone.
//
// Clients receiving 1001 should reconnect after a randomised delay, so
// that a restart does not bring them all back in the same instant.
func Drain(ctx context.Context, srv *http.Server) error {
	v, _ := trackers.LoadOrStore(srv, &tracker{conns: make(map[*Conn]struct{})})
	t := v.(*tracker)
	conns, empty := t.startDrain()
	srv.SetKeepAlivesEnabled(false)
	for _, c := range conns {
		go c.goAway()
	}

	var errs []error
	select {
	case <-empty:
	case <-ctx.Done():
		left := t.forceClose()
		errs = append(errs, fmt.Errorf("pistoke: drain: %d sockets still open: %w", left, ctx.Err()))
	}
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
		if len(errs) == 0 {
			errs = append(errs, err)
		}
	}
	trackers.Delete(srv)
	return errors.Join(errs...)
}

// forceClose drops the network connections of the sockets left and says
// how many there were.
func (t *tracker) forceClose() int {
	t.mu.Lock()
	conns := make([]*Conn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	for _, c := range conns {
		c.end(&CloseError{Code: CloseGoingAway, Reason: CloseReasonGoingAway})
		_ = c.wc.CloseNow()
	}
	return len(conns)
}

// goAway closes the connection for a drain.
func (c *Conn) goAway() {
	_ = c.Close(CloseGoingAway, CloseReasonGoingAway)
}

// RunOptions configures [Run].
type RunOptions struct {
	// DrainTimeout bounds the drain; 0 means DefaultDrainTimeout.
	DrainTimeout time.Duration
	// Signals start the drain; nil means SIGINT and SIGTERM, an empty
	// non-nil slice means none (ctx alone then decides).
	Signals []os.Signal
	// Logger receives the start and end of the drain; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Run serves srv on l until ctx is done or the process receives one of
// the signals, then drains it (see [Drain]) within the drain timeout. It
// is the way to run a pistoke server in production: a deploy or Ctrl-C
// then closes sockets with 1001 instead of cutting them.
//
// When l is nil, Run listens on srv.Addr (":http" if empty). When
// srv.TLSConfig holds certificates (or GetCertificate), Run serves TLS.
// A srv without ReadHeaderTimeout gets DefaultHandshakeTimeout.
//
// Run returns nil after a drain that finished in time, the drain's error
// otherwise, or the error that stopped serving.
func Run(ctx context.Context, srv *http.Server, l net.Listener, opts *RunOptions) error {
	var o RunOptions
	if opts != nil {
		o = *opts
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	if o.Signals == nil {
		o.Signals = []os.Signal{os.Interrupt, syscall.SIGTERM}
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	if srv.ReadHeaderTimeout == 0 {
		srv.ReadHeaderTimeout = DefaultHandshakeTimeout
	}
	if l == nil {
		addr := srv.Addr
		if addr == "" {
			addr = ":http"
		}
		var err error
		if l, err = net.Listen("tcp", addr); err != nil {
			return err
		}
	}
	if cfg := srv.TLSConfig; cfg != nil && (len(cfg.Certificates) > 0 || cfg.GetCertificate != nil || cfg.GetConfigForClient != nil) {
		cfg = cfg.Clone()
		if len(cfg.NextProtos) == 0 {
			cfg.NextProtos = []string{"http/1.1"}
		}
		l = tls.NewListener(l, cfg)
	}

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	if len(o.Signals) > 0 {
		var sigStop context.CancelFunc
		ctx, sigStop = signal.NotifyContext(ctx, o.Signals...)
		defer sigStop()
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}

	t := lookupTracker(srv)
	n := 0
	if t != nil {
		t.mu.Lock()
		n = len(t.conns)
		t.mu.Unlock()
	}
	log.LogAttrs(context.Background(), slog.LevelInfo, "pistoke: draining",
		slog.Int("sockets", n), slog.Duration("timeout", o.DrainTimeout))
	start := time.Now()
	dctx, cancel := context.WithTimeout(context.Background(), o.DrainTimeout)
	defer cancel()
	err := Drain(dctx, srv)
	if serr := <-served; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		log.LogAttrs(context.Background(), slog.LevelWarn, "pistoke: drain incomplete",
			slog.Duration("duration", time.Since(start)), slog.String("error", err.Error()))
		return err
	}
	log.LogAttrs(context.Background(), slog.LevelInfo, "pistoke: drained",
		slog.Duration("duration", time.Since(start)))
	return nil
}
