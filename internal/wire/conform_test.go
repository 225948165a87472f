package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

type msg struct {
	op Opcode
	p  string
}

// confCase is one RFC 6455 conformance case, run in both roles over both
// transports. The peer writes in(m), where m says whether it must mask,
// and keeps the connection open unless eof is set, so a case that waits for
// bytes that never come hangs instead of passing.
type confCase struct {
	name  string
	in    func(m bool) []byte
	limit int64
	eof   bool
	msgs  []msg
	proto int      // expected *ProtocolError code
	close int      // expected *CloseError code
	sent  int      // close frame the engine must send: -1 none, 0 empty, else its code
	pongs []string // pong payloads the engine must send, in order
	// deflate, when set, is the permessage-deflate agreement.
	deflate *Deflate
}

func txt(m bool, s string) []byte { return fr{op: OpText, mask: m, payload: []byte(s)}.bytes() }
func bin(m bool, s string) []byte { return fr{op: OpBinary, mask: m, payload: []byte(s)}.bytes() }
func cls(m bool, code int, reason string) []byte {
	return fr{op: OpClose, mask: m, payload: closePayload(code, reason)}.bytes()
}
func first(op Opcode, m bool, s string) []byte {
	return fr{op: op, notFin: true, mask: m, payload: []byte(s)}.bytes()
}
func cont(m bool, s string) []byte {
	return fr{op: OpContinuation, notFin: true, mask: m, payload: []byte(s)}.bytes()
}
func last(m bool, s string) []byte {
	return fr{op: OpContinuation, mask: m, payload: []byte(s)}.bytes()
}
func ping(m bool, s string) []byte { return fr{op: OpPing, mask: m, payload: []byte(s)}.bytes() }

func closeThen(code int) func(m bool) []byte {
	return func(m bool) []byte { return cls(m, code, "") }
}

var confCases = []confCase{
	{
		name: "text then close",
		in:   func(m bool) []byte { return cat(txt(m, "hello"), cls(m, 1000, "bye")) },
		msgs: []msg{{OpText, "hello"}}, close: 1000, sent: 1000,
	},
	{
		name: "empty messages",
		in:   func(m bool) []byte { return cat(txt(m, ""), bin(m, ""), cls(m, 1001, "")) },
		msgs: []msg{{OpText, ""}, {OpBinary, ""}}, close: 1001, sent: 1001,
	},
	{
		name: "fragmented binary",
		in: func(m bool) []byte {
			return cat(first(OpBinary, m, "ab"), cont(m, ""), cont(m, "cd"), last(m, "e"), cls(m, 1000, ""))
		},
		msgs: []msg{{OpBinary, "abcde"}}, close: 1000, sent: 1000,
	},
	{
		name: "code point split across fragments",
		in: func(m bool) []byte {
			// U+20AC (E2 82 AC) and U+1F600 (F0 9F 98 80) cut mid-sequence.
			return cat(first(OpText, m, "a\xe2"), cont(m, "\x82"), cont(m, "\xac\xf0\x9f"), last(m, "\x98\x80"), closeThen(1000)(m))
		},
		msgs: []msg{{OpText, "a€😀"}}, close: 1000, sent: 1000,
	},
	{
		name: "control frames inside a fragmented message",
		in: func(m bool) []byte {
			return cat(first(OpText, m, "he"), ping(m, "p1"), cont(m, "ll"),
				fr{op: OpPong, mask: m, payload: []byte("unsolicited")}.bytes(), ping(m, ""), last(m, "o"), closeThen(1000)(m))
		},
		msgs: []msg{{OpText, "hello"}}, close: 1000, sent: 1000, pongs: []string{"p1", ""},
	},
	{
		name:  "ping with 125 bytes",
		in:    func(m bool) []byte { return cat(ping(m, strings.Repeat("x", 125)), closeThen(1000)(m)) },
		close: 1000, sent: 1000, pongs: []string{strings.Repeat("x", 125)},
	},
	{
		name: "16-bit and 64-bit lengths",
		in: func(m bool) []byte {
			return cat(bin(m, strings.Repeat("a", 126)), bin(m, strings.Repeat("b", 65535)),
				bin(m, strings.Repeat("c", 65536)), closeThen(1000)(m))
		},
		msgs:  []msg{{OpBinary, strings.Repeat("a", 126)}, {OpBinary, strings.Repeat("b", 65535)}, {OpBinary, strings.Repeat("c", 65536)}},
		close: 1000, sent: 1000,
	},
	{name: "RSV1", in: func(m bool) []byte { return fr{op: OpText, rsv: 0x40, mask: m, payload: []byte("x")}.bytes() }, proto: 1002, sent: 1002},
	{
		// Without permessage-deflate negotiated, RSV1 is an error even
		// on valid deflate data.
		name: "RSV1 on compressed data",
		in: func(m bool) []byte {
			return fr{op: OpText, rsv: 0x40, mask: m, payload: []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}}.bytes()
		},
		proto: 1002, sent: 1002,
	},
	{name: "RSV2", in: func(m bool) []byte { return fr{op: OpBinary, rsv: 0x20, mask: m}.bytes() }, proto: 1002, sent: 1002},
	{name: "RSV3 on ping", in: func(m bool) []byte { return fr{op: OpPing, rsv: 0x10, mask: m}.bytes() }, proto: 1002, sent: 1002},
	{name: "opcode 3", in: func(m bool) []byte { return fr{op: 3, mask: m}.bytes() }, proto: 1002, sent: 1002},
	{name: "opcode 7", in: func(m bool) []byte { return fr{op: 7, mask: m, payload: []byte("x")}.bytes() }, proto: 1002, sent: 1002},
	{name: "opcode 0xB", in: func(m bool) []byte { return fr{op: 0xB, mask: m}.bytes() }, proto: 1002, sent: 1002},
	{name: "opcode 0xF", in: func(m bool) []byte { return fr{op: 0xF, mask: m}.bytes() }, proto: 1002, sent: 1002},
	{
		name:  "reserved opcode after a message",
		in:    func(m bool) []byte { return cat(txt(m, "ok"), fr{op: 5, mask: m}.bytes()) },
		msgs:  []msg{{OpText, "ok"}},
		proto: 1002, sent: 1002,
	},
	{
		name:  "16-bit length below 126",
		in:    func(m bool) []byte { return fr{op: OpBinary, mask: m, lenForm: 126, payload: []byte("abc")}.bytes() },
		proto: 1002, sent: 1002,
	},
	{
		name:  "64-bit length below 65536",
		in:    func(m bool) []byte { return fr{op: OpBinary, mask: m, lenForm: 127, payload: []byte("abc")}.bytes() },
		proto: 1002, sent: 1002,
	},
	{
		name:  "64-bit length with the top bit set",
		in:    func(m bool) []byte { return fr{op: OpBinary, mask: m, lenForm: 127, lenValue: 1 << 63}.bytes() },
		limit: -1, proto: 1002, sent: 1002,
	},
	{
		name:  "wrong masking",
		in:    func(m bool) []byte { return fr{op: OpText, mask: !m, payload: []byte("x")}.bytes() },
		proto: 1002, sent: 1002,
	},
	{
		name:  "wrong masking on a control frame",
		in:    func(m bool) []byte { return fr{op: OpPing, mask: !m}.bytes() },
		proto: 1002, sent: 1002,
	},
	{
		name:  "fragmented ping",
		in:    func(m bool) []byte { return fr{op: OpPing, notFin: true, mask: m, payload: []byte("x")}.bytes() },
		proto: 1002, sent: 1002,
	},
	{
		name: "fragmented close",
		in: func(m bool) []byte {
			return fr{op: OpClose, notFin: true, mask: m, payload: closePayload(1000, "")}.bytes()
		},
		proto: 1002, sent: 1002,
	},
	{
		name:  "ping of 126 bytes",
		in:    func(m bool) []byte { return ping(m, strings.Repeat("x", 126)) },
		proto: 1002, sent: 1002,
	},
	{
		name:  "close of 126 bytes",
		in:    func(m bool) []byte { return cls(m, 1000, strings.Repeat("x", 124)) },
		proto: 1002, sent: 1002,
	},
	{
		name:  "continuation without a message",
		in:    func(m bool) []byte { return last(m, "x") },
		proto: 1002, sent: 1002,
	},
	{
		name:  "continuation after a finished message",
		in:    func(m bool) []byte { return cat(txt(m, "a"), cont(m, "b")) },
		msgs:  []msg{{OpText, "a"}},
		proto: 1002, sent: 1002,
	},
	{
		name:  "text frame inside a fragmented message",
		in:    func(m bool) []byte { return cat(first(OpBinary, m, "a"), txt(m, "b")) },
		proto: 1002, sent: 1002,
	},
	{
		name:  "binary start inside a fragmented message",
		in:    func(m bool) []byte { return cat(first(OpText, m, "a"), first(OpBinary, m, "b")) },
		proto: 1002, sent: 1002,
	},
	{name: "close without payload", in: func(m bool) []byte { return fr{op: OpClose, mask: m}.bytes() }, close: 1005, sent: 0},
	{name: "close with 1-byte payload", in: func(m bool) []byte { return fr{op: OpClose, mask: m, payload: []byte{3}}.bytes() }, proto: 1002, sent: 1002},
	{name: "close 1000 with reason", in: func(m bool) []byte { return cls(m, 1000, "done ✓") }, close: 1000, sent: 1000},
	{name: "close 1003", in: closeThen(1003), close: 1003, sent: 1003},
	{name: "close 1007", in: closeThen(1007), close: 1007, sent: 1007},
	{name: "close 1014", in: closeThen(1014), close: 1014, sent: 1014},
	{name: "close 3000", in: closeThen(3000), close: 3000, sent: 3000},
	{name: "close 4999", in: closeThen(4999), close: 4999, sent: 4999},
	{name: "close 0", in: closeThen(0), proto: 1002, sent: 1002},
	{name: "close 999", in: closeThen(999), proto: 1002, sent: 1002},
	{name: "close 1004", in: closeThen(1004), proto: 1002, sent: 1002},
	{name: "close 1005", in: closeThen(1005), proto: 1002, sent: 1002},
	{name: "close 1006", in: closeThen(1006), proto: 1002, sent: 1002},
	{name: "close 1015", in: closeThen(1015), proto: 1002, sent: 1002},
	{name: "close 1016", in: closeThen(1016), proto: 1002, sent: 1002},
	{name: "close 2999", in: closeThen(2999), proto: 1002, sent: 1002},
	{name: "close 5000", in: closeThen(5000), proto: 1002, sent: 1002},
	{name: "close 65535", in: closeThen(65535), proto: 1002, sent: 1002},
	{
		name: "close reason not UTF-8",
		in: func(m bool) []byte {
			return cls(m, 1000, "bad \xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited")
		},
		proto: 1007, sent: 1007,
	},
	{
		name:  "close inside a fragmented message",
		in:    func(m bool) []byte { return cat(first(OpText, m, "part"), cls(m, 1001, "gone")) },
		close: 1001, sent: 1001,
	},
	{name: "invalid text", in: func(m bool) []byte { return txt(m, "a\xffb") }, proto: 1007, sent: 1007},
	{name: "overlong encoding", in: func(m bool) []byte { return txt(m, "\xc0\xaf") }, proto: 1007, sent: 1007},
	{name: "overlong 3-byte", in: func(m bool) []byte { return txt(m, "\xe0\x80\xaf") }, proto: 1007, sent: 1007},
	{name: "surrogate", in: func(m bool) []byte { return txt(m, "\xed\xa0\x80") }, proto: 1007, sent: 1007},
	{name: "beyond U+10FFFF", in: func(m bool) []byte { return txt(m, "\xf4\x90\x80\x80") }, proto: 1007, sent: 1007},
	{name: "text ends mid-sequence", in: func(m bool) []byte { return txt(m, "ok\xe2\x82") }, proto: 1007, sent: 1007},
	{
		name:  "fragmented text ends mid-sequence",
		in:    func(m bool) []byte { return cat(first(OpText, m, "ok"), last(m, "\xf0\x9f\x98")) },
		proto: 1007, sent: 1007,
	},
	{
		// The rest of the frame never comes: the bad byte alone must fail it.
		name: "invalid byte fails before the frame ends",
		in: func(m bool) []byte {
			return fr{op: OpText, mask: m, payload: []byte("ab\xc1" + strings.Repeat("x", 200)), truncate: 3}.bytes()
		},
		proto: 1007, sent: 1007,
	},
	{
		name: "invalid byte in a later fragment fails before it ends",
		in: func(m bool) []byte {
			return cat(first(OpText, m, "ab\xe2\x82"), fr{op: OpContinuation, mask: m, payload: []byte("\xac\xfe..."), truncate: 2}.bytes())
		},
		proto: 1007, sent: 1007,
	},
	{
		name:  "invalid text after valid fragments, split sequence",
		in:    func(m bool) []byte { return cat(first(OpText, m, "\xed"), last(m, "\xa0\x80")) },
		proto: 1007, sent: 1007,
	},
	{
		name:  "binary is not validated",
		in:    func(m bool) []byte { return cat(bin(m, "\xff\xfe"), closeThen(1000)(m)) },
		msgs:  []msg{{OpBinary, "\xff\xfe"}},
		close: 1000, sent: 1000,
	},
	{
		name:  "message at the read limit",
		in:    func(m bool) []byte { return cat(bin(m, "0123456789"), closeThen(1000)(m)) },
		limit: 10, msgs: []msg{{OpBinary, "0123456789"}}, close: 1000, sent: 1000,
	},
	{
		// Only the header is sent: the limit must be enforced from it.
		name: "frame over the read limit",
		in: func(m bool) []byte {
			return fr{op: OpBinary, mask: m, payload: []byte("0123456789a"), truncate: 1}.bytes()
		},
		limit: 10, proto: 1009, sent: 1009,
	},
	{
		name: "fragments over the read limit",
		in: func(m bool) []byte {
			return cat(first(OpText, m, "012345"), fr{op: OpContinuation, mask: m, payload: []byte("6789a"), truncate: 1}.bytes())
		},
		limit: 10, proto: 1009, sent: 1009,
	},
	{
		name:  "huge 64-bit length",
		in:    func(m bool) []byte { return fr{op: OpBinary, mask: m, lenForm: 127, lenValue: 1 << 62}.bytes() },
		proto: 1009, sent: 1009,
	},
	{
		name: "control frames do not count toward the limit",
		in: func(m bool) []byte {
			return cat(first(OpBinary, m, "01234"), ping(m, "0123456789"), last(m, "56789"), closeThen(1000)(m))
		},
		limit: 10, msgs: []msg{{OpBinary, "0123456789"}}, close: 1000, sent: 1000, pongs: []string{"0123456789"},
	},
	{name: "EOF at a message boundary", in: func(m bool) []byte { return txt(m, "x") }, eof: true, msgs: []msg{{OpText, "x"}}, close: 1006, sent: -1},
	{name: "EOF inside a header", in: func(m bool) []byte { return txt(m, "x")[:1] }, eof: true, close: 1006, sent: -1},
	{name: "EOF inside a payload", in: func(m bool) []byte { return txt(m, "hello")[:6] }, eof: true, close: 1006, sent: -1},
	{name: "EOF inside a fragmented message", in: func(m bool) []byte { return first(OpText, m, "hel") }, eof: true, close: 1006, sent: -1},
}

func TestConformance(t *testing.T) {
	for _, tr := range transports {
		for _, role := range roles {
			for _, tc := range confCases {
				t.Run(tr.name+"/"+roleName(role)+"/"+tc.name, func(t *testing.T) {
					t.Parallel()
					runConfCase(t, tr, role, tc)
				})
			}
		}
	}
}

func runConfCase(t *testing.T, tr transport, role Role, tc confCase) {
	end, peer := tr.pair(t)
	c := NewConn(end, Config{Role: role, ReadLimit: tc.limit, CloseTimeout: 5 * time.Second, Deflate: tc.deflate})
	frames := collect(peer, true)
	in := tc.in(peerMasks(role))
	go func() {
		if _, err := peer.Write(in); err == nil && tc.eof {
			peer.Close()
		}
	}()

	var got []msg
	var err error
	within(t, 10*time.Second, "reading", func() {
		for {
			var op Opcode
			var p []byte
			op, p, err = c.ReadMessage()
			if err != nil {
				return
			}
			got = append(got, msg{op, string(p)})
		}
	})
	checkMsgs(t, got, tc.msgs, err)
	switch {
	case tc.proto != 0:
		if code := asProtocol(err); code != tc.proto {
			t.Errorf("error %v: want *ProtocolError with code %d", err, tc.proto)
		}
	case tc.close != 0:
		if code := asClose(err); code != tc.close {
			t.Errorf("error %v: want *CloseError with code %d", err, tc.close)
		}
	}
	// The error sticks.
	if _, _, err2 := c.ReadMessage(); err2 != err {
		t.Errorf("second ReadMessage returned %v, want %v", err2, err)
	}
	// The engine has closed its end: the peer sees the end of the stream.
	if tc.eof {
		peer.Close()
	}
	var sent []gotFrame
	within(t, 10*time.Second, "collecting frames", func() { sent = drainFrames(frames) })
	pongs, closeCode := engineFrames(t, role, sent)
	if closeCode != tc.sent {
		t.Errorf("engine sent close code %d, want %d (-1: none, 0: empty)", closeCode, tc.sent)
	}
	checkPongs(t, pongs, tc.pongs)
	if err := c.WriteMessage(OpText, []byte("late")); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteMessage after the end = %v, want ErrClosed", err)
	}
}

// TestFailFastNeedsNoMoreBytes checks, with a transport where every write
// waits for its reader, that a bad UTF-8 byte and an oversized length are
// acted upon while the peer is still blocked sending the rest.
func TestFailFastNeedsNoMoreBytes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		head  []byte // written first
		rest  []byte // written after; must fail as the engine stops reading
		limit int64
		code  int
	}{
		{"utf8", fr{op: OpText, mask: true, payload: []byte("ok\xf8"), lenValue: 1000}.bytes(), bytes.Repeat([]byte("x"), 997), 0, 1007},
		{"limit", fr{op: OpBinary, mask: true, lenValue: 1000}.bytes(), bytes.Repeat([]byte("x"), 1000), 100, 1009},
	} {
		t.Run(tc.name, func(t *testing.T) {
			end, peer := transports[0].pair(t)
			c := NewConn(end, Config{Role: RoleServer, ReadLimit: tc.limit})
			errc := make(chan error, 1)
			go func() {
				_, _, err := c.ReadMessage()
				errc <- err
			}()
			if _, err := peer.Write(tc.head); err != nil {
				t.Fatal(err)
			}
			f, err := readFrame(peer)
			if err != nil {
				t.Fatal(err)
			}
			if f.op != OpClose || f.code() != tc.code {
				t.Fatalf("got %v frame with code %d, want close %d", f.op, f.code(), tc.code)
			}
			// The engine drains what the peer still sends, so that its
			// close frame is not lost to a reset, until the peer closes.
			if _, err := peer.Write(tc.rest); err != nil {
				t.Fatalf("writing the rest: %v", err)
			}
			peer.Close()
			if err := <-errc; asProtocol(err) != tc.code {
				t.Fatalf("ReadMessage error %v, want protocol error %d", err, tc.code)
			}
		})
	}
}
