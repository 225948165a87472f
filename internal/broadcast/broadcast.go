// Package broadcast is how the groups package writes to pistoke's
// connections the way a fan-out must: batches of messages encoded once,
// tried without blocking, and slow members dropped through the same path
// as a Conn's own slow-consumer policy. These operations are not part of
// pistoke's API: package pistoke fills in the functions below when it is
// initialised, and groups calls them with a *pistoke.Conn.
package broadcast

import (
	"errors"
	"unicode/utf8"

	"github.com/pistoke/pistoke/internal/wire"
)

// ErrWouldBlock is returned by TrySendBatch when the connection cannot
// take the messages at once; nothing was sent.
var ErrWouldBlock = wire.ErrWouldBlock

// The operations on a *pistoke.Conn, passed as c.
var (
	// SendBatch sends ms in order, with one system call where the
	// connection allows it, waiting as a Send does. On error it is
	// unknown how many of ms were sent.
	SendBatch func(c any, ms []*wire.PreparedMessage) error

	// TrySendBatch sends ms in order if the connection can take them
	// without waiting, and otherwise returns ErrWouldBlock having sent
	// nothing: its send buffer is full, another send is under way, or the
	// connection cannot tell (TLS, a client, a system other than Linux).
	TrySendBatch func(c any, ms []*wire.PreparedMessage) error

	// DropSlow closes c as a slow consumer, as when its own send queue
	// overflows: 1008 "slow consumer", the metric counted, the drop
	// logged with why, and every send waiting on it failing with an
	// error matching pistoke.ErrSlowConsumer.
	DropSlow func(c any, why string)
)

// ErrInvalidUTF8 is returned by Prepare for text that is not UTF-8.
var ErrInvalidUTF8 = errors.New("pistoke: text message is not valid UTF-8")

// Prepare encodes a data message once for many connections: op is
// wire.OpText or wire.OpBinary, and text must be valid UTF-8. It copies p.
func Prepare(op wire.Opcode, p []byte) (*wire.PreparedMessage, error) {
	if op == wire.OpText && !utf8.Valid(p) {
		return nil, ErrInvalidUTF8
	}
	return wire.NewPreparedMessage(op, p)
}
