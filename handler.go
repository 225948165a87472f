package pistoke

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pistoke/pistoke/internal/wire"
)

// MethodWebsocket is the value of r.Method for a WebSocket handshake
// inside a tree wrapped by [Handler]. Register socket routes with it, as
// in mux.Handle("WEBSOCKET /chat/{room}", h); with chi, call
// chi.RegisterMethod(pistoke.MethodWebsocket) once first.
const MethodWebsocket = "WEBSOCKET"

// DefaultReadLimit is the largest message, in bytes, a connection accepts
// unless [Options.ReadLimit] or [Protocol.ReadLimit] says otherwise. A
// larger message closes the connection with 1009.
const DefaultReadLimit = wire.DefaultReadLimit

// DefaultCloseTimeout bounds how long pistoke waits for the peer's part of
// a closing handshake before it drops the TCP connection.
const DefaultCloseTimeout = wire.DefaultCloseTimeout

// Options configures [Handler]. The zero value is ready to use: origins
// must match the request's own host, no proxy is trusted, messages are
// limited to 1 MiB and events go to slog.Default().
type Options struct {
	// AllowedHosts lists the hosts whose pages may open sockets besides
	// the request's own host: "example.com" matches that host exactly,
	// ".example.com" matches it and every subdomain, "*" matches any host.
	// Ports in an Origin are ignored unless the entry names one.
	AllowedHosts []string

	// TrustedProxies lists the addresses (IPs or CIDR prefixes) of reverse
	// proxies whose X-Forwarded-Proto and Forwarded headers are believed
	// when working out the WebSocket base URL and whether a request came
	// over TLS. Requests from other addresses are judged by their own
	// connection. Handler panics on an entry that does not parse, as
	// http.ServeMux does on a bad pattern.
	TrustedProxies []string

	// ReadLimit is the largest message in bytes; 0 means
	// DefaultReadLimit, negative means no limit. A protocol may override it.
	ReadLimit int64

	// CloseTimeout bounds the closing handshake; 0 means
	// DefaultCloseTimeout.
	CloseTimeout time.Duration

	// CheckOrigin, when set, replaces the default origin check. It returns
	// nil to let the handshake through, or an error saying why not; the
	// client then gets 403 and the error is logged.
	CheckOrigin func(r *http.Request) error

	// Logger receives refused handshakes, handler errors and panics.
	// Nil means slog.Default().
	Logger *slog.Logger

	// InlineHandlers keeps socket handlers inside ServeHTTP, so that
	// middleware returns only when the socket closes, as with most Go
	// WebSocket libraries. By default ServeHTTP returns once the
	// connection is upgraded and the handler goes on in a goroutine of its
	// own: net/http's deep request stack is then freed, which saves about
	// 4 KiB per open connection, and middleware code after
	// next.ServeHTTP runs when the socket opens. Raw handlers always run
	// inline.
	InlineHandlers bool

	// PingInterval is how often the server pings each connection; 0 means
	// DefaultPingInterval, negative means never. Pings keep proxies and NAT
	// tables from dropping quiet connections and reveal dead peers.
	PingInterval time.Duration

	// PongTimeout is how long a ping may go unanswered before the peer is
	// taken for dead: its TCP connection is closed and the handler's
	// context cancelled. 0 means PingInterval.
	PongTimeout time.Duration

	// IdleTimeout closes a connection (1000, "idle timeout") after this
	// long without a data message in either direction; 0 means never.
	// Pings do not count as activity.
	IdleTimeout time.Duration

	// WriteTimeout bounds how long one message may take to leave: a
	// client that does not read for this long is dropped as a slow
	// consumer (see SendQueue). 0 means DefaultWriteTimeout, negative
	// means no bound.
	WriteTimeout time.Duration

	// SendQueue bounds how many messages may wait to be sent on one
	// connection: sends that find this many others still waiting for a
	// slow client drop the connection instead of queueing. 0 means
	// DefaultSendQueue, negative means no bound.
	//
	// A dropped connection is closed with 1008 (policy violation, reason
	// "slow consumer"), its handler's context is cancelled and every
	// pending send returns an error matching [ErrSlowConsumer]. 1008 and
	// not 1013 (try again later): the fault lies with the client, which
	// is not reading, not with a server too busy to serve it; a client
	// told to retry later would come back and fall behind again.
	SendQueue int

	// MaxConns caps the open connections of this handler: beyond it
	// handshakes are refused with 503 Service Unavailable and a
	// Retry-After header. 0 means no cap.
	MaxConns int

	// Compression, when set, accepts permessage-deflate on every socket
	// whose protocol does not say otherwise.
	Compression *Compression

	// Metrics, when set, receives counts of handshakes, connections,
	// messages and close codes; see the pistokeprom package.
	Metrics Metrics
}

// Defaults of the Options that a zero value leaves unset.
const (
	DefaultPingInterval = 30 * time.Second
	DefaultWriteTimeout = 10 * time.Second
	DefaultSendQueue    = 64
)

// server is Options made ready for use by every request.
type server struct {
	allowed      []string
	proxies      []netip.Prefix
	readLimit    int64
	closeTimeout time.Duration
	checkOrigin  func(*http.Request) error
	logger       *slog.Logger
	inline       bool

	pingInterval time.Duration // 0: no pings
	pongTimeout  time.Duration
	idleTimeout  time.Duration // 0: none
	writeTimeout time.Duration // 0: none
	sendQueue    int32         // 0: unbounded
	maxConns     int64         // 0: no cap
	metrics      Metrics
	compression  *Compression

	open  atomic.Int64 // connections open or being upgraded, for maxConns
	sweep sweeper
}

// defaultServer serves handshakes that reach a protocol without passing
// through Handler, so that protocols work on their own too.
var defaultServer = newServer(Options{})

func newServer(opts Options) *server {
	s := &server{
		readLimit:    opts.ReadLimit,
		closeTimeout: opts.CloseTimeout,
		checkOrigin:  opts.CheckOrigin,
		logger:       opts.Logger,
		inline:       opts.InlineHandlers,
		pingInterval: defaulted(opts.PingInterval, DefaultPingInterval),
		idleTimeout:  max(opts.IdleTimeout, 0),
		writeTimeout: defaulted(opts.WriteTimeout, DefaultWriteTimeout),
		sendQueue:    int32(defaulted(opts.SendQueue, DefaultSendQueue)),
		maxConns:     int64(max(opts.MaxConns, 0)),
		metrics:      opts.Metrics,
		compression:  opts.Compression,
	}
	s.pongTimeout = s.pingInterval
	if opts.PongTimeout > 0 {
		s.pongTimeout = opts.PongTimeout
	}
	s.sweep.srv = s
	for _, h := range opts.AllowedHosts {
		s.allowed = append(s.allowed, strings.ToLower(strings.TrimSpace(h)))
	}
	proxies, err := parsePrefixes(opts.TrustedProxies)
	if err != nil {
		panic("pistoke: Options.TrustedProxies: " + err.Error())
	}
	s.proxies = proxies
	return s
}

// defaulted maps an option's zero to def and a negative value to 0 (off).
func defaulted[T time.Duration | int](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

func (s *server) log() *slog.Logger {
	if s.logger != nil {
		return s.logger
	}
	return slog.Default()
}

type serverKey struct{}
type handshakeKey struct{}

// serverFrom returns the configuration in force for a request.
func serverFrom(ctx context.Context) *server {
	if hs, ok := ctx.Value(handshakeKey{}).(*handshake); ok {
		return hs.srv
	}
	if s, ok := ctx.Value(serverKey{}).(*server); ok {
		return s
	}
	return defaultServer
}

func handshakeFrom(ctx context.Context) *handshake {
	hs, _ := ctx.Value(handshakeKey{}).(*handshake)
	return hs
}

// Handler returns a handler that serves HTTP requests with next as usual
// and lets WebSocket handshakes travel the same handler tree with r.Method
// set to MethodWebsocket (the original method stays available through
// [OriginalMethod]).
//
// Malformed handshakes are answered before they reach next: 400, or 426
// with Sec-WebSocket-Version: 13 for an unsupported version. Whatever
// status the tree writes instead of upgrading reaches the client as it is,
// except that a 2xx or 3xx answer to a handshake (a login redirect, say)
// becomes 403: a browser cannot follow it, and it must not look like
// success.
func Handler(next http.Handler, opts Options) http.Handler {
	s := newServer(opts)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !wire.IsUpgrade(r) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), serverKey{}, s)))
			return
		}
		s.serveHandshake(w, r, next)
	})
}

// IsWebsocket reports whether r is a WebSocket handshake, whether or not
// it came through [Handler].
func IsWebsocket(r *http.Request) bool {
	return r.Method == MethodWebsocket || handshakeFrom(r.Context()) != nil || wire.IsUpgrade(r)
}

// OriginalMethod returns the method the client sent: "GET" for a
// handshake whose r.Method reads MethodWebsocket, r.Method otherwise.
func OriginalMethod(r *http.Request) string {
	if hs := handshakeFrom(r.Context()); hs != nil && r.Method == MethodWebsocket {
		return hs.method
	}
	return r.Method
}

// handshake is the state of one WebSocket handshake on its way through the
// handler tree. It is touched only by the request's goroutine.
type handshake struct {
	srv     *server
	base    http.ResponseWriter // what Handler received; last resort for Hijack
	method  string
	key     string
	offered []string

	originExempt bool
	owner        any // *protoState or *rawState in charge, if any
	nested       bool
	upgraded     bool

	tracker *tracker         // the http.Server's, for drains
	slot    bool             // holds one of srv.maxConns until a Conn takes it
	tracked bool             // counted by tracker until a Conn takes over
	outcome HandshakeOutcome // why it was refused, when known
}

func (s *server) serveHandshake(w http.ResponseWriter, r *http.Request, next http.Handler) {
	key, err := wire.CheckRequest(r)
	if err != nil {
		status, reason := http.StatusBadRequest, err.Error()
		var he *wire.HandshakeError
		if errors.As(err, &he) {
			status, reason = he.Status, he.Reason
			for k, v := range he.Header {
				w.Header()[k] = v
			}
		}
		s.log().LogAttrs(r.Context(), slog.LevelInfo, "pistoke: bad handshake",
			slog.String("path", r.URL.Path), slog.Int("status", status), slog.String("reason", reason))
		s.refuseHandshake(HandshakeBadRequest)
		http.Error(w, "Bad WebSocket handshake: "+reason, status)
		return
	}
	hs := &handshake{srv: s, base: w, method: r.Method, key: key, offered: wire.Subprotocols(r.Header), tracker: trackerFor(r)}
	if !s.admit(w, r, hs) {
		return
	}
	defer hs.releaseSlot()
	r = r.WithContext(context.WithValue(r.Context(), handshakeKey{}, hs))
	r.Method = MethodWebsocket
	hw := &handshakeWriter{ResponseWriter: w, hs: hs, r: r}
	next.ServeHTTP(hw, r)
	if !hs.upgraded && !hw.wrote {
		s.log().LogAttrs(r.Context(), slog.LevelInfo, "pistoke: handshake not upgraded",
			slog.String("path", r.URL.Path), slog.String("reason", "no handler answered it"))
		hw.refuse()
	}
	if !hs.upgraded || hs.outcome != "" {
		s.refuseHandshake(cmp.Or(hs.outcome, HandshakeRejected))
	}
}

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

// handshakeWriter stands between the handler tree and the client during a
// handshake. It turns answers a browser cannot use (2xx, 3xx) into 403 and
// notices when a handler upgrades the connection.
type handshakeWriter struct {
	http.ResponseWriter
	hs      *handshake
	r       *http.Request
	wrote   bool
	refused bool
}

func (w *handshakeWriter) WriteHeader(code int) {
	if w.hs.upgraded || w.wrote {
		return
	}
	if code < 200 {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if code < 400 {
		w.hs.srv.log().LogAttrs(w.r.Context(), slog.LevelInfo, "pistoke: handshake refused",
			slog.String("path", w.r.URL.Path), slog.Int("status", http.StatusForbidden),
			slog.String("reason", fmt.Sprintf("the handler answered with %d %s", code, http.StatusText(code))))
		w.refuse()
		return
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

// refuse answers 403, dropping what a 2xx/3xx answer had prepared.
func (w *handshakeWriter) refuse() {
	h := w.Header()
	for _, k := range []string{"Location", "Content-Length", "Content-Encoding", "Etag", "Last-Modified"} {
		h.Del(k)
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.wrote, w.refused = true, true
	w.ResponseWriter.WriteHeader(http.StatusForbidden)
	_, _ = w.ResponseWriter.Write([]byte("Forbidden\n"))
}

func (w *handshakeWriter) Write(b []byte) (int, error) {
	if w.hs.upgraded {
		return 0, http.ErrHijacked
	}
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.refused {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *handshakeWriter) Flush() {
	if !w.wrote && !w.hs.upgraded {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack lets other WebSocket libraries upgrade inside the tree too.
func (w *handshakeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.wrote {
		return nil, nil, errors.New("pistoke: hijack after the response was written")
	}
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hs.upgraded = true
	}
	return c, brw, err
}

func (w *handshakeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
