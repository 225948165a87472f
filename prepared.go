package pistoke

import (
	"errors"
	"sync"
	"unicode/utf8"

	"github.com/pistoke/pistoke/internal/wire"
)

// PreparedMessage is a message encoded once for sending to many
// connections, as a broadcast does: each connection writes the same
// frame, and compresses it at most once for all connections that
// negotiated compression. It is immutable and safe for concurrent use.
type PreparedMessage struct {
	typ MessageType
	m   *wire.PreparedMessage
}

// NewPreparedMessage encodes p as a message of type typ. It copies p.
// Text must be valid UTF-8.
func NewPreparedMessage(typ MessageType, p []byte) (*PreparedMessage, error) {
	switch typ {
	case Text:
		if !utf8.Valid(p) {
			return nil, errInvalidUTF8
		}
	case Binary:
	default:
		return nil, errors.New("pistoke: NewPreparedMessage: message type must be Text or Binary")
	}
	m, err := wire.NewPreparedMessage(wire.Opcode(typ), p)
	if err != nil {
		return nil, err
	}
	return &PreparedMessage{typ: typ, m: m}, nil
}

// Type returns the message's type.
func (m *PreparedMessage) Type() MessageType { return m.typ }

// Payload returns the message's payload, which must not be modified.
func (m *PreparedMessage) Payload() []byte { return m.m.Payload() }

// SendPrepared sends m, like Send(m.Type(), m.Payload()) without encoding
// it again.
func (c *Conn) SendPrepared(m *PreparedMessage) error {
	c.start()
	st := c.stats
	if st != nil && !c.enterSend(st) {
		return c.ended()
	}
	err := c.wc.WritePrepared(m.m)
	if st != nil {
		st.leaveSend()
	}
	if err != nil {
		return c.end(err)
	}
	if st != nil {
		st.sent(m.typ, len(m.Payload()))
	}
	return nil
}

// SendPreparedBatch sends ms in order with a single system call where the
// connection allows it, so that a connection that fell behind a busy
// broadcast catches up cheaply. On error it is unknown how many of ms
// were sent.
func (c *Conn) SendPreparedBatch(ms []*PreparedMessage) error {
	return c.sendPreparedBatch(ms, false)
}

// ErrWouldBlock is returned by [Conn.TrySendPreparedBatch] when the
// connection cannot take the messages at once. Nothing was sent.
var ErrWouldBlock = errors.New("pistoke: send would block")

// TrySendPreparedBatch sends ms in order if the connection can take them
// without waiting, and otherwise returns ErrWouldBlock having sent
// nothing: the socket's send buffer is full, another send is under way,
// or the connection does not allow it (TLS, a client connection, a
// platform other than Linux). It is for broadcasters that write to many
// connections from a few goroutines, where one slow peer must not hold up
// the others: they try each connection, and hand the ones that would
// block to a goroutine that calls SendPreparedBatch.
func (c *Conn) TrySendPreparedBatch(ms []*PreparedMessage) error {
	return c.sendPreparedBatch(ms, true)
}

// wmsPool holds the slices batches are converted into for the engine.
var wmsPool = sync.Pool{New: func() any { return new([]*wire.PreparedMessage) }}

func (c *Conn) sendPreparedBatch(ms []*PreparedMessage, try bool) error {
	if len(ms) == 0 {
		return nil
	}
	c.start()
	st := c.stats
	if st != nil && !c.enterSend(st) {
		return c.ended()
	}
	wp := wmsPool.Get().(*[]*wire.PreparedMessage)
	wms := (*wp)[:0]
	for _, m := range ms {
		wms = append(wms, m.m)
	}
	var err error
	if try {
		err = c.wc.TryWritePreparedBatch(wms)
	} else {
		err = c.wc.WritePreparedBatch(wms)
	}
	clear(wms)
	*wp = wms[:0]
	wmsPool.Put(wp)
	if st != nil {
		st.leaveSend()
	}
	if err == wire.ErrWouldBlock {
		return ErrWouldBlock
	}
	if err != nil {
		return c.end(err)
	}
	if st != nil {
		for _, m := range ms {
			st.sent(m.typ, len(m.Payload()))
		}
	}
	return nil
}
