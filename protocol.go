package pistoke

import (
	"bufio"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/pistoke/pistoke/internal/wire"
)

// Protocol says how a socket opens and what it carries: the subprotocols
// it speaks, the largest message it accepts, extra response headers and
// the codec of JSON messages. The zero value is the default protocol,
// which every [HandlerFunc] that no other protocol wraps gets.
//
// A Protocol wraps a handler with [Protocol.Wrap]; the result is both the
// endpoint and a middleware boundary. Middleware outside it refuses a
// handshake with an ordinary HTTP status; middleware inside it runs after
// the decision to open the socket, so an error status written there opens
// the socket and closes it at once with 4000+status. One protocol per
// handshake: a protocol inside another answers 500 before any upgrade.
type Protocol struct {
	// Subprotocols the handler speaks. When set, the handshake picks the
	// first entry of the client's list that appears here (the client's
	// order wins) and refuses with 403 when the client offers none of them
	// or none at all. When empty, no subprotocol is chosen.
	Subprotocols []string

	// ReadLimit overrides Options.ReadLimit for this handler.
	ReadLimit int64

	// Header holds extra headers for the 101 Switching Protocols response.
	Header http.Header

	// Codec encodes and decodes the values of SendJSON and ReceiveJSON.
	// Nil means JSON{}.
	Codec Codec

	// Compression overrides Options.Compression for this handler.
	Compression *Compression
}

// Wrap returns a handler that upgrades WebSocket handshakes for next
// under this protocol. Plain HTTP requests go to next untouched, so one
// route may serve a page and a socket.
func (p Protocol) Wrap(next http.Handler) http.Handler {
	return &protocolHandler{p: p, next: next}
}

// Handle is shorthand for p.Wrap(f).
func (p Protocol) Handle(f HandlerFunc) http.Handler { return p.Wrap(f) }

type protocolHandler struct {
	p    Protocol
	next http.Handler
}

func (h *protocolHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hs := handshakeFrom(r.Context())
	if hs == nil {
		if !wire.IsUpgrade(r) {
			h.next.ServeHTTP(w, r)
			return
		}
		defaultServer.serveHandshake(w, r, h)
		return
	}
	if hs.owner != nil {
		hs.nested = true
		return
	}
	ps := &protoState{p: &h.p, hs: hs, w: w, r: r}
	hs.owner = ps
	h.next.ServeHTTP(&protoWriter{ResponseWriter: w, ps: ps}, r)
	switch {
	case ps.conn != nil || ps.refused:
	case hs.nested:
		hs.srv.log().LogAttrs(r.Context(), slog.LevelError, "pistoke: handshake refused",
			slog.String("path", r.URL.Path), slog.Int("status", http.StatusInternalServerError),
			slog.String("reason", ErrNestedProtocol.Error()))
		reportEarlyEnd(r, ErrNestedProtocol)
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
	default:
		// Nothing inside accepted: open the socket only to say why it ends.
		ps.acceptAndClose()
	}
}

// protoState is one protocol's hold on one handshake.
type protoState struct {
	p       *Protocol
	hs      *handshake
	w       http.ResponseWriter // what the protocol received
	r       *http.Request
	status  int // status written inside the protocol before the upgrade
	conn    *Conn
	refused bool
}

// accept upgrades the connection for the socket handler at the end of the
// chain (r is the request as it reached that handler). It returns nil
// when the handshake was refused or closed at once; the response is then
// complete.
func (ps *protoState) accept(r *http.Request) *Conn {
	if ps.conn != nil || ps.refused {
		ps.hs.srv.log().LogAttrs(r.Context(), slog.LevelError, "pistoke: socket handler reached twice for one handshake",
			slog.String("path", r.URL.Path))
		return nil
	}
	if ps.status != 0 {
		ps.acceptAndClose()
		return nil
	}
	sub, ok := ps.negotiate()
	if !ok {
		ps.hs.outcome = HandshakeSubprotocol
		ps.refuse(r, http.StatusForbidden, "no compatible subprotocol", "offered", ps.hs.offered, "supported", ps.p.Subprotocols)
		return nil
	}
	c, err := ps.hs.upgrade(ps.w, r, sub, ps.p.Header, ps.p.ReadLimit, ps.p.Codec, ps.p.Compression)
	if err != nil {
		ps.refused = true
		return nil
	}
	ps.conn = c
	ps.w, ps.r = nil, nil // keep no response state alive while the socket is open
	return c
}

// acceptAndClose opens the socket and closes it at once: with
// 4000+status when middleware inside the protocol wrote an error status,
// with 1000 when nothing inside did anything.
func (ps *protoState) acceptAndClose() {
	code, reason := CloseNormal, ""
	if ps.status != 0 {
		status := ps.status
		if status < 400 || status > 999 {
			status = http.StatusForbidden
		}
		code, reason = CloseStatusBase+status, http.StatusText(status)
	}
	sub, _ := ps.negotiate()
	c, err := ps.hs.upgrade(ps.w, ps.r, sub, ps.p.Header, ps.p.ReadLimit, ps.p.Codec, ps.p.Compression)
	if err != nil {
		ps.refused = true
		return
	}
	ps.conn = c
	c.finish(&CloseError{Code: code, Reason: reason})
}

func (ps *protoState) refuse(r *http.Request, status int, reason string, attrs ...any) {
	ps.refused = true
	args := append([]any{"path", r.URL.Path, "status", status, "reason", reason}, attrs...)
	ps.hs.srv.log().Log(r.Context(), slog.LevelInfo, "pistoke: handshake refused", args...)
	http.Error(ps.w, http.StatusText(status), status)
}

// negotiate picks the first subprotocol of the client's list that the
// protocol supports. ok is false when the protocol names subprotocols and
// none of the client's is among them.
func (ps *protoState) negotiate() (sub string, ok bool) {
	if len(ps.p.Subprotocols) == 0 {
		return "", true
	}
	for _, offered := range ps.hs.offered {
		if slices.Contains(ps.p.Subprotocols, offered) {
			return offered, true
		}
	}
	return "", false
}

// protoWriter catches what middleware inside a protocol writes before the
// upgrade: a status there means the socket is to open and close at once.
type protoWriter struct {
	http.ResponseWriter
	ps *protoState
}

func (w *protoWriter) WriteHeader(code int) {
	if w.ps.conn != nil || w.ps.refused || w.ps.status != 0 || code < 200 {
		return
	}
	w.ps.status = code
}

func (w *protoWriter) Write(b []byte) (int, error) {
	if w.ps.conn != nil {
		return 0, http.ErrHijacked
	}
	if w.ps.status == 0 {
		w.ps.status = http.StatusOK
	}
	return len(b), nil
}

func (w *protoWriter) Flush() {}

func (w *protoWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// upgrade checks the origin, takes over the connection and sends the 101
// response. On failure it has answered the client (403 or 500) and logged
// why.
func (hs *handshake) upgrade(w http.ResponseWriter, r *http.Request, sub string, extra http.Header, readLimit int64, codec Codec, comp *Compression) (*Conn, error) {
	log := hs.srv.log()
	if !hs.originExempt {
		if err := CheckOrigin(r); err != nil {
			log.LogAttrs(r.Context(), slog.LevelWarn, "pistoke: handshake refused",
				slog.String("path", r.URL.Path), slog.Int("status", http.StatusForbidden),
				slog.String("reason", err.Error()), slog.String("outcome", string(HandshakeOrigin)))
			hs.outcome = HandshakeOrigin
			http.Error(w, "Forbidden: "+err.Error(), http.StatusForbidden)
			return nil, err
		}
	}
	header := responseHeader(w.Header(), extra)
	var deflate *wire.Deflate
	if cfg := compressionFor(comp, hs.srv.compression).wireConfig(); cfg != nil {
		var answer string
		if deflate, answer = wire.NegotiateDeflate(r.Header, cfg); deflate != nil {
			header.Set("Sec-WebSocket-Extensions", answer)
		}
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil && !hs.upgraded && w != hs.base {
		// Some middleware hides Hijack; go around it.
		nc, brw, err = http.NewResponseController(hs.base).Hijack()
	}
	if err != nil {
		log.LogAttrs(r.Context(), slog.LevelError, "pistoke: cannot take over the connection",
			slog.String("path", r.URL.Path), slog.String("error", err.Error()))
		hs.outcome = HandshakeFailed
		if !hs.upgraded {
			http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		}
		return nil, err
	}
	hs.upgraded = true
	// The handshake stays reachable from the connection's context; let go
	// of net/http's response and connection state.
	hs.base = nil
	var buffered []byte
	if n := brw.Reader.Buffered(); n > 0 {
		buffered, _ = brw.Reader.Peek(n)
	}
	resp := wire.AppendResponse(make([]byte, 0, 256), hs.key, sub, header)
	_ = nc.SetWriteDeadline(time.Now().Add(handshakeWriteTimeout))
	if _, err := nc.Write(resp); err != nil {
		nc.Close()
		log.LogAttrs(r.Context(), slog.LevelInfo, "pistoke: client left during the handshake",
			slog.String("path", r.URL.Path), slog.String("error", err.Error()))
		hs.outcome = HandshakeFailed
		return nil, err
	}
	_ = nc.SetWriteDeadline(time.Time{})
	limit := readLimit
	if limit == 0 {
		limit = hs.srv.readLimit
	}
	wc := wire.NewConn(nc, wire.Config{
		Role:         wire.RoleServer,
		ReadLimit:    limit,
		CloseTimeout: hs.srv.closeTimeout,
		Buffered:     buffered,
		Deflate:      deflate,
	})
	// The hijacked bufio.Reader and Writer are net/http's own, 4 KiB each,
	// and stay reachable from its connection while the handler runs. The
	// codec copied what was buffered and needs neither: drop their buffers
	// so that an idle socket does not hold 8 KiB for nothing.
	*brw.Reader = bufio.Reader{}
	*brw.Writer = bufio.Writer{}
	c := newConn(wc, r, sub, codec, log)
	c.opened(hs, r, deflate != nil)
	return c, nil
}

const handshakeWriteTimeout = 10 * time.Second

// responseHeader collects what the 101 response carries besides the
// handshake fields: headers middleware set before the upgrade (cookies,
// say) and the protocol's own.
func responseHeader(set, extra http.Header) http.Header {
	h := make(http.Header, len(set)+len(extra))
	for k, v := range set {
		switch k {
		case "Content-Length", "Content-Type", "Content-Encoding", "Transfer-Encoding", "Connection",
			"Upgrade", "Keep-Alive", "Vary", "Sec-Websocket-Accept", "Sec-Websocket-Protocol", "Sec-Websocket-Extensions":
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
