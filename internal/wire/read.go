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
// CloseInvalidPayload too. A peer that breaks the protocol, exceeds the
// read limit or splits a message into more frames than the read limit
// allows (see Config.ReadLimit) gets a close frame with the matching code
// and ReadMessage returns a *ProtocolError.
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
			if err := c.readHeader(); err != nil {
				return 0, nil, err
			}
			if c.hdr.op.isControl() {
				if err := c.readControl(); err != nil {
					return 0, nil, err
				}
				continue
			}
			if err := c.startData(); err != nil {
				return 0, nil, err
			}
		}
		if err := c.readPayload(); err != nil {
			return 0, nil, err
		}
		c.inFrame = false
		if c.hdr.fin {
			return c.endMessage()
		}
	}
}

// readHeader reads, checks and consumes the next frame header, decoded
// into c.hdr.
func (c *Conn) readHeader() error {
	if c.rbp == nil || c.w-c.r < 2 {
		if err := c.need(2); err != nil {
			return c.readFailed(err)
		}
	}
	b1 := c.rb[c.r+1]
	if reason := c.checkStart(c.rb[c.r], b1); reason != "" {
		return c.fail(CloseProtocolError, reason)
	}
	hlen := headerSize(b1)
	if c.w-c.r < hlen {
		if err := c.need(hlen); err != nil {
			return c.readFailed(err)
		}
	}
	if reason := decodeHeader(c.rb[c.r:c.r+hlen], &c.hdr); reason != "" {
		return c.fail(CloseProtocolError, reason)
	}
	c.r += hlen
	return nil
}

// readControl reads the payload of the control frame whose header is in
// c.hdr and acts on it: a ping is answered, a pong counted, and a close
// frame ends reading with the error ReadMessage returns.
func (c *Conn) readControl() error {
	n := int(c.hdr.n)
	if err := c.need(n); err != nil {
		return c.readFailed(err)
	}
	p := c.rb[c.r : c.r+n]
	if c.hdr.masked {
		maskBytes(c.hdr.key, 0, p)
	}
	c.r += n
	switch c.hdr.op {
	case OpPing:
		c.pong(p)
	case OpPong:
		c.pongs.Add(1)
	case OpClose:
		return c.gotClose(p)
	}
	return nil
}

// headerAllowance is the frame header bytes that one message may take
// beyond the bound set by its size (see Config.ReadLimit).
const headerAllowance = 64 << 10

// startData starts reading the data frame whose header is in c.hdr: the first frame
// of a message, or the next one of a fragmented message. It enforces the
// read limit on the payload and the bound on the header bytes of the
// message, both before any payload byte is read.
func (c *Conn) startData() error {
	h := &c.hdr
	if h.op != OpContinuation {
		c.inMsg = true
		c.msgOp = h.op
		c.compressed = h.rsv1
		c.mstart, c.mend = c.r, c.r
		c.u8 = utf8Accept
		c.mhdr, c.ahead = 0, 0
	}
	if reason := c.admit(int64(c.mend-c.mstart), h.n, h.hlen); reason != "" {
		return c.fail(CloseMessageTooBig, reason)
	}
	c.inFrame, c.frem, c.fpos = true, h.n, 0
	return nil
}

// admit checks a data frame of the current message, of which size bytes
// have arrived, with n payload bytes and a header of hlen bytes, against
// the read limit and the bound on the message's header bytes, and counts
// its header. It returns why the frame is refused, or "".
//
// Headers are bounded by the read limit, or without one by the payload
// they carry, so that reading a message costs at most a constant times
// its size whatever its fragments: a stream of empty or tiny fragments
// cannot go on for ever.
func (c *Conn) admit(size, n int64, hlen int) string {
	if c.limit >= 0 && n > c.limit-size || n > math.MaxInt-size {
		return "message larger than the read limit"
	}
	headers := c.mhdr + int64(hlen)
	bound := c.limit
	if bound < 0 {
		bound = size + n
	}
	if headers > max(bound, headerAllowance) {
		return "message split into too many frames"
	}
	c.mhdr = headers
	return ""
}

// readPayload reads the rest of the current data frame's payload and
// appends it to the message at rb[mend:], unmasked, checking text as it
// goes; then the payloads of the short continuation frames that follow,
// as long as their headers are already buffered, so that a message in
// tiny fragments does not take the general path for each.
func (c *Conn) readPayload() error {
	for {
		if err := c.readFramePayload(); err != nil {
			return err
		}
		if c.hdr.fin {
			return nil
		}
		if err := c.fragmentRun(); err != nil {
			return err
		}
		if c.hdr.fin || !c.nextContinuation() {
			return nil
		}
	}
}

// fragmentRun consumes the short continuation frames that are entirely
// buffered after the current one, up to the message's final frame,
// appending their payloads to the message; it stops, consuming nothing
// more, at a frame of any other kind or one that admit refuses, which the
// general path then reads. It does the work of readHeader, startData and
// readFramePayload in one loop over local copies of the read state, and
// checks text once for the whole run: a run ends within bytes already
// read, so a bad byte still fails the connection before more are waited
// for, and after the same frames.
func (c *Conn) fragmentRun() error {
	hlen, mask := 2, byte(0)
	if c.role == RoleServer {
		hlen, mask = 6, 0x80
	}
	if c.limit < 0 {
		// Without a read limit the header bound moves with the payload;
		// the general path applies it frame by frame.
		return nil
	}
	// What admit allows, as budgets for the whole run: payload bytes up
	// to the read limit, header bytes up to the bound on the message's
	// headers. A frame past either stops the run, and the general path
	// refuses it.
	payBudget := c.limit - int64(c.mend-c.mstart)
	hdrBudget := max(c.limit, headerAllowance) - c.mhdr
	rb := c.rb[:c.w]
	r, mend, start := c.r, c.mend, c.mend
	fin := false
	for !fin && len(rb)-r >= hlen {
		b0, b1 := rb[r], rb[r+1]
		n := int(b1 & 0x7f)
		if b0&0x7f != 0 || b1&0x80 != mask || n > 125 || len(rb)-r-hlen < n ||
			int64(n) > payBudget || int64(hlen) > hdrBudget {
			break
		}
		payBudget -= int64(n)
		hdrBudget -= int64(hlen)
		switch {
		case n == 0:
		case mask == 0:
			copy(rb[mend:mend+n], rb[r+hlen:r+hlen+n])
		case n == 1:
			rb[mend] = rb[r+6] ^ rb[r+2]
		case n < 16:
			// Unmask while moving, byte by byte: cheaper than two
			// calls for a few bytes. The destination starts at or
			// before the payload, so a forward copy is safe where they
			// overlap.
			p, dst := rb[r+hlen:r+hlen+n], rb[mend:mend+n]
			key := binary.LittleEndian.Uint32(rb[r+2:])
			for i, b := range p {
				dst[i] = b ^ byte(key>>(8*(i&3)))
			}
		default:
			dst := rb[mend : mend+n]
			copy(dst, rb[r+hlen:r+hlen+n])
			maskBytes(binary.LittleEndian.Uint32(rb[r+2:]), 0, dst)
		}
		fin = b0 != 0
		r += hlen + n
		mend += n
	}
	if r == c.r {
		return nil
	}
	c.mhdr = max(c.limit, headerAllowance) - hdrBudget
	c.r, c.mend = r, mend
	c.hdr = frameHeader{fin: fin, op: OpContinuation, hlen: hlen}
	if c.msgOp == OpText && !c.compressed {
		if c.u8 = utf8Step(c.u8, rb[start:mend]); c.u8 == utf8Reject {
			return c.fail(CloseInvalidPayload, "text message is not valid UTF-8")
		}
	}
	return nil
}

// nextContinuation consumes the header of the next frame and starts it,
// if it is a continuation frame with a payload length in the header's
// first two bytes, the whole header is buffered, and it passes the checks
// of readHeader and startData. Otherwise it consumes nothing and reports
// false, and the general path reads the frame.
func (c *Conn) nextContinuation() bool {
	hlen, mask := 2, byte(0)
	if c.role == RoleServer {
		hlen, mask = 6, 0x80
	}
	if c.w-c.r < hlen {
		return false
	}
	b0, b1 := c.rb[c.r], c.rb[c.r+1]
	// Continuation, no reserved bit, the expected mask bit, a 7-bit
	// length.
	if b0&0x7f != 0 || b1&0x80 != mask || b1&0x7f > 125 {
		return false
	}
	n := int64(b1 & 0x7f)
	if c.admit(int64(c.mend-c.mstart), n, hlen) != "" {
		return false
	}
	h := &c.hdr
	h.fin, h.rsv1, h.op, h.hlen, h.n = b0 != 0, false, OpContinuation, hlen, n
	if h.masked = mask != 0; h.masked {
		h.key = binary.LittleEndian.Uint32(c.rb[c.r+2:])
	}
	c.r += hlen
	c.frem, c.fpos = n, 0
	return true
}

// readFramePayload reads the rest of the current data frame's payload.
func (c *Conn) readFramePayload() error {
	for c.frem > 0 {
		if c.r == c.w {
			want := int(min(c.frem, math.MaxInt32))
			if !c.hdr.fin {
				// More frames follow: read ahead rather than a
				// few bytes at a time.
				want = max(want, minRead)
			}
			if err := c.more(want); err != nil {
				return c.readFailed(err)
			}
		}
		k := int(min(int64(c.w-c.r), c.frem))
		chunk := c.rb[c.r : c.r+k]
		if c.hdr.masked {
			c.fpos = maskBytes(c.hdr.key, c.fpos, chunk)
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
	return nil
}

// endMessage returns the message completed by the frame just read.
func (c *Conn) endMessage() (Opcode, []byte, error) {
	if c.compressed {
		return c.inflateMessage()
	}
	if c.msgOp == OpText && c.u8 != utf8Accept {
		return 0, nil, c.fail(CloseInvalidPayload, "text message ends inside a UTF-8 sequence")
	}
	c.inMsg = false
	c.msgHeld = true
	return c.msgOp, c.rb[c.mstart:c.mend:c.mend], nil
}

// need makes at least n unconsumed bytes available in rb[r:w].
func (c *Conn) need(n int) error {
	for c.rbp == nil || c.w-c.r < n {
		want := n
		if c.rbp != nil {
			want -= c.w - c.r
			if c.inMsg {
				// Between the frames of a message: more follow, and
				// after reads that filled the buffer, many more.
				want = max(want, minRead, c.ahead)
			}
		}
		if err := c.more(want); err != nil {
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
		room := len(c.rb) - c.w
		n, err := c.nc.Read(c.rb[c.w:])
		c.w += n
		if n == room && c.inMsg {
			// A message in small frames: read further ahead, so that
			// system calls do not outnumber its payload.
			c.ahead = min(2*max(c.ahead, n), reserveStep)
		}
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

// makeRoom makes room in rb for want bytes past w. It first drops the
// bytes already consumed: those before the message being assembled (or
// before r outside a message), and those between the message and r, the
// headers of its frames and any control frames between them, by moving the
// unconsumed bytes down next to the message. A buffer that is still too
// small is replaced by one at least twice as large, so that a message that
// arrives in small pieces costs a constant amount of copying per byte. But
// growth follows the bytes that have actually arrived, not the lengths
// announced in headers: a buffer grows to at most twice what it holds, or
// reserveStep, so that a peer cannot make the connection hold memory it
// has not sent.
func (c *Conn) makeRoom(want int) {
	keep := c.r
	if c.inMsg {
		if c.mend != c.r {
			c.w = c.mend + copy(c.rb[c.mend:], c.rb[c.r:c.w])
			c.r = c.mend
		}
		keep = c.mstart
	}
	size := len(c.rb)
	if size-c.w >= want {
		return
	}
	used := c.w - keep
	most := max(2*used, reserveStep)
	want = min(want, most)
	if used+want > size {
		if target := min(max(used+want, 2*size), most); target > size {
			bp := getBuf(target)
			copy(*bp, c.rb[keep:c.w])
			putBuf(c.rbp)
			c.rbp, c.rb = bp, *bp
			c.moveDown(keep)
			return
		}
	}
	if keep > 0 {
		copy(c.rb, c.rb[keep:c.w])
		c.moveDown(keep)
	}
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
