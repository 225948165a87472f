package wire

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	coder "github.com/coder/websocket"
	"github.com/gorilla/websocket"
)

// Interoperability of permessage-deflate with two other Go
// implementations, each in both roles: gorilla/websocket (no context
// takeover only) and coder/websocket (with and without context takeover).

// interopMsg is one message of the exchanges below.
type interopMsg struct {
	text bool
	p    []byte
}

// interopMsgs are messages of many sizes, similar ones in a row so that
// context takeover has something to refer to.
func interopMsgs() []interopMsg {
	var out []interopMsg
	for i, n := range []int{0, 10, 127, 128, 200, 1000, 1000, 5000, 5000, 40000, 100000, 1 << 20} {
		out = append(out, interopMsg{true, []byte(sentence(uint64(i%4), n))})
	}
	out = append(out,
		interopMsg{false, randomBytes(1, 3000)},
		interopMsg{true, []byte(strings.Repeat(`{"user":"jürgen","msg":"héllo"} `, 200))},
		interopMsg{true, []byte(strings.Repeat(`{"user":"jürgen","msg":"héllo"} `, 201))},
	)
	return out
}

// tapConn records the bytes read from and written to a connection.
type tapConn struct {
	net.Conn
	mu      sync.Mutex
	in, out bytes.Buffer
}

func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.in.Write(p[:n])
	c.mu.Unlock()
	return n, err
}

func (c *tapConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	c.out.Write(p[:n])
	c.mu.Unlock()
	return n, err
}

// compressedFrames counts the data frames with RSV1 in the recorded
// streams, read and written.
func (c *tapConn) compressedFrames(t *testing.T) (read, written int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	count := func(stream []byte) int {
		n := 0
		r := bytes.NewReader(stream)
		for r.Len() > 0 {
			f, err := readFrame(r)
			if err != nil {
				t.Fatalf("recorded stream: %v", err)
			}
			if f.rsv == 0x40 {
				n++
			}
		}
		return n
	}
	return count(c.in.Bytes()), count(c.out.Bytes())
}

// wireServer serves one WebSocket connection with our engine on a
// loopback listener, echoing messages, and returns its URL and a channel
// that delivers the negotiated parameters and the recorded connection once
// it has ended.
type served struct {
	deflate *Deflate
	tap     *tapConn
	err     error
}

func wireServer(t *testing.T, cfg *DeflateConfig) (string, <-chan served) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	done := make(chan served, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			done <- served{err: err}
			return
		}
		br := bufio.NewReader(nc)
		req, err := http.ReadRequest(br)
		if err != nil {
			nc.Close()
			done <- served{err: err}
			return
		}
		key, err := CheckRequest(req)
		if err != nil {
			nc.Close()
			done <- served{err: err}
			return
		}
		d, ext := NegotiateDeflate(req.Header, cfg)
		extra := http.Header{}
		if ext != "" {
			extra.Set("Sec-WebSocket-Extensions", ext)
		}
		if _, err := nc.Write(AppendResponse(nil, AcceptKey(key), "", extra)); err != nil {
			nc.Close()
			done <- served{err: err}
			return
		}
		buffered, _ := br.Peek(br.Buffered())
		tap := &tapConn{Conn: nc}
		c := NewConn(tap, Config{Role: RoleServer, Deflate: d, ReadLimit: -1, Buffered: buffered})
		for {
			op, p, err := c.ReadMessage()
			if err != nil {
				if asClose(err) != CloseNormal {
					done <- served{err: err}
					return
				}
				break
			}
			if err := c.WriteMessage(op, p); err != nil {
				done <- served{err: err}
				return
			}
		}
		done <- served{deflate: d, tap: tap}
	}()
	return "ws://" + ln.Addr().String() + "/", done
}

// wireDial opens a WebSocket connection with our engine to url, offering
// permessage-deflate configured by cfg.
func wireDial(t *testing.T, url string, cfg *DeflateConfig) (*Conn, *Deflate, *tapConn) {
	t.Helper()
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/")
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	key := NewKey()
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n"
	if offer := OfferDeflate(cfg); offer != "" {
		req += "Sec-WebSocket-Extensions: " + offer + "\r\n"
	}
	if _, err := nc.Write([]byte(req + "\r\n")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CheckResponse(resp, key, nil); err != nil {
		t.Fatal(err)
	}
	d, err := CheckExtensions(resp, cfg)
	if err != nil {
		t.Fatal(err)
	}
	buffered, _ := br.Peek(br.Buffered())
	tap := &tapConn{Conn: nc}
	c := NewConn(tap, Config{Role: RoleClient, Deflate: d, ReadLimit: -1, Buffered: buffered})
	t.Cleanup(func() { c.CloseNow() })
	return c, d, tap
}

// exchange sends msgs with send and checks that recv returns them.
func exchange(t *testing.T, msgs []interopMsg, send func(interopMsg) error, recv func() (interopMsg, error)) {
	t.Helper()
	for i, m := range msgs {
		if err := send(m); err != nil {
			t.Fatalf("sending message %d: %v", i, err)
		}
		got, err := recv()
		if err != nil {
			t.Fatalf("receiving message %d: %v", i, err)
		}
		if got.text != m.text || !bytes.Equal(got.p, m.p) {
			t.Fatalf("message %d (%d bytes, text=%v) came back as %d bytes, text=%v", i, len(m.p), m.text, len(got.p), got.text)
		}
	}
}

// checkCompressed fails unless both directions carried compressed frames.
func checkCompressed(t *testing.T, tap *tapConn) {
	t.Helper()
	read, written := tap.compressedFrames(t)
	t.Logf("compressed frames: %d read, %d written", read, written)
	if read == 0 || written == 0 {
		t.Errorf("compressed frames: %d read, %d written; want some both ways", read, written)
	}
}

func TestDeflateInteropGorilla(t *testing.T) {
	msgs := interopMsgs()
	t.Run("our server", func(t *testing.T) {
		for _, cfg := range []*DeflateConfig{{}, {ContextTakeover: true, Threshold: -1}} {
			url, done := wireServer(t, cfg)
			d := websocket.Dialer{EnableCompression: true, HandshakeTimeout: 10 * time.Second}
			ws, _, err := d.Dial(url, nil)
			if err != nil {
				t.Fatal(err)
			}
			ws.SetReadLimit(-1)
			exchange(t, msgs, func(m interopMsg) error {
				typ := websocket.BinaryMessage
				if m.text {
					typ = websocket.TextMessage
				}
				return ws.WriteMessage(typ, m.p)
			}, func() (interopMsg, error) {
				typ, p, err := ws.ReadMessage()
				return interopMsg{typ == websocket.TextMessage, p}, err
			})
			ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
			if _, _, err := ws.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				t.Errorf("after the closing handshake: %v", err)
			}
			ws.Close()
			s := <-done
			if s.err != nil {
				t.Fatal(s.err)
			}
			if s.deflate == nil || s.deflate.PeerContextTakeover {
				t.Fatalf("negotiated %+v, want compression without context takeover", s.deflate)
			}
			checkCompressed(t, s.tap)
		}
	})
	t.Run("our client", func(t *testing.T) {
		up := websocket.Upgrader{EnableCompression: true}
		var wg sync.WaitGroup
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ws, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			wg.Add(1)
			defer wg.Done()
			defer ws.Close()
			ws.SetReadLimit(-1)
			for {
				typ, p, err := ws.ReadMessage()
				if err != nil {
					return
				}
				if ws.WriteMessage(typ, p) != nil {
					return
				}
			}
		}))
		defer srv.Close()
		defer wg.Wait()
		for _, cfg := range []*DeflateConfig{{}, {ContextTakeover: true}, {ContextTakeover: true, MaxWindowBits: 9, Level: 9}} {
			c, d, tap := wireDial(t, strings.Replace(srv.URL, "http://", "ws://", 1), cfg)
			if d == nil || d.PeerContextTakeover {
				t.Fatalf("negotiated %+v, want compression without context takeover", d)
			}
			exchangeWire(t, c, msgs)
			if _, err := c.Close(CloseNormal, ""); err != nil {
				t.Fatal(err)
			}
			checkCompressed(t, tap)
		}
	})
}

// exchangeWire sends msgs on our engine and checks the echoes.
func exchangeWire(t *testing.T, c *Conn, msgs []interopMsg) {
	t.Helper()
	exchange(t, msgs, func(m interopMsg) error {
		op := OpBinary
		if m.text {
			op = OpText
		}
		return c.WriteMessage(op, m.p)
	}, func() (interopMsg, error) {
		op, p, err := c.ReadMessage()
		return interopMsg{op == OpText, bytes.Clone(p)}, err
	})
}

func TestDeflateInteropCoder(t *testing.T) {
	msgs := interopMsgs()
	configs := []struct {
		name string
		cfg  *DeflateConfig
	}{
		{"default", &DeflateConfig{}},
		{"takeover", &DeflateConfig{ContextTakeover: true}},
		{"takeover in 1 KiB", &DeflateConfig{ContextTakeover: true, MaxWindowBits: 10}},
	}
	modes := []struct {
		name string
		mode coder.CompressionMode
	}{
		{"context takeover", coder.CompressionContextTakeover},
		{"no context takeover", coder.CompressionNoContextTakeover},
	}
	t.Run("our server", func(t *testing.T) {
		for _, m := range modes {
			for _, tc := range configs {
				cfg := tc.cfg
				t.Run(m.name+"/"+tc.name, func(t *testing.T) {
					url, done := wireServer(t, cfg)
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					defer cancel()
					ws, _, err := coder.Dial(ctx, url, &coder.DialOptions{CompressionMode: m.mode, CompressionThreshold: 64})
					if err != nil {
						t.Fatal(err)
					}
					defer ws.CloseNow()
					ws.SetReadLimit(-1)
					exchange(t, msgs, func(im interopMsg) error {
						typ := coder.MessageBinary
						if im.text {
							typ = coder.MessageText
						}
						return ws.Write(ctx, typ, im.p)
					}, func() (interopMsg, error) {
						typ, p, err := ws.Read(ctx)
						return interopMsg{typ == coder.MessageText, p}, err
					})
					if err := ws.Close(coder.StatusNormalClosure, ""); err != nil {
						t.Fatal(err)
					}
					s := <-done
					if s.err != nil {
						t.Fatal(s.err)
					}
					// The client keeps its context only if both allow it
					// and the server's bound can be told: coder never
					// offers client_max_window_bits.
					wantTakeover := m.mode == coder.CompressionContextTakeover && cfg.ContextTakeover && windowBits(cfg.MaxWindowBits) == 15
					if s.deflate == nil || s.deflate.PeerContextTakeover != wantTakeover {
						t.Fatalf("negotiated %+v, want context takeover %v", s.deflate, wantTakeover)
					}
					checkCompressed(t, s.tap)
				})
			}
		}
	})
	t.Run("our client", func(t *testing.T) {
		for _, m := range modes {
			var wg sync.WaitGroup
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ws, err := coder.Accept(w, r, &coder.AcceptOptions{CompressionMode: m.mode, CompressionThreshold: 64})
				if err != nil {
					return
				}
				wg.Add(1)
				defer wg.Done()
				defer ws.CloseNow()
				ws.SetReadLimit(-1)
				ctx := context.Background()
				for {
					typ, p, err := ws.Read(ctx)
					if err != nil {
						return
					}
					if ws.Write(ctx, typ, p) != nil {
						return
					}
				}
			}))
			for _, tc := range configs {
				cfg := tc.cfg
				t.Run(m.name+"/"+tc.name, func(t *testing.T) {
					c, d, tap := wireDial(t, strings.Replace(srv.URL, "http://", "ws://", 1), cfg)
					// coder keeps its context when allowed, and declines
					// a bound on its window: our fallback offer then
					// asks it to keep none.
					wantTakeover := m.mode == coder.CompressionContextTakeover && cfg.ContextTakeover && windowBits(cfg.MaxWindowBits) == 15
					if d == nil || d.PeerContextTakeover != wantTakeover {
						t.Fatalf("negotiated %+v, want context takeover %v", d, wantTakeover)
					}
					exchangeWire(t, c, msgs)
					if _, err := c.Close(CloseNormal, ""); err != nil {
						t.Fatal(err)
					}
					checkCompressed(t, tap)
				})
			}
			srv.Close()
			wg.Wait()
		}
	})
}

// pythonPeer is a WebSocket peer written with the websockets package of
// Python (as packaged by Debian), which compresses and decompresses with
// zlib using the window sizes negotiated: a message of ours compressed with
// references further back than the window it asked for fails to inflate
// there. As a client (argv: client URL server_bits client_bits) it sends
// messages of sizes around 2^bits and checks their echoes; as a server
// (argv: server - server_bits client_bits) it prints its port and echoes
// the messages of one connection. A bits argument of 0 leaves the
// parameter out.
const pythonPeer = `
import asyncio, random, sys
import websockets
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory, ServerPerMessageDeflateFactory)

mode, url, sbits, cbits = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def payloads():
    # Text repeating a block longer than any small window, so that a
    # compressor with a 32 KiB window refers further back than 2^bits.
    rng = random.Random(1)
    block = "".join(rng.choice("abcdefghij klmnop") for _ in range(700))
    text = block * 200
    for bits in (sbits or 15, cbits or 15):
        for n in (100, (1 << bits) - 1, 1 << bits, (1 << bits) + 1, 3000, 40000):
            yield text[:n]
    yield text[:100000].encode()

async def client():
    ext = ClientPerMessageDeflateFactory(
        server_max_window_bits=sbits or None,
        client_max_window_bits=cbits or True)
    async with websockets.connect(url, extensions=[ext], compression=None, max_size=None) as ws:
        for p in payloads():
            await ws.send(p)
            if await ws.recv() != p:
                sys.exit("echo differs for a message of %d bytes" % len(p))

async def echo(ws, path=None):
    try:
        async for m in ws:
            await ws.send(m)
    finally:
        done.set_result(None)

async def server():
    global done
    done = asyncio.get_running_loop().create_future()
    ext = ServerPerMessageDeflateFactory(
        server_max_window_bits=sbits or None,
        client_max_window_bits=cbits or None)
    async with websockets.serve(echo, "127.0.0.1", 0, extensions=[ext], compression=None, max_size=None) as srv:
        print(srv.sockets[0].getsockname()[1], flush=True)
        await done

asyncio.run(client() if mode == "client" else server())
`

// pythonWebsockets returns a Python interpreter that has the websockets
// package, or skips the test.
func pythonWebsockets(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import websockets").Run() == nil {
			return py
		}
	}
	t.Skip("no python3 with the websockets package (Debian's python3-websockets)")
	return ""
}

// checkWindow fails unless the frames the tap recorded as written that
// are compressed hold at most 2^bits bytes once inflated (for bits below
// 15: compress/flate's window is 15 bits), and unless there are some.
func checkWindow(t *testing.T, tap *tapConn, bits int) {
	t.Helper()
	tap.mu.Lock()
	out := bytes.NewReader(tap.out.Bytes())
	tap.mu.Unlock()
	compressed := 0
	for out.Len() > 0 {
		f, err := readFrame(out)
		if err != nil {
			t.Fatalf("recorded stream: %v", err)
		}
		if f.rsv != 0x40 {
			continue
		}
		p, err := inflateMsg(f.payload)
		if err != nil {
			t.Fatalf("written frame does not inflate: %v", err)
		}
		if bits < 15 && len(p) > 1<<bits {
			t.Errorf("a %d-byte message went compressed with a window of %d bytes", len(p), 1<<bits)
		}
		compressed++
	}
	if compressed == 0 {
		t.Error("nothing went compressed")
	}
}

// TestDeflateInteropPython exchanges messages with Python's websockets
// (zlib) in both roles with every small window: the peer inflates what we
// send with the window it asked for, and we send longer messages
// uncompressed.
func TestDeflateInteropPython(t *testing.T) {
	py := pythonWebsockets(t)
	script := filepath.Join(t.TempDir(), "peer.py")
	if err := os.WriteFile(script, []byte(pythonPeer), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, args ...string) *exec.Cmd {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		t.Cleanup(cancel)
		cmd := exec.CommandContext(ctx, py, append([]string{script}, args...)...)
		cmd.Stderr = &strings.Builder{}
		return cmd
	}
	t.Run("our server", func(t *testing.T) {
		for bits := 9; bits <= 15; bits++ {
			for _, cbits := range []int{0, bits} {
				name := "server_max_window_bits=" + strconv.Itoa(bits) + "/client_max_window_bits=" + strconv.Itoa(cbits)
				t.Run(name, func(t *testing.T) {
					url, done := wireServer(t, &DeflateConfig{})
					cmd := run(t, "client", url, strconv.Itoa(bits), strconv.Itoa(cbits))
					if out, err := cmd.Output(); err != nil {
						t.Fatalf("python client: %v: %s%s", err, out, cmd.Stderr)
					}
					s := <-done
					if s.err != nil {
						t.Fatal(s.err)
					}
					if s.deflate == nil || windowBits(s.deflate.WindowBits) != bits {
						t.Fatalf("negotiated %+v, want a %d-bit window", s.deflate, bits)
					}
					checkWindow(t, s.tap, bits)
				})
			}
		}
	})
	t.Run("our client", func(t *testing.T) {
		for bits := 9; bits <= 15; bits++ {
			for _, cfg := range []*DeflateConfig{{}, {ContextTakeover: true, MaxWindowBits: bits}, {CompressWindowBits: bits}} {
				name := "client_max_window_bits=" + strconv.Itoa(bits) + "/" + strings.Trim(fmt.Sprintf("%+v", *cfg), "{}")
				t.Run(name, func(t *testing.T) {
					cmd := run(t, "server", "-", strconv.Itoa(bits), strconv.Itoa(bits))
					stdout, err := cmd.StdoutPipe()
					if err != nil {
						t.Fatal(err)
					}
					if err := cmd.Start(); err != nil {
						t.Fatal(err)
					}
					defer func() {
						// After a failure: Wait below has not run.
						cmd.Process.Kill()
						cmd.Wait()
					}()
					port, err := bufio.NewReader(stdout).ReadString('\n')
					if err != nil {
						t.Fatalf("python server: %v: %s", err, cmd.Stderr)
					}
					c, d, tap := wireDial(t, "ws://127.0.0.1:"+strings.TrimSpace(port)+"/", cfg)
					if d == nil || windowBits(d.WindowBits) != bits {
						t.Fatalf("negotiated %+v, want a %d-bit window of our own", d, bits)
					}
					if cfg.ContextTakeover && (!d.PeerContextTakeover || d.PeerWindowBits != bits) {
						t.Fatalf("negotiated %+v, want the server to keep a %d-bit context", d, bits)
					}
					var msgs []interopMsg
					for _, n := range []int{100, 1<<bits - 1, 1 << bits, 1<<bits + 1, 3000, 40000} {
						msgs = append(msgs, interopMsg{true, []byte(sentence(uint64(n), n))})
					}
					exchangeWire(t, c, msgs)
					if _, err := c.Close(CloseNormal, ""); err != nil {
						t.Fatal(err)
					}
					if err := cmd.Wait(); err != nil {
						t.Fatalf("python server: %v: %s", err, cmd.Stderr)
					}
					checkWindow(t, tap, bits)
				})
			}
		}
	})
}
