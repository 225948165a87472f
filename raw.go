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
	hs     *handshake
	w      http.ResponseWriter
	r      *http.Request
	conn   *Conn
	denied bool
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
	// Header holds extra headers for the 101 response.
	Header http.Header
	// ReadLimit overrides Options.ReadLimit.
	ReadLimit int64
	// Codec for SendJSON and ReceiveJSON; nil means JSON{}.
	Codec Codec
	// Compression overrides Options.Compression.
	Compression *Compression
}

// Accept completes the handshake and returns the connection. It fails
// when the handshake was already answered, when the subprotocol was not
// offered, or when the origin check refuses the request (the client then
// gets 403).
func (h *Handshake) Accept(opts AcceptOptions) (*Conn, error) {
	if h.conn != nil || h.denied {
		return nil, errors.New("pistoke: handshake already answered")
	}
	if opts.Subprotocol != "" && !slices.Contains(h.hs.offered, opts.Subprotocol) {
		return nil, fmt.Errorf("pistoke: subprotocol %q was not offered by the client", opts.Subprotocol)
	}
	c, err := h.hs.upgrade(h.w, h.r, opts.Subprotocol, opts.Header, opts.ReadLimit, opts.Codec, opts.Compression)
	if err != nil {
		h.denied = true
		return nil, &HandshakeError{Status: http.StatusForbidden, Reason: err.Error()}
	}
	h.conn = c
	return c, nil
}

// Deny refuses the handshake with an HTTP status; a status below 400
// becomes 403.
func (h *Handshake) Deny(status int) {
	if h.conn != nil || h.denied {
		return
	}
	if status < 400 || status > 999 {
		status = http.StatusForbidden
	}
	h.denied = true
	h.hs.srv.log().LogAttrs(h.r.Context(), slog.LevelInfo, "pistoke: handshake refused",
		slog.String("path", h.r.URL.Path), slog.Int("status", status), slog.String("reason", "denied by the handler"))
	http.Error(h.w, http.StatusText(status), status)
}

// ServeHTTP calls f with the handshake.
func (f RawHandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hs := handshakeFrom(r.Context())
	if hs == nil {
		serveOutside(w, r, f)
		return
	}
	if hs.owner != nil {
		hs.nested = true
		return
	}
	h := &Handshake{hs: hs, w: w, r: r}
	hs.owner = h
	err := callRaw(f, h)
	switch {
	case h.conn != nil:
		h.conn.finish(err)
	case h.denied:
		reportEarlyEnd(r, err)
	default:
		if err == nil {
			err = ErrNotAccepted
		}
		h.hs.srv.log().LogAttrs(r.Context(), slog.LevelError, "pistoke: handshake refused",
			slog.String("path", r.URL.Path), slog.Int("status", http.StatusForbidden), slog.String("reason", err.Error()))
		http.Error(w, http.StatusText(http.StatusForbidden), http.StatusForbidden)
		reportEarlyEnd(r, err)
	}
}

func callRaw(f RawHandlerFunc, h *Handshake) (err error) {
	return callHandler(func(*Conn) error { return f(h) }, nil)
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
