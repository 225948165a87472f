package wire

import (
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"
)

// Config configures a Conn.
type Config struct {
	// Role says which end of the connection this is.
	Role Role
	// ReadLimit is the largest message, in payload bytes after
	// reassembly, that ReadMessage accepts; a larger one fails the
	// connection with CloseTooBig. Zero means DefaultReadLimit; a negative
	// value means no limit.
	ReadLimit int64
	// CloseTimeout bounds the closing handshake: how long Close waits for
	// the peer's close frame, and how long a client waits for the server
	// to close the TCP connection. Zero (or negative) means
	// DefaultCloseTimeout.
	CloseTimeout time.Duration
	// Buffered holds bytes already read from the connection after the
	// opening handshake, such as those left in net/http's reader after a
	// hijack. NewConn copies them; they are read before the connection.
	Buffered []byte
	// Deflate holds the permessage-deflate parameters negotiated in the
	// opening handshake (see NegotiateDeflate and CheckExtensions), or nil
	// when compression was not negotiated; a frame with RSV1 set is then
	// a protocol error.
	Deflate *Deflate
}

// Sizes of the per-connection state.
const (
	// smallSize is the per-connection array that keeps a few bytes read
	// past the last message (or, for connections read through Read, the
	// first bytes of the next one) without holding a pooled buffer.
	smallSize = 128
	// defaultReadSize is the buffer borrowed to read from a socket when
	// the size of the next message is not known yet.
	defaultReadSize = 4 << 10
	// reserveStep is the largest buffer taken for a frame whose bytes
	// have not arrived yet; past it a buffer grows to at most twice the
	// bytes it holds, so that a length header alone cannot make the
	// connection hold a large buffer.
	reserveStep = 64 << 10
	// copyWriteMax is the largest payload that a server copies behind the
	// frame header; larger ones are written with writev when the
	// connection supports it.
	copyWriteMax = 8 << 10
	// maxHeader is the longest frame header: 2 + 8 length + 4 mask bytes.
	maxHeader = 14
	// closeGrace is added to the close timeout as a backstop for
	// connections whose deadlines do not work.
	closeGrace = time.Second
)

// Conn is one WebSocket connection speaking RFC 6455 over a net.Conn after
// the opening handshake.
//
// One goroutine may read (ReadMessage) while any number of others write
// (WriteMessage, WritePing) and one of them closes (Close, CloseNow).
type Conn struct {
	nc       net.Conn
	raw      syscall.RawConn    // set for sockets read with buffers borrowed on readiness
	rawFn    func(uintptr) bool // c.rawRead, bound once so that reads do not allocate
	vectored bool               // nc writes net.Buffers with one writev

	role         Role
	fkey         uint32 // masking key of the current frame (here, where it fills padding)
	limit        int64  // negative: no limit
	closeTimeout time.Duration
	dfl          *deflateState // nil without permessage-deflate

	// Read side, owned by the goroutine that reads (ReadMessage, or Close
	// when no ReadMessage is running).
	rb     []byte  // borrowed buffer, nil when none is held
	rbp    *[]byte // rb's pool handle
	r, w   int     // rb[r:w] is read but not yet consumed
	mstart int     // rb[mstart:mend] is the message assembled so far
	mend   int
	ns     int // small[:ns] holds pending bytes while rb is nil
	rawErr error
	small  [smallSize]byte

	inMsg      bool // a data message has started and not finished
	inFrame    bool // a data frame's payload is being read
	fin        bool // the current data frame is the message's last
	masked     bool
	msgHeld    bool // the last message returned still lives in rb (or dfl.obp)
	compressed bool // the current message is compressed (RSV1)
	msgOp      Opcode
	u8         uint8 // UTF-8 automaton state of the current text message
	fpos       int   // position in the masking key
	frem       int64 // payload bytes of the current frame still to read

	// Write side.
	wmu       sync.Mutex
	closeSent bool // a close frame has been written (or attempted)
	werr      error
	wb        net.Buffers
	wbufs     [2][]byte
	whdr      [maxHeader]byte
	rng       *rand.ChaCha8 // client role: masking keys

	// Lifecycle.
	mu       sync.Mutex
	reading  bool          // a goroutine owns the read side
	closing  bool          // Close or CloseNow was called
	readErr  error         // terminal read error, returned again by ReadMessage
	done     chan struct{} // closed by ReadMessage when it ends on behalf of Close
	unread   int           // data messages discarded on behalf of Close
	result   error         // how the closing handshake ended, for Close
	ncClosed atomic.Bool
	pongs    atomic.Uint32 // pong frames read so far
}

// NewConn returns a Conn speaking WebSocket on nc, which must have
// completed the opening handshake. The Conn takes ownership of nc.
func NewConn(nc net.Conn, cfg Config) *Conn {
	c := &Conn{nc: nc, role: cfg.Role, closeTimeout: cfg.CloseTimeout}
	c.SetReadLimit(cfg.ReadLimit)
	if cfg.Deflate != nil {
		c.dfl = newDeflateState(cfg.Deflate)
	}
	if c.closeTimeout <= 0 {
		c.closeTimeout = DefaultCloseTimeout
	}
	// Only the socket types themselves: a wrapper that embeds one
	// inherits SyscallConn but may have its own Read, which reading the
	// descriptor directly would bypass.
	switch nc.(type) {
	case *net.TCPConn, *net.UnixConn:
		c.vectored = true
		if raw, err := nc.(syscall.Conn).SyscallConn(); err == nil && rawReads {
			c.raw = raw
			c.rawFn = c.rawRead
		}
	}
	if c.role == RoleClient {
		// RFC 6455 section 10.3: masking keys must not be predictable.
		var seed [32]byte
		crand.Read(seed[:])
		c.rng = rand.NewChaCha8(seed)
	}
	if n := len(cfg.Buffered); n > 0 {
		if n <= len(c.small) {
			c.ns = copy(c.small[:], cfg.Buffered)
		} else {
			c.borrow(n)
			c.w = copy(c.rb, cfg.Buffered)
		}
	}
	return c
}

// NetConn returns the underlying network connection. Reading from or
// writing to it directly corrupts the WebSocket stream; it is meant for
// addresses, deadlines and socket options.
func (c *Conn) NetConn() net.Conn { return c.nc }

// SetReadLimit sets the largest message ReadMessage accepts, in payload
// bytes after reassembly (and, for a compressed message, both before and
// after decompression): zero means DefaultReadLimit, a negative value
// means no limit. Call it before or between reads, not during one.
func (c *Conn) SetReadLimit(n int64) {
	switch {
	case n == 0:
		n = DefaultReadLimit
	case n < 0:
		n = -1
	}
	c.limit = n
}

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

// fail fails the connection: it sends a close frame with code, closes the
// connection and returns a *ProtocolError.
func (c *Conn) fail(code int, reason string) (Opcode, []byte, error) {
	c.resetRead()
	c.nc.SetWriteDeadline(time.Now().Add(c.closeTimeout))
	c.sendClose(code, reason)
	c.lingerClose()
	return 0, nil, &ProtocolError{Code: code, Reason: reason}
}

// gotClose handles the peer's close frame with payload p.
func (c *Conn) gotClose(p []byte) error {
	code, reason := CloseNoStatus, ""
	switch {
	case len(p) == 1:
		_, _, err := c.fail(CloseProtocolError, "close frame with a 1-byte payload")
		return err
	case len(p) >= 2:
		code = int(binary.BigEndian.Uint16(p))
		if !ValidCloseCode(code) {
			_, _, err := c.fail(CloseProtocolError, "invalid close code")
			return err
		}
		if !validUTF8(p[2:]) {
			_, _, err := c.fail(CloseInvalidPayload, "close reason is not valid UTF-8")
			return err
		}
		reason = string(p[2:])
		p = p[:2]
	}
	// Answer with the same code (or none), unless our close frame went
	// first and this is the answer to it.
	c.nc.SetWriteDeadline(time.Now().Add(c.closeTimeout))
	c.wmu.Lock()
	if !c.closeSent {
		c.closeSent = true
		c.writeFrameLocked(OpClose, p)
	}
	c.wmu.Unlock()
	c.resetRead()
	if c.role == RoleClient {
		// RFC 6455 section 7.1.1: the server closes the TCP connection
		// first; wait for it, boundedly.
		c.nc.SetReadDeadline(time.Now().Add(c.closeTimeout))
		for {
			if _, err := c.nc.Read(c.small[:]); err != nil {
				break
			}
		}
	}
	c.closeNC()
	return &CloseError{Code: code, Reason: reason}
}

// lingerClose closes the connection after a close frame we sent to fail
// it, once the peer has closed its side or the close timeout has passed.
func (c *Conn) lingerClose() {
	if c.ncClosed.Load() {
		return
	}
	// Half-close, then read and discard until the peer closes too, or
	// the close timeout passes. Closing with unread bytes in the socket
	// would send a reset, and a reset makes the peer's kernel throw away
	// what it had not read yet: our close frame among it.
	if hc, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = hc.CloseWrite()
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(c.closeTimeout))
	bp := getBuf(lingerBuf)
	for {
		if _, err := c.nc.Read(*bp); err != nil {
			break
		}
	}
	putBuf(bp)
	c.closeNC()
}

// lingerBuf is the size of the buffer that drains a failed connection.
const lingerBuf = 16 << 10

// closeNC closes the network connection once.
func (c *Conn) closeNC() error {
	if !c.ncClosed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	return c.nc.Close()
}

// pong answers a ping, unless the closing handshake has begun.
func (c *Conn) pong(p []byte) {
	c.wmu.Lock()
	if !c.closeSent {
		c.writeFrameLocked(OpPong, p)
	}
	c.wmu.Unlock()
}

// WriteMessage sends p as one data message of type op (OpText or OpBinary)
// in a single frame, normally with one write on the connection. It does not
// check that text is valid UTF-8: that is the caller's duty, and a peer may
// fail the connection over it. When permessage-deflate was negotiated, a
// payload of at least the threshold is sent compressed, unless that does
// not make it shorter.
//
// WriteMessage is safe to call concurrently with other writes, with
// ReadMessage and with Close. It returns ErrClosed once a close frame has
// been sent or the connection has ended.
func (c *Conn) WriteMessage(op Opcode, p []byte) error {
	if op != OpText && op != OpBinary {
		return ErrInvalidOpcode
	}
	if c.dfl != nil && len(p) >= c.dfl.threshold {
		return c.writeCompressed(op, p)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent || c.ncClosed.Load() {
		return ErrClosed
	}
	return c.writeFrameLocked(op, p)
}

// Pongs returns how many pong frames have been read so far, for a keepalive
// that checks whether its pings were answered. Pongs are seen only while
// someone reads the connection.
func (c *Conn) Pongs() uint32 { return c.pongs.Load() }

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

// headerLen returns the length of a frame header for an n-byte payload.
func headerLen(n int, masked bool) int {
	h := 2
	switch {
	case n > math.MaxUint16:
		h += 8
	case n > 125:
		h += 2
	}
	if masked {
		h += 4
	}
	return h
}

// putHeader writes a final frame's header into b.
func putHeader(b []byte, op Opcode, n int, masked bool, key uint32) {
	b[0] = 0x80 | byte(op)
	var m byte
	if masked {
		m = 0x80
	}
	i := 2
	switch {
	case n > math.MaxUint16:
		b[1] = m | 127
		binary.BigEndian.PutUint64(b[2:], uint64(n))
		i += 8
	case n > 125:
		b[1] = m | 126
		binary.BigEndian.PutUint16(b[2:], uint16(n))
		i += 2
	default:
		b[1] = m | byte(n)
	}
	if masked {
		binary.LittleEndian.PutUint32(b[i:], key)
	}
}

// sendClose writes a close frame with code and reason unless one has been
// sent. It reports whether this call sent it.
func (c *Conn) sendClose(code int, reason string) (bool, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return false, nil
	}
	c.closeSent = true
	var buf [2 + MaxControlPayload - 2]byte
	p := buf[:0]
	if code != 0 {
		p = binary.BigEndian.AppendUint16(p, uint16(code))
		p = append(p, truncateUTF8(reason, MaxControlPayload-2)...)
	}
	return true, c.writeFrameLocked(OpClose, p)
}

// truncateUTF8 cuts s to at most n bytes without splitting a UTF-8
// sequence.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Close runs the closing handshake: it sends a close frame with code and
// reason (cut to 123 bytes at a UTF-8 boundary; code 0 sends a close frame
// without a code), then waits for the peer's close frame, discarding data
// messages that arrive meanwhile and reporting their number as unread, and
// closes the connection. A server closes the TCP connection as soon as the
// peer's close frame arrives; a client waits for the server to close it.
// All of it is bounded by the close timeout.
//
// Close returns a nil error when the peer answered with its close frame,
// else why it did not: a *CloseError with code CloseAbnormal if the stream
// ended, a *ProtocolError, or a timeout error. A code that may not be sent
// (see ValidCloseCode) returns ErrInvalidCloseCode and changes nothing.
//
// Close may be called while another goroutine is blocked in ReadMessage:
// that reader then does the waiting and returns ErrClosed. Calling Close
// again, or after the connection has ended, returns ErrClosed. A payload
// returned by the last ReadMessage stays intact.
func (c *Conn) Close(code int, reason string) (unread int, err error) {
	if code != 0 && !ValidCloseCode(code) {
		return 0, ErrInvalidCloseCode
	}
	c.mu.Lock()
	if c.closing || c.readErr != nil {
		c.mu.Unlock()
		return 0, ErrClosed
	}
	c.closing = true
	active := c.reading
	if active {
		c.done = make(chan struct{})
	} else {
		c.reading = true
	}
	c.mu.Unlock()

	deadline := time.Now().Add(c.closeTimeout)
	c.nc.SetReadDeadline(deadline)
	c.nc.SetWriteDeadline(deadline)
	_, werr := c.sendClose(code, reason)
	if werr != nil {
		c.closeNC()
	}

	if active {
		t := time.NewTimer(c.closeTimeout + closeGrace)
		select {
		case <-c.done:
		case <-t.C:
			c.closeNC()
			<-c.done
		}
		t.Stop()
		c.closeNC()
		c.mu.Lock()
		unread, err = c.unread, c.result
		c.mu.Unlock()
		if werr != nil {
			err = werr
		}
		return unread, err
	}

	if c.msgHeld {
		c.abandonMessage()
	}
	if werr == nil {
		for {
			_, _, err = c.next()
			if err != nil {
				break
			}
			unread++
		}
		err = closeResult(err)
	} else {
		err = werr
	}
	c.closeNC()
	c.mu.Lock()
	c.resetRead()
	c.readErr = ErrClosed
	c.reading = false
	c.mu.Unlock()
	return unread, err
}

// closeResult maps the error that ended reading during a closing
// handshake to Close's result: nil when the peer's close frame arrived.
func closeResult(err error) error {
	var ce *CloseError
	if errors.As(err, &ce) && ce.Code != CloseAbnormal {
		return nil
	}
	return err
}

// CloseNow closes the network connection at once, without a closing
// handshake; use it for a peer that is gone or unresponsive. A blocked
// ReadMessage returns ErrClosed. Later calls return ErrClosed.
func (c *Conn) CloseNow() error {
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	return c.closeNC()
}

// isTimeout reports whether err is an expired deadline.
func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
