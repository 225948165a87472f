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
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"weak"
)

// Run's defaults.
const (
	// defaultDrainTimeout is how long Run gives sockets and requests to
	// finish once a drain has begun.
	defaultDrainTimeout = 5 * time.Second
	// defaultHeaderTimeout is the ReadHeaderTimeout Run sets on a server
	// that has none, so that a client sending its request headers byte by
	// byte (slowloris) cannot hold a connection open.
	defaultHeaderTimeout = 10 * time.Second
	// defaultServerHeaderBytes is the MaxHeaderBytes Run sets on a server
	// that has none, instead of net/http's 1 MiB: no page needs more, and
	// every request pays for what it may send.
	defaultServerHeaderBytes = 64 << 10
)

// reasonGoingAway is the reason of the 1001 close frame a drain sends.
const reasonGoingAway = "going away"

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

// trackers finds the tracker of an http.Server. It holds servers weakly
// and forgets each once it has been collected, so that it never keeps a
// server alive: a server is reachable from its tracker only through the
// sockets open on it.
var trackers sync.Map // weak.Pointer[http.Server] -> *tracker

func lookupTracker(srv *http.Server) *tracker {
	if t, ok := trackers.Load(weak.Make(srv)); ok {
		return t.(*tracker)
	}
	return nil
}

// ensureTracker returns srv's tracker, creating it on first use.
func ensureTracker(srv *http.Server) *tracker {
	key := weak.Make(srv)
	if t, ok := trackers.Load(key); ok {
		return t.(*tracker)
	}
	t, loaded := trackers.LoadOrStore(key, &tracker{conns: make(map[*Conn]struct{})})
	if !loaded {
		runtime.AddCleanup(srv, func(key weak.Pointer[http.Server]) { trackers.Delete(key) }, key)
	}
	return t.(*tracker)
}

// trackerFor returns the tracker of the server that received r, creating
// it on first use; nil when r did not come through an http.Server.
func trackerFor(r *http.Request) *tracker {
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if srv == nil {
		return nil
	}
	return ensureTracker(srv)
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
	return drain(ctx, srv, nil)
}

// serving is what Run knows of a server that Drain alone does not: its
// listener and the state of its HTTP connections.
type serving struct {
	l      net.Listener
	conns  *connStates
	served chan struct{} // closed when Serve has returned
}

// drain is Drain. With run, it then stops accepting (new connections are
// refused) and waits for the HTTP connections still reading or serving a
// request before it shuts the server down: net/http drops, without a
// response, a request that it finishes reading after Shutdown has begun.
func drain(ctx context.Context, srv *http.Server, run *serving) error {
	t := ensureTracker(srv)
	sockets, empty := t.startDrain()
	srv.SetKeepAlivesEnabled(false)
	for _, c := range sockets {
		go c.goAway()
	}

	var errs []error
	select {
	case <-empty:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("pistoke: drain: %s: %w", t.forceClose(), ctx.Err()))
	}
	if run != nil && len(errs) == 0 {
		_ = run.l.Close()
		select {
		case <-run.served:
			if err := run.conns.wait(ctx); err != nil {
				errs = append(errs, err)
			}
		case <-ctx.Done():
		}
	}
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
		if len(errs) == 0 {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// connStates counts a server's HTTP connections that may still deliver a
// request: new ones, which have not sent a whole request yet, and active
// ones. Run installs it as the server's ConnState hook.
type connStates struct {
	mu      sync.Mutex
	busy    map[net.Conn]struct{}
	changed chan struct{} // closed and replaced on every change
	next    func(net.Conn, http.ConnState)
}

func newConnStates(next func(net.Conn, http.ConnState)) *connStates {
	return &connStates{busy: make(map[net.Conn]struct{}), changed: make(chan struct{}), next: next}
}

func (cs *connStates) hook(c net.Conn, st http.ConnState) {
	cs.mu.Lock()
	switch st {
	case http.StateNew, http.StateActive:
		cs.busy[c] = struct{}{}
	default: // idle, hijacked, closed: nothing more to read there
		delete(cs.busy, c)
	}
	close(cs.changed)
	cs.changed = make(chan struct{})
	cs.mu.Unlock()
	if cs.next != nil {
		cs.next(c, st)
	}
}

// wait returns once no connection is busy, or with an error when ctx
// ends first.
func (cs *connStates) wait(ctx context.Context) error {
	for {
		cs.mu.Lock()
		n, changed := len(cs.busy), cs.changed
		cs.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("pistoke: drain: %d HTTP connections still busy: %w", n, ctx.Err())
		}
	}
}

// forceClose drops the network connections of the sockets left and says
// what was left: sockets, and handshakes still on their way through the
// handler tree.
func (t *tracker) forceClose() string {
	t.mu.Lock()
	conns := make([]*Conn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	pending := t.pending
	t.mu.Unlock()
	for _, c := range conns {
		c.end(&CloseError{Code: CloseGoingAway, Reason: reasonGoingAway})
		_ = c.wc.CloseNow()
	}
	left := fmt.Sprintf("%d sockets still open", len(conns))
	if pending > 0 {
		left += fmt.Sprintf(", %d handshakes still in the handler tree", pending)
	}
	return left
}

// goAway closes the connection for a drain.
func (c *Conn) goAway() {
	_ = c.Close(CloseGoingAway, reasonGoingAway)
}

// RunOptions configures [Run].
type RunOptions struct {
	// DrainTimeout bounds the drain; 0 means 5 seconds.
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
// A srv without ReadHeaderTimeout gets 10 seconds, and one without
// MaxHeaderBytes gets 64 KiB.
//
// Unlike Drain, Run owns the listener: once the sockets are gone it
// closes it, so that new connections are refused, and waits for every
// HTTP connection that may still be reading or serving a request before
// it shuts the server down. A request that arrives at any moment of the
// drain thus gets an answer (503 with Retry-After for a handshake) or a
// refused connection, never a connection closed without a response,
// until the drain timeout ends everything.
//
// Run returns nil after a drain that finished in time, the drain's error
// otherwise, or the error that stopped serving.
func Run(ctx context.Context, srv *http.Server, l net.Listener, opts *RunOptions) error {
	var o RunOptions
	if opts != nil {
		o = *opts
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = defaultDrainTimeout
	}
	if o.Signals == nil {
		o.Signals = []os.Signal{os.Interrupt, syscall.SIGTERM}
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	if srv.ReadHeaderTimeout == 0 {
		srv.ReadHeaderTimeout = defaultHeaderTimeout
	}
	if srv.MaxHeaderBytes == 0 {
		srv.MaxHeaderBytes = defaultServerHeaderBytes
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
	run := &serving{l: l, conns: newConnStates(srv.ConnState), served: make(chan struct{})}
	srv.ConnState = run.conns.hook
	var serveErr error
	go func() {
		serveErr = srv.Serve(l)
		close(run.served)
	}()
	select {
	case <-run.served:
		return serveErr
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
	err := drain(dctx, srv, run)
	<-run.served
	if err != nil {
		log.LogAttrs(context.Background(), slog.LevelWarn, "pistoke: drain incomplete",
			slog.Duration("duration", time.Since(start)), slog.String("error", err.Error()))
		return err
	}
	log.LogAttrs(context.Background(), slog.LevelInfo, "pistoke: drained",
		slog.Duration("duration", time.Since(start)))
	return nil
}
