package pistoke

import (
	"net/http"

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

	// ReadLimit is the largest message, in bytes, the socket accepts; 0
	// means 1 MiB, negative means no limit. A larger message, or one whose
	// frames (headers and empty fragments included) take more than
	// max(2×ReadLimit, ReadLimit+64 KiB) on the wire, closes the socket
	// with 1009.
	ReadLimit int64

	// Header holds extra headers for the 101 Switching Protocols response.
	Header http.Header

	// Codec encodes and decodes the values of SendJSON and ReceiveJSON.
	// Nil means JSON{}.
	Codec Codec
}

// Wrap returns a handler that upgrades WebSocket handshakes for next
// under this protocol. Plain HTTP requests go to next untouched, so one
// route may serve a page and a socket.
func (p Protocol) Wrap(next http.Handler) http.Handler {
	return &protocolHandler{p: p, next: next}
}

type protocolHandler struct {
	p    Protocol
	next http.Handler
}

func (h *protocolHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hs := handshakeFrom(r.Context())
	if hs == nil {
		if wire.IsUpgrade(r) {
			serveOutside(w, r, http.HandlerFunc(h.serveClaimed))
			return
		}
		h.next.ServeHTTP(w, r)
		return
	}
	h.serveClaimed(w, r)
}

// serveClaimed takes charge of the handshake and sends it on to the
// handler, through whatever middleware lies inside the protocol.
func (h *protocolHandler) serveClaimed(w http.ResponseWriter, r *http.Request) {
	hs := handshakeFrom(r.Context())
	cl := hs.claimFor(w, r, &h.p, false)
	if cl == nil {
		return
	}
	h.next.ServeHTTP(&claimWriter{ResponseWriter: w, hs: hs, cl: cl}, r)
	if hs.state == hsRouting {
		// Nothing inside opened the socket: open it only to say why it
		// ends (4000+status, or 1000 when nothing happened at all).
		hs.openAndClose(w, r)
	}
}
