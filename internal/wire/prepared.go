package wire

// PreparedMessage is a data message encoded once, for sending the same
// message to many connections (a broadcast): server connections write its
// bytes as they are, without building a frame each. It is immutable and
// safe for concurrent use.
type PreparedMessage struct {
	op    Opcode
	frame []byte // the unmasked frame a server sends
	hlen  int
}

// NewPreparedMessage encodes p as a data message of type op (OpText or
// OpBinary). It copies p. As with WriteMessage, text is not checked for
// valid UTF-8.
func NewPreparedMessage(op Opcode, p []byte) (*PreparedMessage, error) {
	if op != OpText && op != OpBinary {
		return nil, ErrInvalidOpcode
	}
	hlen := headerLen(len(p), false)
	frame := make([]byte, hlen+len(p))
	putHeader(frame, op, len(p), false, 0)
	copy(frame[hlen:], p)
	return &PreparedMessage{op: op, frame: frame, hlen: hlen}, nil
}

// Opcode returns the message's opcode.
func (m *PreparedMessage) Opcode() Opcode { return m.op }

// Payload returns the message's payload, which must not be modified.
func (m *PreparedMessage) Payload() []byte { return m.frame[m.hlen:] }

// WritePrepared sends m like WriteMessage(m.Opcode(), m.Payload()). A
// server writes the prepared frame with one write; a client, which must
// mask every frame with a fresh key, encodes it anew.
func (c *Conn) WritePrepared(m *PreparedMessage) error {
	if c.role == RoleClient {
		return c.WriteMessage(m.op, m.Payload())
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent || c.ncClosed.Load() {
		return ErrClosed
	}
	if c.werr != nil {
		return c.werr
	}
	_, err := c.nc.Write(m.frame)
	return c.writeFailed(err)
}
