package wire

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// appendFrame appends a data frame to b, masked with testKey when masked.
// It builds streams of millions of frames without a copy per frame.
func appendFrame(b []byte, fin bool, op Opcode, rsv byte, masked bool, p []byte) []byte {
	b0 := byte(op) | rsv
	if fin {
		b0 |= 0x80
	}
	var m byte
	if masked {
		m = 0x80
	}
	switch n := len(p); {
	case n > 0xffff:
		b = append(b, b0, m|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	case n > 125:
		b = append(b, b0, m|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, b0, m|byte(n))
	}
	if !masked {
		return append(b, p...)
	}
	b = append(b, testKey[:]...)
	for i, c := range p {
		b = append(b, c^testKey[i%4])
	}
	return b
}

// fragmented encodes p as one message of type op in frames of size
// payload bytes, the last one possibly shorter; rsv goes on the first
// frame only, as RFC 7692 has it.
func fragmented(op Opcode, rsv byte, masked bool, p []byte, size int) []byte {
	var b []byte
	for i := 0; ; i += size {
		end := min(i+size, len(p))
		b = appendFrame(b, end == len(p), op, rsv, masked, p[i:end])
		if end == len(p) {
			return b
		}
		op, rsv = OpContinuation, 0
	}
}

// withEmpty encodes p as one message of type op: a first frame carrying
// p, n empty continuation frames, and an empty final frame.
func withEmpty(op Opcode, rsv byte, masked bool, p []byte, n int) []byte {
	hlen := 2
	if masked {
		hlen += 4
	}
	b := make([]byte, 0, 16+len(p)+(n+1)*hlen)
	b = appendFrame(b, false, op, rsv, masked, p)
	for range n {
		b = appendFrame(b, false, OpContinuation, 0, masked, nil)
	}
	return appendFrame(b, true, OpContinuation, 0, masked, nil)
}

// headerLenOf returns the header length of the small frames of a peer of
// an engine in role r.
func headerLenOf(r Role) int {
	if peerMasks(r) {
		return 6
	}
	return 2
}

// readAll reads the stream in with an engine in role r, read limit limit
// and deflate d (nil for none), chunk bytes per read at most (0: as many
// as asked), until an error. It returns the messages and the error.
func readAll(in []byte, r Role, limit int64, d *Deflate, chunk int) ([]msg, error, *fuzzConn) {
	fc := &fuzzConn{in: in, chunk: chunk}
	c := NewConn(fc, Config{Role: r, ReadLimit: limit, Deflate: d})
	var got []msg
	for {
		op, p, err := c.ReadMessage()
		if err != nil {
			return got, err, fc
		}
		got = append(got, msg{op, string(p)})
	}
}

// sentCode returns the code of the close frame the engine wrote on fc,
// or -1.
func sentCode(t *testing.T, fc *fuzzConn) int {
	t.Helper()
	out := bytes.NewReader(fc.out.Bytes())
	for out.Len() > 0 {
		f, err := readFrame(out)
		if err != nil {
			t.Fatalf("engine wrote a broken frame: %v", err)
		}
		if f.op == OpClose {
			return f.code()
		}
	}
	return -1
}

// fragmentCases are the messages of the fragmentation tests: binary,
// text whose multibyte characters one-byte fragments split, and both
// compressed.
var fragmentCases = []struct {
	name       string
	op         Opcode
	p          []byte
	compressed bool
}{
	{"binary", OpBinary, randomBytes(1, 20000), false},
	{"text", OpText, []byte(strings.Repeat("héllo wörld, 世界 😀; ", 700)), false},
	{"binary/compressed", OpBinary, randomBytes(2, 20000), true},
	{"text/compressed", OpText, []byte(sentence(3, 20000)), true},
}

// encode returns the wire payload and RSV bits of a fragment case.
func encodeCase(p []byte, compressed bool) ([]byte, byte) {
	if compressed {
		return deflateMsg(p), 0x40
	}
	return p, 0
}

// TestOneByteFragments checks that messages sent one payload byte per
// frame, with a ping in between, reassemble exactly, whatever the reads
// return, in both roles, plain and compressed.
func TestOneByteFragments(t *testing.T) {
	for _, tc := range fragmentCases {
		for _, role := range roles {
			for _, chunk := range []int{0, 5, 1000} {
				t.Run(tc.name+"/"+roleName(role)+"/chunk="+strconv.Itoa(chunk), func(t *testing.T) {
					m := peerMasks(role)
					wp, rsv := encodeCase(tc.p, tc.compressed)
					frames := fragmented(tc.op, rsv, m, wp, 1)
					// A ping between two fragments, and a short
					// message after, read from the same buffer.
					h := headerLenOf(role) + 1
					in := cat(frames[:100*h], ping(m, "between"), frames[100*h:], bin(m, "after"))
					var d *Deflate
					if tc.compressed {
						d = &Deflate{}
					}
					got, err, fc := readAll(in, role, 0, d, chunk)
					if asClose(err) != CloseAbnormal {
						t.Fatalf("read ended with %v, want the end of the stream", err)
					}
					if len(got) != 2 || got[0].op != tc.op || got[0].p != string(tc.p) || got[1] != (msg{OpBinary, "after"}) {
						t.Fatalf("got %d messages, want the %d-byte %v message and another", len(got), len(tc.p), tc.op)
					}
					if n := sentCode(t, fc); n != -1 {
						t.Fatalf("engine sent a close frame with code %d", n)
					}
				})
			}
		}
	}
}

// TestOneByteFragmentsUTF8 checks that text is validated across fragment
// boundaries: a character split over fragments is fine, a bad sequence
// split the same way fails with 1007 at its bad byte.
func TestOneByteFragmentsUTF8(t *testing.T) {
	for _, role := range roles {
		m := peerMasks(role)
		good := fragmented(OpText, 0, m, []byte("a€😀b"), 1)
		got, err, _ := readAll(good, role, 0, nil, 0)
		if len(got) != 1 || got[0].p != "a€😀b" || asClose(err) != CloseAbnormal {
			t.Fatalf("%s: split characters read as %v, %v", roleName(role), got, err)
		}
		// \xe2\x82 starts a three-byte character that \x28 does not
		// continue; the fragments after it must not be waited for.
		bad := fragmented(OpText, 0, m, []byte("a\xe2\x82\x28"), 1)[:4*headerLenOf(role)+4]
		_, err, fc := readAll(bad, role, 0, nil, 0)
		if asProtocol(err) != CloseInvalidPayload || sentCode(t, fc) != CloseInvalidPayload {
			t.Fatalf("%s: split bad sequence: %v", roleName(role), err)
		}
		end := fragmented(OpText, 0, m, []byte("a\xe2\x82"), 1)
		if _, err, _ := readAll(end, role, 0, nil, 0); asProtocol(err) != CloseInvalidPayload {
			t.Fatalf("%s: text ending inside a character: %v", roleName(role), err)
		}
	}
}

// TestEndlessEmptyFragments checks that a message that goes on in empty
// continuation frames ends with 1009, soon after its headers pass their
// bound, with or without a read limit, plain or compressed.
func TestEndlessEmptyFragments(t *testing.T) {
	for _, role := range roles {
		for _, limit := range []int64{0, -1, 100} {
			for _, rsv := range []byte{0, 0x40} {
				name := roleName(role) + "/limit=" + strconv.FormatInt(limit, 10) + "/rsv=" + strconv.Itoa(int(rsv))
				t.Run(name, func(t *testing.T) {
					var d *Deflate
					p := []byte("x")
					if rsv != 0 {
						d, p = &Deflate{}, deflateMsg(p)
					}
					in := withEmpty(OpText, rsv, peerMasks(role), p, 1_000_000)
					got, err, fc := readAll(in, role, limit, d, 0)
					if len(got) != 0 || asProtocol(err) != CloseMessageTooBig || sentCode(t, fc) != CloseMessageTooBig {
						t.Fatalf("%d messages, error %v; want 1009", len(got), err)
					}
					bound := int64(headerAllowance)
					switch limit {
					case 0:
						bound = DefaultReadLimit
					case 100, -1:
						bound = headerAllowance
					}
					if read := int64(fc.servedAtWrite); read > bound+reserveStep+maxHeader {
						t.Fatalf("read %d bytes before failing, for a bound of %d header bytes", read, bound)
					}
				})
			}
		}
	}
}

// padded encodes q as one message of type op in frames of size payload
// bytes, followed by as many empty continuation frames as make frames
// frames in all.
func padded(op Opcode, rsv byte, masked bool, q []byte, size, frames int) []byte {
	var b []byte
	n := 0
	for i := 0; i < len(q); i += size {
		b = appendFrame(b, false, op, rsv, masked, q[i:min(i+size, len(q))])
		op, rsv = OpContinuation, 0
		n++
	}
	for ; n < frames-1; n++ {
		b = appendFrame(b, false, OpContinuation, 0, masked, nil)
	}
	return appendFrame(b, true, op, rsv, masked, nil)
}

// TestFragmentHeaderBound checks the bound on a message's header bytes
// at its edge: with a read limit, the headers may add up to the limit (or
// 64 KiB); without one, to the payload (or 64 KiB). One frame more fails
// with 1009, plain or compressed.
func TestFragmentHeaderBound(t *testing.T) {
	for _, role := range roles {
		h := headerLenOf(role)
		m := peerMasks(role)
		for _, tc := range []struct {
			name  string
			limit int64
			size  int // payload bytes per frame
			plen  int // bytes of the message
			// frames returns the most frames that still pass, for a
			// wire payload of lq bytes.
			frames func(lq int) int
		}{
			{"limit", 120000, 1, 10000, func(int) int { return 120000 / h }},
			{"small limit", 1000, 1, 500, func(int) int { return headerAllowance / h }},
			{"no limit", -1, 1, 500, func(int) int { return headerAllowance / h }},
			// Frames of 2h bytes carry twice their header: the
			// headers stay below the payload until the padding.
			{"no limit, payload", -1, 2 * h, 300000, func(lq int) int { return lq / h }},
		} {
			for _, compressed := range []bool{false, true} {
				name := roleName(role) + "/" + tc.name
				if compressed {
					name += "/compressed"
				}
				t.Run(name, func(t *testing.T) {
					var d *Deflate
					if compressed {
						d = &Deflate{}
					}
					p := randomBytes(4, tc.plen)
					q, rsv := encodeCase(p, compressed)
					n := tc.frames(len(q))
					if len(q) > n*tc.size {
						t.Fatalf("%d bytes do not fit in %d frames", len(q), n)
					}
					got, err, _ := readAll(padded(OpBinary, rsv, m, q, tc.size, n), role, tc.limit, d, 0)
					if len(got) != 1 || got[0].p != string(p) || asClose(err) != CloseAbnormal {
						t.Fatalf("%d frames: %d messages, error %v; want the message", n, len(got), err)
					}
					got, err, fc := readAll(padded(OpBinary, rsv, m, q, tc.size, n+1), role, tc.limit, d, 0)
					if len(got) != 0 || asProtocol(err) != CloseMessageTooBig || sentCode(t, fc) != CloseMessageTooBig {
						t.Fatalf("%d frames: %d messages, error %v; want 1009", n+1, len(got), err)
					}
				})
			}
		}
	}
}

// replayConn is a net.Conn that serves stream over and over, at most 64
// KiB per read as a socket would, until the engine half-closes it: a
// peer that sends the same message for ever, for benchmarks.
type replayConn struct {
	stream []byte
	pos    int
	read   int64 // bytes served
	done   bool
}

func (c *replayConn) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 64<<10)], c.stream[c.pos:])
	c.pos += n
	if c.pos == len(c.stream) {
		c.pos = 0
	}
	c.read += int64(n)
	return n, nil
}

func (c *replayConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *replayConn) CloseWrite() error                { c.done = true; return nil }
func (c *replayConn) Close() error                     { c.done = true; return nil }
func (c *replayConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *replayConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *replayConn) SetDeadline(time.Time) error      { return nil }
func (c *replayConn) SetReadDeadline(time.Time) error  { return nil }
func (c *replayConn) SetWriteDeadline(time.Time) error { return nil }

// benchRead measures a server reading stream, one message, over and over;
// bytes per second count wire bytes.
func benchRead(b *testing.B, stream []byte, limit int64, d *Deflate) {
	rc := &replayConn{stream: stream}
	c := NewConn(rc, Config{ReadLimit: limit, Deflate: d})
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := c.ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFragment compares reading 1 MiB in one frame with reading it
// one payload byte per frame, and a message of a million empty
// continuation frames; MB/s is of wire bytes. The read limit leaves room
// for the headers of the fragmented messages.
func BenchmarkFragment(b *testing.B) {
	const size = 1 << 20
	const limit = 8 << 20
	p := randomBytes(5, size)
	text := []byte(strings.Repeat("héllo wörld, 世界 😀; ", size/28))
	b.Run("binary/one-frame", func(b *testing.B) {
		benchRead(b, fragmented(OpBinary, 0, true, p, size), limit, nil)
	})
	b.Run("binary/one-byte", func(b *testing.B) {
		benchRead(b, fragmented(OpBinary, 0, true, p, 1), limit, nil)
	})
	b.Run("text/one-frame", func(b *testing.B) {
		benchRead(b, fragmented(OpText, 0, true, text, len(text)), limit, nil)
	})
	b.Run("text/one-byte", func(b *testing.B) {
		benchRead(b, fragmented(OpText, 0, true, text, 1), limit, nil)
	})
	b.Run("binary/16-byte", func(b *testing.B) {
		benchRead(b, fragmented(OpBinary, 0, true, p, 16), limit, nil)
	})
	b.Run("empty-1M", func(b *testing.B) {
		benchRead(b, withEmpty(OpBinary, 0, true, []byte("x"), 1<<20), limit, nil)
	})
	// With the default read limit, the same stream ends in 1009 once
	// its headers pass 1 MiB.
	b.Run("empty-1M/default-limit", func(b *testing.B) {
		stream := withEmpty(OpBinary, 0, true, []byte("x"), 1<<20)
		var read int64
		b.ReportAllocs()
		for b.Loop() {
			rc := &replayConn{stream: stream}
			c := NewConn(rc, Config{})
			if _, _, err := c.ReadMessage(); asProtocol(err) != CloseMessageTooBig {
				b.Fatalf("error %v, want 1009", err)
			}
			read = rc.read
		}
		b.SetBytes(read)
	})
}
