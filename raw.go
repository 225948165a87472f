package pistoke

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"
)

// RawHandlerFunc is a socket handler that drives the handshake itself,
// the way ASGI applications do: it is called when the client connects
// (the connect event), then either denies the connection with an HTTP
// status or accepts it, choosing the subprotocol and response headers,
// and receives messages until Receive reports the disconnect with a
// [*CloseError] carrying the close code.
//
// Use it when the decision to accept needs more than a Protocol can say.
// It takes the place of a protocol, so it must not be wrapped in one.
type RawHandlerFunc func(h *Handshake) error

// Handshake is the connect event of a [RawHandlerFunc]: the request and
// the means to answer it.
type Handshake struct {
	hs   *handshake
	w    http.ResponseWriter
	r    *http.Request
	conn *Conn
}

// Request returns the handshake request.
func (h *Handshake) Request() *http.Request { return h.r }

// Subprotocols returns the subprotocols the client offers, in its order of
// preference.
func (h *Handshake) Subprotocols() []string { return slices.Clone(h.hs.offered) }

// Accept completes the handshake under p and returns the connection: p
// chooses the subprotocol (the first of the client's list among
// p.Subprotocols, none when p names none) and the connection's settings,
// as for a handler that p wraps. Accept fails when the handshake was
// already answered, and refuses it with 403 when the client offers none
// of p's subprotocols or the origin check fails.
func (h *Handshake) Accept(p Protocol) (*Conn, error) {
	hs := h.hs
	if hs.state != hsRouting {
		return nil, errors.New("pistoke: handshake already answered")
	}
	sub, ok := negotiate(p.Subprotocols, hs.offered)
	if !ok {
		hs.refuse(h.w, h.r.Context(), http.StatusForbidden, HandshakeSubprotocol, slog.LevelInfo, "no compatible subprotocol",
			slog.Any("offered", hs.offered), slog.Any("supported", p.Subprotocols))
		return nil, &HandshakeError{Status: http.StatusForbidden, Reason: "no compatible subprotocol"}
	}
	c, err := hs.upgrade(h.w, h.r, sub, &p)
	if err != nil {
		return nil, &HandshakeError{Status: http.StatusForbidden, Reason: err.Error()}
	}
	h.conn = c
	return c, nil
}

// Deny refuses the handshake with an HTTP status; a status outside
// 400-999 becomes 403.
func (h *Handshake) Deny(status int) {
	if status < 400 || status > 999 {
		status = http.StatusForbidden
	}
	h.hs.refuse(h.w, h.r.Context(), status, HandshakeRejected, slog.LevelInfo, "denied by the handler")
}

// ServeHTTP calls f with the handshake.
func (f RawHandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if handshakeFrom(r.Context()) == nil {
		serveOutside(w, r, http.HandlerFunc(f.serve))
		return
	}
	f.serve(w, r)
}

func (f RawHandlerFunc) serve(w http.ResponseWriter, r *http.Request) {
	hs := handshakeFrom(r.Context())
	if hs.claimFor(w, r, nil, true) == nil {
		return
	}
	h := &Handshake{hs: hs, w: w, r: r}
	err := callHandler(func(*Conn) error { return f(h) }, nil)
	switch {
	case h.conn != nil:
		h.conn.finish(err)
	case hs.state == hsRouting:
		if err == nil {
			err = ErrNotAccepted
		}
		hs.refuse(w, r.Context(), http.StatusForbidden, HandshakeRejected, slog.LevelError, err.Error())
		reportEarlyEnd(r, err)
	default:
		// Refused: by Deny, or by Accept, whose error the handler may
		// return; that is the answer, not a handler failure.
		var he *HandshakeError
		if !errors.As(err, &he) {
			reportEarlyEnd(r, err)
		}
	}
}
