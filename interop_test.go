package pistoke_test

// Interoperability with two independent WebSocket implementations,
// gorilla/websocket and coder/websocket, over real loopback TCP: first as
// clients of a pistoke server, then as servers for pistoke's Dial.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	cws "github.com/coder/websocket"
	gws "github.com/gorilla/websocket"

	"github.com/pistoke/pistoke"
)

// interopTimeout bounds every connection of these tests, so that a
// broken peer fails a test instead of hanging it.
const interopTimeout = 30 * time.Second

// Message types as both peers number them (RFC 6455 opcodes).
const (
	peerText   = 1
	peerBinary = 2
)

// interopSizes are the payload sizes around the frame length encodings
// (7-bit, 16-bit, 64-bit) and up to the default read limit.
var interopSizes = []int{0, 1, 125, 126, 65535, 65536, (1 << 20)}

// makeText returns valid UTF-8 of exactly n bytes with multi-byte runes
// throughout, so that fragment boundaries fall inside runes.
func makeText(n int) []byte {
	const pattern = "pistoke ✓ äö 𝄞 €uro "
	b := make([]byte, 0, n)
	for len(b) < n {
		for _, r := range pattern {
			if len(b)+utf8.RuneLen(r) > n {
				break
			}
			b = utf8.AppendRune(b, r)
		}
		if len(b)+4 > n {
			for len(b) < n {
				b = append(b, 'x')
			}
		}
	}
	return b
}

// makeBinary returns n bytes that use every byte value.
func makeBinary(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

func makePayload(typ, n int) []byte {
	if typ == peerText {
		return makeText(n)
	}
	return makeBinary(n)
}

func typeName(typ int) string {
	if typ == peerText {
		return "text"
	}
	return "binary"
}

// peerConn is the part of a foreign client connection the tests use.
type peerConn interface {
	Write(typ int, p []byte) error
	Read() (typ int, p []byte, err error)
	Subprotocol() string
	// Close runs the closing handshake with code and reason; nil means
	// the server answered it.
	Close(code int, reason string) error
	// Abort drops the TCP connection.
	Abort()
}

// interopPeer is a foreign WebSocket client library.
type interopPeer struct {
	name string
	dial func(ctx context.Context, url string, subprotocols []string) (peerConn, *http.Response, error)
}

var interopPeers = []interopPeer{
	{"gorilla", dialGorilla},
	{"coder", dialCoder},
}

type gorillaConn struct{ c *gws.Conn }

func dialGorilla(ctx context.Context, url string, subprotocols []string) (peerConn, *http.Response, error) {
	d := gws.Dialer{Subprotocols: subprotocols}
	c, resp, err := d.DialContext(ctx, url, nil)
	if err != nil {
		return nil, resp, err
	}
	c.SetReadDeadline(time.Now().Add(interopTimeout))
	return gorillaConn{c}, resp, nil
}

func (g gorillaConn) Write(typ int, p []byte) error { return g.c.WriteMessage(typ, p) }
func (g gorillaConn) Read() (int, []byte, error)    { return g.c.ReadMessage() }
func (g gorillaConn) Subprotocol() string           { return g.c.Subprotocol() }
func (g gorillaConn) Abort()                        { g.c.Close() }

func (g gorillaConn) Close(code int, reason string) error {
	err := g.c.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(code, reason), time.Now().Add(interopTimeout))
	if err != nil {
		return err
	}
	for {
		if _, _, err := g.c.ReadMessage(); err != nil {
			var ce *gws.CloseError
			if errors.As(err, &ce) {
				return nil
			}
			return err
		}
	}
}

type coderConn struct {
	c   *cws.Conn
	ctx context.Context
}

func dialCoder(ctx context.Context, url string, subprotocols []string) (peerConn, *http.Response, error) {
	c, resp, err := cws.Dial(ctx, url, &cws.DialOptions{Subprotocols: subprotocols})
	if err != nil {
		return nil, resp, err
	}
	c.SetReadLimit(4 << 20) // its default, 32 KiB, is below the sizes tested
	return coderConn{c, ctx}, resp, nil
}

func (k coderConn) Write(typ int, p []byte) error {
	return k.c.Write(k.ctx, cws.MessageType(typ), p)
}

func (k coderConn) Read() (int, []byte, error) {
	typ, p, err := k.c.Read(k.ctx)
	return int(typ), p, err
}

func (k coderConn) Subprotocol() string { return k.c.Subprotocol() }
func (k coderConn) Abort()              { k.c.CloseNow() }

func (k coderConn) Close(code int, reason string) error {
	return k.c.Close(cws.StatusCode(code), reason)
}

// peerCloseCode returns the close code and reason in an error returned by
// either peer library.
func peerCloseCode(err error) (code int, reason string, ok bool) {
	var ge *gws.CloseError
	if errors.As(err, &ge) {
		return ge.Code, ge.Text, true
	}
	var ce cws.CloseError
	if errors.As(err, &ce) {
		return int(ce.Code), ce.Reason, true
	}
	return 0, "", false
}

// dialPeer connects p to url, bounded by interopTimeout, and drops the
// connection when the test ends.
func dialPeer(t *testing.T, p interopPeer, url string, subprotocols ...string) peerConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
	t.Cleanup(cancel)
	c, _, err := p.dial(ctx, url, subprotocols)
	if err != nil {
		t.Fatalf("%s: dial %s: %v", p.name, url, err)
	}
	t.Cleanup(c.Abort)
	return c
}

// expectPeerClose reads from c, expecting the end of the connection, and
// checks the close code the server sent.
func expectPeerClose(t *testing.T, c peerConn, code int) string {
	t.Helper()
	typ, p, err := c.Read()
	if err == nil {
		t.Fatalf("got a %s message of %d bytes, want close %d", typeName(typ), len(p), code)
	}
	got, reason, ok := peerCloseCode(err)
	if !ok || got != code {
		t.Fatalf("read: %v; want close %d", err, code)
	}
	return reason
}

// frameTap records the WebSocket frames written on one side of a
// connection, so that a test can see how a peer framed its messages and
// where it put its control frames.
type frameTap struct {
	mu      sync.Mutex
	buf     []byte
	body    bool // the HTTP head has been passed
	frames  []tapFrame
	changed chan struct{}
}

type tapFrame struct {
	fin  bool
	op   byte
	n    int
	data []byte // unmasked payload of a control frame
}

func (f tapFrame) String() string {
	return fmt.Sprintf("{op=%d fin=%t n=%d}", f.op, f.fin, f.n)
}

func (tap *frameTap) record(p []byte) {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	tap.buf = append(tap.buf, p...)
	if !tap.body {
		i := bytes.Index(tap.buf, []byte("\r\n\r\n"))
		if i < 0 {
			return
		}
		tap.buf, tap.body = tap.buf[i+4:], true
	}
	for len(tap.buf) >= 2 {
		b0, b1 := tap.buf[0], tap.buf[1]
		hlen, n := 2, int(b1&0x7f)
		switch n {
		case 126:
			hlen += 2
		case 127:
			hlen += 8
		}
		if b1&0x80 != 0 {
			hlen += 4
		}
		if len(tap.buf) < hlen {
			return
		}
		switch n {
		case 126:
			n = int(binary.BigEndian.Uint16(tap.buf[2:]))
		case 127:
			n = int(binary.BigEndian.Uint64(tap.buf[2:]))
		}
		if len(tap.buf) < hlen+n {
			return
		}
		fr := tapFrame{fin: b0&0x80 != 0, op: b0 & 0x0f, n: n}
		if fr.op >= 8 {
			fr.data = append([]byte(nil), tap.buf[hlen:hlen+n]...)
			if b1&0x80 != 0 {
				key := tap.buf[hlen-4 : hlen]
				for i := range fr.data {
					fr.data[i] ^= key[i%4]
				}
			}
		}
		tap.frames = append(tap.frames, fr)
		tap.buf = tap.buf[hlen+n:]
		if tap.changed != nil {
			close(tap.changed)
			tap.changed = nil
		}
	}
}

// wait returns the frames recorded so far once done accepts them.
func (tap *frameTap) wait(ctx context.Context, done func([]tapFrame) bool) ([]tapFrame, error) {
	for {
		tap.mu.Lock()
		frames := append([]tapFrame(nil), tap.frames...)
		if done(frames) {
			tap.mu.Unlock()
			return frames, nil
		}
		if tap.changed == nil {
			tap.changed = make(chan struct{})
		}
		changed := tap.changed
		tap.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return frames, ctx.Err()
		}
	}
}

func (tap *frameTap) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &tapConn{Conn: nc, tap: tap}, nil
}

type tapConn struct {
	net.Conn
	tap *frameTap
}

// Write records p before sending it: recorded afterwards, the bytes could
// be overtaken by what the peer's answer made other goroutines write.
func (c *tapConn) Write(p []byte) (int, error) {
	c.tap.record(p)
	return c.Conn.Write(p)
}

type tapListener struct {
	net.Listener
	tap *frameTap
}

func (l tapListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &tapConn{Conn: nc, tap: l.tap}, nil
}

// messageEnded reports whether frames hold the end of a data message.
func messageEnded(frames []tapFrame) bool {
	for _, f := range frames {
		if f.op < 8 && f.fin {
			return true
		}
	}
	return false
}

// checkFragmented checks that frames hold one data message of type op
// split over at least minData frames, with a ping inside it when
// wantPing is set, and returns that ping's payload.
func checkFragmented(t *testing.T, frames []tapFrame, op byte, minData int, wantPing bool) []byte {
	t.Helper()
	var data []tapFrame
	var ping []byte
	pingInside := false
	for _, f := range frames {
		if len(data) > 0 && data[len(data)-1].fin {
			break // later messages are not this one
		}
		switch {
		case f.op < 8:
			data = append(data, f)
		case f.op == 9 && ping == nil:
			ping = f.data
			// Inside the message: after a fragment that did not end it.
			pingInside = len(data) > 0 && !data[len(data)-1].fin
		}
	}
	if len(data) < minData {
		t.Fatalf("message sent in %d frames %v, want at least %d", len(data), frames, minData)
	}
	if data[0].op != op || data[0].fin {
		t.Fatalf("first frame %v, want op %d without fin", data[0], op)
	}
	for i, f := range data[1:] {
		last := i == len(data)-2
		if f.op != 0 || f.fin != last {
			t.Fatalf("frame %d of the message is %v; frames %v", i+1, f, frames)
		}
	}
	if wantPing && !pingInside {
		t.Fatalf("no ping between the fragments: %v", frames)
	}
	return ping
}

// splitInsideRune cuts msg near half at a byte that continues a rune, so
// that neither part is valid UTF-8 on its own.
func splitInsideRune(t *testing.T, msg []byte) ([]byte, []byte) {
	t.Helper()
	for i := len(msg) / 2; i < len(msg); i++ {
		if !utf8.RuneStart(msg[i]) {
			return msg[:i], msg[i:]
		}
	}
	t.Fatal("no multi-byte rune to split")
	return nil, nil
}

// interopServer is a pistoke server with the endpoints the client-side
// tests share.
func interopServer(t *testing.T) string {
	deny403 := func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "Forbidden", http.StatusForbidden)
		})
	}
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /echo/", pistoke.HandlerFunc(echo))
	mux.Handle("WEBSOCKET /sub/", pistoke.Protocol{Subprotocols: []string{"v2.proto", "v1.proto"}}.Wrap(pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		if err := ws.SendText(ws.Subprotocol()); err != nil {
			return err
		}
		return echo(ws)
	})))
	mux.Handle("WEBSOCKET /return/", pistoke.HandlerFunc(func(*pistoke.Conn) error { return nil }))
	mux.Handle("WEBSOCKET /error/", pistoke.HandlerFunc(func(*pistoke.Conn) error {
		return errors.New("password=hunter2 rejected by the database")
	}))
	mux.Handle("WEBSOCKET /custom/", pistoke.HandlerFunc(func(*pistoke.Conn) error {
		return &pistoke.CloseError{Code: 4001, Reason: "x"}
	}))
	mux.Handle("WEBSOCKET /panic/", pistoke.HandlerFunc(func(*pistoke.Conn) error { panic("kaboom") }))
	mux.Handle("WEBSOCKET /long-reason/", pistoke.HandlerFunc(func(*pistoke.Conn) error {
		return &pistoke.CloseError{Code: 4002, Reason: strings.Repeat("é", 100)}
	}))
	mux.Handle("WEBSOCKET /inside-403/", pistoke.Protocol{}.Wrap(deny403(pistoke.HandlerFunc(echo))))
	return serve(t, pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()}))
}

// A. Foreign clients, pistoke server.

func TestInteropEchoToPistokeServer(t *testing.T) {
	base := interopServer(t)
	for _, p := range interopPeers {
		t.Run(p.name, func(t *testing.T) {
			c := dialPeer(t, p, base+"/echo/")
			for _, typ := range []int{peerText, peerBinary} {
				for _, n := range interopSizes {
					msg := makePayload(typ, n)
					if err := c.Write(typ, msg); err != nil {
						t.Fatalf("%s %d: write: %v", typeName(typ), n, err)
					}
					gotTyp, got, err := c.Read()
					if err != nil {
						t.Fatalf("%s %d: read: %v", typeName(typ), n, err)
					}
					if gotTyp != typ || !bytes.Equal(got, msg) {
						t.Fatalf("%s %d: echo is %s of %d bytes, differs", typeName(typ), n, typeName(gotTyp), len(got))
					}
				}
			}
			if err := c.Close(pistoke.CloseNormal, ""); err != nil {
				t.Fatalf("closing handshake: %v", err)
			}
		})
	}
}

func TestInteropMessageOverReadLimitFromPeer(t *testing.T) {
	base := interopServer(t)
	for _, p := range interopPeers {
		for _, typ := range []int{peerText, peerBinary} {
			t.Run(p.name+"/"+typeName(typ), func(t *testing.T) {
				c := dialPeer(t, p, base+"/echo/")
				// The server may close before the peer has written it all;
				// what matters is the close code the peer then reads.
				wrote := make(chan error, 1)
				go func() { wrote <- c.Write(typ, makePayload(typ, (1<<20)+1)) }()
				expectPeerClose(t, c, pistoke.CloseMessageTooBig)
				<-wrote
			})
		}
	}
}

func TestGorillaFragmentedWithPingBetween(t *testing.T) {
	base := interopServer(t)
	tap := &frameTap{}
	d := gws.Dialer{NetDialContext: tap.dial, WriteBufferSize: 1024}
	ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
	defer cancel()
	c, _, err := d.DialContext(ctx, base+"/echo/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(interopTimeout))
	pongs := make(chan string, 1)
	c.SetPongHandler(func(s string) error { pongs <- s; return nil })

	msg := makeText(10000)
	part1, part2 := splitInsideRune(t, msg)
	w, err := c.NextWriter(gws.TextMessage)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(part1); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteControl(gws.PingMessage, []byte("between fragments"), time.Now().Add(interopTimeout)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(part2); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	typ, got, err := c.ReadMessage()
	if err != nil || typ != gws.TextMessage || !bytes.Equal(got, msg) {
		t.Fatalf("echo: type %d, %d bytes, %v; want the %d-byte text", typ, len(got), err, len(msg))
	}
	// The server answered the ping while the message was still arriving,
	// so the pong came before the echo and its handler has run.
	select {
	case p := <-pongs:
		if p != "between fragments" {
			t.Fatalf("pong payload %q", p)
		}
	default:
		t.Fatal("no pong before the echo")
	}
	frames, _ := tap.wait(ctx, messageEnded)
	if ping := checkFragmented(t, frames, 1, 4, true); string(ping) != "between fragments" {
		t.Fatalf("recorded ping payload %q", ping)
	}
}

func TestCoderFragmentedWithPingBetween(t *testing.T) {
	base := interopServer(t)
	tap := &frameTap{}
	ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{DialContext: tap.dial}}
	c, _, err := cws.Dial(ctx, base+"/echo/", &cws.DialOptions{HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()

	msg := makeBinary(3000)
	w, err := c.Writer(ctx, cws.MessageBinary)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range [][]byte{msg[:1000], msg[1000:1001]} {
		if _, err := w.Write(part); err != nil {
			t.Fatal(err)
		}
	}
	// Ping waits for its pong, which only a Read can take in; send it
	// from another goroutine and go on once it is on the wire.
	pinged := make(chan error, 1)
	go func() { pinged <- c.Ping(ctx) }()
	if fs, err := tap.wait(ctx, func(fs []tapFrame) bool {
		return len(fs) > 0 && fs[len(fs)-1].op == 9
	}); err != nil {
		t.Fatalf("ping not sent: %v; frames %v", err, fs)
	}
	if _, err := w.Write(msg[1001:]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	typ, got, err := c.Read(ctx)
	if err != nil || typ != cws.MessageBinary || !bytes.Equal(got, msg) {
		t.Fatalf("echo: type %v, %d bytes, %v; want the %d-byte binary", typ, len(got), err, len(msg))
	}
	// coder's Ping returns once a pong with its own payload has arrived.
	if err := <-pinged; err != nil {
		t.Fatalf("ping: %v", err)
	}
	frames, _ := tap.wait(ctx, messageEnded)
	// Writer sends each Write as a frame and an empty final frame on
	// Close: four data frames.
	checkFragmented(t, frames, 2, 4, true)

	// Text split inside a rune over several frames is valid as a whole.
	text := makeText(500)
	a, b := splitInsideRune(t, text)
	w, err = c.Writer(ctx, cws.MessageText)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(a)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if typ, got, err := c.Read(ctx); err != nil || typ != cws.MessageText || !bytes.Equal(got, text) {
		t.Fatalf("text echo: type %v, %q, %v", typ, got, err)
	}
}

func TestInteropPingFromPeer(t *testing.T) {
	base := interopServer(t)
	t.Run("gorilla", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
		defer cancel()
		c, _, err := gws.DefaultDialer.DialContext(ctx, base+"/echo/", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(interopTimeout))
		pongs := make(chan string, 2)
		c.SetPongHandler(func(s string) error { pongs <- s; return nil })
		for _, payload := range []string{"", strings.Repeat("p", 125)} {
			if err := c.WriteControl(gws.PingMessage, []byte(payload), time.Now().Add(interopTimeout)); err != nil {
				t.Fatal(err)
			}
			// The pong precedes the echo of a message sent after the ping.
			if err := c.WriteMessage(gws.TextMessage, []byte("after ping")); err != nil {
				t.Fatal(err)
			}
			if _, got, err := c.ReadMessage(); err != nil || string(got) != "after ping" {
				t.Fatalf("echo: %q, %v", got, err)
			}
			select {
			case p := <-pongs:
				if p != payload {
					t.Fatalf("pong payload %q, want %q", p, payload)
				}
			default:
				t.Fatalf("no pong for the ping with %d bytes", len(payload))
			}
		}
	})
	t.Run("coder", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
		defer cancel()
		pongs := make(chan string, 1)
		c, _, err := cws.Dial(ctx, base+"/echo/", &cws.DialOptions{
			OnPongReceived: func(_ context.Context, p []byte) { pongs <- string(p) },
		})
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		readCtx := c.CloseRead(ctx) // takes in the pong
		if err := c.Ping(ctx); err != nil {
			t.Fatalf("ping: %v", err)
		}
		if p := <-pongs; p != "1" {
			t.Fatalf("pong payload %q, want coder's first ping counter", p)
		}
		if readCtx.Err() != nil {
			t.Fatal("connection ended after the ping")
		}
	})
}

func TestInteropSubprotocolNegotiation(t *testing.T) {
	base := interopServer(t)
	for _, p := range interopPeers {
		t.Run(p.name, func(t *testing.T) {
			// The client's order wins over the server's.
			c := dialPeer(t, p, base+"/sub/", "chat", "v1.proto", "v2.proto")
			if got := c.Subprotocol(); got != "v1.proto" {
				t.Fatalf("Subprotocol() = %q, want v1.proto", got)
			}
			if _, got, err := c.Read(); err != nil || string(got) != "v1.proto" {
				t.Fatalf("handler saw %q, %v; want v1.proto", got, err)
			}
			for _, offer := range [][]string{{"chat"}, nil} {
				ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
				_, resp, err := p.dial(ctx, base+"/sub/", offer)
				cancel()
				if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
					status := 0
					if resp != nil {
						status = resp.StatusCode
					}
					t.Fatalf("offering %q: status %d, %v; want 403", offer, status, err)
				}
			}
		})
	}
}

func TestInteropCloseCodesSeenByPeer(t *testing.T) {
	base := interopServer(t)
	for _, p := range interopPeers {
		for _, tc := range []struct {
			path   string
			code   int
			reason string
		}{
			{"/return/", pistoke.CloseNormal, ""},
			{"/error/", pistoke.CloseInternalError, "internal error"},
			{"/panic/", pistoke.CloseInternalError, "internal error"},
			{"/custom/", 4001, "x"},
			// A close frame holds 123 bytes of reason: cut at a rune boundary.
			{"/long-reason/", 4002, strings.Repeat("é", 61)},
			{"/inside-403/", 4403, "Forbidden"},
		} {
			t.Run(p.name+tc.path, func(t *testing.T) {
				c := dialPeer(t, p, base+tc.path)
				if reason := expectPeerClose(t, c, tc.code); reason != tc.reason {
					t.Fatalf("reason %q, want %q", reason, tc.reason)
				}
			})
		}
	}
}

func TestInteropPeerCloseReachesHandler(t *testing.T) {
	got := make(chan error, 1)
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /recv/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		_, _, err := ws.Receive()
		got <- err
		return err
	}))
	base := serve(t, pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()}))
	for _, p := range interopPeers {
		t.Run(p.name, func(t *testing.T) {
			c := dialPeer(t, p, base+"/recv/")
			if err := c.Close(pistoke.CloseGoingAway, "tab closed ✓"); err != nil {
				t.Fatalf("closing handshake: %v", err)
			}
			err := <-got
			var ce *pistoke.CloseError
			if !errors.As(err, &ce) || ce.Code != pistoke.CloseGoingAway || ce.Reason != "tab closed ✓" {
				t.Fatalf("handler's Receive = %v, want CloseError 1001 %q", err, "tab closed ✓")
			}
			if !errors.Is(err, pistoke.ErrClosed) {
				t.Fatalf("%v does not match ErrClosed", err)
			}
		})
	}
}

func TestInteropInvalidUTF8FromPeer(t *testing.T) {
	base := interopServer(t)
	for _, p := range interopPeers {
		for _, tc := range []struct{ name, text string }{
			{"bad byte", "ok \xff"},
			{"truncated rune", "euro \xe2\x82"},
			{"surrogate", "\xed\xa0\x80"},
			{"overlong", "\xc0\xaf"},
		} {
			t.Run(p.name+"/"+tc.name, func(t *testing.T) {
				c := dialPeer(t, p, base+"/echo/")
				if err := c.Write(peerText, []byte("valid first")); err != nil {
					t.Fatal(err)
				}
				if _, got, err := c.Read(); err != nil || string(got) != "valid first" {
					t.Fatalf("echo: %q, %v", got, err)
				}
				if err := c.Write(peerText, []byte(tc.text)); err != nil {
					t.Fatal(err)
				}
				expectPeerClose(t, c, pistoke.CloseInvalidPayload)
			})
		}
	}
	t.Run("gorilla/bad byte in a later fragment", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
		defer cancel()
		d := gws.Dialer{WriteBufferSize: 512}
		c, _, err := d.DialContext(ctx, base+"/echo/", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(interopTimeout))
		msg := append(makeText(4000), 0xff)
		if err := c.WriteMessage(gws.TextMessage, msg); err != nil {
			t.Fatal(err)
		}
		expectPeerClose(t, gorillaConn{c}, pistoke.CloseInvalidPayload)
	})
}

func TestInteropManyConcurrentPeers(t *testing.T) {
	const conns, each = 50, 100
	base := interopServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
	defer cancel()
	errs := make(chan error, conns)
	var wg sync.WaitGroup
	for i := range conns {
		p := interopPeers[i%len(interopPeers)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- func() error {
				c, _, err := p.dial(ctx, base+"/echo/", nil)
				if err != nil {
					return fmt.Errorf("%s conn %d: dial: %w", p.name, i, err)
				}
				defer c.Abort()
				for j := range each {
					typ := peerText + j%2
					msg := fmt.Appendf(nil, "conn %d message %d %s", i, j, makePayload(typ, j))
					if err := c.Write(typ, msg); err != nil {
						return fmt.Errorf("%s conn %d message %d: write: %w", p.name, i, j, err)
					}
					gotTyp, got, err := c.Read()
					if err != nil {
						return fmt.Errorf("%s conn %d message %d: read: %w", p.name, i, j, err)
					}
					if gotTyp != typ || !bytes.Equal(got, msg) {
						return fmt.Errorf("%s conn %d message %d: echo %q, want %q", p.name, i, j, got, msg)
					}
				}
				return c.Close(pistoke.CloseNormal, "")
			}()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestGorillaCloseFramesReachHandler(t *testing.T) {
	got := make(chan error, 1)
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /recv/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		_, _, err := ws.Receive()
		got <- err
		return err
	}))
	base := serve(t, pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()}))
	dial := func(t *testing.T) *gws.Conn {
		ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
		defer cancel()
		c, _, err := gws.DefaultDialer.DialContext(ctx, base+"/recv/", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetReadDeadline(time.Now().Add(interopTimeout))
		return c
	}
	t.Run("no status", func(t *testing.T) {
		c := dial(t)
		if err := c.WriteControl(gws.CloseMessage, nil, time.Now().Add(interopTimeout)); err != nil {
			t.Fatal(err)
		}
		// The server answers a close without a code with one without a
		// code, which gorilla reports as 1005.
		expectPeerClose(t, gorillaConn{c}, pistoke.CloseNoStatus)
		var ce *pistoke.CloseError
		if err := <-got; !errors.As(err, &ce) || ce.Code != pistoke.CloseNoStatus {
			t.Fatalf("handler's Receive = %v, want CloseError 1005", err)
		}
	})
	t.Run("inside a fragmented message", func(t *testing.T) {
		c := dial(t)
		w, err := c.NextWriter(gws.BinaryMessage)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(makeBinary(5000)) // over the write buffer: a fragment goes out
		if err := c.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(4100, "abandoned"), time.Now().Add(interopTimeout)); err != nil {
			t.Fatal(err)
		}
		expectPeerClose(t, gorillaConn{c}, 4100)
		var ce *pistoke.CloseError
		if err := <-got; !errors.As(err, &ce) || ce.Code != 4100 || ce.Reason != "abandoned" {
			t.Fatalf("handler's Receive = %v, want CloseError 4100 abandoned", err)
		}
	})
}

func TestGorillaInvalidCloseFrames(t *testing.T) {
	base := interopServer(t)
	for _, tc := range []struct {
		name    string
		payload []byte
		code    int
	}{
		{"1-byte payload", []byte{0x03}, pistoke.CloseProtocolError},
		{"code 1005 on the wire", []byte{0x03, 0xed}, pistoke.CloseProtocolError},
		{"code 1006 on the wire", []byte{0x03, 0xee}, pistoke.CloseProtocolError},
		{"code 999", []byte{0x03, 0xe7}, pistoke.CloseProtocolError},
		{"code 2000", []byte{0x07, 0xd0}, pistoke.CloseProtocolError},
		{"reason not UTF-8", []byte{0x03, 0xe8, 'o', 'k', 0xff}, pistoke.CloseInvalidPayload},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
			defer cancel()
			c, _, err := gws.DefaultDialer.DialContext(ctx, base+"/echo/", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(interopTimeout))
			if err := c.WriteControl(gws.CloseMessage, tc.payload, time.Now().Add(interopTimeout)); err != nil {
				t.Fatal(err)
			}
			expectPeerClose(t, gorillaConn{c}, tc.code)
		})
	}
}

func TestCoderPingWhileHandlerWaitsOnContext(t *testing.T) {
	// A handler that only watches its context and never receives still
	// answers pings, because watching the context reads the socket.
	ended := make(chan error, 1)
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /wait/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		done := ws.Context().Done()
		if err := ws.SendText("ready"); err != nil {
			return err
		}
		<-done
		ended <- ws.Context().Err()
		return nil
	}))
	base := serve(t, pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()}))
	ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
	defer cancel()
	c, _, err := cws.Dial(ctx, base+"/wait/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if _, p, err := c.Read(ctx); err != nil || string(p) != "ready" {
		t.Fatalf("first message %q, %v", p, err)
	}
	c.CloseRead(ctx) // takes in the pongs
	for range 3 {
		if err := c.Ping(ctx); err != nil {
			t.Fatalf("ping: %v", err)
		}
	}
	if err := c.Close(cws.StatusGoingAway, ""); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := <-ended; !errors.Is(err, context.Canceled) {
		t.Fatalf("handler's context: %v, want context.Canceled", err)
	}
}

// B. pistoke client, foreign servers.

// foreignServer starts an httptest server whose handler runs serve for
// each request, and waits for those handlers when the test ends, so that
// they may report errors. A non-nil tap records what the server writes.
func foreignServer(t *testing.T, tap *frameTap, serve func(w http.ResponseWriter, r *http.Request) error) string {
	t.Helper()
	var wg sync.WaitGroup
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		defer wg.Done()
		if err := serve(w, r); err != nil {
			t.Errorf("server: %v", err)
		}
	}))
	if tap != nil {
		srv.Listener = tapListener{Listener: srv.Listener, tap: tap}
	}
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		wg.Wait()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// gorillaServer serves each handshake with up and then fn.
func gorillaServer(t *testing.T, up gws.Upgrader, tap *frameTap, fn func(c *gws.Conn) error) string {
	t.Helper()
	return foreignServer(t, tap, func(w http.ResponseWriter, r *http.Request) error {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return nil // refused; the client is told
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(interopTimeout))
		return fn(c)
	})
}

// coderServer serves each handshake with opts and then fn.
func coderServer(t *testing.T, opts *cws.AcceptOptions, tap *frameTap, fn func(ctx context.Context, c *cws.Conn) error) string {
	t.Helper()
	return foreignServer(t, tap, func(w http.ResponseWriter, r *http.Request) error {
		c, err := cws.Accept(w, r, opts)
		if err != nil {
			return nil
		}
		defer c.CloseNow()
		c.SetReadLimit(4 << 20)
		ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
		defer cancel()
		return fn(ctx, c)
	})
}

func gorillaEcho(c *gws.Conn) error {
	for {
		typ, p, err := c.ReadMessage()
		if err != nil {
			if gws.IsCloseError(err, gws.CloseNormalClosure, gws.CloseGoingAway) {
				return nil
			}
			return err
		}
		if err := c.WriteMessage(typ, p); err != nil {
			return err
		}
	}
}

func coderEcho(ctx context.Context, c *cws.Conn) error {
	for {
		typ, p, err := c.Read(ctx)
		if err != nil {
			if s := cws.CloseStatus(err); s == cws.StatusNormalClosure || s == cws.StatusGoingAway {
				return nil
			}
			return err
		}
		if err := c.Write(ctx, typ, p); err != nil {
			return err
		}
	}
}

// foreignEchoServers starts gorilla's and coder's echo servers, for the
// tests that treat the two alike.
func foreignEchoServers(t *testing.T) map[string]string {
	return map[string]string{
		"gorilla": gorillaServer(t, gws.Upgrader{}, nil, gorillaEcho),
		"coder":   coderServer(t, nil, nil, coderEcho),
	}
}

// boundConn makes a pistoke client connection fail instead of hang when
// a server misbehaves.
func boundConn(ws *pistoke.Conn) *pistoke.Conn {
	ws.NetConn().SetDeadline(time.Now().Add(interopTimeout))
	return ws
}

func TestInteropEchoFromForeignServers(t *testing.T) {
	for name, url := range foreignEchoServers(t) {
		t.Run(name, func(t *testing.T) {
			ws := boundConn(dialOK(t, url, nil))
			for _, typ := range []pistoke.MessageType{pistoke.Text, pistoke.Binary} {
				for _, n := range interopSizes {
					msg := makePayload(int(typ), n)
					if err := ws.Send(typ, msg); err != nil {
						t.Fatalf("%v %d: send: %v", typ, n, err)
					}
					gotTyp, got, err := ws.Receive()
					if err != nil {
						t.Fatalf("%v %d: receive: %v", typ, n, err)
					}
					if gotTyp != typ || !bytes.Equal(got, msg) {
						t.Fatalf("%v %d: echo is %v of %d bytes, differs", typ, n, gotTyp, len(got))
					}
				}
			}
			if err := ws.Close(pistoke.CloseNormal, ""); err != nil {
				t.Fatalf("closing handshake: %v", err)
			}
		})
	}
}

func TestInteropMessageOverReadLimitFromServer(t *testing.T) {
	big := makeBinary((1 << 20) + 1)
	servers := map[string]string{
		"gorilla": gorillaServer(t, gws.Upgrader{}, nil, func(c *gws.Conn) error {
			c.WriteMessage(gws.BinaryMessage, big) // may fail once the client gives up
			_, _, err := c.ReadMessage()
			if !gws.IsCloseError(err, gws.CloseMessageTooBig) {
				return fmt.Errorf("read after the big message: %v, want close 1009", err)
			}
			return nil
		}),
		"coder": coderServer(t, nil, nil, func(ctx context.Context, c *cws.Conn) error {
			c.Write(ctx, cws.MessageBinary, big)
			_, _, err := c.Read(ctx)
			if cws.CloseStatus(err) != cws.StatusMessageTooBig {
				return fmt.Errorf("read after the big message: %v, want close 1009", err)
			}
			return nil
		}),
	}
	for name, url := range servers {
		t.Run(name, func(t *testing.T) {
			ws := boundConn(dialOK(t, url, nil))
			expectClose(t, ws, pistoke.CloseMessageTooBig)
		})
	}
}

func TestGorillaServerPingsPistoke(t *testing.T) {
	url := gorillaServer(t, gws.Upgrader{}, nil, func(c *gws.Conn) error {
		c.SetPongHandler(func(s string) error {
			return c.WriteMessage(gws.TextMessage, []byte("pong:"+s))
		})
		if err := c.WriteControl(gws.PingMessage, []byte("are you there"), time.Now().Add(interopTimeout)); err != nil {
			return err
		}
		return gorillaEcho(c)
	})
	ws := boundConn(dialOK(t, url, nil))
	// Receive answers the ping on the way to the server's next message.
	expectText(t, ws, "pong:are you there")
}

func TestCoderServerPingsPistoke(t *testing.T) {
	pongs := make(chan string, 1)
	url := coderServer(t, &cws.AcceptOptions{
		OnPongReceived: func(_ context.Context, p []byte) { pongs <- string(p) },
	}, nil, func(ctx context.Context, c *cws.Conn) error {
		readCtx := c.CloseRead(ctx) // takes in the pong
		if err := c.Ping(ctx); err != nil {
			return err
		}
		if err := c.Write(ctx, cws.MessageText, []byte("pinged")); err != nil {
			return err
		}
		<-readCtx.Done()
		return nil
	})
	ws := boundConn(dialOK(t, url, nil))
	expectText(t, ws, "pinged")
	if p := <-pongs; p != "1" {
		t.Fatalf("pong payload %q, want coder's first ping counter", p)
	}
}

func TestInteropServerClosesWithCode(t *testing.T) {
	const code, reason = 4002, "come back later ✓"
	servers := map[string]string{
		"gorilla": gorillaServer(t, gws.Upgrader{}, nil, func(c *gws.Conn) error {
			if err := c.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(code, reason), time.Now().Add(interopTimeout)); err != nil {
				return err
			}
			_, _, err := c.ReadMessage()
			if !gws.IsCloseError(err, code) {
				return fmt.Errorf("client's answer: %v, want close %d", err, code)
			}
			return nil
		}),
		"coder": coderServer(t, nil, nil, func(ctx context.Context, c *cws.Conn) error {
			return c.Close(code, reason)
		}),
	}
	for name, url := range servers {
		t.Run(name, func(t *testing.T) {
			ws := boundConn(dialOK(t, url, nil))
			if ce := expectClose(t, ws, code); ce.Reason != reason {
				t.Fatalf("reason %q, want %q", ce.Reason, reason)
			}
		})
	}
}

func TestInteropSubprotocolChosenByServer(t *testing.T) {
	// Both libraries pick by their own list's order, not the client's.
	supported := []string{"v2.proto", "v1.proto"}
	sendChoice := func(sub string) []byte { return []byte("server chose " + sub) }
	servers := map[string]string{
		"gorilla": gorillaServer(t, gws.Upgrader{Subprotocols: supported}, nil, func(c *gws.Conn) error {
			if err := c.WriteMessage(gws.TextMessage, sendChoice(c.Subprotocol())); err != nil {
				return err
			}
			return gorillaEcho(c)
		}),
		"coder": coderServer(t, &cws.AcceptOptions{Subprotocols: supported}, nil, func(ctx context.Context, c *cws.Conn) error {
			if err := c.Write(ctx, cws.MessageText, sendChoice(c.Subprotocol())); err != nil {
				return err
			}
			return coderEcho(ctx, c)
		}),
	}
	for name, url := range servers {
		t.Run(name, func(t *testing.T) {
			ws := boundConn(dialOK(t, url, &pistoke.DialOptions{Subprotocols: []string{"chat", "v1.proto", "v2.proto"}}))
			if got := ws.Subprotocol(); got != "v2.proto" {
				t.Fatalf("Subprotocol() = %q, want v2.proto", got)
			}
			expectText(t, ws, "server chose v2.proto")
		})
	}
}

func TestGorillaServerSendsFragmentedMessage(t *testing.T) {
	tap := &frameTap{}
	msg := makeText(30000)
	a, rest := splitInsideRune(t, msg)
	b, c := splitInsideRune(t, rest)
	pongs := make(chan string, 1)
	url := gorillaServer(t, gws.Upgrader{WriteBufferSize: 1024}, tap, func(conn *gws.Conn) error {
		conn.SetPongHandler(func(s string) error { pongs <- s; return nil })
		w, err := conn.NextWriter(gws.TextMessage)
		if err != nil {
			return err
		}
		// Writes over twice the buffer go out as frames of their own.
		if _, err := w.Write(a); err != nil {
			return err
		}
		if err := conn.WriteControl(gws.PingMessage, []byte("mid-message"), time.Now().Add(interopTimeout)); err != nil {
			return err
		}
		for _, part := range [][]byte{b, c} {
			if _, err := w.Write(part); err != nil {
				return err
			}
		}
		if err := w.Close(); err != nil {
			return err
		}
		return gorillaEcho(conn)
	})
	ws := boundConn(dialOK(t, url, nil))
	typ, got, err := ws.Receive()
	if err != nil || typ != pistoke.Text || !bytes.Equal(got, msg) {
		t.Fatalf("Receive: %v, %d bytes, %v; want the %d-byte text", typ, len(got), err, len(msg))
	}
	// The echo of this message comes after the server read the pong.
	if err := ws.SendText("ack"); err != nil {
		t.Fatal(err)
	}
	expectText(t, ws, "ack")
	if p := <-pongs; p != "mid-message" {
		t.Fatalf("pong payload %q", p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
	defer cancel()
	frames, _ := tap.wait(ctx, messageEnded)
	checkFragmented(t, frames, 1, 3, true)
}

func TestCoderServerSendsFragmentedMessage(t *testing.T) {
	tap := &frameTap{}
	msg := makeBinary(20000)
	url := coderServer(t, nil, tap, func(ctx context.Context, c *cws.Conn) error {
		w, err := c.Writer(ctx, cws.MessageBinary)
		if err != nil {
			return err
		}
		for _, part := range [][]byte{msg[:1], msg[1:5000], msg[5000:]} {
			if _, err := w.Write(part); err != nil {
				return err
			}
		}
		if err := w.Close(); err != nil {
			return err
		}
		return coderEcho(ctx, c)
	})
	ws := boundConn(dialOK(t, url, nil))
	typ, got, err := ws.Receive()
	if err != nil || typ != pistoke.Binary || !bytes.Equal(got, msg) {
		t.Fatalf("Receive: %v, %d bytes, %v; want the %d-byte binary", typ, len(got), err, len(msg))
	}
	ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
	defer cancel()
	frames, _ := tap.wait(ctx, messageEnded)
	// Three writes and coder's empty final frame.
	checkFragmented(t, frames, 2, 4, false)
}

func TestInteropDialRefusedByForeignServer(t *testing.T) {
	servers := map[string]string{
		"gorilla": gorillaServer(t, gws.Upgrader{CheckOrigin: func(*http.Request) bool { return false }}, nil,
			func(*gws.Conn) error { return errors.New("upgraded a refused handshake") }),
		"coder": coderServer(t, nil, nil, func(context.Context, *cws.Conn) error {
			return errors.New("upgraded a handshake from a foreign origin")
		}),
	}
	for name, url := range servers {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
			defer cancel()
			ws, resp, err := pistoke.Dial(ctx, url, &pistoke.DialOptions{
				Header: http.Header{"Origin": {"http://evil.example"}},
			})
			if err == nil {
				ws.Close(pistoke.CloseNormal, "")
				t.Fatal("Dial succeeded")
			}
			var he *pistoke.HandshakeError
			if !errors.As(err, &he) || he.Status != http.StatusForbidden {
				t.Fatalf("Dial = %v, want a HandshakeError with status 403", err)
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("response %v, want the 403", resp)
			}
			if body, _ := io.ReadAll(resp.Body); he.Reason == "" || !strings.Contains(string(body), he.Reason) {
				t.Fatalf("Reason %q does not carry the body %q", he.Reason, body)
			}
		})
	}
}

func TestGorillaServerInvalidUTF8(t *testing.T) {
	url := gorillaServer(t, gws.Upgrader{}, nil, func(c *gws.Conn) error {
		if err := c.WriteMessage(gws.TextMessage, []byte("not \xff UTF-8")); err != nil {
			return err
		}
		_, _, err := c.ReadMessage()
		if !gws.IsCloseError(err, gws.CloseInvalidFramePayloadData) {
			return fmt.Errorf("client's answer: %v, want close 1007", err)
		}
		return nil
	})
	ws := boundConn(dialOK(t, url, nil))
	expectClose(t, ws, pistoke.CloseInvalidPayload)
}

func TestGorillaServerFragmentsAtReadLimit(t *testing.T) {
	// The read limit counts the whole message, not each fragment.
	url := gorillaServer(t, gws.Upgrader{WriteBufferSize: 1024}, nil, func(c *gws.Conn) error {
		for _, n := range []int{(1 << 20), (1 << 20) + 1} {
			w, err := c.NextWriter(gws.BinaryMessage)
			if err != nil {
				return err
			}
			msg := makeBinary(n)
			for len(msg) > 0 {
				k := min(len(msg), 1000)
				if _, err := w.Write(msg[:k]); err != nil {
					return nil // the client gave up on the second message
				}
				msg = msg[k:]
			}
			if err := w.Close(); err != nil {
				return nil
			}
		}
		_, _, err := c.ReadMessage()
		if !gws.IsCloseError(err, gws.CloseMessageTooBig) {
			return fmt.Errorf("client's answer: %v, want close 1009", err)
		}
		return nil
	})
	ws := boundConn(dialOK(t, url, nil))
	typ, got, err := ws.Receive()
	if err != nil || typ != pistoke.Binary || !bytes.Equal(got, makeBinary((1<<20))) {
		t.Fatalf("message at the limit: %v, %d bytes, %v", typ, len(got), err)
	}
	expectClose(t, ws, pistoke.CloseMessageTooBig)
}

func TestInteropManyPistokeClients(t *testing.T) {
	// Each client sends from one goroutine while another receives.
	const conns, each = 25, 100
	for name, url := range foreignEchoServers(t) {
		t.Run(name, func(t *testing.T) {
			errs := make(chan error, 2*conns)
			var wg sync.WaitGroup
			for i := range conns {
				ws := boundConn(dialOK(t, url, nil))
				wg.Add(2)
				go func() {
					defer wg.Done()
					for j := range each {
						if err := ws.SendText(fmt.Sprintf("client %d message %d", i, j)); err != nil {
							errs <- fmt.Errorf("client %d: send: %w", i, err)
							return
						}
					}
				}()
				go func() {
					defer wg.Done()
					for j := range each {
						typ, p, err := ws.Receive()
						want := fmt.Sprintf("client %d message %d", i, j)
						if err != nil || typ != pistoke.Text || string(p) != want {
							errs <- fmt.Errorf("client %d: received %v %q %v, want %q", i, typ, p, err, want)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}
