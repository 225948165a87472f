package pistoke

import "time"

// Metrics receives counts of what handshakes and connections do, for
// export to a monitoring system; set it in [Options.Metrics]. The
// pistokeprom package implements it for Prometheus.
//
// Methods are called from the goroutines of the connections themselves,
// concurrently and on the path of every message: they must be safe for
// concurrent use, fast and non-blocking. Labels derived from their
// arguments take few values by construction (outcomes, message types,
// close codes), never paths or addresses.
type Metrics interface {
	// Handshake is called once per handshake that reached [Handler], with
	// how it ended.
	Handshake(outcome HandshakeOutcome)
	// Opened is called when a connection has been upgraded.
	Opened()
	// Closed is called once when an opened connection has ended.
	Closed(info CloseInfo)
	// Received is called for each data message read, with its size.
	Received(typ MessageType, n int)
	// Sent is called for each data message written, with its size.
	Sent(typ MessageType, n int)
	// SendDropped is called when a connection is closed because it could
	// not keep up with what was sent to it (see [Options.SendQueue]).
	SendDropped()
}

// HandshakeOutcome says how a handshake ended, for [Metrics] and logs.
type HandshakeOutcome string

// The outcomes of a handshake.
const (
	// HandshakeAccepted: the connection was upgraded.
	HandshakeAccepted HandshakeOutcome = "accepted"
	// HandshakeBadRequest: the request was not a valid handshake (400, 405
	// or 426).
	HandshakeBadRequest HandshakeOutcome = "bad_request"
	// HandshakeOrigin: the origin check refused it (403).
	HandshakeOrigin HandshakeOutcome = "origin"
	// HandshakeSubprotocol: the client offered no subprotocol the handler
	// speaks (403).
	HandshakeSubprotocol HandshakeOutcome = "subprotocol"
	// HandshakeRejected: the handler tree answered with an HTTP status
	// instead of upgrading (authentication, CSRF, routing: 401, 403, 404).
	HandshakeRejected HandshakeOutcome = "rejected"
	// HandshakeOverloaded: [Options.MaxConns] connections were already
	// open (503).
	HandshakeOverloaded HandshakeOutcome = "overloaded"
	// HandshakeDraining: the server was draining (503).
	HandshakeDraining HandshakeOutcome = "draining"
	// HandshakeFailed: the upgrade itself failed (the client left, or the
	// connection could not be taken over).
	HandshakeFailed HandshakeOutcome = "failed"
)

// Who ended a connection, in CloseInfo.By.
const (
	closedByServer  = "server"
	closedByClient  = "client"
	closedByNetwork = "network"
)

// CloseInfo describes a connection that has ended, for [Metrics] and the
// "pistoke: socket closed" log event.
type CloseInfo struct {
	Code     int           // the close code: the first sent or received, 1006 when none
	Reason   string        // the close reason
	By       string        // "server" or "client": who sent the first close frame; "network": nobody, the connection broke
	Duration time.Duration // from upgrade to end

	MessagesIn, MessagesOut int64 // data messages read and written
	BytesIn, BytesOut       int64 // their payload bytes
}
