package wire

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unicode/utf8"
)

// rfcTail is what a receiver appends to a compressed message (RFC 7692
// section 7.2.2), followed by an empty final block so that a reader of
// the whole stream sees its end.
const rfcTail = "\x00\x00\xff\xff\x01\x00\x00\xff\xff"

// deflateMsg compresses p the way a peer does for one message without
// context takeover: a sync flush, whose trailing 00 00 ff ff is removed.
func deflateMsg(p []byte) []byte {
	var b bytes.Buffer
	fw, _ := flate.NewWriter(&b, flate.BestSpeed)
	fw.Write(p)
	fw.Flush()
	out, ok := bytes.CutSuffix(b.Bytes(), []byte("\x00\x00\xff\xff"))
	if !ok {
		panic("sync flush without its marker")
	}
	return out
}

// peerDeflater compresses a peer's messages with context takeover: one
// compressor for the whole connection.
type peerDeflater struct {
	buf bytes.Buffer
	fw  *flate.Writer
}

func newPeerDeflater() *peerDeflater {
	d := new(peerDeflater)
	d.fw, _ = flate.NewWriter(&d.buf, flate.DefaultCompression)
	return d
}

func (d *peerDeflater) next(p []byte) []byte {
	d.buf.Reset()
	d.fw.Write(p)
	d.fw.Flush()
	return bytes.Clone(bytes.TrimSuffix(d.buf.Bytes(), []byte("\x00\x00\xff\xff")))
}

// inflateMsg decompresses a message written by the engine.
func inflateMsg(p []byte) ([]byte, error) {
	return io.ReadAll(flate.NewReader(io.MultiReader(bytes.NewReader(p), strings.NewReader(rfcTail))))
}

// zfr returns a compressed data frame: RSV1 set.
func zfr(op Opcode, m bool, p []byte) []byte {
	return fr{op: op, rsv: 0x40, mask: m, payload: p}.bytes()
}

// sentence returns n bytes of text from a small vocabulary, compressible
// like typical messages.
func sentence(seed uint64, n int) string {
	words := []string{"alpha", "beta", "gamma", "delta", "\"id\":", "{", "}", "42", "grüße", "世界", "true", "null"}
	rng := rand.New(rand.NewPCG(seed, 7))
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(words[rng.IntN(len(words))])
		b.WriteByte(' ')
	}
	s := b.String()[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// randomBytes returns n incompressible bytes.
func randomBytes(seed uint64, n int) []byte {
	p := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed)}).Read(p)
	return p
}

// takeoverStream returns messages, the frames of a peer compressing them
// with context takeover, and whether later messages really refer to
// earlier ones (they must not decode on their own).
func takeoverStream(m bool, msgs []string) []byte {
	d := newPeerDeflater()
	var out []byte
	for _, s := range msgs {
		out = append(out, zfr(OpText, m, d.next([]byte(s)))...)
	}
	return out
}

var (
	takeoverMsgs = []string{
		strings.Repeat("the same sentence, sent again and again; ", 8),
		strings.Repeat("the same sentence, sent again and again; ", 9),
		strings.Repeat("the same sentence, sent again and again; ", 10),
	}
	longTakeoverMsgs = []string{sentence(1, 50000), sentence(1, 50000) + "x", sentence(2, 40000), sentence(1, 50000)}
	bigText          = sentence(3, 200000)
)

var deflateCases = []confCase{
	{
		// The examples of RFC 7692 section 7.2.3: "Hello" compressed,
		// fragmented, in a stored block, and again with the context of
		// the first.
		name: "RFC 7692 examples",
		in: func(m bool) []byte {
			hello := []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}
			return cat(
				zfr(OpText, m, hello),
				fr{op: OpText, rsv: 0x40, notFin: true, mask: m, payload: hello[:3]}.bytes(),
				fr{op: OpContinuation, mask: m, payload: hello[3:]}.bytes(),
				zfr(OpText, m, []byte{0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}),
				zfr(OpText, m, hello),
				zfr(OpText, m, []byte{0xf2, 0x00, 0x11, 0x00, 0x00}),
				closeThen(1000)(m))
		},
		deflate: &Deflate{PeerContextTakeover: true},
		msgs:    []msg{{OpText, "Hello"}, {OpText, "Hello"}, {OpText, "Hello"}, {OpText, "Hello"}, {OpText, "Hello"}},
		close:   1000, sent: 1000,
	},
	{
		name: "compressed text",
		in: func(m bool) []byte {
			return cat(zfr(OpText, m, deflateMsg([]byte("hello, hello, hello"))), closeThen(1000)(m))
		},
		msgs: []msg{{OpText, "hello, hello, hello"}}, close: 1000, sent: 1000,
	},
	{
		name: "compressed binary, 200 kB",
		in: func(m bool) []byte {
			return cat(zfr(OpBinary, m, deflateMsg([]byte(bigText))), closeThen(1000)(m))
		},
		msgs: []msg{{OpBinary, bigText}}, close: 1000, sent: 1000,
	},
	{
		name: "compressed and uncompressed messages",
		in: func(m bool) []byte {
			return cat(txt(m, "plain"), zfr(OpText, m, deflateMsg([]byte("squeezed"))), bin(m, "raw"), closeThen(1000)(m))
		},
		msgs: []msg{{OpText, "plain"}, {OpText, "squeezed"}, {OpBinary, "raw"}}, close: 1000, sent: 1000,
	},
	{
		name: "fragmented compressed message with control frames",
		in: func(m bool) []byte {
			z := deflateMsg([]byte(bigText))
			a, b := len(z)/3, 2*len(z)/3
			return cat(
				fr{op: OpText, rsv: 0x40, notFin: true, mask: m, payload: z[:a]}.bytes(),
				ping(m, "p"),
				fr{op: OpContinuation, notFin: true, mask: m, payload: z[a:b]}.bytes(),
				fr{op: OpContinuation, notFin: true, mask: m}.bytes(),
				fr{op: OpContinuation, mask: m, payload: z[b:]}.bytes(),
				closeThen(1000)(m))
		},
		msgs: []msg{{OpText, bigText}}, close: 1000, sent: 1000, pongs: []string{"p"},
	},
	{
		name: "fragmented one byte per frame",
		in: func(m bool) []byte {
			z := deflateMsg([]byte("grüße, grüße, grüße"))
			out := fr{op: OpText, rsv: 0x40, notFin: true, mask: m, payload: z[:1]}.bytes()
			for i := 1; i < len(z); i++ {
				out = append(out, fr{op: OpContinuation, notFin: i < len(z)-1, mask: m, payload: z[i : i+1]}.bytes()...)
			}
			return cat(out, closeThen(1000)(m))
		},
		msgs: []msg{{OpText, "grüße, grüße, grüße"}}, close: 1000, sent: 1000,
	},
	{
		name: "empty message compressed",
		in: func(m bool) []byte {
			// RFC 7692 section 7.2.3.6, and an empty payload with RSV1.
			return cat(zfr(OpText, m, []byte{0}), zfr(OpBinary, m, nil), zfr(OpText, m, deflateMsg(nil)), closeThen(1000)(m))
		},
		msgs: []msg{{OpText, ""}, {OpBinary, ""}, {OpText, ""}}, close: 1000, sent: 1000,
	},
	{
		name: "message ending with a final block",
		in: func(m bool) []byte {
			var b bytes.Buffer
			fw, _ := flate.NewWriter(&b, flate.BestSpeed)
			fw.Write([]byte("closed stream"))
			fw.Close()
			return cat(zfr(OpText, m, b.Bytes()), closeThen(1000)(m))
		},
		msgs: []msg{{OpText, "closed stream"}}, close: 1000, sent: 1000,
	},
	{
		name:    "context takeover",
		in:      func(m bool) []byte { return cat(takeoverStream(m, takeoverMsgs), closeThen(1000)(m)) },
		deflate: &Deflate{PeerContextTakeover: true},
		msgs:    []msg{{OpText, takeoverMsgs[0]}, {OpText, takeoverMsgs[1]}, {OpText, takeoverMsgs[2]}}, close: 1000, sent: 1000,
	},
	{
		name:    "context takeover past the window",
		in:      func(m bool) []byte { return cat(takeoverStream(m, longTakeoverMsgs), closeThen(1000)(m)) },
		deflate: &Deflate{PeerContextTakeover: true, PeerWindowBits: 15},
		msgs:    []msg{{OpText, longTakeoverMsgs[0]}, {OpText, longTakeoverMsgs[1]}, {OpText, longTakeoverMsgs[2]}, {OpText, longTakeoverMsgs[3]}},
		close:   1000, sent: 1000,
	},
	{
		name:  "context takeover not agreed",
		in:    func(m bool) []byte { return takeoverStream(m, takeoverMsgs) },
		msgs:  []msg{{OpText, takeoverMsgs[0]}},
		proto: 1007, sent: 1007,
	},
	{
		name: "RSV1 on a continuation frame",
		in: func(m bool) []byte {
			return cat(first(OpText, m, "a"), fr{op: OpContinuation, rsv: 0x40, mask: m, payload: deflateMsg([]byte("b"))}.bytes())
		},
		proto: 1002, sent: 1002,
	},
	{
		name: "RSV1 on a continuation of a compressed message",
		in: func(m bool) []byte {
			z := deflateMsg([]byte("hello"))
			return cat(fr{op: OpText, rsv: 0x40, notFin: true, mask: m, payload: z[:2]}.bytes(),
				fr{op: OpContinuation, rsv: 0x40, mask: m, payload: z[2:]}.bytes())
		},
		proto: 1002, sent: 1002,
	},
	{name: "RSV1 on a ping", in: func(m bool) []byte { return fr{op: OpPing, rsv: 0x40, mask: m}.bytes() }, proto: 1002, sent: 1002},
	{name: "RSV1 on a close", in: func(m bool) []byte { return fr{op: OpClose, rsv: 0x40, mask: m}.bytes() }, proto: 1002, sent: 1002},
	{name: "RSV1 on a reserved opcode", in: func(m bool) []byte { return fr{op: 3, rsv: 0x40, mask: m}.bytes() }, proto: 1002, sent: 1002},
	{name: "RSV2", in: func(m bool) []byte { return fr{op: OpText, rsv: 0x20, mask: m, payload: []byte("x")}.bytes() }, proto: 1002, sent: 1002},
	{name: "RSV3", in: func(m bool) []byte { return fr{op: OpBinary, rsv: 0x10, mask: m}.bytes() }, proto: 1002, sent: 1002},
	{
		name: "RSV1 and RSV2",
		in: func(m bool) []byte {
			return fr{op: OpText, rsv: 0x60, mask: m, payload: deflateMsg([]byte("x"))}.bytes()
		},
		proto: 1002, sent: 1002,
	},
	{
		name:  "corrupt data",
		in:    func(m bool) []byte { return cat(txt(m, "ok"), zfr(OpBinary, m, []byte{0xff, 0xff, 0xff})) },
		msgs:  []msg{{OpText, "ok"}},
		proto: 1007, sent: 1007,
	},
	{
		name: "stored block longer than the data",
		in: func(m bool) []byte {
			return zfr(OpBinary, m, []byte{0x00, 0x10, 0x00, 0xef, 0xff, 'a', 'b'})
		},
		proto: 1007, sent: 1007,
	},
	{
		name:  "invalid UTF-8 after decompression",
		in:    func(m bool) []byte { return zfr(OpText, m, deflateMsg([]byte("fine until \xff"))) },
		proto: 1007, sent: 1007,
	},
	{
		name:  "text ends inside a UTF-8 sequence after decompression",
		in:    func(m bool) []byte { return zfr(OpText, m, deflateMsg([]byte("cut \xe2\x82"))) },
		proto: 1007, sent: 1007,
	},
	{
		name: "invalid UTF-8 in binary is fine",
		in: func(m bool) []byte {
			return cat(zfr(OpBinary, m, deflateMsg([]byte("\xff\xfe"))), closeThen(1000)(m))
		},
		msgs: []msg{{OpBinary, "\xff\xfe"}}, close: 1000, sent: 1000,
	},
	{
		name: "decompressed size at the limit",
		in: func(m bool) []byte {
			return cat(zfr(OpBinary, m, deflateMsg(bytes.Repeat([]byte("a"), 1000))), closeThen(1000)(m))
		},
		limit: 1000,
		msgs:  []msg{{OpBinary, strings.Repeat("a", 1000)}}, close: 1000, sent: 1000,
	},
	{
		name:  "decompressed size past the limit",
		in:    func(m bool) []byte { return zfr(OpBinary, m, deflateMsg(bytes.Repeat([]byte("a"), 1001))) },
		limit: 1000, proto: 1009, sent: 1009,
	},
	{
		name: "past the limit at the end of a text",
		in: func(m bool) []byte {
			return zfr(OpText, m, deflateMsg([]byte(strings.Repeat("a", 999)+"é")))
		},
		limit: 1000, proto: 1009, sent: 1009,
	},
	{
		name:  "compressed size past the limit",
		in:    func(m bool) []byte { return zfr(OpBinary, m, randomBytes(1, 1001)) },
		limit: 1000, proto: 1009, sent: 1009,
	},
}

// TestDeflateConformance runs deflateCases like TestConformance, with
// permessage-deflate negotiated (without context takeover unless a case
// says otherwise). Frames with RSV1 on connections without it are among
// the cases of TestConformance.
func TestDeflateConformance(t *testing.T) {
	for _, tr := range transports {
		for _, role := range roles {
			for _, tc := range deflateCases {
				if tc.deflate == nil {
					tc.deflate = &Deflate{}
				}
				t.Run(tr.name+"/"+roleName(role)+"/"+tc.name, func(t *testing.T) {
					t.Parallel()
					runConfCase(t, tr, role, tc)
				})
			}
		}
	}
}

// TestTakeoverStreamNeedsContext makes sure the context takeover cases
// test what they claim: later messages do not decode on their own.
func TestTakeoverStreamNeedsContext(t *testing.T) {
	for _, msgs := range [][]string{takeoverMsgs, longTakeoverMsgs} {
		d := newPeerDeflater()
		d.next([]byte(msgs[0]))
		z := d.next([]byte(msgs[1]))
		if out, err := inflateMsg(z); err == nil && string(out) == msgs[1] {
			t.Errorf("message 1 decodes without the context of message 0")
		}
	}
}

func TestDeflateWindow(t *testing.T) {
	s := newDeflateState(&Deflate{PeerContextTakeover: true, PeerWindowBits: 9})
	if s.winSize != 512 {
		t.Fatalf("window of %d bytes for 9 bits", s.winSize)
	}
	s = newDeflateState(&Deflate{PeerContextTakeover: true, PeerWindowBits: 8})
	if s.winSize != 512 {
		t.Fatalf("window of %d bytes for 8 bits, want 512 (zlib widens 8 to 9)", s.winSize)
	}
	var all []byte
	for i, n := range []int{0, 100, 300, 200, 600, 5, 511, 512, 1} {
		p := randomBytes(uint64(i), n)
		all = append(all, p...)
		s.remember(p)
		want := all[max(0, len(all)-512):]
		if !bytes.Equal(s.window, want) {
			t.Fatalf("after %d bytes: window of %d bytes, want the last %d", len(all), len(s.window), len(want))
		}
		if cap(s.window) != 512 {
			t.Fatalf("window capacity %d", cap(s.window))
		}
	}
	if newDeflateState(&Deflate{}).winSize != 0 {
		t.Error("a window without context takeover")
	}
}

// deflatePair returns a server and a client engine over loopback TCP, with
// permessage-deflate.
func deflatePair(t testing.TB, sd, cd *Deflate, limit int64) (srv, cli *Conn) {
	se, ce := tcpPair(t)
	srv = NewConn(se, Config{Role: RoleServer, Deflate: sd, ReadLimit: limit})
	cli = NewConn(ce, Config{Role: RoleClient, Deflate: cd, ReadLimit: limit})
	return srv, cli
}

// echo has c send back every message it reads, until an error.
func echo(c *Conn) {
	for {
		op, p, err := c.ReadMessage()
		if err != nil {
			return
		}
		if c.WriteMessage(op, p) != nil {
			return
		}
	}
}

func TestDeflateRoundTrip(t *testing.T) {
	configs := []struct {
		name     string
		srv, cli *Deflate
	}{
		{"defaults", &Deflate{}, &Deflate{}},
		{"compress everything", &Deflate{Threshold: -1}, &Deflate{Threshold: -1, Level: flate.BestCompression}},
		{"huffman only", &Deflate{Level: flate.HuffmanOnly}, &Deflate{Level: flate.DefaultCompression}},
		{"window kept", &Deflate{PeerContextTakeover: true, PeerWindowBits: 10}, &Deflate{PeerContextTakeover: true}},
		{"one side only", &Deflate{Threshold: 1 << 30}, &Deflate{}},
	}
	sizes := []int{0, 1, 100, 127, 128, 129, 1000, 40000, 65536, 300000, 3 << 20}
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) {
			srv, cli := deflatePair(t, cfg.srv, cfg.cli, -1)
			go echo(srv)
			for i, n := range sizes {
				for _, op := range []Opcode{OpText, OpBinary} {
					want := []byte(sentence(uint64(i), n))
					if op == OpBinary && i%2 == 1 {
						want = randomBytes(uint64(i), n)
					}
					if err := cli.WriteMessage(op, want); err != nil {
						t.Fatal(err)
					}
					gotOp, got, err := cli.ReadMessage()
					if err != nil || gotOp != op || !bytes.Equal(got, want) {
						t.Fatalf("echo of %d bytes (%v): %v, %d bytes, %v", n, op, gotOp, len(got), err)
					}
				}
			}
			if unread, err := cli.Close(1000, ""); err != nil || unread != 0 {
				t.Fatalf("Close = %d, %v", unread, err)
			}
		})
	}
}

// countConn counts the writes made to a connection.
type countConn struct {
	net.Conn
	writes atomic.Int32
}

func (c *countConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// TestDeflateWrites reads what the engine writes with permessage-deflate:
// which messages are compressed, and that each goes out in one write.
func TestDeflateWrites(t *testing.T) {
	compressible := []byte(sentence(9, 5000))
	for _, role := range roles {
		t.Run(roleName(role), func(t *testing.T) {
			a, peer := tcpPair(t)
			cc := &countConn{Conn: a}
			c := NewConn(cc, Config{Role: role, Deflate: &Deflate{Threshold: 200}})
			for _, tc := range []struct {
				name       string
				op         Opcode
				p          []byte
				compressed bool
			}{
				{"below the threshold", OpText, compressible[:199], false},
				{"at the threshold", OpText, compressible[:200], true},
				{"large", OpBinary, compressible, true},
				{"incompressible", OpBinary, randomBytes(3, 5000), false},
				{"ping", OpPing, compressible[:100], false},
			} {
				before := cc.writes.Load()
				go func() {
					var err error
					if tc.op == OpPing {
						err = c.WritePing(tc.p)
					} else {
						err = c.WriteMessage(tc.op, tc.p)
					}
					if err != nil {
						t.Error(err)
					}
				}()
				f, err := readFrame(peer)
				if err != nil {
					t.Fatal(err)
				}
				if n := cc.writes.Load() - before; n != 1 {
					t.Errorf("%s: %d writes for one message", tc.name, n)
				}
				if f.op != tc.op || !f.fin || f.masked != (role == RoleClient) {
					t.Fatalf("%s: %v frame, fin=%v masked=%v", tc.name, f.op, f.fin, f.masked)
				}
				if got := f.rsv == 0x40; got != tc.compressed || f.rsv&^0x40 != 0 {
					t.Fatalf("%s: rsv=%#x, want compressed=%v", tc.name, f.rsv, tc.compressed)
				}
				payload := f.payload
				if tc.compressed {
					if len(payload) >= len(tc.p) {
						t.Errorf("%s: compressed to %d bytes from %d", tc.name, len(payload), len(tc.p))
					}
					if payload, err = inflateMsg(payload); err != nil {
						t.Fatalf("%s: %v", tc.name, err)
					}
				}
				if !bytes.Equal(payload, tc.p) {
					t.Fatalf("%s: payload differs", tc.name)
				}
			}
			c.CloseNow()
		})
	}
}

// TestDeflateEmptyMessage writes an empty message with every message
// compressed: it goes out uncompressed, since its compressed form (one
// 0x00 byte) is longer.
func TestDeflateEmptyMessage(t *testing.T) {
	a, peer := tcpPair(t)
	c := NewConn(a, Config{Deflate: &Deflate{Threshold: -1}})
	go c.WriteMessage(OpText, nil)
	f, err := readFrame(peer)
	if err != nil {
		t.Fatal(err)
	}
	if f.op != OpText || f.rsv != 0 || len(f.payload) != 0 {
		t.Fatalf("got %v rsv=%#x with %d bytes", f.op, f.rsv, len(f.payload))
	}
	c.CloseNow()
}

var (
	bombOnce sync.Once
	bomb     []byte
)

// TestDeflateBomb sends a small message that inflates to 100 MiB of zeros
// to a connection with a 1 MiB read limit.
func TestDeflateBomb(t *testing.T) {
	bombOnce.Do(func() {
		var b bytes.Buffer
		fw, _ := flate.NewWriter(&b, flate.BestSpeed)
		zeros := make([]byte, 1<<20)
		for range 100 {
			fw.Write(zeros)
		}
		fw.Flush()
		bomb = bytes.TrimSuffix(b.Bytes(), []byte("\x00\x00\xff\xff"))
	})
	if len(bomb) > 1<<20 {
		t.Fatalf("the bomb is %d bytes, not below the limit", len(bomb))
	}
	for _, text := range []bool{false, true} {
		t.Run(fmt.Sprint("text=", text), func(t *testing.T) {
			end, peer := tcpPair(t)
			c := NewConn(end, Config{Role: RoleServer, ReadLimit: 1 << 20, Deflate: &Deflate{}})
			frames := collect(peer, true)
			op := OpBinary
			if text {
				op = OpText
			}
			go peer.Write(fr{op: op, rsv: 0x40, mask: true, payload: bomb}.bytes())
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, p, err := c.ReadMessage()
			runtime.ReadMemStats(&after)
			if asProtocol(err) != CloseMessageTooBig || p != nil {
				t.Fatalf("ReadMessage = %d bytes, %v; want a protocol error 1009", len(p), err)
			}
			var pe *ProtocolError
			if errors.As(err, &pe) && pe.Reason != "message larger than the read limit" {
				t.Errorf("reason %q", pe.Reason)
			}
			// The compressed message and a buffer of at most the limit,
			// grown by doubling; nowhere near 100 MiB.
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("reading a %d-byte message that inflates to 100 MiB allocated %d kB", len(bomb), alloc>>10)
			if alloc > 16<<20 {
				t.Errorf("reading the bomb allocated %d MiB", alloc>>20)
			}
			sent := drainFrames(frames)
			if len(sent) != 1 || sent[0].op != OpClose || sent[0].code() != CloseMessageTooBig {
				t.Errorf("engine sent %+v, want one close frame with 1009", sent)
			}
		})
	}
}

// TestDeflateKeepMessage checks that a kept decompressed payload survives
// later reads, and that Close leaves the last one intact.
func TestDeflateKeepMessage(t *testing.T) {
	end, peer := tcpPair(t)
	c := NewConn(end, Config{Deflate: &Deflate{}})
	texts := []string{sentence(1, 3000), sentence(2, 3000), sentence(3, 3000), sentence(4, 3000)}
	go func() {
		for _, s := range texts {
			peer.Write(zfr(OpText, true, deflateMsg([]byte(s))))
		}
	}()
	_, first, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	c.KeepMessage()
	for _, want := range texts[1:3] {
		if _, p, err := c.ReadMessage(); err != nil || string(p) != want {
			t.Fatalf("ReadMessage = %.20q, %v", p, err)
		}
	}
	if string(first) != texts[0] {
		t.Fatal("a kept message changed after later reads")
	}
	_, last, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	frames := collect(peer, false)
	go func() {
		// Answer the closing handshake.
		<-frames
		peer.Write(cls(true, 1000, ""))
	}()
	if _, err := c.Close(1000, ""); err != nil {
		t.Fatal(err)
	}
	if string(last) != texts[3] {
		t.Fatal("Close changed the last message")
	}
}

// TestDeflateIdleHoldsNoBuffer checks that waiting for the next message
// holds neither the read buffer nor a decompressed message.
func TestDeflateIdleHoldsNoBuffer(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			end, peer := tr.pair(t)
			c := NewConn(end, Config{Deflate: &Deflate{PeerContextTakeover: true}})
			var mu sync.Mutex
			waits, held := 0, 0
			idle := make(chan struct{}, 100)
			watchIdle(c, func() {
				hc := c
				mu.Lock()
				defer mu.Unlock()
				waits++
				if hc.rbp != nil || hc.dfl.obp != nil {
					held++
				}
				select {
				case idle <- struct{}{}:
				default:
				}
			})
			d := newPeerDeflater()
			go func() {
				for i := range 10 {
					<-idle
					peer.Write(zfr(OpText, true, d.next([]byte(sentence(uint64(i%3), 100+i*1000)))))
				}
			}()
			for i := range 10 {
				_, p, err := c.ReadMessage()
				if err != nil {
					t.Fatal(err)
				}
				if string(p) != sentence(uint64(i%3), 100+i*1000) {
					t.Fatalf("message %d differs", i)
				}
			}
			c.CloseNow()
			mu.Lock()
			defer mu.Unlock()
			if waits < 10 {
				t.Fatalf("the idle hook ran %d times, want at least 10", waits)
			}
			if held != 0 {
				t.Errorf("%d of %d idle waits held a buffer", held, waits)
			}
			if cap(c.dfl.window) != 1<<15 {
				t.Errorf("window capacity %d, want 32 KiB", cap(c.dfl.window))
			}
		})
	}
}

func TestDeflatePrepared(t *testing.T) {
	text := []byte(sentence(5, 10000))
	m, err := NewPreparedMessage(OpText, text)
	if err != nil {
		t.Fatal(err)
	}
	small, _ := NewPreparedMessage(OpBinary, []byte("tiny"))
	noise, _ := NewPreparedMessage(OpBinary, randomBytes(4, 1000))
	// Many connections send the message at once; it is compressed once.
	const n = 8
	var wg sync.WaitGroup
	for i := range n {
		role := roles[i%2]
		end, peer := tcpPair(t)
		c := NewConn(end, Config{Role: role, Deflate: &Deflate{Level: 1 + i%3}})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.CloseNow()
			go func() {
				for _, pm := range []*PreparedMessage{m, m, small, noise} {
					if err := c.WritePrepared(pm); err != nil {
						t.Error(err)
					}
				}
			}()
			keys := map[uint32]bool{}
			for j, want := range []struct {
				p          []byte
				compressed bool
			}{{text, true}, {text, true}, {[]byte("tiny"), false}, {noise.Payload(), false}} {
				f, err := readFrame(peer)
				if err != nil {
					t.Error(err)
					return
				}
				keys[f.key] = true
				if f.masked != (role == RoleClient) || (f.rsv == 0x40) != want.compressed {
					t.Errorf("%s, message %d: masked=%v rsv=%#x", roleName(role), j, f.masked, f.rsv)
				}
				p := f.payload
				if want.compressed {
					if p, err = inflateMsg(p); err != nil {
						t.Error(err)
					}
				}
				if !bytes.Equal(p, want.p) {
					t.Errorf("%s, message %d: payload differs", roleName(role), j)
				}
			}
			if role == RoleClient && len(keys) != 4 {
				t.Error("client reused a masking key")
			}
		}()
	}
	wg.Wait()
	if m.cframe == nil || len(m.cframe) >= len(m.frame) {
		t.Errorf("compressed frame of %d bytes for %d", len(m.cframe), len(m.frame))
	}
	if noise.cframe != nil {
		t.Error("kept a compressed form that is not shorter")
	}
}

// TestDeflateConcurrentWrites has several goroutines write compressed and
// uncompressed messages at once; each must arrive whole.
func TestDeflateConcurrentWrites(t *testing.T) {
	srv, cli := deflatePair(t, &Deflate{}, &Deflate{}, -1)
	const writers, each = 4, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				s := fmt.Sprintf("%d/%d ", w, i) + sentence(uint64(w), 100+i*97)
				if err := srv.WriteMessage(OpText, []byte(s)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range writers * each {
		_, p, err := cli.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		var w, i int
		if _, err := fmt.Sscanf(string(p), "%d/%d ", &w, &i); err != nil {
			t.Fatalf("message %.20q: %v", p, err)
		}
		if want := fmt.Sprintf("%d/%d ", w, i) + sentence(uint64(w), 100+i*97); string(p) != want {
			t.Fatalf("message %d/%d differs", w, i)
		}
	}
	wg.Wait()
	srv.CloseNow()
	cli.CloseNow()
}

// FuzzReadDeflate sends two compressed messages with arbitrary payloads
// and checks the outcome against compress/flate read directly: the same
// messages, never more than the limit, and only the close codes allowed.
// mode: bit 0 client role, bit 1 first message is text, bit 2 second is
// text, bit 3 context takeover, bits 4-7 the size of fragments (0: none).
func FuzzReadDeflate(f *testing.F) {
	f.Add(deflateMsg([]byte("hello")), deflateMsg([]byte("world")), uint8(0x06), uint16(0))
	f.Add([]byte{0x00}, []byte{}, uint8(0x02), uint16(0))
	f.Add([]byte{0xff, 0xff}, []byte("x"), uint8(0x00), uint16(0))
	d := newPeerDeflater()
	f.Add(d.next([]byte(takeoverMsgs[0])), d.next([]byte(takeoverMsgs[1])), uint8(0x3e), uint16(0))
	f.Add(deflateMsg(bytes.Repeat([]byte("a"), 5000)), deflateMsg([]byte("b")), uint8(0x01), uint16(4000))
	f.Add(deflateMsg([]byte("ok \xe2\x82")), deflateMsg([]byte("x")), uint8(0x02), uint16(0))
	f.Add(deflateMsg([]byte(strings.Repeat("é", 300))), deflateMsg([]byte("x")), uint8(0x12), uint16(599))

	f.Fuzz(func(t *testing.T, a, b []byte, mode uint8, limit uint16) {
		role := RoleServer
		if mode&1 != 0 {
			role = RoleClient
		}
		ops := [2]Opcode{OpBinary, OpBinary}
		if mode&2 != 0 {
			ops[0] = OpText
		}
		if mode&4 != 0 {
			ops[1] = OpText
		}
		takeover := mode&8 != 0
		frag := int(mode >> 4)
		readLimit := int64(limit)
		if limit == 0 {
			readLimit = DefaultReadLimit
		}
		m := role == RoleServer
		in := append(compressedStream(m, frag, ops, a, b), cls(m, 1000, "")...)
		// What must come out.
		want, wantCode := refInflateAll(ops, takeover, readLimit, a, b)

		fc := &fuzzConn{in: in}
		c := NewConn(fc, Config{Role: role, ReadLimit: readLimit, Deflate: &Deflate{PeerContextTakeover: takeover}})
		var got []msg
		var err error
		for {
			var op Opcode
			var p []byte
			op, p, err = c.ReadMessage()
			if err != nil {
				break
			}
			if int64(len(p)) > readLimit {
				t.Fatalf("message of %d bytes past the limit %d", len(p), readLimit)
			}
			got = append(got, msg{op, string(p)})
			if len(got) > 2 {
				t.Fatal("more than two messages")
			}
		}
		checkMsgs(t, got, want, err)
		code := asProtocol(err)
		switch wantCode {
		case 0:
			if asClose(err) != 1000 {
				t.Fatalf("error %v, want the peer's close 1000", err)
			}
		default:
			if code != wantCode {
				t.Fatalf("error %v, want protocol error %d", err, wantCode)
			}
		}
		if code != -1 && code != CloseInvalidPayload && code != CloseMessageTooBig {
			t.Fatalf("close code %d", code)
		}
	})
}

// compressedStream returns the frames of the compressed messages ps of
// types ops, each cut in fragments of frag bytes (0: not cut).
func compressedStream(m bool, frag int, ops [2]Opcode, ps ...[]byte) []byte {
	var in []byte
	for i, p := range ps {
		if frag == 0 || len(p) <= frag {
			in = append(in, zfr(ops[i], m, p)...)
			continue
		}
		for off := 0; off < len(p); off += frag {
			op := OpContinuation
			var rsv byte
			if off == 0 {
				op, rsv = ops[i], 0x40
			}
			end := min(off+frag, len(p))
			in = append(in, fr{op: op, rsv: rsv, notFin: end < len(p), mask: m, payload: p[off:end]}.bytes()...)
		}
	}
	return in
}

// refInflateAll returns the messages that reading the compressed
// messages ps of types ops yields, and the protocol error code reading
// ends with (0: none).
func refInflateAll(ops [2]Opcode, takeover bool, limit int64, ps ...[]byte) ([]msg, int) {
	var want []msg
	var dict []byte
	for i, p := range ps {
		out, code := refInflate(p, dict, ops[i] == OpText, limit)
		if code != 0 {
			return want, code
		}
		want = append(want, msg{ops[i], string(out)})
		if takeover {
			dict = append(dict, out...)
			dict = dict[max(0, len(dict)-1<<15):]
		}
	}
	return want, 0
}

// refInflate decompresses a message with compress/flate read directly,
// and returns its payload or the close code reading it must end with.
func refInflate(p, dict []byte, text bool, limit int64) ([]byte, int) {
	if int64(len(p)) > limit {
		return nil, CloseMessageTooBig
	}
	if len(p) == 0 {
		return []byte{}, 0
	}
	r := flate.NewReaderDict(io.MultiReader(bytes.NewReader(p), strings.NewReader(rfcTail)), dict)
	out, err := io.ReadAll(io.LimitReader(r, limit+1))
	checked := out[:min(int64(len(out)), limit)]
	switch {
	case text && !utf8Prefix(checked):
		return nil, CloseInvalidPayload
	case int64(len(out)) > limit:
		return nil, CloseMessageTooBig
	case err != nil:
		return nil, CloseInvalidPayload
	case text && !utf8.Valid(out):
		return nil, CloseInvalidPayload
	}
	return out, 0
}
