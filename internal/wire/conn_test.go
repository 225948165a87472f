package wire

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

func TestWriteFrames(t *testing.T) {
	for _, tr := range transports {
		for _, role := range roles {
			t.Run(tr.name+"/"+roleName(role), func(t *testing.T) {
				end, peer := tr.pair(t)
				c := NewConn(end, Config{Role: role})
				sizes := []int{0, 1, 125, 126, 1000, 65535, 65536, copyWriteMax, copyWriteMax + 1, 300 << 10, 5 << 20}
				go func() {
					for i, n := range sizes {
						op := OpBinary
						if i%2 == 0 {
							op = OpText
						}
						if err := c.WriteMessage(op, bytes.Repeat([]byte{'a' + byte(i)}, n)); err != nil {
							t.Errorf("WriteMessage(%d bytes): %v", n, err)
						}
					}
					if err := c.WritePing([]byte("are you there")); err != nil {
						t.Errorf("WritePing: %v", err)
					}
				}()
				keys := map[uint32]bool{}
				for i, n := range sizes {
					f, err := readFrame(peer)
					if err != nil {
						t.Fatal(err)
					}
					wantOp := OpBinary
					if i%2 == 0 {
						wantOp = OpText
					}
					if !f.fin || f.rsv != 0 || f.op != wantOp {
						t.Errorf("frame %d: fin=%v rsv=%#x op=%v", i, f.fin, f.rsv, f.op)
					}
					if !bytes.Equal(f.payload, bytes.Repeat([]byte{'a' + byte(i)}, n)) {
						t.Errorf("frame %d: payload of %d bytes differs", i, n)
					}
					if f.masked != (role == RoleClient) {
						t.Errorf("frame %d: masked=%v in role %s", i, f.masked, roleName(role))
					}
					keys[f.key] = true
				}
				f, err := readFrame(peer)
				if err != nil || f.op != OpPing || string(f.payload) != "are you there" {
					t.Fatalf("ping frame: %v %v %q", err, f.op, f.payload)
				}
				// Fresh random keys: ten frames sharing a key would mean
				// the keys are not random at all.
				if role == RoleClient && len(keys) < len(sizes)-1 {
					t.Errorf("only %d distinct masking keys in %d frames", len(keys), len(sizes))
				}
			})
		}
	}
}

func TestWriteErrors(t *testing.T) {
	end, peer := net.Pipe()
	defer peer.Close()
	c := NewConn(end, Config{})
	if err := c.WriteMessage(OpPing, nil); !errors.Is(err, ErrInvalidOpcode) {
		t.Errorf("WriteMessage(OpPing) = %v, want ErrInvalidOpcode", err)
	}
	if err := c.WriteMessage(OpContinuation, nil); !errors.Is(err, ErrInvalidOpcode) {
		t.Errorf("WriteMessage(OpContinuation) = %v, want ErrInvalidOpcode", err)
	}
	if err := c.WritePing(make([]byte, 126)); !errors.Is(err, ErrControlTooLarge) {
		t.Errorf("WritePing(126 bytes) = %v, want ErrControlTooLarge", err)
	}
	if _, err := c.Close(1005, ""); !errors.Is(err, ErrInvalidCloseCode) {
		t.Errorf("Close(1005) = %v, want ErrInvalidCloseCode", err)
	}
	if err := c.CloseNow(); err != nil {
		t.Errorf("CloseNow: %v", err)
	}
	if err := c.CloseNow(); !errors.Is(err, ErrClosed) {
		t.Errorf("second CloseNow = %v, want ErrClosed", err)
	}
	if err := c.WriteMessage(OpText, []byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteMessage after CloseNow = %v, want ErrClosed", err)
	}
	if err := c.WritePing(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("WritePing after CloseNow = %v, want ErrClosed", err)
	}
	if _, _, err := c.ReadMessage(); !errors.Is(err, ErrClosed) {
		t.Errorf("ReadMessage after CloseNow = %v, want ErrClosed", err)
	}
	if _, err := c.Close(1000, ""); !errors.Is(err, ErrClosed) {
		t.Errorf("Close after CloseNow = %v, want ErrClosed", err)
	}
}

func TestConcurrentWrites(t *testing.T) {
	end, peer := tcpPair(t)
	c := NewConn(end, Config{Role: RoleClient})
	const writers, each = 4, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				p := bytes.Repeat([]byte{byte('a' + w)}, 1+i*97%20000)
				if err := c.WriteMessage(OpBinary, p); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range writers * each {
		f, err := readFrame(peer)
		if err != nil {
			t.Fatal(err)
		}
		if len(f.payload) == 0 || !bytes.Equal(f.payload, bytes.Repeat(f.payload[:1], len(f.payload))) {
			t.Fatalf("interleaved frame: %.40q", f.payload)
		}
	}
	wg.Wait()
}

// closeServer answers like a conforming peer: it reads frames up to the
// engine's close frame, then optionally sends frames of its own.
func TestCloseWithoutReader(t *testing.T) {
	for _, tr := range transports {
		for _, role := range roles {
			t.Run(tr.name+"/"+roleName(role), func(t *testing.T) {
				end, peer := tr.pair(t)
				c := NewConn(end, Config{Role: role})
				m := peerMasks(role)
				got := make(chan gotFrame, 1)
				go func() {
					f, err := readFrame(peer)
					if err != nil {
						t.Error(err)
					}
					got <- f
					// Data in flight before the peer saw our close.
					peer.Write(cat(txt(m, "late 1"), bin(m, "late 2"), ping(m, "p"), cls(m, 1000, "")))
					// A server closes at once; a client waits for the
					// server, so only closing here lets Close finish.
					if role == RoleClient {
						peer.Close()
					}
				}()
				var unread int
				var err error
				within(t, 10*time.Second, "Close", func() { unread, err = c.Close(4001, "going") })
				if err != nil {
					t.Fatalf("Close: %v", err)
				}
				if unread != 2 {
					t.Errorf("unread = %d, want 2", unread)
				}
				f := <-got
				if f.op != OpClose || f.code() != 4001 || string(f.payload[2:]) != "going" {
					t.Errorf("peer got %v %q, want close 4001 \"going\"", f.op, f.payload)
				}
				if _, err := c.Close(1000, ""); !errors.Is(err, ErrClosed) {
					t.Errorf("second Close = %v, want ErrClosed", err)
				}
				if _, _, err := c.ReadMessage(); !errors.Is(err, ErrClosed) {
					t.Errorf("ReadMessage after Close = %v, want ErrClosed", err)
				}
				if err := c.WriteMessage(OpText, nil); !errors.Is(err, ErrClosed) {
					t.Errorf("WriteMessage after Close = %v, want ErrClosed", err)
				}
				// The engine closed its end: the peer reads the end of
				// the stream (pongs are not sent after the close frame).
				if role == RoleServer {
					if f, err := readFrame(peer); err == nil {
						t.Errorf("peer read a %v frame after the close frame", f.op)
					}
				}
			})
		}
	}
}

func TestCloseWhileReading(t *testing.T) {
	for _, role := range roles {
		t.Run(roleName(role), func(t *testing.T) {
			end, peer := tcpPair(t)
			c := NewConn(end, Config{Role: role})
			m := peerMasks(role)
			// The reader gets one message, then blocks for the next.
			peer.Write(txt(m, "first"))
			op, p, err := c.ReadMessage()
			if err != nil || op != OpText || string(p) != "first" {
				t.Fatalf("ReadMessage = %v %q %v", op, p, err)
			}
			readErr := make(chan error, 1)
			go func() {
				for {
					_, _, err := c.ReadMessage()
					if err != nil {
						readErr <- err
						return
					}
					t.Error("ReadMessage returned a message after Close")
				}
			}()
			peerDone := make(chan struct{})
			go func() {
				defer close(peerDone)
				f, err := readFrame(peer)
				if err != nil || f.op != OpClose || f.code() != 1001 {
					t.Errorf("peer got %v %v code %d, want close 1001", err, f.op, f.code())
				}
				peer.Write(cat(txt(m, "unread"), cls(m, 1001, "")))
				if role == RoleClient {
					peer.Close()
				}
			}()
			var unread int
			within(t, 10*time.Second, "Close", func() { unread, err = c.Close(1001, "shutdown") })
			if err != nil || unread != 1 {
				t.Errorf("Close = %d, %v; want 1, nil", unread, err)
			}
			if err := <-readErr; !errors.Is(err, ErrClosed) {
				t.Errorf("blocked ReadMessage returned %v, want ErrClosed", err)
			}
			<-peerDone
		})
	}
}

func TestCloseKeepsHeldPayload(t *testing.T) {
	end, peer := tcpPair(t)
	c := NewConn(end, Config{})
	want := strings.Repeat("payload ", 200)
	peer.Write(txt(true, want))
	_, p, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		readFrame(peer)
		for i := range 50 {
			peer.Write(txt(true, strings.Repeat(string(rune('a'+i%26)), len(want))))
		}
		peer.Write(cls(true, 1000, ""))
	}()
	if unread, err := c.Close(1000, ""); err != nil || unread != 50 {
		t.Fatalf("Close = %d, %v", unread, err)
	}
	if string(p) != want {
		t.Errorf("payload returned before Close was overwritten: %.40q", p)
	}
}

func TestCloseTimeout(t *testing.T) {
	for _, active := range []bool{false, true} {
		t.Run(map[bool]string{false: "idle", true: "reading"}[active], func(t *testing.T) {
			end, peer := tcpPair(t)
			c := NewConn(end, Config{CloseTimeout: 50 * time.Millisecond})
			readErr := make(chan error, 1)
			if active {
				// Close must find the reader blocked: a ping answered
				// proves it is inside ReadMessage.
				go func() {
					_, _, err := c.ReadMessage()
					readErr <- err
				}()
				peer.Write(ping(true, "x"))
				if f, err := readFrame(peer); err != nil || f.op != OpPong {
					t.Fatal("no pong", err)
				}
			}
			go io.Copy(io.Discard, peer) // a peer that never answers
			var err error
			within(t, 10*time.Second, "Close", func() { _, err = c.Close(1000, "") })
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("Close = %v, want a deadline error", err)
			}
			if active {
				if err := <-readErr; !errors.Is(err, ErrClosed) {
					t.Errorf("ReadMessage = %v, want ErrClosed", err)
				}
			}
			if _, err := end.Write([]byte{0}); err == nil {
				t.Error("the network connection is still open")
			}
		})
	}
}

func TestCloseReason(t *testing.T) {
	for _, tc := range []struct {
		code   int
		reason string
		want   string
	}{
		{0, "ignored", ""},
		{1000, "", ""},
		{1000, strings.Repeat("a", 123), strings.Repeat("a", 123)},
		{1000, strings.Repeat("a", 124), strings.Repeat("a", 123)},
		// 61 two-byte runes are 122 bytes; the 62nd would end at 124.
		{4000, strings.Repeat("é", 70), strings.Repeat("é", 61)},
		{4000, "ab" + strings.Repeat("€", 41), "ab" + strings.Repeat("€", 40)},
	} {
		end, peer := net.Pipe()
		c := NewConn(end, Config{CloseTimeout: time.Second})
		go c.Close(tc.code, tc.reason)
		f, err := readFrame(peer)
		if err != nil {
			t.Fatal(err)
		}
		peer.Close()
		if tc.code == 0 {
			if len(f.payload) != 0 {
				t.Errorf("Close(0) sent payload %q", f.payload)
			}
			continue
		}
		if f.code() != tc.code || string(f.payload[2:]) != tc.want || !utf8.Valid(f.payload[2:]) {
			t.Errorf("Close(%d, %d bytes) sent code %d reason %q (%d bytes)", tc.code, len(tc.reason), f.code(), f.payload[2:], len(f.payload)-2)
		}
	}
}

func TestServerClosesFirstClientWaits(t *testing.T) {
	for _, role := range roles {
		t.Run(roleName(role), func(t *testing.T) {
			end, peer := net.Pipe()
			defer peer.Close()
			c := NewConn(end, Config{Role: role, CloseTimeout: 10 * time.Second})
			m := peerMasks(role)
			errc := make(chan error, 1)
			go func() {
				_, _, err := c.ReadMessage()
				errc <- err
			}()
			peer.Write(cls(m, 1000, ""))
			if f, err := readFrame(peer); err != nil || f.op != OpClose || f.code() != 1000 {
				t.Fatalf("echo: %v %v %d", err, f.op, f.code())
			}
			// A pipe write completes only when the other end reads it:
			// a client engine still reads (waiting for the server to
			// close), a server engine has closed its end.
			_, err := peer.Write([]byte("junk after the close frame"))
			if role == RoleClient {
				if err != nil {
					t.Fatalf("client engine stopped reading before the server closed: %v", err)
				}
				peer.Close()
			} else if !errors.Is(err, io.ErrClosedPipe) {
				t.Fatalf("server engine did not close the connection: write returned %v", err)
			}
			if err := <-errc; asClose(err) != 1000 {
				t.Fatalf("ReadMessage = %v, want CloseError 1000", err)
			}
		})
	}
}

func TestAbnormalClosure(t *testing.T) {
	end, peer := tcpPair(t)
	c := NewConn(end, Config{})
	peer.Write(first(OpText, true, "partial"))
	peer.Close()
	_, _, err := c.ReadMessage()
	if asClose(err) != CloseAbnormal || !errors.Is(err, io.EOF) {
		t.Fatalf("ReadMessage = %v, want CloseError 1006 wrapping io.EOF", err)
	}
	if _, err := c.Close(1000, ""); !errors.Is(err, ErrClosed) {
		t.Errorf("Close after the end = %v, want ErrClosed", err)
	}
}

func TestCloseNowUnblocksReader(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			end, peer := tr.pair(t)
			c := NewConn(end, Config{})
			errc := make(chan error, 1)
			go func() {
				_, _, err := c.ReadMessage()
				errc <- err
			}()
			peer.Write(ping(true, "x"))
			if f, err := readFrame(peer); err != nil || f.op != OpPong {
				t.Fatal("no pong", err)
			}
			if err := c.CloseNow(); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; !errors.Is(err, ErrClosed) {
				t.Errorf("ReadMessage = %v, want ErrClosed", err)
			}
		})
	}
}

func TestReadDeadlineResumes(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			end, peer := tr.pair(t)
			c := NewConn(end, Config{})
			whole := cat(first(OpText, true, "hello, "), txt(true, "x")[:0], last(true, "world"))
			split := 10 // inside the first frame's payload
			go peer.Write(whole[:split])
			end.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			if _, _, err := c.ReadMessage(); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("ReadMessage = %v, want a deadline error", err)
			}
			end.SetReadDeadline(time.Time{})
			go peer.Write(whole[split:])
			op, p, err := c.ReadMessage()
			if err != nil || op != OpText || string(p) != "hello, world" {
				t.Fatalf("after the timeout: %v %q %v", op, p, err)
			}
		})
	}
}

func TestBufferedBytes(t *testing.T) {
	for _, n := range []int{5, 300} {
		end, peer := tcpPair(t)
		stream := cat(txt(true, strings.Repeat("a", n)), txt(true, "second"), cls(true, 1000, ""))
		cut := len(stream) - 9
		c := NewConn(end, Config{Buffered: stream[:cut]})
		go peer.Write(stream[cut:])
		for _, want := range []string{strings.Repeat("a", n), "second"} {
			_, p, err := c.ReadMessage()
			if err != nil || string(p) != want {
				t.Fatalf("ReadMessage = %.20q %v, want %.20q", p, err, want)
			}
		}
		if _, _, err := c.ReadMessage(); asClose(err) != 1000 {
			t.Fatalf("ReadMessage = %v, want CloseError 1000", err)
		}
	}
}

// TestRoundTrip has a client engine and a server engine talk over
// loopback TCP, with messages of many sizes both ways and fragmented
// messages written by hand.
func TestRoundTrip(t *testing.T) {
	se, ce := tcpPair(t)
	srv := NewConn(se, Config{Role: RoleServer, ReadLimit: -1})
	cli := NewConn(ce, Config{Role: RoleClient, ReadLimit: -1})
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{0, 1, 7, 125, 126, 127, 4000, 65535, 65536, 100000, 1 << 20, 5 << 20}
	for range 30 {
		sizes = append(sizes, rng.IntN(70000))
	}
	payload := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i*7 + n)
		}
		return p
	}
	// The server echoes.
	go func() {
		for {
			op, p, err := srv.ReadMessage()
			if err != nil {
				return
			}
			if err := srv.WriteMessage(op, p); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for _, n := range sizes {
		want := payload(n)
		if err := cli.WriteMessage(OpBinary, want); err != nil {
			t.Fatal(err)
		}
		op, got, err := cli.ReadMessage()
		if err != nil || op != OpBinary || !bytes.Equal(got, want) {
			t.Fatalf("echo of %d bytes: op %v, %d bytes, %v", n, op, len(got), err)
		}
	}
	// A fragmented text message, written by hand with the client's
	// masking, in pieces that split code points.
	text := strings.Repeat("grüße, 世界! ", 3000)
	var raw []byte
	for i, off := 0, 0; off < len(text); i++ {
		end := min(off+1+i*37%5000, len(text))
		op := OpContinuation
		if off == 0 {
			op = OpText
		}
		raw = append(raw, fr{op: op, notFin: end < len(text), mask: true, payload: []byte(text[off:end])}.bytes()...)
		raw = append(raw, ping(true, "in between")...)
		off = end
	}
	go cli.NetConn().Write(raw)
	op, got, err := cli.ReadMessage()
	if err != nil || op != OpText || string(got) != text {
		t.Fatalf("echo of the fragmented message: %v, %d bytes, %v", op, len(got), err)
	}
	if unread, err := cli.Close(1000, "done"); err != nil || unread != 0 {
		t.Fatalf("Close = %d, %v", unread, err)
	}
}

// TestIdleHoldsNoBuffer checks that every wait for the next message
// happens with no pooled buffer held, on sockets (read when readable) and
// other connections (read into the small array).
func TestIdleHoldsNoBuffer(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			end, peer := tr.pair(t)
			c := NewConn(end, Config{})
			var mu sync.Mutex
			waits, held := 0, 0
			idle := make(chan struct{}, 100)
			watchIdle(c, func() {
				hc := c
				mu.Lock()
				defer mu.Unlock()
				waits++
				if hc.rbp != nil {
					held++
				}
				select {
				case idle <- struct{}{}:
				default:
				}
			})
			go func() {
				for i := range 20 {
					// Each batch goes out once the reader waits, so
					// that every batch ends in an idle wait.
					<-idle
					switch i % 3 {
					case 0:
						peer.Write(txt(true, strings.Repeat("m", 100*i)))
					case 1:
						peer.Write(cat(ping(true, "p"), bin(true, strings.Repeat("b", 3000))))
					case 2:
						peer.Write(cat(txt(true, "one"), txt(true, "two")))
					}
				}
			}()
			pongs := make(chan struct{}, 20)
			go func() {
				for {
					if _, err := readFrame(peer); err != nil {
						return
					}
					pongs <- struct{}{}
				}
			}()
			// Each i%3 == 2 round sends two messages.
			for range 20 + 6 {
				if _, _, err := c.ReadMessage(); err != nil {
					t.Fatal(err)
				}
				if c.rbp == nil && c.msgHeld {
					t.Fatal("message returned without a held buffer")
				}
			}
			c.CloseNow()
			mu.Lock()
			defer mu.Unlock()
			if waits < 20 {
				t.Fatalf("the idle hook ran %d times, want at least 20", waits)
			}
			if held != 0 {
				t.Errorf("%d of %d idle waits held a buffer", held, waits)
			}
		})
	}
}

func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers")
	}
	for _, role := range roles {
		t.Run(roleName(role), func(t *testing.T) {
			a, b := tcpPair(t)
			peerRole := RoleServer
			if role == RoleServer {
				peerRole = RoleClient
			}
			c := NewConn(a, Config{Role: role})
			echo := NewConn(b, Config{Role: peerRole})
			go func() {
				for {
					op, p, err := echo.ReadMessage()
					if err != nil {
						return
					}
					if echo.WriteMessage(op, p) != nil {
						return
					}
				}
			}()
			msg := bytes.Repeat([]byte("x"), 1024)
			big := bytes.Repeat([]byte("y"), 64<<10)
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
			for _, p := range [][]byte{msg, big} {
				roundTrip := func() {
					if err := c.WriteMessage(OpText, p); err != nil {
						t.Fatal(err)
					}
					if _, _, err := c.ReadMessage(); err != nil {
						t.Fatal(err)
					}
				}
				for range 100 {
					roundTrip()
				}
				// Count every allocation instead of an average rounded
				// down: one allocation per message would show as 2000,
				// a pool refilled after a collection as a handful.
				const runs = 2000
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				for range runs {
					roundTrip()
				}
				runtime.ReadMemStats(&after)
				n := after.Mallocs - before.Mallocs
				t.Logf("%d-byte echo: %d allocations in %d round trips", len(p), n, runs)
				if n > 10 {
					t.Errorf("%d-byte echo: %d allocations in %d round trips, want none", len(p), n, runs)
				}
			}
			c.CloseNow()
		})
	}
}
