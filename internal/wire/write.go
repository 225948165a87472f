package wire

// WriteMessage sends p as one data message of type op (OpText or OpBinary)
// in a single frame, normally with one write on the connection. It does not
// check that text is valid UTF-8: that is the caller's duty, and a peer may
// fail the connection over it. When permessage-deflate was negotiated, a
// payload of at least the threshold is sent compressed, unless that does
// not make it shorter or it is longer than the negotiated window.
//
// WriteMessage is safe to call concurrently with other writes, with
// ReadMessage and with Close. It returns ErrClosed once a close frame has
// been sent or the connection has ended.
func (c *Conn) WriteMessage(op Opcode, p []byte) error {
	if op != OpText && op != OpBinary {
		return ErrInvalidOpcode
	}
	if c.dfl != nil && c.dfl.compresses(len(p)) {
		return c.writeCompressed(op, p)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent || c.ncClosed.Load() {
		return ErrClosed
	}
	return c.writeFrameLocked(op, p)
}

// WritePing sends a ping with payload p, at most MaxControlPayload bytes.
// The peer's pong is consumed by ReadMessage.
func (c *Conn) WritePing(p []byte) error {
	if len(p) > MaxControlPayload {
		return ErrControlTooLarge
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent || c.ncClosed.Load() {
		return ErrClosed
	}
	return c.writeFrameLocked(OpPing, p)
}

// pong answers a ping, unless the closing handshake has begun.
func (c *Conn) pong(p []byte) {
	c.wmu.Lock()
	if !c.closeSent {
		c.writeFrameLocked(OpPong, p)
	}
	c.wmu.Unlock()
}

// writeFrameLocked writes one final frame; op may carry opCompressed. The
// caller holds wmu.
func (c *Conn) writeFrameLocked(op Opcode, p []byte) error {
	if c.werr != nil {
		return c.werr
	}
	n := len(p)
	client := c.role == RoleClient
	hlen := headerLen(n, client)
	var key uint32
	if client {
		key = uint32(c.rng.Uint64())
	}
	if !client && c.vectored && n > copyWriteMax {
		putHeader(c.whdr[:], op, n, false, 0)
		c.wbufs[0], c.wbufs[1] = c.whdr[:hlen], p
		c.wb = c.wbufs[:]
		_, err := c.wb.WriteTo(c.nc)
		c.wbufs[0], c.wbufs[1] = nil, nil
		return c.writeFailed(err)
	}
	total := hlen + n
	if total <= 1<<maxClassShift {
		bp := getBuf(total)
		b := (*bp)[:total]
		putHeader(b, op, n, client, key)
		copy(b[hlen:], p)
		if client {
			maskBytes(key, 0, b[hlen:])
		}
		_, err := c.nc.Write(b)
		putBuf(bp)
		return c.writeFailed(err)
	}
	// Too large to copy in one piece: the header, then the payload in
	// chunks (masked copies for a client).
	const chunk = 256 << 10
	bp := getBuf(chunk)
	defer putBuf(bp)
	b := *bp
	putHeader(b, op, n, client, key)
	if !client {
		if _, err := c.nc.Write(b[:hlen]); err != nil {
			return c.writeFailed(err)
		}
		_, err := c.nc.Write(p)
		return c.writeFailed(err)
	}
	off, pos := hlen, 0
	for len(p) > 0 {
		m := copy(b[off:], p)
		pos = maskBytes(key, pos, b[off:off+m])
		if _, err := c.nc.Write(b[:off+m]); err != nil {
			return c.writeFailed(err)
		}
		p = p[m:]
		off = 0
	}
	return nil
}

// writeFailed records a write error: after a failed write the stream may
// hold a partial frame, so nothing more can be written.
func (c *Conn) writeFailed(err error) error {
	if err == nil {
		return nil
	}
	if c.ncClosed.Load() {
		err = ErrClosed
	}
	c.werr = err
	return err
}
