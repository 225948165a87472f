package pistoke

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
)

// ErrNotAccepted is reported when a [RawHandlerFunc] returns without
// accepting or denying its handshake; the client gets 403.
var ErrNotAccepted = errors.New("pistoke: raw handler returned without accepting or denying the handshake")

// RawHandlerFunc is a socket handler that drives the handshake itself,
// event by event, the way ASGI applications do: it is called when the
// client connects, then either accepts (choosing a subprotocol and adding
// response headers as it likes) and reads message and disconnect events
// with [Conn.NextEvent], or denies the connection with an HTTP status.
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

// AcceptOptions are the choices a raw handler makes when it accepts.
type AcceptOptions struct {
	// Subprotocol must be one the client offered, or "".
	Subprotocol string
	// Protocol holds the other settings of the connection (read limit,
	// codec, compression, extra response headers), as for a handler that
	// a Protocol wraps; its Subprotocols field is ignored.
	Protocol Protocol
}

// Accept completes the handshake and returns the connection. It fails
// when the handshake was already answered, when the subprotocol was not
// offered, or when the origin check refuses the request (the client then
// gets 403).
func (h *Handshake) Accept(opts AcceptOptions) (*Conn, error) {
	if h.hs.state != hsRouting {
		return nil, errors.New("pistoke: handshake already answered")
	}
	if opts.Subprotocol != "" && !slices.Contains(h.hs.offered, opts.Subprotocol) {
		return nil, fmt.Errorf("pistoke: subprotocol %q was not offered by the client", opts.Subprotocol)
	}
	p := opts.Protocol
	c, err := h.hs.upgrade(h.w, h.r, opts.Subprotocol, &p)
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
	h.hs.refuse(h.w, h.r, status, HandshakeRejected, slog.LevelInfo, "denied by the handler")
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
		hs.refuse(w, r, http.StatusForbidden, HandshakeRejected, slog.LevelError, err.Error())
		reportEarlyEnd(r, err)
	default:
		reportEarlyEnd(r, err)
	}
}

// EventType tells the events of [Conn.NextEvent] apart.
type EventType int

// The events a raw handler sees after accepting.
const (
	EventMessage    EventType = iota + 1 // a data message arrived
	EventDisconnect                      // the connection ended; no more events follow
)

// Event is a message or the end of the connection, for handlers that
// prefer events to calls.
type Event struct {
	Type        EventType
	MessageType MessageType // of a message
	Data        []byte      // of a message; valid until the next NextEvent
	Code        int         // close code of a disconnect
	Reason      string      // close reason of a disconnect
}

// NextEvent waits for the next message or for the end of the connection.
// After EventDisconnect it keeps returning EventDisconnect.
func (c *Conn) NextEvent() Event {
	typ, p, err := c.Receive()
	if err == nil {
		return Event{Type: EventMessage, MessageType: typ, Data: p}
	}
	ev := Event{Type: EventDisconnect, Code: CloseAbnormal}
	var ce *CloseError
	if errors.As(err, &ce) {
		ev.Code, ev.Reason = ce.Code, ce.Reason
	}
	return ev
}
