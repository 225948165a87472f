package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testKey is the masking key of RFC 6455 section 5.7's examples.
var testKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// fr describes a frame to put on the wire from the test's side. The zero
// values of the odd fields give a well-formed frame.
type fr struct {
	op      Opcode
	notFin  bool
	rsv     byte // 0x40, 0x20, 0x10
	mask    bool
	payload []byte
	// lenForm forces the 126 or 127 length form; zero is minimal.
	lenForm int
	// lenValue, when set, replaces the encoded payload length.
	lenValue uint64
	// truncate cuts the payload bytes written to this many.
	truncate int
}

// bytes encodes f.
func (f fr) bytes() []byte {
	b0 := byte(f.op) | f.rsv
	if !f.notFin {
		b0 |= 0x80
	}
	n := uint64(len(f.payload))
	if f.lenValue != 0 {
		n = f.lenValue
	}
	var m byte
	if f.mask {
		m = 0x80
	}
	out := []byte{b0, 0}
	form := f.lenForm
	if form == 0 {
		switch {
		case n > 0xffff:
			form = 127
		case n > 125:
			form = 126
		}
	}
	switch form {
	case 126:
		out[1] = m | 126
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	case 127:
		out[1] = m | 127
		out = binary.BigEndian.AppendUint64(out, n)
	default:
		out[1] = m | byte(n)
	}
	p := append([]byte(nil), f.payload...)
	if f.truncate > 0 {
		p = p[:f.truncate]
	}
	if f.mask {
		out = append(out, testKey[:]...)
		for i := range p {
			p[i] ^= testKey[i%4]
		}
	}
	return append(out, p...)
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func closePayload(code int, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

// gotFrame is a frame read from an engine.
type gotFrame struct {
	fin     bool
	rsv     byte
	op      Opcode
	masked  bool
	key     uint32
	payload []byte
}

// code returns a close frame's code, or 0 for an empty payload.
func (f gotFrame) code() int {
	if len(f.payload) < 2 {
		return 0
	}
	return int(binary.BigEndian.Uint16(f.payload))
}

// readFrame reads one frame written by an engine and unmasks it.
func readFrame(r io.Reader) (gotFrame, error) {
	var h [14]byte
	if _, err := io.ReadFull(r, h[:2]); err != nil {
		return gotFrame{}, err
	}
	f := gotFrame{fin: h[0]&0x80 != 0, rsv: h[0] & 0x70, op: Opcode(h[0] & 0xf), masked: h[1]&0x80 != 0}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		if _, err := io.ReadFull(r, h[:2]); err != nil {
			return f, err
		}
		n = uint64(binary.BigEndian.Uint16(h[:2]))
	case 127:
		if _, err := io.ReadFull(r, h[:8]); err != nil {
			return f, err
		}
		n = binary.BigEndian.Uint64(h[:8])
	}
	if f.masked {
		if _, err := io.ReadFull(r, h[:4]); err != nil {
			return f, err
		}
		f.key = binary.LittleEndian.Uint32(h[:4])
	}
	if n > 64<<20 {
		return f, fmt.Errorf("frame length %d too large for a test", n)
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(r, f.payload); err != nil {
		return f, err
	}
	if f.masked {
		maskBytes(f.key, 0, f.payload)
	}
	return f, nil
}

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t testing.TB) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { a.Close(); r.c.Close() })
	return r.c.(*net.TCPConn), a.(*net.TCPConn)
}

// transport makes a connected pair: the engine's end and the peer's end.
type transport struct {
	name string
	pair func(testing.TB) (engine, peer net.Conn)
}

var transports = []transport{
	{"pipe", func(t testing.TB) (net.Conn, net.Conn) {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		return a, b
	}},
	{"tcp", func(t testing.TB) (net.Conn, net.Conn) {
		a, b := tcpPair(t)
		return a, b
	}},
}

var roles = []Role{RoleServer, RoleClient}

func roleName(r Role) string {
	if r == RoleServer {
		return "server"
	}
	return "client"
}

// peerMasks reports whether the peer of an engine in role r masks.
func peerMasks(r Role) bool { return r == RoleServer }

// asProtocol returns err's close code if it is a *ProtocolError, else -1.
func asProtocol(err error) int {
	var pe *ProtocolError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return -1
}

// asClose returns err's close code if it is a *CloseError, else -1.
func asClose(err error) int {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

// collect reads the engine's frames on peer until a close frame or an
// error and sends them on the returned channel, which is closed at the
// end. After a close frame it stops reading and, if closeAfter, closes
// peer as a well-behaved remote end would.
func collect(peer net.Conn, closeAfter bool) <-chan gotFrame {
	ch := make(chan gotFrame, 64)
	go func() {
		defer close(ch)
		for {
			f, err := readFrame(peer)
			if err != nil {
				return
			}
			ch <- f
			if f.op == OpClose {
				if closeAfter {
					peer.Close()
				}
				return
			}
		}
	}()
	return ch
}

func drainFrames(ch <-chan gotFrame) []gotFrame {
	var out []gotFrame
	for f := range ch {
		out = append(out, f)
	}
	return out
}

// within fails the test if f does not return within d; it guards against
// hangs, it does not measure anything.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not finish within %v", what, d)
	}
}

// watchIdle has f called, on the reading goroutine, each time c waits for
// the first bytes of a message with no message under way, once c has found
// nothing to read: for tests of what an idle connection holds. It swaps
// c's connection (or, for a socket read on readiness, its syscall.RawConn)
// for one that watches the engine's reads, so call it before the first
// read.
func watchIdle(c *Conn, f func()) {
	if c.raw != nil {
		c.raw = idleRawConn{c.raw, f}
		return
	}
	c.nc = idleNetConn{c.nc, c, f}
}

// idleRawConn calls f when the engine's read callback finds the socket
// empty and gives up its buffer, about to wait for readiness.
type idleRawConn struct {
	syscall.RawConn
	f func()
}

func (r idleRawConn) Read(fn func(uintptr) bool) error {
	return r.RawConn.Read(func(fd uintptr) bool {
		done := fn(fd)
		if !done {
			r.f()
		}
		return done
	})
}

// idleNetConn calls f when the engine reads into its small array, which
// it does only when it holds no buffer and waits for the next message.
type idleNetConn struct {
	net.Conn
	c *Conn
	f func()
}

func (n idleNetConn) Read(p []byte) (int, error) {
	if len(p) > 0 && &p[0] == &n.c.small[0] {
		n.f()
	}
	return n.Conn.Read(p)
}

// checkMsgs fails t unless got, the messages read before err, are want.
func checkMsgs(t testing.TB, got, want []msg, err error) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d messages, want %d (error %v)", len(got), len(want), err)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("message %d = %v %.40q, want %v %.40q", i, got[i].op, got[i].p, want[i].op, want[i].p)
		}
	}
}

// checkPongs fails t unless the pong payloads got are want.
func checkPongs(t testing.TB, got, want []string) {
	t.Helper()
	if len(got) != len(want) || strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("pongs %q, want %q", got, want)
	}
}

// engineFrames checks the frames an engine in role wrote, which must be
// pongs and then at most one close frame, all final, without RSV bits and
// masked only by a client; it returns the pongs' payloads and the close
// frame's code (-1: none, 0: empty).
func engineFrames(t testing.TB, role Role, frames []gotFrame) (pongs []string, sent int) {
	t.Helper()
	sent = -1
	for _, f := range frames {
		if f.masked != (role == RoleClient) || !f.fin || f.rsv != 0 {
			t.Fatalf("engine wrote a frame with masked=%v fin=%v rsv=%#x", f.masked, f.fin, f.rsv)
		}
		if sent != -1 {
			t.Fatalf("engine wrote a %v frame after its close frame", f.op)
		}
		switch f.op {
		case OpPong:
			pongs = append(pongs, string(f.payload))
		case OpClose:
			sent = f.code()
			if len(f.payload) > 2 && sent != 1002 && sent != 1007 && sent != 1009 {
				t.Errorf("echoed close frame carries a reason: %q", f.payload)
			}
		default:
			t.Fatalf("engine wrote a %v frame", f.op)
		}
	}
	return pongs, sent
}

// parseFrames decodes the frames of a recorded stream.
func parseFrames(t testing.TB, stream []byte) []gotFrame {
	t.Helper()
	var out []gotFrame
	r := bytes.NewReader(stream)
	for r.Len() > 0 {
		f, err := readFrame(r)
		if err != nil {
			t.Fatalf("engine wrote a broken frame: %v", err)
		}
		out = append(out, f)
	}
	return out
}
