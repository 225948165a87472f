package wire

import (
	"compress/flate"
	"errors"
	"io"
	"math"
	"sync"
)

// Compression with permessage-deflate (RFC 7692).
//
// Memory. This end always compresses without context takeover, each
// message on its own, so compressors are borrowed from pools for the
// length of one write (compress/flate's writer takes about 0.8 to 1.2 MB,
// depending on the level) and a connection keeps none. Decompressors
// (about 40 KB each) are pooled the same way: a connection whose peer
// compresses without context takeover keeps no compression state beyond
// a record of the agreement of under 100 bytes. When the peer may compress with
// context takeover, the connection also keeps the peer's last
// 2^PeerWindowBits decompressed bytes (at most 32 KiB, allocated with the
// first compressed message) and hands them to a pooled decompressor as
// its dictionary. While a message is read, its decompressed form is held in a pooled
// buffer of at most the read limit, until the next ReadMessage.
//
// Allocations. Compressed writes and reads use pooled buffers and
// (de)compressors; the only steady-state allocations are compress/flate's
// own, when it decodes blocks with Huffman codes longer than 9 bits
// (larger messages, typically), a few per message.

// DefaultDeflateThreshold is the payload size below which messages are sent
// uncompressed when DeflateConfig.Threshold is zero: for smaller payloads
// the saving rarely pays for the work.
const DefaultDeflateThreshold = 128

// DeflateConfig configures permessage-deflate on one side of the
// negotiation: for NegotiateDeflate on a server, for OfferDeflate and
// CheckExtensions on a client. Its zero value compresses at
// flate.BestSpeed, leaves payloads under DefaultDeflateThreshold bytes
// uncompressed, and asks the peer not to keep context between messages,
// so that an idle connection holds no compression memory.
type DeflateConfig struct {
	// Level is the compress/flate level of the messages this end sends,
	// from flate.HuffmanOnly to flate.BestCompression. Zero, or a value
	// out of that range, means flate.BestSpeed. Levels above BestSpeed
	// compress better but cost much more per message, since each message
	// starts a fresh compressor.
	Level int
	// Threshold is the payload size, in bytes, below which messages are
	// sent uncompressed. Zero means DefaultDeflateThreshold; a negative
	// value compresses every message. Whatever the threshold, a message
	// whose compressed form would not be shorter is sent uncompressed.
	Threshold int
	// ContextTakeover lets the peer compress each message with references
	// to the ones before it ("context takeover"), which compresses small
	// similar messages much better, at the price of keeping the peer's
	// last 2^MaxWindowBits decompressed bytes for the life of the
	// connection.
	ContextTakeover bool
	// MaxWindowBits bounds that window to 2^MaxWindowBits bytes, from 8
	// (256 bytes) to 15 (32 KiB). Zero means 15; values out of range are
	// clamped. A peer that cannot be held to a bound below 15 is asked not
	// to take context over.
	MaxWindowBits int
	// CompressWindowBits, for a client, is the window it offers to
	// compress with (client_max_window_bits), from 8 (256 bytes) to 15
	// (32 KiB). Zero means 15; values out of range are clamped. The
	// client always offers client_max_window_bits, so that a server may
	// set a smaller window still. compress/flate always compresses with a
	// 32 KiB window, but a message no longer than the window, compressed
	// on its own, cannot refer further back than the window: so with a
	// window below 15 bits, messages longer than the window are sent
	// uncompressed. A server ignores CompressWindowBits: it compresses
	// within whatever window the client asks for with
	// server_max_window_bits, the same way.
	CompressWindowBits int
}

// Deflate holds the permessage-deflate parameters negotiated for one
// connection, as returned by NegotiateDeflate and CheckExtensions, for
// Config.Deflate. Level and Threshold have the meaning and defaults of
// the DeflateConfig fields of the same names.
type Deflate struct {
	Level     int
	Threshold int
	// PeerContextTakeover reports that the peer may compress a message
	// with references to earlier ones, so that the connection keeps its
	// last 2^PeerWindowBits decompressed bytes.
	PeerContextTakeover bool
	// PeerWindowBits is the base-2 logarithm of the peer's window, from 8
	// to 15; zero means 15.
	PeerWindowBits int
	// WindowBits is the base-2 logarithm of the window this end may
	// compress with, from 8 to 15; zero means 15. Below 15, messages
	// longer than 2^WindowBits bytes are sent uncompressed (see
	// DeflateConfig.CompressWindowBits).
	WindowBits int
}

// windowBits returns the window size exponent that bits stands for.
func windowBits(bits int) int {
	if bits == 0 {
		return 15
	}
	return min(max(bits, 8), 15)
}

// deflateLevel returns the flate level that level stands for.
func deflateLevel(level int) int {
	if level == 0 || level < flate.HuffmanOnly || level > flate.BestCompression {
		return flate.BestSpeed
	}
	return level
}

// opCompressed, or-ed into a data opcode given to writeFrameLocked, sets
// RSV1 on the frame: the header's first byte is 0x80 | op.
const opCompressed Opcode = 0x40

// deflateState is a Conn's permessage-deflate state. Only window lives as
// long as the connection; obp is held between a ReadMessage that returned
// a decompressed message and the next.
type deflateState struct {
	level     int // flate level, resolved
	threshold int // payloads shorter are sent uncompressed
	maxSize   int // payloads longer are sent uncompressed: the window
	takeover  bool
	winSize   int     // bytes of the peer's output kept when takeover
	window    []byte  // the peer's last decompressed bytes, up to winSize
	obp       *[]byte // pooled buffer holding the last decompressed message
}

func newDeflateState(d *Deflate) *deflateState {
	s := &deflateState{level: deflateLevel(d.Level), threshold: d.Threshold, takeover: d.PeerContextTakeover}
	switch {
	case s.threshold == 0:
		s.threshold = DefaultDeflateThreshold
	case s.threshold < 0:
		s.threshold = 0
	}
	// compress/flate's window is 32 KiB, all that 15 bits allow. A
	// smaller one can only be kept by compressing no message longer than
	// it: each is compressed on its own, so that no back-reference can
	// reach further than its start.
	s.maxSize = math.MaxInt
	if bits := windowBits(d.WindowBits); bits < 15 {
		s.maxSize = 1 << bits
	}
	if s.takeover {
		// zlib silently widens a window of 2^8 bytes to 2^9 (RFC 7692
		// section 7.1.2.2), so never keep less than 512 bytes.
		s.winSize = 1 << max(windowBits(d.PeerWindowBits), 9)
	}
	return s
}

// compresses reports whether a payload of n bytes is sent compressed, if
// compressing makes it shorter: it is neither below the threshold nor
// longer than the window.
func (s *deflateState) compresses(n int) bool {
	return n >= s.threshold && n <= s.maxSize
}

// remember appends p to the peer's window, keeping its last winSize bytes.
func (s *deflateState) remember(p []byte) {
	if s.window == nil {
		s.window = make([]byte, 0, s.winSize)
	}
	if len(p) >= s.winSize {
		s.window = append(s.window[:0], p[len(p)-s.winSize:]...)
		return
	}
	if drop := len(s.window) + len(p) - s.winSize; drop > 0 {
		s.window = s.window[:copy(s.window, s.window[drop:])]
	}
	s.window = append(s.window, p...)
}

// Compression.

// deflater is a pooled compressor with the sink it writes to.
type deflater struct {
	fw  *flate.Writer
	out deflateSink
}

// deflaters holds a pool of deflaters per level, HuffmanOnly (-2) first.
var deflaters [flate.BestCompression - flate.HuffmanOnly + 1]sync.Pool

// errNotShorter stops a compression whose output has reached the size of
// its input.
var errNotShorter = errors.New("wire: compressed form not shorter")

// deflateSink collects compressed bytes in a pooled buffer, growing it up
// to max bytes.
type deflateSink struct {
	bp  *[]byte
	n   int // (*bp)[:n] is written
	max int
}

func (s *deflateSink) Write(p []byte) (int, error) {
	end := s.n + len(p)
	if end > s.max {
		return 0, errNotShorter
	}
	if end > len(*s.bp) {
		bp := getBuf(min(max(2*len(*s.bp), end), s.max))
		copy(*bp, (*s.bp)[:s.n])
		putBuf(s.bp)
		s.bp = bp
	}
	s.n += copy((*s.bp)[s.n:], p)
	return len(p), nil
}

// syncMarker ends the output of a sync flush: the empty stored block that
// RFC 7692 section 7.2.1 has the sender remove and the receiver put back.
const syncMarker = "\x00\x00\xff\xff"

// compress compresses p as one message without context takeover. It
// returns a pooled buffer holding the compressed payload at
// (*bp)[head:head+n], the head bytes before it being free for a frame
// header, or nil when the compressed form is not shorter than p.
func compress(p []byte, level, head int) (bp *[]byte, n int) {
	pool := &deflaters[level-flate.HuffmanOnly]
	d, _ := pool.Get().(*deflater)
	// The output must fit in len(p) bytes plus the marker that is removed,
	// else the message goes uncompressed: stop there. Most messages worth
	// compressing shrink to less than half.
	limit := head + len(p) + len(syncMarker)
	sink := deflateSink{bp: getBuf(min(head+len(p)/2+64, limit)), n: head, max: limit}
	if d == nil {
		d = &deflater{out: sink}
		d.fw, _ = flate.NewWriter(&d.out, level)
	} else {
		d.out = sink
		d.fw.Reset(&d.out)
	}
	_, err := d.fw.Write(p)
	if err == nil {
		err = d.fw.Flush()
	}
	sink = d.out
	d.out = deflateSink{}
	pool.Put(d)
	b := (*sink.bp)[head:sink.n]
	if err != nil || len(b) < len(syncMarker) || string(b[len(b)-len(syncMarker):]) != syncMarker || len(b)-len(syncMarker) >= len(p) {
		putBuf(sink.bp)
		return nil, 0
	}
	return sink.bp, len(b) - len(syncMarker)
}

// writeCompressed sends p as a compressed message, or uncompressed when
// compression does not make it shorter. The frame header is put in front
// of the compressed bytes and a client masks them in place, so that the
// frame goes out with one write.
func (c *Conn) writeCompressed(op Opcode, p []byte) error {
	// Compressing before taking the write lock lets concurrent writers
	// compress in parallel.
	bp, n := compress(p, c.dfl.level, maxHeader)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent || c.ncClosed.Load() {
		if bp != nil {
			putBuf(bp)
		}
		return ErrClosed
	}
	if bp == nil {
		return c.writeFrameLocked(op, p)
	}
	if c.werr != nil {
		putBuf(bp)
		return c.werr
	}
	client := c.role == RoleClient
	hlen := headerLen(n, client)
	b := (*bp)[maxHeader-hlen : maxHeader+n]
	var key uint32
	if client {
		key = uint32(c.rng.Uint64())
	}
	putHeader(b, op|opCompressed, n, client, key)
	if client {
		maskBytes(key, 0, b[hlen:])
	}
	_, err := c.nc.Write(b)
	putBuf(bp)
	return c.writeFailed(err)
}

// Decompression.

// deflateTail is appended to a compressed message before decompressing
// it: the sync flush marker the sender removed (RFC 7692 section 7.2.2),
// then an empty final stored block, so that the decompressor ends with
// io.EOF instead of asking for more input. A message that already ends
// with a final block leaves the tail unread.
const deflateTail = syncMarker + "\x01\x00\x00\xff\xff"

// inflater is a pooled decompressor with the source it reads from.
type inflater struct {
	fr  io.ReadCloser // implements flate.Resetter
	src inflateSource
	one [1]byte
}

var inflaters sync.Pool

// inflateSource reads a message's compressed bytes, then deflateTail. It is
// an io.ByteReader so that the decompressor does not wrap it in a
// bufio.Reader of its own.
type inflateSource struct {
	p    []byte
	tail string
}

func (s *inflateSource) Read(b []byte) (int, error) {
	if len(s.p) > 0 {
		n := copy(b, s.p)
		s.p = s.p[n:]
		return n, nil
	}
	if len(s.tail) > 0 {
		n := copy(b, s.tail)
		s.tail = s.tail[n:]
		return n, nil
	}
	return 0, io.EOF
}

func (s *inflateSource) ReadByte() (byte, error) {
	if len(s.p) > 0 {
		b := s.p[0]
		s.p = s.p[1:]
		return b, nil
	}
	if len(s.tail) > 0 {
		b := s.tail[0]
		s.tail = s.tail[1:]
		return b, nil
	}
	return 0, io.EOF
}

// getInflater returns a pooled decompressor reading p with dictionary dict.
func getInflater(p, dict []byte) *inflater {
	f, _ := inflaters.Get().(*inflater)
	if f == nil {
		f = &inflater{src: inflateSource{p: p, tail: deflateTail}}
		f.fr = flate.NewReaderDict(&f.src, dict)
		return f
	}
	f.src = inflateSource{p: p, tail: deflateTail}
	f.fr.(flate.Resetter).Reset(&f.src, dict)
	return f
}

func putInflater(f *inflater) {
	f.src = inflateSource{}
	inflaters.Put(f)
}

// inflateMessage decompresses the message assembled in rb[mstart:mend]
// into a pooled buffer and returns it as ReadMessage does. The read limit
// applies to the decompressed size, and decompression stops one byte past
// it, with no buffer larger than the limit, so that a small message that inflates to a huge one (a
// decompression bomb) costs no more than the limit. A text message is
// checked for valid UTF-8 as its bytes come out.
func (c *Conn) inflateMessage() (Opcode, []byte, error) {
	in := c.rb[c.mstart:c.mend]
	c.inMsg = false
	if len(in) == 0 {
		// RFC 7692 section 7.2.3.6 has an empty message compressed
		// to a single 0x00 byte, but some senders set RSV1 on an empty
		// payload; it can only mean an empty message.
		c.msgHeld = true
		return c.msgOp, c.rb[c.mstart:c.mstart:c.mstart], nil
	}
	d := c.dfl
	var dict []byte
	if d.takeover {
		dict = d.window
	}
	f := getInflater(in, dict)
	limit := math.MaxInt
	if c.limit >= 0 && c.limit < math.MaxInt {
		limit = int(c.limit)
	}
	bp := getBuf(min(max(4*len(in), defaultReadSize), limit))
	out := *bp
	n, tooBig := 0, false
	var err error
	for err == nil {
		if n == limit {
			// One byte more than the limit tells a message that is
			// too large from one that is exactly as large.
			var k int
			k, err = f.fr.Read(f.one[:])
			tooBig = k > 0
			break
		}
		if n == len(out) {
			nbp := getBuf(min(2*n, limit))
			copy(*nbp, out[:n])
			putBuf(bp)
			bp, out = nbp, *nbp
		}
		var k int
		k, err = f.fr.Read(out[n:min(len(out), limit)])
		if c.msgOp == OpText && k > 0 {
			if c.u8 = utf8Step(c.u8, out[n:n+k]); c.u8 == utf8Reject {
				break
			}
		}
		n += k
	}
	putInflater(f)
	switch {
	case tooBig:
		putBuf(bp)
		return 0, nil, c.fail(CloseMessageTooBig, "message larger than the read limit")
	case c.u8 == utf8Reject:
		putBuf(bp)
		return 0, nil, c.fail(CloseInvalidPayload, "text message is not valid UTF-8")
	case err != io.EOF:
		// Data that does not decompress is, like bad UTF-8, payload
		// that does not match its type: 1007, which is also what other
		// implementations and test suites expect, rather than the 1002
		// of a framing error.
		putBuf(bp)
		return 0, nil, c.fail(CloseInvalidPayload, "compressed message is not valid deflate data")
	case c.msgOp == OpText && c.u8 != utf8Accept:
		putBuf(bp)
		return 0, nil, c.fail(CloseInvalidPayload, "text message ends inside a UTF-8 sequence")
	}
	if d.takeover {
		d.remember(out[:n])
	}
	// The compressed bytes are no longer needed: rb can go back to its
	// pool now rather than at the next read.
	c.releaseIdle()
	d.obp = bp
	c.msgHeld = true
	return c.msgOp, out[:n:n], nil
}
