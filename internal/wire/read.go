package wire

import (
	"encoding/binary"
	"io"
	"math"
)

// ReadMessage reads the next data message and returns its opcode (OpText
// or OpBinary) and payload, reassembled from its fragments.
//
// Control frames are handled on the way: a ping is answered with a pong
// carrying the same payload, a pong is ignored, and a close frame ends the
// connection with a *CloseError. A text message is checked for valid UTF-8
// as its bytes arrive, so a bad byte fails the connection (with a
// *ProtocolError, close code CloseInvalidPayload) without waiting for the
// rest of the message. A compressed message (permessage-deflate) is
// decompressed once complete and checked as it comes out of the
// decompressor; data that does not decompress fails the connection with
// CloseInvalidPayload too. A peer that breaks the protocol or exceeds the
// read limit gets a close frame with the matching code and ReadMessage
// returns a *ProtocolError.
//
// The payload is valid only until the next call to ReadMessage, which
// recycles its buffer; copy it to keep it. Only one goroutine may call
// ReadMessage at a time; a second concurrent call panics.
//
// An error from an expired read deadline leaves the connection usable: the
// next call resumes where the last one stopped. Every other error ends the
// connection, and later calls return the same error, or ErrClosed if
// Close or CloseNow was called.
func (c *Conn) ReadMessage() (Opcode, []byte, error) {
	c.mu.Lock()
	if c.readErr != nil {
		err := c.readErr
		c.mu.Unlock()
		return 0, nil, err
	}
	if c.closing {
		c.mu.Unlock()
		return 0, nil, ErrClosed
	}
	if c.reading {
		c.mu.Unlock()
		panic("wire: concurrent calls to ReadMessage")
	}
	c.reading = true
	c.mu.Unlock()
	for {
		op, p, err := c.next()
		c.mu.Lock()
		if c.closing {
			// Close was called meanwhile: what arrives now is drained
			// on its behalf, up to the peer's close frame.
			if err == nil {
				c.unread++
				c.mu.Unlock()
				continue
			}
			c.result = closeResult(err)
			c.readErr = ErrClosed
			c.reading = false
			c.resetRead()
			if c.done != nil {
				close(c.done)
			}
			c.mu.Unlock()
			return 0, nil, ErrClosed
		}
		c.reading = false
		if err != nil && !isTimeout(err) {
			c.readErr = err
		}
		c.mu.Unlock()
		return op, p, err
	}
}

// next reads frames up to the end of the next data message. Errors other
// than timeouts leave the read side reset and the connection closed.
func (c *Conn) next() (Opcode, []byte, error) {
	if c.msgHeld {
		c.releaseMessage()
	}
	for {
		if !c.inFrame {
			if !c.inMsg {
				c.releaseIdle()
			}
			if err := c.need(2); err != nil {
				return 0, nil, c.readFailed(err)
			}
			b0, b1 := c.rb[c.r], c.rb[c.r+1]
			fin := b0&0x80 != 0
			op := Opcode(b0 & 0x0f)
			masked := b1&0x80 != 0
			n := int64(b1 & 0x7f)
			if rsv := b0 & 0x70; rsv != 0 {
				if rsv != 0x40 || c.dfl == nil {
					return c.fail(CloseProtocolError, "reserved bits set without an extension")
				}
				if op != OpText && op != OpBinary {
					// RFC 7692 section 6.1: only a message's first
					// frame says it is compressed.
					return c.fail(CloseProtocolError, "RSV1 set on a frame other than the first of a data message")
				}
			}
			switch op {
			case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
			default:
				return c.fail(CloseProtocolError, "reserved opcode")
			}
			if op.isControl() {
				if !fin {
					return c.fail(CloseProtocolError, "fragmented control frame")
				}
				if n > MaxControlPayload {
					return c.fail(CloseProtocolError, "control frame payload longer than 125 bytes")
				}
			}
			if masked != (c.role == RoleServer) {
				if masked {
					return c.fail(CloseProtocolError, "masked frame from server")
				}
				return c.fail(CloseProtocolError, "unmasked frame from client")
			}
			if op == OpContinuation && !c.inMsg {
				return c.fail(CloseProtocolError, "continuation frame without a message to continue")
			}
			if (op == OpText || op == OpBinary) && c.inMsg {
				return c.fail(CloseProtocolError, "new data frame inside a fragmented message")
			}
			hlen := 2
			switch n {
			case 126:
				hlen += 2
			case 127:
				hlen += 8
			}
			if masked {
				hlen += 4
			}
			if err := c.need(hlen); err != nil {
				return 0, nil, c.readFailed(err)
			}
			h := c.rb[c.r : c.r+hlen]
			switch n {
			case 126:
				n = int64(binary.BigEndian.Uint16(h[2:]))
				if n < 126 {
					return c.fail(CloseProtocolError, "payload length not minimally encoded")
				}
			case 127:
				u := binary.BigEndian.Uint64(h[2:])
				if u>>63 != 0 {
					return c.fail(CloseProtocolError, "payload length with the most significant bit set")
				}
				n = int64(u)
				if n <= math.MaxUint16 {
					return c.fail(CloseProtocolError, "payload length not minimally encoded")
				}
			}
			if masked {
				c.fkey = binary.LittleEndian.Uint32(h[hlen-4:])
			}
			c.r += hlen

			if op.isControl() {
				if err := c.need(int(n)); err != nil {
					return 0, nil, c.readFailed(err)
				}
				p := c.rb[c.r : c.r+int(n)]
				if masked {
					maskBytes(c.fkey, 0, p)
				}
				c.r += int(n)
				switch op {
				case OpPing:
					c.pong(p)
				case OpPong:
					c.pongs.Add(1)
				case OpClose:
					return 0, nil, c.gotClose(p)
				}
				continue
			}

			if op != OpContinuation {
				c.inMsg = true
				c.msgOp = op
				c.compressed = b0&0x40 != 0
				c.mstart, c.mend = c.r, c.r
				c.u8 = utf8Accept
			}
			size := int64(c.mend - c.mstart)
			if c.limit >= 0 && n > c.limit-size || n > math.MaxInt-size {
				return c.fail(CloseTooBig, "message larger than the read limit")
			}
			c.inFrame, c.fin, c.masked = true, fin, masked
			c.frem, c.fpos = n, 0
		}

		for c.frem > 0 {
			if c.r == c.w {
				if err := c.more(int(min(c.frem, math.MaxInt32))); err != nil {
					return 0, nil, c.readFailed(err)
				}
			}
			k := int(min(int64(c.w-c.r), c.frem))
			chunk := c.rb[c.r : c.r+k]
			if c.masked {
				c.fpos = maskBytes(c.fkey, c.fpos, chunk)
			}
			if c.mend != c.r {
				copy(c.rb[c.mend:], chunk)
			}
			if c.msgOp == OpText && !c.compressed {
				c.u8 = utf8Step(c.u8, c.rb[c.mend:c.mend+k])
				if c.u8 == utf8Reject {
					return c.fail(CloseInvalidPayload, "text message is not valid UTF-8")
				}
			}
			c.mend += k
			c.r += k
			c.frem -= int64(k)
		}
		c.inFrame = false
		if c.fin {
			if c.compressed {
				return c.inflateMessage()
			}
			if c.msgOp == OpText && c.u8 != utf8Accept {
				return c.fail(CloseInvalidPayload, "text message ends inside a UTF-8 sequence")
			}
			c.inMsg = false
			c.msgHeld = true
			return c.msgOp, c.rb[c.mstart:c.mend:c.mend], nil
		}
	}
}

// need makes at least n unconsumed bytes available in rb[r:w].
func (c *Conn) need(n int) error {
	for c.rbp == nil || c.w-c.r < n {
		have := 0
		if c.rbp != nil {
			have = c.w - c.r
		}
		if err := c.more(n - have); err != nil {
			return err
		}
	}
	return nil
}

// more makes more bytes available in rb, reading once from the
// connection, with room for want more bytes where the growth rules allow.
func (c *Conn) more(want int) error {
	if c.rbp == nil {
		if c.ns > 0 {
			c.adoptSmall()
			return nil
		}
		return c.fillIdle()
	}
	if len(c.rb)-c.w < want {
		c.makeRoom(want)
	}
	for range 100 {
		n, err := c.nc.Read(c.rb[c.w:])
		c.w += n
		if n > 0 {
			// An error that comes with data recurs on the next read.
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// makeRoom makes room in rb for want bytes past w by moving the bytes
// still needed to the front, or by moving them to a larger buffer. Growth
// follows the bytes that have actually arrived, not the lengths announced
// in headers: a buffer grows to at most twice what it holds, or
// reserveStep, so that a peer cannot make the connection hold memory it
// has not sent.
func (c *Conn) makeRoom(want int) {
	keep := c.r
	if c.inMsg {
		keep = c.mstart
	}
	used := c.w - keep
	size := len(c.rb)
	target := used + want
	if target > size {
		target = min(target, max(2*used, reserveStep))
	}
	if target <= size {
		c.shift(keep)
		return
	}
	bp := getBuf(target)
	copy(*bp, c.rb[keep:c.w])
	putBuf(c.rbp)
	c.rbp, c.rb = bp, *bp
	c.moveDown(keep)
}

// shift moves rb[keep:w] to the front of rb.
func (c *Conn) shift(keep int) {
	if keep == 0 {
		return
	}
	copy(c.rb, c.rb[keep:c.w])
	c.moveDown(keep)
}

func (c *Conn) moveDown(d int) {
	c.r -= d
	c.w -= d
	if c.inMsg {
		c.mstart -= d
		c.mend -= d
	}
}

// borrow takes a buffer of at least n bytes as rb, empty.
func (c *Conn) borrow(n int) {
	c.rbp = getBuf(n)
	c.rb = *c.rbp
	c.r, c.w = 0, 0
}

// release returns rb to its pool.
func (c *Conn) release() {
	if c.rbp != nil {
		putBuf(c.rbp)
		c.rbp, c.rb = nil, nil
	}
	c.r, c.w = 0, 0
}

// adoptSmall moves the pending bytes of small into a borrowed buffer,
// sized for the frame they start when its header is there.
func (c *Conn) adoptSmall() {
	c.borrow(max(frameSizeHint(c.small[:c.ns]), c.ns))
	c.w = copy(c.rb, c.small[:c.ns])
	c.ns = 0
}

// frameSizeHint returns a buffer size for the frame that starts p: its
// total length when the header is complete (capped by reserveStep), else
// defaultReadSize.
func frameSizeHint(p []byte) int {
	if len(p) < 2 {
		return defaultReadSize
	}
	hlen, n := 2, int(p[1]&0x7f)
	switch n {
	case 126:
		if len(p) < 4 {
			return defaultReadSize
		}
		hlen, n = 4, int(binary.BigEndian.Uint16(p[2:]))
	case 127:
		return reserveStep
	}
	if p[1]&0x80 != 0 {
		hlen += 4
	}
	return min(hlen+n, reserveStep)
}

// releaseMessage recycles the buffer of the message returned last, keeping
// bytes read past it: in small when they fit, else in the buffer itself.
func (c *Conn) releaseMessage() {
	c.msgHeld = false
	if c.dfl != nil && c.dfl.obp != nil {
		putBuf(c.dfl.obp)
		c.dfl.obp = nil
	}
	c.releaseIdle()
}

// releaseIdle gives rb back when what it holds beyond the consumed bytes
// fits in small, so that waiting for the next message holds no buffer.
func (c *Conn) releaseIdle() {
	if c.rbp == nil {
		return
	}
	if n := c.w - c.r; n <= len(c.small) {
		c.ns = copy(c.small[:], c.rb[c.r:c.w])
		c.release()
	}
}

// KeepMessage gives the payload ReadMessage returned last to the caller
// for good: later reads will not reuse its memory. Call it when no
// ReadMessage is running, from a goroutine ordered after the last one
// (through a lock or an atomic), before handing reading to another
// goroutine while the payload may still be in use.
func (c *Conn) KeepMessage() {
	if c.msgHeld {
		c.abandonMessage()
	}
}

// abandonMessage is releaseMessage for a message that another goroutine
// may still be reading: its buffer is left to the garbage collector.
func (c *Conn) abandonMessage() {
	c.msgHeld = false
	if c.dfl != nil && c.dfl.obp != nil {
		// A decompressed message: rb holds only bytes read past it.
		c.dfl.obp = nil
		return
	}
	if c.rbp == nil {
		return
	}
	pending := c.rb[c.r:c.w]
	c.rbp, c.rb = nil, nil
	c.r, c.w = 0, 0
	if len(pending) <= len(c.small) {
		c.ns = copy(c.small[:], pending)
		return
	}
	c.borrow(len(pending))
	c.w = copy(c.rb, pending)
}

// resetRead drops all read state and buffers.
func (c *Conn) resetRead() {
	if c.msgHeld {
		// The payload may still be in use; do not recycle it.
		if c.dfl != nil && c.dfl.obp != nil {
			c.dfl.obp = nil
		} else {
			c.rbp, c.rb = nil, nil
		}
		c.msgHeld = false
	}
	c.release()
	c.ns = 0
	c.inMsg, c.inFrame = false, false
}

// fillIdle reads the first bytes of the next message while no buffer is
// held. Sockets are read directly once readable, with a buffer borrowed
// only when there is data for it; other connections are read into small
// first.
func (c *Conn) fillIdle() error {
	if c.raw != nil {
		c.rawErr = nil
		if err := c.raw.Read(c.rawFn); err != nil {
			return err
		}
		return c.rawErr
	}
	if testHookIdle != nil {
		testHookIdle(c)
	}
	for range 100 {
		n, err := c.nc.Read(c.small[:])
		if n > 0 {
			c.ns = n
			c.adoptSmall()
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// testHookIdle, when set, is called just before a read that waits for the
// next message with no buffer held.
var testHookIdle func(*Conn)

// readFailed turns an error from reading the connection into the error
// ReadMessage returns.
func (c *Conn) readFailed(err error) error {
	if c.ncClosed.Load() {
		c.resetRead()
		return ErrClosed
	}
	if isTimeout(err) {
		return err
	}
	c.resetRead()
	c.closeNC()
	return &CloseError{Code: CloseAbnormal, cause: err}
}
