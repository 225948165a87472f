package wire

import (
	"net"
	"sync"
)

// PreparedMessage is a data message encoded once, for sending the same
// message to many connections (a broadcast): server connections write its
// bytes as they are, without building a frame each. On connections that
// negotiated permessage-deflate it is sent compressed, and it is
// compressed only once, by the first such connection that sends it. Its
// content never changes, and it is safe for concurrent use.
type PreparedMessage struct {
	op    Opcode
	frame []byte // the unmasked frame a server sends
	hlen  int

	// The compressed form, made on first use: the server's frame (RSV1
	// set) and its header length, or nil when compression does not make
	// the message shorter.
	once   sync.Once
	cframe []byte
	chlen  int
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

// compressed returns the server frame of m's compressed form and its
// header length, compressing it at level on first use; nil if compressing
// does not make it shorter. Connections with other levels share the
// result: any deflate data is valid for any peer.
func (m *PreparedMessage) compressed(level int) ([]byte, int) {
	m.once.Do(func() {
		bp, n := compress(m.Payload(), level, maxHeader)
		if bp == nil {
			return
		}
		hlen := headerLen(n, false)
		f := make([]byte, hlen+n)
		putHeader(f, m.op|opCompressed, n, false, 0)
		copy(f[hlen:], (*bp)[maxHeader:maxHeader+n])
		putBuf(bp)
		m.cframe, m.chlen = f, hlen
	})
	return m.cframe, m.chlen
}

// WritePrepared sends m like WriteMessage(m.Opcode(), m.Payload()). A
// server writes the prepared frame with one write; a client, which must
// mask every frame with a fresh key, encodes it anew (but does not
// compress it again).
func (c *Conn) WritePrepared(m *PreparedMessage) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent || c.ncClosed.Load() {
		return ErrClosed
	}
	if c.role == RoleClient {
		op, p := m.op, m.Payload()
		if c.dfl != nil && c.dfl.compresses(len(p)) {
			if f, h := m.compressed(c.dfl.level); f != nil {
				op, p = op|opCompressed, f[h:]
			}
		}
		return c.writeFrameLocked(op, p)
	}
	if c.werr != nil {
		return c.werr
	}
	_, err := c.nc.Write(c.preparedFrame(m))
	return c.writeFailed(err)
}

// preparedFrame returns the server frame c sends for m: compressed when c
// negotiated compression, m fits in c's window, and compressing m pays.
func (c *Conn) preparedFrame(m *PreparedMessage) []byte {
	if c.dfl != nil && c.dfl.compresses(len(m.frame)-m.hlen) {
		if f, _ := m.compressed(c.dfl.level); f != nil {
			return f
		}
	}
	return m.frame
}

// buffersPool holds the vectors of batched writes.
var buffersPool = sync.Pool{New: func() any { return new(net.Buffers) }}

// WritePreparedBatch sends ms in order, as WritePrepared would one by one,
// but a server writes all their frames with one vectored write: a
// connection that fell behind a broadcast catches up in one system call.
// Nothing is written once the connection is closing; an error leaves it
// unknown how many of ms the peer got.
func (c *Conn) WritePreparedBatch(ms []*PreparedMessage) error {
	if len(ms) == 1 {
		return c.WritePrepared(ms[0])
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent || c.ncClosed.Load() {
		return ErrClosed
	}
	if c.role == RoleClient {
		for _, m := range ms {
			if err := c.writeFrameLocked(m.op, m.Payload()); err != nil {
				return err
			}
		}
		return nil
	}
	if c.werr != nil {
		return c.werr
	}
	bp := buffersPool.Get().(*net.Buffers)
	bufs := (*bp)[:0]
	for _, m := range ms {
		bufs = append(bufs, c.preparedFrame(m))
	}
	// WriteTo consumes the vector; keep its start for the pool.
	all := bufs
	_, err := bufs.WriteTo(c.nc)
	clear(all)
	*bp = all[:0]
	buffersPool.Put(bp)
	return c.writeFailed(err)
}
