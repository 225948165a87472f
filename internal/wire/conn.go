package wire

import (
	crand "crypto/rand"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Config configures a Conn.
type Config struct {
	// Role says which end of the connection this is.
	Role Role
	// ReadLimit is the largest message, in payload bytes after
	// reassembly, that ReadMessage accepts; a larger one fails the
	// connection with CloseMessageTooBig. Zero means DefaultReadLimit; a negative
	// value means no limit.
	//
	// The frames of a message are bounded too, so that reading a message
	// costs time in proportion to its size whatever its fragments: the
	// headers of one message's frames (empty frames included; control
	// frames between them excepted) may add up to at most the read limit
	// or 64 KiB, whichever is more, so that a message takes at most
	// max(2×ReadLimit, ReadLimit+64 KiB) bytes on the wire. Without a
	// read limit, the headers may add up to at most the message's payload
	// size so far or 64 KiB, whichever is more. A message whose frames go
	// past that fails the connection with CloseMessageTooBig, as an oversized
	// payload does.
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
	// minRead is the least room a read between the frames of a
	// fragmented message is given, where the growth rules allow, so that
	// a message in tiny fragments is not read a few bytes at a time.
	minRead = 1 << 10
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
	limit        int64 // negative: no limit
	closeTimeout time.Duration
	dfl          *deflateState // nil without permessage-deflate

	// Read side, owned by the goroutine that reads (ReadMessage, or Close
	// when no ReadMessage is running).
	rb     []byte  // borrowed buffer, nil when none is held
	rbp    *[]byte // rb's pool handle
	r, w   int     // rb[r:w] is read but not yet consumed
	mstart int     // rb[mstart:mend] is the message assembled so far
	mend   int
	mhdr   int64 // header bytes of the message's data frames so far
	ahead  int   // how far to read ahead within the message (see more)
	ns     int   // small[:ns] holds pending bytes while rb is nil
	rawErr error
	small  [smallSize]byte

	inMsg      bool // a data message has started and not finished
	inFrame    bool // a data frame's payload is being read
	msgHeld    bool // the last message returned still lives in rb (or dfl.obp)
	compressed bool // the current message is compressed (RSV1)
	msgOp      Opcode
	u8         uint8       // UTF-8 automaton state of the current text message
	hdr        frameHeader // the header of the frame being read
	fpos       int         // position in the masking key
	frem       int64       // payload bytes of the current frame still to read

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
// means no limit. It also bounds the frame headers of a message, as
// described at Config.ReadLimit. Call it before or between reads, not
// during one.
func (c *Conn) SetReadLimit(n int64) {
	switch {
	case n == 0:
		n = DefaultReadLimit
	case n < 0:
		n = -1
	}
	c.limit = n
}

// Pongs returns how many pong frames have been read so far, for a keepalive
// that checks whether its pings were answered. Pongs are seen only while
// someone reads the connection.
func (c *Conn) Pongs() uint32 { return c.pongs.Load() }

// closeNC closes the network connection once.
func (c *Conn) closeNC() error {
	if !c.ncClosed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	return c.nc.Close()
}

// isTimeout reports whether err is an expired deadline.
func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
