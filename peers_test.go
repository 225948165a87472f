package pistoke_test

// Interoperability of pistoke's client with WebSocket servers written in
// other languages (Python's websockets, Node's ws), each run as a separate
// process over real loopback TCP, so that Dial and Conn are judged by
// implementations that share no code with pistoke.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pistoke/pistoke"
)

const (
	// scriptStartTimeout bounds how long a server process may take to say
	// where it listens.
	scriptStartTimeout = 30 * time.Second
	// scriptConnTimeout bounds every connection, so that a misbehaving
	// server fails a subtest instead of hanging it.
	scriptConnTimeout = 30 * time.Second
	// scriptLifetime bounds a server process whatever happens to the test.
	scriptLifetime = 5 * time.Minute

	scriptPython = "/usr/bin/python3"
)

// scriptBigSize is the size of the message /big sends; its bytes are
// i % 251, a period prime to every power of two.
const scriptBigSize = 1 << 20

// requireScriptPeer skips the test when a peer server cannot run, except
// in CI, where a missing peer would silently test less.
func requireScriptPeer(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (CI is set, so this is an error)")
	}
	t.Skip(msg)
}

func TestPythonServerPeer(t *testing.T) {
	if out, err := exec.Command(scriptPython, "-c", "import websockets").CombinedOutput(); err != nil {
		requireScriptPeer(t, "%s cannot import websockets (install python3-websockets): %v %s", scriptPython, err, bytes.TrimSpace(out))
	}
	runScriptCases(t, startScriptServer(t, scriptPython, filepath.Join("testdata", "peers", "echo_server.py")))
}

func TestNodeServerPeer(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		requireScriptPeer(t, "node is not installed")
	}
	if _, err := os.Stat(filepath.Join("e2e", "node_modules", "ws", "package.json")); err != nil {
		requireScriptPeer(t, "the ws package is not installed: run `npm ci` in e2e")
	}
	runScriptCases(t, startScriptServer(t, node, filepath.Join("e2e", "echo-server.mjs")))
}

// scriptOutput collects a process's output while it runs and delivers its
// first line once.
type scriptOutput struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	sent bool
	line chan string // buffered: receives the first line
}

func newScriptOutput() *scriptOutput { return &scriptOutput{line: make(chan string, 1)} }

func (o *scriptOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	if !o.sent {
		if first, _, ok := bytes.Cut(o.buf.Bytes(), []byte("\n")); ok {
			o.sent = true
			o.line <- string(first)
		}
	}
	return len(p), nil
}

func (o *scriptOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// startScriptServer runs a peer server and returns its ws:// base URL once
// it has printed "listening <port>". The process is killed and waited for
// when the test ends; it must not have exited before, nor written to
// stderr.
func startScriptServer(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scriptLifetime)
	cmd := exec.CommandContext(ctx, name, args...)
	stdout, stderr := newScriptOutput(), newScriptOutput()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = 10 * time.Second // the process holds its pipes alone
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		defer cancel()
		select {
		case <-exited:
			t.Errorf("server exited before the test ended: %v", waitErr)
		default:
			cmd.Process.Kill()
			<-exited
		}
		// The servers print nothing but their port unless something went
		// wrong, such as a handler failing on what pistoke sent.
		if s := stderr.String(); s != "" {
			t.Errorf("server wrote to stderr:\n%s", s)
		} else if t.Failed() {
			t.Logf("server stdout:\n%s", stdout)
		}
	})

	timer := time.NewTimer(scriptStartTimeout)
	defer timer.Stop()
	var line string
	select {
	case line = <-stdout.line:
	case <-exited:
		t.Fatalf("server exited before listening: %v\n%s", waitErr, stderr)
	case <-timer.C:
		t.Fatalf("server did not say where it listens within %v", scriptStartTimeout)
	}
	p, ok := strings.CutPrefix(line, "listening ")
	port, err := strconv.Atoi(p)
	if !ok || err != nil || port <= 0 || port > 65535 {
		t.Fatalf("first line of output = %q; want \"listening <port>\"", line)
	}
	return "ws://127.0.0.1:" + p
}

// scriptCases are run against every peer server. Each opens its own
// connections to the server's base URL.
var scriptCases = []struct {
	name string
	run  func(t *testing.T, base string)
}{
	{"echo/text", func(t *testing.T, base string) { scriptEcho(t, base, pistoke.Text) }},
	{"echo/binary", func(t *testing.T, base string) { scriptEcho(t, base, pistoke.Binary) }},
	{"subprotocol/server-preference", func(t *testing.T, base string) {
		ws := dialScript(t, base+"/sub", &pistoke.DialOptions{Subprotocols: []string{"chat.v1", "chat.v2"}})
		if got := ws.Subprotocol(); got != "chat.v2" {
			t.Errorf("Subprotocol() = %q; want %q, the server's preference", got, "chat.v2")
		}
		expectText(t, ws, "chat.v2")
		scriptRoundTrip(t, ws, pistoke.Text, []byte("after negotiation"))
		closeScript(t, ws)
	}},
	{"subprotocol/only-offer", func(t *testing.T, base string) {
		ws := dialScript(t, base+"/sub", &pistoke.DialOptions{Subprotocols: []string{"chat.v0", "chat.v1"}})
		if got := ws.Subprotocol(); got != "chat.v1" {
			t.Errorf("Subprotocol() = %q; want %q", got, "chat.v1")
		}
		expectText(t, ws, "chat.v1")
		closeScript(t, ws)
	}},
	{"close", func(t *testing.T, base string) {
		ws := dialScript(t, base+"/close", nil)
		ce := expectClose(t, ws, 4001)
		if ce.Reason != "peer says bye" {
			t.Errorf("close reason = %q; want %q", ce.Reason, "peer says bye")
		}
		if err := ws.SendText("too late"); !errors.Is(err, pistoke.ErrClosed) {
			t.Errorf("SendText after the peer closed = %v; want an error matching ErrClosed", err)
		}
	}},
	{"ping", func(t *testing.T, base string) {
		ws := dialScript(t, base+"/ping", nil)
		// Receive answers the ping on the way to the server's report.
		expectText(t, ws, "pong:are you there")
		closeScript(t, ws)
	}},
	{"fragmented", func(t *testing.T, base string) {
		tap := new(scriptTap)
		ws := dialScript(t, base+"/fragmented", &pistoke.DialOptions{NetDial: tap.dial})
		expectText(t, ws, "frag-ment-ed")
		// Only the wire tells whether reassembly was exercised at all. The
		// message may end with an empty fragment (websockets does that).
		frames := tap.frames(t)
		end := slices.Index(frames, "continuation fin=true")
		if len(frames) < 3 || frames[0] != "text fin=false" || end < 2 ||
			slices.ContainsFunc(frames[1:end], func(f string) bool { return f != "continuation fin=false" }) {
			t.Errorf("frames on the wire = %q; want one text message in three fragments or more", frames)
		}
		expectClose(t, ws, pistoke.CloseNormal)
	}},
	{"big", func(t *testing.T, base string) {
		ws := dialScript(t, base+"/big", nil) // DefaultReadLimit is exactly enough
		typ, got, err := ws.Receive()
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		if typ != pistoke.Binary || len(got) != scriptBigSize {
			t.Fatalf("Receive = %v of %d bytes; want binary of %d", typ, len(got), scriptBigSize)
		}
		for i, b := range got {
			if b != byte(i%251) {
				t.Fatalf("byte %d = %d; want %d", i, b, i%251)
			}
		}
		expectClose(t, ws, pistoke.CloseNormal)
	}},
	{"big-over-read-limit", func(t *testing.T, base string) {
		ws := dialScript(t, base+"/big", &pistoke.DialOptions{ReadLimit: scriptBigSize - 1})
		expectClose(t, ws, pistoke.CloseMessageTooBig)
	}},
	{"reject", func(t *testing.T, base string) {
		ctx, cancel := context.WithTimeout(context.Background(), scriptConnTimeout)
		defer cancel()
		ws, resp, err := pistoke.Dial(ctx, base+"/reject", nil)
		if ws != nil {
			ws.Close(pistoke.CloseNormal, "")
		}
		var he *pistoke.HandshakeError
		if !errors.As(err, &he) || he.Status != http.StatusForbidden {
			t.Fatalf("Dial = %v; want a HandshakeError with status 403", err)
		}
		if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("Dial returned response %v; want the 403 response", resp)
		}
	}},
}

func runScriptCases(t *testing.T, base string) {
	for _, c := range scriptCases {
		t.Run(c.name, func(t *testing.T) { c.run(t, base) })
	}
}

// dialScript dials a peer server, bounds the connection's life and closes
// it when the test ends.
func dialScript(t *testing.T, url string, opts *pistoke.DialOptions) *pistoke.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scriptConnTimeout)
	defer cancel()
	ws, _, err := pistoke.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("Dial(%s): %v", url, err)
	}
	ws.NetConn().SetDeadline(time.Now().Add(scriptConnTimeout))
	t.Cleanup(func() { ws.Close(pistoke.CloseNormal, "") })
	return ws
}

// closeScript runs the closing handshake and checks that it completed.
func closeScript(t *testing.T, ws *pistoke.Conn) {
	t.Helper()
	if err := ws.Close(pistoke.CloseNormal, ""); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// scriptEcho sends messages of typ around the frame length encodings
// (7-bit, 16-bit, 64-bit) and just past the default read limit, which the
// DialOptions raise, and expects each back unchanged.
func scriptEcho(t *testing.T, base string, typ pistoke.MessageType) {
	ws := dialScript(t, base+"/echo", &pistoke.DialOptions{ReadLimit: 2 << 20})
	for _, n := range []int{0, 125, 126, 65535, 65536, (1 << 20), (1 << 20) + 1} {
		scriptRoundTrip(t, ws, typ, scriptPayload(typ, n))
	}
	closeScript(t, ws)
}

func scriptRoundTrip(t *testing.T, ws *pistoke.Conn, typ pistoke.MessageType, msg []byte) {
	t.Helper()
	if err := ws.Send(typ, msg); err != nil {
		t.Fatalf("%v of %d bytes: Send: %v", typ, len(msg), err)
	}
	gotTyp, got, err := ws.Receive()
	if err != nil {
		t.Fatalf("%v of %d bytes: Receive: %v", typ, len(msg), err)
	}
	if gotTyp != typ || !bytes.Equal(got, msg) {
		t.Fatalf("%v of %d bytes: echo is %v of %d bytes, or differs", typ, len(msg), gotTyp, len(got))
	}
}

// scriptPayload returns n bytes of typ: for text, valid UTF-8 with
// multi-byte runes throughout; for binary, every byte value.
func scriptPayload(typ pistoke.MessageType, n int) []byte {
	b := make([]byte, 0, n)
	if typ == pistoke.Binary {
		for i := range n {
			b = append(b, byte(i^i>>8))
		}
		return b
	}
	const pattern = "echo ✓ äö 𝄞 € "
	for len(b) < n {
		for _, r := range pattern {
			if len(b)+utf8.RuneLen(r) > n {
				break
			}
			b = utf8.AppendRune(b, r)
		}
		for len(b) < n && n-len(b) < utf8.UTFMax {
			b = append(b, '.')
		}
	}
	return b
}

// scriptTap records what a server sends to a client connection.
type scriptTap struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (tap *scriptTap) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &scriptTapConn{Conn: c, tap: tap}, nil
}

type scriptTapConn struct {
	net.Conn
	tap *scriptTap
}

func (c *scriptTapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.tap.mu.Lock()
	c.tap.buf.Write(p[:n])
	c.tap.mu.Unlock()
	return n, err
}

// frames describes the complete frames received so far after the
// handshake response, as "<opcode> fin=<bool>".
func (tap *scriptTap) frames(t *testing.T) []string {
	t.Helper()
	tap.mu.Lock()
	defer tap.mu.Unlock()
	_, b, ok := bytes.Cut(tap.buf.Bytes(), []byte("\r\n\r\n"))
	if !ok {
		t.Fatal("no handshake response on the wire")
	}
	names := map[byte]string{0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}
	var frames []string
	for len(b) >= 2 {
		if b[1]&0x80 != 0 {
			t.Fatal("the server sent a masked frame")
		}
		n, hdr := uint64(b[1]&0x7f), 2
		switch n {
		case 126:
			if len(b) < 4 {
				return frames
			}
			n, hdr = uint64(b[2])<<8|uint64(b[3]), 4
		case 127:
			if len(b) < 10 {
				return frames
			}
			n, hdr = 0, 10
			for _, x := range b[2:10] {
				n = n<<8 | uint64(x)
			}
		}
		if uint64(len(b)-hdr) < n {
			return frames
		}
		name, ok := names[b[0]&0x0f]
		if !ok {
			name = fmt.Sprintf("opcode %d", b[0]&0x0f)
		}
		frames = append(frames, fmt.Sprintf("%s fin=%t", name, b[0]&0x80 != 0))
		b = b[hdr+int(n):]
	}
	return frames
}
