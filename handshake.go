package pistoke

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/pistoke/pistoke/internal/wire"
)

// The server handshake, top to bottom:
//
//  1. verify: a well-formed RFC 6455 request without a body and within
//     the header budget (serveHandshake);
//  2. admit: not while draining, not beyond MaxConns (admit);
//  3. route: the handler tree runs on a goroutine of its own with
//     r.Method == MethodWebsocket (runTree); a protocol or raw handler
//     claims the handshake (claimFor), middleware may refuse it with a
//     status (handshakeWriter);
//  4. at the socket handler: origin → negotiate → hijack (open);
//  5. run: the handler runs where the tree reached it, so every router
//     and middleware on its path is still inside its ServeHTTP while the
//     socket lives.
//
// net/http's goroutine waits only until the connection is taken over or
// an ordinary response is complete, then returns, so that its deep stack
// and buffers are not kept for every idle socket.

// hsState is where a handshake stands.
type hsState uint8

const (
	hsRouting  hsState = iota // travelling the tree
	hsOpen                    // upgraded by pistoke: a Conn exists
	hsHijacked                // taken over by someone else (another WebSocket library)
	hsAnswered                // an HTTP response was written instead
)

// handshake is one WebSocket handshake on its way through the handler
// tree. Only the tree's goroutine touches it; net/http's goroutine reads
// panicked once the tree has returned.
type handshake struct {
	srv     *server
	base    http.ResponseWriter // what Handler received
	hw      *handshakeWriter    // the tree's outermost writer
	method  string
	path    string
	accept  string // the Sec-WebSocket-Accept value
	offered []string

	originExempt bool
	state        hsState
	claim        *claim           // the protocol or raw handler in charge
	conn         *Conn            // the socket, once open
	outcome      HandshakeOutcome // how a refusal is counted
	reported     bool             // the outcome has been counted
	swallow      bool             // the tree's body is replaced by a refusal
	refusing     bool             // refuse is writing its answer
	upgrading    bool             // pistoke itself is taking the connection over

	tracker *tracker // the http.Server's, for drains
	slot    bool     // holds one of srv.maxConns until a Conn takes it
	tracked bool     // counted by tracker until a Conn takes over

	calls    chan func()        // work the tree hands to net/http's goroutine
	cancel   context.CancelFunc // cancels the tree's context
	released chan struct{}      // closed once net/http's goroutine may return
	relOnce  sync.Once
	panicked any // a panic of the tree before the upgrade, for net/http
}

// claim is the protocol (or raw handler) in charge of a handshake.
type claim struct {
	p      *Protocol
	raw    bool
	out    http.ResponseWriter // the writer outside the claimer: refusals go there
	status int                 // status written by middleware inside it
}

type handshakeKey struct{}

func handshakeFrom(ctx context.Context) *handshake {
	hs, _ := ctx.Value(handshakeKey{}).(*handshake)
	return hs
}

// serveHandshake serves one WebSocket handshake with next as the tree.
// When outermost is false, handlers outside wait for this one to return,
// which is then when the socket ends.
func (s *server) serveHandshake(w http.ResponseWriter, r *http.Request, next http.Handler, outermost bool) {
	hs := &handshake{srv: s, base: w, method: r.Method, path: r.URL.Path, released: make(chan struct{})}
	if err := s.verify(r); err != nil {
		status, reason := http.StatusBadRequest, err.Error()
		var he *wire.HandshakeError
		if errors.As(err, &he) {
			status, reason = he.Status, he.Reason
			maps.Copy(w.Header(), he.Header)
		}
		w.Header().Set("Connection", "close")
		hs.refuse(w, r.Context(), status, HandshakeBadRequest, slog.LevelInfo, reason)
		hs.report()
		return
	}
	// Computed here, on net/http's goroutine, whose stack is deep anyway:
	// the tree's goroutine lives as long as the socket, and its stack
	// keeps the size its deepest call gave it.
	hs.accept = wire.AcceptKey(r.Header.Get("Sec-WebSocket-Key"))
	hs.offered = wire.Subprotocols(r.Header)
	hs.tracker = trackerFor(r)
	if !hs.admit(w, r) {
		hs.report()
		return
	}

	// The tree must not see net/http's cancellation, which comes as soon
	// as this goroutine returns at the upgrade; it is cancelled instead
	// when the client leaves first or when the socket ends.
	ctx, cancel := context.WithCancel(context.WithValue(context.WithoutCancel(r.Context()), handshakeKey{}, hs))
	hs.cancel = cancel
	tr := r.WithContext(ctx)
	tr.Method = MethodWebsocket
	hs.hw = &handshakeWriter{ResponseWriter: w, hs: hs}
	hs.calls = make(chan func())

	wait := hs.released
	if !outermost {
		wait = nil // until the tree returns
	}
	returned := make(chan struct{})
	go hs.runTree(next, tr, returned)
	gone, calls := r.Context().Done(), hs.calls
wait:
	for {
		select {
		case f := <-calls:
			f()
		case <-wait:
			return
		case <-returned:
			break wait
		case <-gone:
			cancel()
			gone = nil
		}
	}
	if hs.panicked != nil {
		panic(hs.panicked)
	}
}

// verify checks that r is a handshake pistoke can serve. Its errors are
// *wire.HandshakeError values carrying the status to answer.
func (s *server) verify(r *http.Request) error {
	if _, err := wire.CheckRequest(r); err != nil {
		return err
	}
	if r.ContentLength > 0 || len(r.TransferEncoding) > 0 {
		return &wire.HandshakeError{Status: http.StatusBadRequest, Reason: "a handshake carries no body"}
	}
	if s.maxHeader > 0 && headerBytes(r) > s.maxHeader {
		return &wire.HandshakeError{Status: http.StatusRequestHeaderFieldsTooLarge,
			Reason: fmt.Sprintf("request line and headers exceed %d bytes", s.maxHeader)}
	}
	return nil
}

// admit decides whether a handshake may go on: not while the server
// drains, not beyond MaxConns. On refusal it has answered 503.
func (hs *handshake) admit(w http.ResponseWriter, r *http.Request) bool {
	s := hs.srv
	if s.maxConns > 0 {
		if s.open.Add(1) > s.maxConns {
			s.open.Add(-1)
			hs.refuse503(w, r, HandshakeOverloaded, "too many open connections")
			return false
		}
		hs.slot = true
	}
	if t := hs.tracker; t != nil {
		if !t.begin() {
			hs.releaseSlot()
			hs.refuse503(w, r, HandshakeDraining, "the server is shutting down")
			return false
		}
		hs.tracked = true
	}
	return true
}

// refuse503 asks the client to come back later, which a proxy in front
// can do at once on another node.
func (hs *handshake) refuse503(w http.ResponseWriter, r *http.Request, outcome HandshakeOutcome, reason string) {
	w.Header().Set("Retry-After", "1")
	w.Header().Set("Connection", "close")
	hs.refuse(w, r.Context(), http.StatusServiceUnavailable, outcome, slog.LevelWarn, reason)
}

// headerBytes approximates the size of r's request line and headers as
// they came on the wire, which is what a socket keeps for its life.
func headerBytes(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Host) + 16
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// runTree sends the handshake through the tree, on a goroutine of its
// own, and settles whatever the tree left open when it returns.
//
// Nothing here refers to r once the tree has it: its frames keep only
// what they need for the socket's life.
func (hs *handshake) runTree(next http.Handler, r *http.Request, returned chan struct{}) {
	ctx := r.Context()
	defer close(returned)
	defer hs.untrack()
	defer hs.cancel()
	defer hs.releaseSlot()
	defer func() {
		if v := recover(); v != nil {
			hs.treePanicked(ctx, v)
		}
	}()
	next.ServeHTTP(hs.hw, r)
	if hs.state == hsRouting {
		hs.refuse(hs.hw, ctx, http.StatusForbidden, HandshakeRejected, slog.LevelInfo, "no handler answered it")
	}
	hs.report()
}

// untrack tells the drain that the socket's whole tree has returned.
func (hs *handshake) untrack() {
	if hs.conn != nil && hs.conn.stats != nil && hs.conn.stats.tracker != nil {
		hs.conn.stats.tracker.remove(hs.conn)
	}
}

// treePanicked deals with a panic that escaped the tree. Before the
// upgrade it goes back to net/http's goroutine, as if the tree had run
// there; after it, the socket is closed with 1011 and the panic logged.
func (hs *handshake) treePanicked(ctx context.Context, v any) {
	if hs.state == hsRouting || hs.state == hsAnswered {
		if v != http.ErrAbortHandler {
			buf := make([]byte, 32<<10)
			hs.srv.log().LogAttrs(ctx, slog.LevelError, "pistoke: handler tree panicked during a handshake",
				slog.String("path", hs.path), slog.Any("panic", v), slog.String("stack", string(buf[:runtime.Stack(buf, false)])))
		}
		// net/http logs nothing for ErrAbortHandler, and the stack that
		// matters has just been logged.
		hs.panicked = http.ErrAbortHandler
		return
	}
	buf := make([]byte, 32<<10)
	hs.srv.log().LogAttrs(ctx, slog.LevelError, "pistoke: middleware panicked around a socket",
		slog.String("path", hs.path), slog.Any("panic", v), slog.String("stack", string(buf[:runtime.Stack(buf, false)])))
}

// release lets net/http's goroutine return: the connection is no longer
// its business.
func (hs *handshake) release() { hs.relOnce.Do(func() { close(hs.released) }) }

// releaseSlot gives back what a handshake that did not open a connection
// held: its MaxConns slot and its place in the drain's count.
func (hs *handshake) releaseSlot() {
	if hs.slot {
		hs.slot = false
		hs.srv.open.Add(-1)
	}
	if hs.tracked {
		hs.tracked = false
		hs.tracker.abort()
	}
}

// claimFor makes the protocol p (or a raw handler) the one in charge of
// the handshake; w is the writer it received. It returns nil when
// another one already is, having answered 500: one protocol per socket.
func (hs *handshake) claimFor(w http.ResponseWriter, r *http.Request, p *Protocol, raw bool) *claim {
	if hs.claim != nil {
		hs.refuse(hs.claim.out, r.Context(), http.StatusInternalServerError, HandshakeFailed, slog.LevelError, ErrNestedProtocol.Error())
		reportEarlyEnd(r, ErrNestedProtocol)
		return nil
	}
	hs.claim = &claim{p: p, raw: raw, out: w}
	return hs.claim
}

// defaultProtocol is the protocol of handlers that no Protocol wraps.
var defaultProtocol Protocol

// open upgrades the connection for the socket handler reached with w
// and r, under the protocol in charge (the default one when none
// claimed it). It returns nil when the handshake was refused, or opened
// and closed at once; the client has then been answered.
func (hs *handshake) open(w http.ResponseWriter, r *http.Request) *Conn {
	if hs.state != hsRouting {
		hs.srv.log().LogAttrs(r.Context(), slog.LevelError, "pistoke: socket handler reached twice for one handshake",
			slog.String("path", hs.path))
		return nil
	}
	cl := hs.claim
	if cl == nil || cl.raw {
		// A raw handler in charge already is a second protocol.
		if cl = hs.claimFor(w, r, &defaultProtocol, false); cl == nil {
			return nil
		}
	}
	if cl.status != 0 {
		hs.openAndClose(w, r)
		return nil
	}
	sub, ok := negotiate(cl.p.Subprotocols, hs.offered)
	if !ok {
		hs.refuse(cl.out, r.Context(), http.StatusForbidden, HandshakeSubprotocol, slog.LevelInfo, "no compatible subprotocol",
			slog.Any("offered", hs.offered), slog.Any("supported", cl.p.Subprotocols))
		return nil
	}
	c, _ := hs.upgrade(w, r, sub, cl.p)
	return c
}

// openAndClose opens the socket only to close it at once: with
// 4000+status when middleware inside the protocol wrote an error status,
// with 1000 when nothing inside it did anything.
func (hs *handshake) openAndClose(w http.ResponseWriter, r *http.Request) {
	cl := hs.claim
	code, reason := CloseNormal, ""
	if status := cl.status; status != 0 {
		if status < 400 || status > 999 {
			status = http.StatusForbidden
		}
		code, reason = CloseStatusBase+status, http.StatusText(status)
	}
	sub, _ := negotiate(cl.p.Subprotocols, hs.offered)
	if c, err := hs.upgrade(w, r, sub, cl.p); err == nil {
		c.finish(&CloseError{Code: code, Reason: reason})
	}
}

// negotiate picks the first subprotocol of the client's list that the
// handler supports. ok is false when the handler names subprotocols and
// the client offers none of them.
func negotiate(supported, offered []string) (sub string, ok bool) {
	if len(supported) == 0 {
		return "", true
	}
	for _, o := range offered {
		if slices.Contains(supported, o) {
			return o, true
		}
	}
	return "", false
}

// upgrade checks the origin, takes over the connection and prepares the
// 101 response, which the Conn sends when the handler first uses it. On
// failure it has answered the client and logged why.
func (hs *handshake) upgrade(w http.ResponseWriter, r *http.Request, sub string, p *Protocol) (*Conn, error) {
	out := hs.claim.out
	if !hs.originExempt {
		if err := CheckOrigin(r); err != nil {
			hs.refuse(out, r.Context(), http.StatusForbidden, HandshakeOrigin, slog.LevelWarn, err.Error())
			return nil, err
		}
	}
	header := responseHeader(w.Header(), p.Header)
	var deflate *wire.Deflate
	if cfg := hs.srv.compression.wireConfig(); cfg != nil {
		var answer string
		if deflate, answer = wire.NegotiateDeflate(r.Header, cfg); deflate != nil {
			header.Set("Sec-WebSocket-Extensions", answer)
		}
	}
	// The takeover runs deep into net/http; on the tree's goroutine it
	// would leave that goroutine, which lives as long as the socket, with
	// a stack twice the size it needs afterwards.
	var (
		nc  net.Conn
		brw *bufio.ReadWriter
		err error
	)
	hs.onNet(func() { nc, brw, err = hs.hijack(w) })
	hs.calls = nil // the socket keeps the handshake; it needs no channel
	if err != nil {
		hs.refuse(out, r.Context(), http.StatusInternalServerError, HandshakeFailed, slog.LevelError, err.Error())
		return nil, err
	}
	hs.state = hsOpen
	var buffered []byte
	if n := brw.Reader.Buffered(); n > 0 {
		buffered, _ = brw.Reader.Peek(n)
		buffered = clone(buffered)
	}
	// net/http's bufio.Reader and Writer, 4 KiB each, stay reachable from
	// its connection state; the codec needs neither.
	*brw.Reader = bufio.Reader{}
	*brw.Writer = bufio.Writer{}
	wc := wire.NewConn(nc, wire.Config{
		Role:         wire.RoleServer,
		ReadLimit:    p.ReadLimit,
		CloseTimeout: hs.srv.closeTimeout,
		Buffered:     buffered,
		Deflate:      deflate,
	})
	c := newConn(wc, r, sub, p.Codec, hs.srv.log())
	c.pending = wire.AppendResponse(make([]byte, 0, 256), hs.accept, sub, header)
	c.unsent.Store(true)
	c.cancelTree = hs.cancel
	c.opened(hs, r, deflate != nil)
	hs.conn = c
	// The tree's frames hold the handshake writer for the socket's life;
	// net/http's response and connection state behind it must not stay
	// with them.
	hs.base = nil
	hs.hw.ResponseWriter = nil
	hs.claim.out = nil
	hs.release()
	return c, nil
}

// onNet runs f on net/http's goroutine, which waits for the tree until
// the connection is taken over, and returns when f has.
func (hs *handshake) onNet(f func()) {
	done := make(chan struct{})
	hs.calls <- func() { f(); close(done) }
	<-done
}

// hijack takes the connection over from net/http, through w and the
// writers it wraps, going around middleware inside the tree that hides
// Hijack, since nothing there can use the connection anyway.
func (hs *handshake) hijack(w http.ResponseWriter) (net.Conn, *bufio.ReadWriter, error) {
	hs.upgrading = true
	defer func() { hs.upgrading = false }()
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err == nil || !errors.Is(err, http.ErrNotSupported) {
		return nc, brw, err
	}
	nc, brw, err = http.NewResponseController(hs.hw).Hijack()
	if err == nil || !errors.Is(err, http.ErrNotSupported) {
		return nc, brw, err
	}
	return nil, nil, &hijackError{writer: fmt.Sprintf("%T", blocker(hs.base))}
}

// blocker returns the writer in w's chain that neither hijacks nor
// unwraps: the middleware that hides the connection.
func blocker(w http.ResponseWriter) http.ResponseWriter {
	for {
		if _, ok := w.(http.Hijacker); ok {
			return w
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w
		}
		w = u.Unwrap()
	}
}

// hijackError is the reason a handshake failed with 500 because a
// ResponseWriter on its path hides the connection: middleware that wraps
// the writer without Hijack or an Unwrap method. It is logged.
type hijackError struct {
	writer string // the type of the writer that hides the connection
}

func (e *hijackError) Error() string {
	return fmt.Sprintf("cannot take over the connection: the ResponseWriter %s implements neither http.Hijacker nor "+
		"Unwrap() http.ResponseWriter; give the middleware that wraps it an Unwrap method returning the writer it wraps, "+
		"or place it inside pistoke.Handler", e.writer)
}

// refuse answers the handshake with status instead of opening it,
// through w, and logs why. It is the one place where pistoke refuses.
func (hs *handshake) refuse(w http.ResponseWriter, ctx context.Context, status int, outcome HandshakeOutcome, level slog.Level, reason string, attrs ...slog.Attr) {
	if hs.state != hsRouting {
		return
	}
	hs.outcome = outcome
	hs.logRefusal(ctx, level, status, outcome, reason, attrs...)
	hs.refusing = true
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.Error(w, http.StatusText(status)+": "+reason, status)
	hs.refusing = false
	hs.state = hsAnswered
}

func (hs *handshake) logRefusal(ctx context.Context, level slog.Level, status int, outcome HandshakeOutcome, reason string, attrs ...slog.Attr) {
	log := hs.srv.log()
	if !log.Enabled(ctx, level) {
		return
	}
	attrs = append([]slog.Attr{slog.String("path", hs.path), slog.Int("status", status),
		slog.String("reason", reason), slog.String("outcome", string(outcome))}, attrs...)
	log.LogAttrs(ctx, level, "pistoke: handshake refused", attrs...)
}

// report counts a handshake that did not open a socket, once.
func (hs *handshake) report() {
	if hs.state == hsOpen || hs.state == hsHijacked || hs.reported {
		return
	}
	hs.reported = true
	hs.srv.countHandshake(cmp.Or(hs.outcome, HandshakeRejected))
}

// handshakeWriter stands between the handler tree and the client during
// a handshake. It turns answers a browser cannot use (2xx, 3xx) into 403,
// notices statuses the tree answers with, and swallows writes after the
// upgrade.
type handshakeWriter struct {
	http.ResponseWriter
	hs *handshake
}

func (w *handshakeWriter) WriteHeader(code int) {
	hs := w.hs
	if hs.refusing {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if hs.state != hsRouting {
		return
	}
	switch {
	case code < 200:
		w.ResponseWriter.WriteHeader(code)
	case code < 400:
		hs.refuseNonError(w.ResponseWriter, code)
	default:
		hs.state = hsAnswered
		hs.outcome = HandshakeRejected
		hs.noteStatus(w.ResponseWriter.Header(), code)
		w.ResponseWriter.WriteHeader(code)
	}
}

// refuseNonError answers 403 where the tree answered 2xx or 3xx (a login
// redirect, say), dropping what that answer had prepared.
func (hs *handshake) refuseNonError(w http.ResponseWriter, code int) {
	h := w.Header()
	for _, k := range []string{"Location", "Content-Length", "Content-Encoding", "Content-Type", "Etag", "Last-Modified"} {
		h.Del(k)
	}
	hs.state = hsAnswered
	hs.outcome = HandshakeRejected
	reason := fmt.Sprintf("the handler answered with %d %s", code, http.StatusText(code))
	hs.logRefusal(context.Background(), slog.LevelInfo, http.StatusForbidden, HandshakeRejected, reason)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write([]byte("Forbidden: " + reason + "\n"))
	hs.swallow = true
}

// noteStatus logs an error status the tree answered a handshake with: at
// debug level, except a 405, which usually means a route was registered
// without the WEBSOCKET method, and is logged at warn once per path.
func (hs *handshake) noteStatus(h http.Header, code int) {
	if code == http.StatusMethodNotAllowed && hs.srv.warnOnce405(hs.path) {
		hs.srv.log().LogAttrs(context.Background(), slog.LevelWarn, "pistoke: handshake answered 405 Method Not Allowed",
			slog.String("path", hs.path), slog.String("allow", h.Get("Allow")),
			slog.String("hint", `the route matching this path does not accept the WEBSOCKET method: register it as "WEBSOCKET `+hs.path+`" (ServeMux) or with chi.RegisterMethod(pistoke.MethodWebsocket)`))
		return
	}
	hs.logRefusal(context.Background(), slog.LevelDebug, code, HandshakeRejected, "the handler tree answered with a status")
}

func (w *handshakeWriter) Write(b []byte) (int, error) {
	hs := w.hs
	if hs.refusing {
		return w.ResponseWriter.Write(b)
	}
	switch hs.state {
	case hsOpen, hsHijacked:
		return 0, http.ErrHijacked
	case hsRouting:
		w.WriteHeader(http.StatusOK)
	}
	if hs.swallow {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *handshakeWriter) Flush() {
	switch w.hs.state {
	case hsOpen, hsHijacked:
		return
	case hsRouting:
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack lets other WebSocket libraries upgrade inside the tree too;
// pistoke's own upgrade comes through here as well.
func (w *handshakeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hs.state != hsRouting {
		return nil, nil, errors.New("pistoke: hijack after the handshake was answered")
	}
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && !w.hs.upgrading {
		hs := w.hs
		hs.state = hsHijacked
		// pistoke cannot close a socket it does not speak for, so a drain
		// must not wait for it: it ends with the process.
		if hs.tracked {
			hs.tracked = false
			hs.tracker.abort()
		}
		hs.release()
	}
	return c, brw, err
}

func (w *handshakeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Header returns the response's header, or a throwaway one once the
// connection has been taken over.
func (w *handshakeWriter) Header() http.Header {
	if w.ResponseWriter == nil {
		return http.Header{}
	}
	return w.ResponseWriter.Header()
}

// SetWriteDeadline and SetReadDeadline keep http.ResponseController
// working for middleware that sets deadlines before answering.
func (w *handshakeWriter) SetWriteDeadline(t time.Time) error {
	if w.ResponseWriter == nil {
		return http.ErrHijacked
	}
	return http.NewResponseController(w.ResponseWriter).SetWriteDeadline(t)
}

// claimWriter is what middleware inside a protocol writes to before the
// upgrade: a status there is not sent but turns into the close code of a
// socket that opens and closes at once.
type claimWriter struct {
	http.ResponseWriter
	hs *handshake
	cl *claim
}

func (w *claimWriter) WriteHeader(code int) {
	if w.hs.state != hsRouting || w.cl.status != 0 || code < 200 {
		return
	}
	w.cl.status = code
}

func (w *claimWriter) Write(b []byte) (int, error) {
	if w.hs.state == hsOpen {
		return 0, http.ErrHijacked
	}
	if w.cl.status == 0 {
		w.cl.status = http.StatusOK
	}
	return len(b), nil
}

func (w *claimWriter) Flush() {}

func (w *claimWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// responseHeader collects what the 101 response carries besides the
// handshake fields: headers middleware set before the upgrade (cookies,
// say) and the protocol's own.
func responseHeader(set, extra http.Header) http.Header {
	h := make(http.Header, len(set)+len(extra))
	for k, v := range set {
		switch k {
		case "Content-Length", "Content-Type", "Content-Encoding", "Transfer-Encoding", "Connection",
			"Upgrade", "Keep-Alive", "Vary", "Sec-Websocket-Accept", "Sec-Websocket-Protocol", "Sec-Websocket-Extensions",
			"X-Content-Type-Options":
			continue
		}
		h[k] = v
	}
	for k, v := range extra {
		h[http.CanonicalHeaderKey(k)] = v
	}
	return h
}

// reportEarlyEnd tells a test observer that the handshake ended without a
// socket because of err.
func reportEarlyEnd(r *http.Request, err error) {
	notifyObserver(r.Context(), err, 0, 0)
}
