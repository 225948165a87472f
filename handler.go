package pistoke

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pistoke/pistoke/internal/wire"
)

// MethodWebsocket is the value of r.Method for a WebSocket handshake
// inside a tree wrapped by [Handler]. Register socket routes with it, as
// in mux.Handle("WEBSOCKET /chat/{room}", h); with chi, call
// chi.RegisterMethod(pistoke.MethodWebsocket) once first.
const MethodWebsocket = "WEBSOCKET"

// Options configures [Handler]. The zero value is ready to use: origins
// must match the request's own host, no proxy is trusted, handshakes
// carry at most 16 KiB of headers, every socket is pinged every 30
// seconds and dropped when a send waits 10 seconds or 64 sends queue up,
// and events go to slog.Default(). How large a message may be, and which
// subprotocols a socket speaks, is the business of its [Protocol].
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

	// CheckOrigin, when set, replaces the default origin check. It returns
	// nil to let the handshake through, or an error saying why not; the
	// client then gets 403 and the error is logged.
	CheckOrigin func(r *http.Request) error

	// Logger receives refused handshakes, socket events, handler errors
	// and panics. Nil means slog.Default().
	Logger *slog.Logger

	// MaxHeaderBytes bounds the size of a handshake's request line and
	// headers, which a socket keeps for its life (they stay readable
	// through Conn.Request); a larger handshake is refused with 431.
	// 0 means 16 KiB, negative means no bound beyond the http.Server's
	// own MaxHeaderBytes.
	MaxHeaderBytes int

	// PingInterval is how often the server pings each connection; 0 means
	// 30 seconds, negative means never. Pings keep proxies and NAT tables
	// from dropping quiet connections and reveal dead peers.
	PingInterval time.Duration

	// PongTimeout is how long a ping may go unanswered before the peer is
	// taken for dead: its TCP connection is closed and the handler's
	// context cancelled. 0 means PingInterval.
	PongTimeout time.Duration

	// IdleTimeout closes a connection (1000, "idle timeout") after this
	// long without a data message in either direction; 0 means never.
	// Pings do not count as activity.
	IdleTimeout time.Duration

	// CloseTimeout bounds the closing handshake: how long pistoke waits
	// for the peer's close frame before it drops the connection. 0 means
	// 5 seconds.
	CloseTimeout time.Duration

	// WriteTimeout bounds how long one message may take to leave: a
	// client that does not read for this long is dropped as a slow
	// consumer (see SendQueue). 0 means 10 seconds, negative means no
	// bound.
	WriteTimeout time.Duration

	// SendQueue bounds how many messages may wait to be sent on one
	// connection: sends that find this many others still waiting for a
	// slow client drop the connection instead of queueing. 0 means 64,
	// negative means no bound.
	//
	// This is the slow-consumer policy of every pistoke connection, and
	// package groups applies it too: a dropped connection is closed with
	// 1008 (policy violation) and the reason "slow consumer", its
	// handler's context is cancelled and every pending send returns an
	// error matching [ErrSlowConsumer]. 1008 and not 1013 (try again
	// later): the fault lies with the client, which is not reading, not
	// with a server too busy to serve it; a client told to retry later
	// would come back and fall behind again.
	SendQueue int

	// MaxConns caps the open connections of this handler: beyond it
	// handshakes are refused with 503 Service Unavailable and a
	// Retry-After header. 0 means no cap.
	MaxConns int

	// Compression, when set, accepts permessage-deflate on every socket.
	Compression *Compression

	// Metrics, when set, receives counts of handshakes, connections,
	// messages and close codes; see the pistokeprom package.
	Metrics Metrics
}

// Defaults of the Options that a zero value leaves unset.
const (
	defaultPingInterval   = 30 * time.Second
	defaultWriteTimeout   = 10 * time.Second
	defaultSendQueue      = 64
	defaultMaxHeaderBytes = 16 << 10 // enough for browsers' usual cookies, small next to net/http's 1 MiB
)

// server is Options made ready for use by every request.
type server struct {
	allowed      []string
	proxies      []netip.Prefix
	closeTimeout time.Duration
	checkOrigin  func(*http.Request) error
	logger       *slog.Logger
	maxHeader    int // 0: no bound

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

	warned405 sync.Map // paths whose 405 answer to a handshake was logged
	n405      atomic.Int32
	warnedOut atomic.Bool // "not the server's handler" was logged
}

// noteNotOutermost logs, once, that Handler serves a handshake from
// inside other handlers.
func (s *server) noteNotOutermost(r *http.Request) {
	if s.warnedOut.Swap(true) {
		return
	}
	s.log().LogAttrs(r.Context(), slog.LevelInfo, "pistoke: Handler is not the server's handler",
		slog.String("path", r.URL.Path),
		slog.String("hint", "handlers outside pistoke.Handler make each socket keep net/http's connection goroutine for its life; "+
			"wrap your middleware and router with pistoke.Handler and make it the http.Server's Handler"))
}

// warnOnce405 reports whether a 405 answer to a handshake for path is to
// be logged at warn: the first time for each path, for at most
// maxWarned405 paths, since clients choose the paths.
func (s *server) warnOnce405(path string) bool {
	if s.n405.Load() >= maxWarned405 {
		return false
	}
	if _, seen := s.warned405.LoadOrStore(path, struct{}{}); seen {
		return false
	}
	return s.n405.Add(1) <= maxWarned405
}

const maxWarned405 = 64

// defaultServer serves handshakes that reach a protocol without passing
// through Handler, so that protocols work on their own too.
var defaultServer = newServer(Options{})

func newServer(opts Options) *server {
	s := &server{
		closeTimeout: opts.CloseTimeout,
		checkOrigin:  opts.CheckOrigin,
		logger:       opts.Logger,
		maxHeader:    defaulted(opts.MaxHeaderBytes, defaultMaxHeaderBytes),
		pingInterval: defaulted(opts.PingInterval, defaultPingInterval),
		idleTimeout:  max(opts.IdleTimeout, 0),
		writeTimeout: defaulted(opts.WriteTimeout, defaultWriteTimeout),
		sendQueue:    int32(defaulted(opts.SendQueue, defaultSendQueue)),
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
//
// A socket handler runs inside the ServeHTTP of every router and
// middleware between Handler and itself, for as long as the socket
// lives: their code after next.ServeHTTP runs when the socket has closed,
// and nothing they pool per request (chi's routing context, say) is
// reused meanwhile. The tree runs on a goroutine of its own, so that
// net/http's connection goroutine returns once the connection is taken
// over, when Handler is the http.Server's own Handler. Make it so,
// wrapping your middleware and router with it: when anything lies outside
// Handler, net/http's goroutine stays until the socket closes, so that
// what is outside stays correct too, at a cost of a few KiB per socket
// (logged once, at info).
func Handler(next http.Handler, opts Options) http.Handler {
	return &handler{s: newServer(opts), next: next}
}

type handler struct {
	s    *server
	next http.Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !wire.IsUpgrade(r) {
		h.next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), serverKey{}, h.s)))
		return
	}
	// Only when nothing lies between net/http and this handler can
	// net/http's goroutine go at the upgrade: whatever is outside would
	// return, and clean up, while the socket lives.
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	outermost := srv != nil && srv.Handler == http.Handler(h)
	if !outermost {
		h.s.noteNotOutermost(r)
	}
	h.s.serveHandshake(w, r, h.next, outermost)
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
