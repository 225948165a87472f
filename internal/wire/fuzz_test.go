package wire

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// fuzzConn is a net.Conn that serves in as the peer's stream, chunk bytes
// per Read at most, and records what is written.
type fuzzConn struct {
	in      []byte
	chunk   int
	out     bytes.Buffer
	maxRead int // the largest buffer offered to Read
	closed  bool
	served  int // bytes of in read so far
	// servedAtWrite is served at the first write.
	servedAtWrite int
}

func (c *fuzzConn) Read(p []byte) (int, error) {
	c.maxRead = max(c.maxRead, len(p))
	if c.closed {
		return 0, net.ErrClosed
	}
	if len(c.in) == 0 {
		return 0, io.EOF
	}
	n := len(p)
	if c.chunk > 0 {
		n = min(n, c.chunk)
	}
	n = copy(p[:n], c.in)
	c.in = c.in[n:]
	c.served += n
	return n, nil
}

func (c *fuzzConn) Write(p []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	if c.out.Len() == 0 {
		c.servedAtWrite = c.served
	}
	return c.out.Write(p)
}

func (c *fuzzConn) Close() error                     { c.closed = true; return nil }
func (c *fuzzConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *fuzzConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *fuzzConn) SetDeadline(time.Time) error      { return nil }
func (c *fuzzConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fuzzConn) SetWriteDeadline(time.Time) error { return nil }

// refResult is what reading a stream must produce.
type refResult struct {
	msgs  []msg
	pongs []string
	sent  int // close code sent: -1 none, 0 empty
	proto int // *ProtocolError code, or 0
	close int // *CloseError code, or 0
}

// refRead is a straightforward model of the reading rules of RFC 6455, for
// a peer stream that is all there is: it works on the whole input at once
// and uses the standard library's UTF-8 decoder, so that it shares no code
// or structure with the engine.
func refRead(in []byte, role Role, limit int64) refResult {
	m := refModel{role: role, limit: limit, res: refResult{sent: -1}}
	for !m.done {
		in = m.frame(in)
	}
	return m.res
}

// refModel is the state of refRead between frames.
type refModel struct {
	role  Role
	limit int64
	res   refResult
	done  bool

	inMsg   bool
	msgOp   Opcode
	body    []byte
	headers uint64 // header bytes of the message's frames
}

func (m *refModel) protocol(code int) []byte {
	m.res.proto, m.res.sent, m.done = code, code, true
	return nil
}

func (m *refModel) eof() []byte {
	m.res.close, m.done = CloseAbnormal, true
	return nil
}

// frame models the frame at the start of in and returns what follows it.
func (m *refModel) frame(in []byte) []byte {
	if len(in) < 2 {
		return m.eof()
	}
	fin, rsv, op := in[0]&0x80 != 0, in[0]&0x70, Opcode(in[0]&0xf)
	masked, n := in[1]&0x80 != 0, uint64(in[1]&0x7f)
	if m.badStart(fin, rsv, op, masked, n) {
		return m.protocol(1002)
	}
	hlen := 2
	if n == 126 {
		hlen += 2
	} else if n == 127 {
		hlen += 8
	}
	if masked {
		hlen += 4
	}
	if len(in) < hlen {
		return m.eof()
	}
	if n == 126 {
		if n = uint64(binary.BigEndian.Uint16(in[2:])); n < 126 {
			return m.protocol(1002)
		}
	} else if n == 127 {
		if n = binary.BigEndian.Uint64(in[2:]); n >= 1<<63 || n < 1<<16 {
			return m.protocol(1002)
		}
	}
	var key []byte
	if masked {
		key = in[hlen-4 : hlen]
	}
	in = in[hlen:]
	if op >= 8 {
		return m.control(in, op, n, key)
	}
	return m.data(in, op, fin, hlen, n, key)
}

// badStart reports whether the first two bytes of a frame break the rules.
func (m *refModel) badStart(fin bool, rsv byte, op Opcode, masked bool, n uint64) bool {
	switch {
	case rsv != 0:
	case op > 2 && op < 8 || op > 0xA:
	case op >= 8 && (!fin || n > 125):
	case masked != (m.role == RoleServer):
	case op == OpContinuation && !m.inMsg:
	case (op == OpText || op == OpBinary) && m.inMsg:
	default:
		return false
	}
	return true
}

func refUnmask(p, key []byte) []byte {
	out := append([]byte(nil), p...)
	if key != nil {
		for i := range out {
			out[i] ^= key[i%4]
		}
	}
	return out
}

// control models a control frame's payload at the start of in.
func (m *refModel) control(in []byte, op Opcode, n uint64, key []byte) []byte {
	if uint64(len(in)) < n {
		return m.eof()
	}
	p := refUnmask(in[:n], key)
	in = in[n:]
	switch op {
	case OpPing:
		m.res.pongs = append(m.res.pongs, string(p))
	case OpClose:
		m.done = true
		switch {
		case len(p) == 0:
			m.res.close, m.res.sent = CloseNoStatus, 0
		case len(p) == 1:
			return m.protocol(1002)
		default:
			code := int(binary.BigEndian.Uint16(p))
			if !(code >= 1000 && code <= 1003 || code >= 1007 && code <= 1014 || code >= 3000 && code <= 4999) {
				return m.protocol(1002)
			}
			if !utf8.Valid(p[2:]) {
				return m.protocol(1007)
			}
			m.res.close, m.res.sent = code, code
		}
	}
	return in
}

// data models a data frame's payload at the start of in.
func (m *refModel) data(in []byte, op Opcode, fin bool, hlen int, n uint64, key []byte) []byte {
	if op != OpContinuation {
		m.inMsg, m.msgOp, m.body, m.headers = true, op, nil, 0
	}
	if m.limit >= 0 && n > uint64(m.limit)-uint64(len(m.body)) || n > math.MaxInt64-uint64(len(m.body)) {
		return m.protocol(1009)
	}
	// The headers of a message's frames may add up to the read limit or
	// 64 KiB, and without a limit to its payload or 64 KiB.
	m.headers += uint64(hlen)
	bound := uint64(m.limit)
	if m.limit < 0 {
		bound = uint64(len(m.body)) + n
	}
	if m.headers > max(bound, 64<<10) {
		return m.protocol(1009)
	}
	avail := min(n, uint64(len(in)))
	m.body = append(m.body, refUnmask(in[:avail], key)...)
	in = in[avail:]
	if m.msgOp == OpText && !utf8Prefix(m.body) {
		return m.protocol(1007)
	}
	if avail < n {
		return m.eof()
	}
	if fin {
		if m.msgOp == OpText && !utf8.Valid(m.body) {
			return m.protocol(1007)
		}
		m.res.msgs = append(m.res.msgs, msg{m.msgOp, string(m.body)})
		m.inMsg = false
	}
	return in
}

// utf8Prefix reports whether p can begin a valid UTF-8 text.
func utf8Prefix(p []byte) bool {
	for len(p) > 0 {
		if !utf8.FullRune(p) {
			return true // an incomplete but possible sequence at the end
		}
		r, size := utf8.DecodeRune(p)
		if r == utf8.RuneError && size == 1 {
			return false
		}
		p = p[size:]
	}
	return true
}

// FuzzReadFrame feeds arbitrary bytes as the peer's stream to ReadMessage
// and checks the outcome, message by message and frame by frame, against
// refRead. mode selects the role (bit 7) and how many bytes each read
// returns (the rest, 0 meaning as many as asked); limit sets the read
// limit (0xffff meaning none).
func FuzzReadFrame(f *testing.F) {
	add := func(mode uint8, limit uint16, parts ...[]byte) { f.Add(cat(parts...), mode, limit) }
	add(0, 0, txt(true, "hello"), cls(true, 1000, "bye"))
	add(3, 100, first(OpText, true, "a\xe2"), ping(true, "p"), last(true, "\x82\xac"), cls(true, 1001, ""))
	add(0x80, 0, txt(false, "from a server"), ping(false, "x"), cls(false, 1000, ""))
	add(1, 0, fr{op: OpBinary, mask: true, payload: bytes.Repeat([]byte("z"), 70000)}.bytes())
	add(0, 10, fr{op: OpBinary, mask: true, payload: []byte("0123456789ab")}.bytes())
	add(0, 0xffff, fr{op: OpBinary, mask: true, lenForm: 127, lenValue: 1 << 62}.bytes(), []byte("trickle"))
	add(5, 0, fr{op: OpBinary, mask: true, lenForm: 126, payload: []byte("short")}.bytes())
	add(0, 0, fr{op: OpText, rsv: 0x40, mask: true, payload: []byte("x")}.bytes())
	add(0, 0, fr{op: 0xB, mask: true}.bytes())
	add(0, 0, fr{op: OpPing, notFin: true, mask: true}.bytes())
	add(2, 0, txt(true, "ok"), fr{op: OpClose, mask: true, payload: []byte{3}}.bytes())
	add(0, 0, cls(true, 1000, "\xff"))
	add(0, 0, cls(true, 1005, ""))
	add(7, 0, txt(true, "bad \xed\xa0\x80 surrogate"))
	add(0, 0, first(OpText, true, "x"), first(OpText, true, "y"))
	add(0x81, 0, first(OpBinary, false, "frag"), cont(false, "men"), last(false, "ted"), fr{op: OpClose, mask: false}.bytes())
	// Messages in tiny fragments, read in one piece or a few bytes at a
	// time: valid, with bad UTF-8 in the middle of a run of fragments,
	// with a ping among them, and past the bound on headers.
	add(0, 0, fragmented(OpText, 0, true, []byte("héllo wörld, 世界 😀"), 1), cls(true, 1000, ""))
	add(3, 0, fragmented(OpText, 0, true, []byte("héllo wörld, 世界 😀"), 2), cls(true, 1000, ""))
	add(0x80, 0, fragmented(OpText, 0, false, []byte("abc\xe2\x82\x28def"), 1), cls(false, 1000, ""))
	add(0, 0, fragmented(OpBinary, 0, true, []byte("0123456789abcdefghij0123456789"), 3)[:27], ping(true, "p"),
		fragmented(OpBinary, 0, true, []byte("0123456789abcdefghij0123456789"), 3)[27:])
	add(0, 0xffff, withEmpty(OpBinary, 0, true, []byte("x"), 11000))
	add(0x80, 2000, fragmented(OpBinary, 0, false, bytes.Repeat([]byte("y"), 1500), 1))

	f.Fuzz(func(t *testing.T, in []byte, mode uint8, limit uint16) {
		role := RoleServer
		if mode&0x80 != 0 {
			role = RoleClient
		}
		readLimit := int64(limit)
		if limit == 0xffff {
			readLimit = -1
		} else if limit == 0 {
			readLimit = DefaultReadLimit
		}
		want := refRead(in, role, readLimit)

		fc := &fuzzConn{in: in, chunk: int(mode & 0x7f)}
		c := NewConn(fc, Config{Role: role, ReadLimit: readLimit})
		var got []msg
		var err error
		for {
			var op Opcode
			var p []byte
			op, p, err = c.ReadMessage()
			if err != nil {
				break
			}
			got = append(got, msg{op, string(p)})
			if len(got) > len(in) {
				t.Fatal("more messages than input bytes")
			}
		}
		checkMsgs(t, got, want.msgs, err)
		switch {
		case want.proto != 0:
			if asProtocol(err) != want.proto {
				t.Fatalf("error %v, want protocol error %d", err, want.proto)
			}
		case want.close != 0:
			if asClose(err) != want.close {
				t.Fatalf("error %v, want close error %d", err, want.close)
			}
		}
		if !fc.closed {
			t.Fatal("connection left open after the error")
		}
		if bound := max(4*len(in), 2*reserveStep); fc.maxRead > bound {
			t.Fatalf("read into a %d-byte buffer for %d input bytes", fc.maxRead, len(in))
		}

		// What the engine wrote: the pongs, then at most one close frame.
		pongs, sent := engineFrames(t, role, parseFrames(t, fc.out.Bytes()))
		if sent != want.sent {
			t.Fatalf("close code sent %d, want %d", sent, want.sent)
		}
		checkPongs(t, pongs, want.pongs)
	})
}

// FuzzCheckRequest parses arbitrary bytes as an HTTP request and checks
// that CheckRequest never accepts a request that breaks the handshake
// rules, and never fails without a status to answer with.
func FuzzCheckRequest(f *testing.F) {
	f.Add("GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	f.Add("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c, WebSocket\r\nConnection: keep-alive\r\nConnection: upgrade\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: a, b\r\n\r\n")
	f.Add("POST / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	f.Add("GET / HTTP/1.0\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	f.Add("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\nSec-WebSocket-Version: 13\r\n\r\n")
	f.Add("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	f.Add("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n")
	f.Add("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	f.Add("GET / HTTP/1.1\r\nHost: x\r\nupgrade: WEBSOCKET\r\nconnection: UPGRADE\r\nsec-websocket-key:    dGhlIHNhbXBsZSBub25jZQ==   \r\nsec-websocket-version: 13\r\n\r\n")
	f.Add("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n")
	f.Add("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: ,,websocket,,\r\nConnection: ,upgrade\t,\r\nSec-WebSocket-Key: ++++++++++++++++++++++==\r\nSec-WebSocket-Version:  13 \r\n\r\n")
	f.Add("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Key: \r\nSec-WebSocket-Version: 13\r\n\r\n")

	f.Fuzz(func(t *testing.T, raw string) {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return
		}
		key, err := CheckRequest(r)
		if err != nil {
			var he *HandshakeError
			if !errors.As(err, &he) {
				t.Fatalf("error %v is not a *HandshakeError", err)
			}
			switch he.Status {
			case 400, 405, 426:
			default:
				t.Fatalf("status %d", he.Status)
			}
			if he.Status == 426 && he.Header.Get("Sec-WebSocket-Version") != "13" {
				t.Fatal("426 without Sec-WebSocket-Version")
			}
			if he.Error() == "" || he.Reason == "" {
				t.Fatal("empty reason")
			}
			return
		}
		if r.Method != http.MethodGet || !r.ProtoAtLeast(1, 1) {
			t.Fatalf("accepted %s %s", r.Method, r.Proto)
		}
		if !IsUpgrade(r) || !hasToken(r.Header, "Connection", "Upgrade") {
			t.Fatal("accepted without the Upgrade and Connection tokens")
		}
		if b, err := base64.StdEncoding.DecodeString(key); err != nil || len(b) != 16 {
			t.Fatalf("accepted key %q (%d bytes, %v)", key, len(b), err)
		}
		if v := r.Header.Values("Sec-WebSocket-Version"); len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
			t.Fatalf("accepted version %q", v)
		}
		if len(AcceptKey(key)) != 28 {
			t.Fatal("accept key of the wrong length")
		}
	})
}
