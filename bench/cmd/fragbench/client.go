package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/pistoke/pistoke/bench/internal/harness"
)

// result is what a client process prints: the message it sent, and the
// server's counters across the measured phase only.
type result struct {
	Case          string `json:"case"`
	Messages      int64  `json:"messages"`      // messages sent and answered in the measured phase
	WireBytes     int64  `json:"wire_bytes"`    // bytes of one message on the wire
	PayloadBytes  int64  `json:"payload_bytes"` // payload bytes of one message
	Frames        int64  `json:"frames"`        // frames of one message
	ServerUser    int64  `json:"server_user_ns"`
	ServerSys     int64  `json:"server_sys_ns"`
	ServerMallocs int64  `json:"server_mallocs"`
	ServerAlloc   int64  `json:"server_alloc_bytes"`
	ServerGCs     int64  `json:"server_gcs"`
	ServerReads   int64  `json:"server_reads"` // read system calls
	WallNanos     int64  `json:"wall_ns"`
	ClientNanos   int64  `json:"client_cpu_ns"` // the client process's own CPU time
}

// serverNanos returns the server's CPU time across the measured phase.
func (r result) serverNanos() float64 { return float64(r.ServerUser + r.ServerSys) }

// cpuPerMsg returns the server CPU time per message, in µs.
func (r result) cpuPerMsg() float64 { return r.serverNanos() / float64(r.Messages) / 1e3 }

// nsPerWireByte returns the server CPU time per byte on the wire, in ns.
func (r result) nsPerWireByte() float64 {
	return r.serverNanos() / float64(r.Messages*r.WireBytes)
}

// nsPerPayloadByte returns the server CPU time per payload byte, in ns.
func (r result) nsPerPayloadByte() float64 {
	return r.serverNanos() / float64(r.Messages*r.PayloadBytes)
}

func clientMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fragbench client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	wsURL := fs.String("url", "", "WebSocket URL of the sink endpoint")
	ctlAddr := fs.String("ctl", "", "address of the server's control listener")
	name := fs.String("case", cases[0].name, "case to send: "+caseNames(cases))
	size := fs.Int("size", 1<<20, "message size in bytes")
	msgs := fs.Int("msgs", 100, "measured messages")
	warmup := fs.Int("warmup", 2, "messages before measuring")
	profile := fs.Bool("profile", false, "have the server profile its CPU during the measured phase, into <case>-cpu.pprof")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c, err := lookupCase(*name)
	if err != nil {
		fmt.Fprintln(stderr, "fragbench client:", err)
		return 2
	}
	res, err := measure(*wsURL, harness.NewControlClient(*ctlAddr, 2*time.Minute), c, *size, *msgs, *warmup, *profile)
	return harness.Finish(stdout, stderr, "fragbench client", res, err)
}

// measure sends the case's message to the server at wsURL, warmup times
// and then msgs times, and returns what the last msgs cost the server,
// which ctl reports.
func measure(wsURL string, ctl *harness.ControlClient, c msgCase, size, msgs, warmup int, profile bool) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	payload, stream := c.build(size, 1)
	wc, err := dialRaw(ctx, wsURL)
	if err != nil {
		return result{}, err
	}
	defer wc.close()
	// A first request opens the control connection, which the ones
	// around the measured phase then reuse.
	var before, after stats
	if err := ctl.Get(ctx, "/stats", &before); err != nil {
		return result{}, err
	}
	want := strconv.AppendInt([]byte{c.tag()}, int64(len(payload)), 10)
	send := func() error {
		if err := wc.conn.SetDeadline(time.Now().Add(2 * time.Minute)); err != nil {
			return err
		}
		if _, err := wc.conn.Write(stream); err != nil {
			return err
		}
		return wc.expect(want)
	}
	for range warmup {
		if err := send(); err != nil {
			return result{}, fmt.Errorf("warm-up: %w", err)
		}
	}
	if profile {
		if err := ctl.Do(ctx, http.MethodPost, "/profile/cpu/start", url.Values{"name": {c.name}}, nil); err != nil {
			return result{}, err
		}
	}
	if err := ctl.Get(ctx, "/stats", &before); err != nil {
		return result{}, err
	}
	cu0, cs0, err := harness.CPUTime()
	if err != nil {
		return result{}, err
	}
	start := time.Now()
	for i := range msgs {
		if err := send(); err != nil {
			return result{}, fmt.Errorf("message %d: %w", i+1, err)
		}
	}
	wall := time.Since(start)
	cu1, cs1, err := harness.CPUTime()
	if err != nil {
		return result{}, err
	}
	if err := ctl.Get(ctx, "/stats", &after); err != nil {
		return result{}, err
	}
	if profile {
		if err := ctl.Post(ctx, "/profile/cpu/stop"); err != nil {
			return result{}, err
		}
	}
	if n, b := after.Messages-before.Messages, after.PayloadBytes-before.PayloadBytes; n != int64(msgs) || b != int64(msgs)*int64(len(payload)) {
		return result{}, fmt.Errorf("server received %d messages of %d bytes in all, want %d of %d", n, b, msgs, msgs*len(payload))
	}
	return result{
		Case:          c.name,
		Messages:      int64(msgs),
		WireBytes:     int64(len(stream)),
		PayloadBytes:  int64(len(payload)),
		Frames:        int64(c.frames(size)),
		ServerUser:    after.UserNanos - before.UserNanos,
		ServerSys:     after.SysNanos - before.SysNanos,
		ServerMallocs: int64(after.Mallocs - before.Mallocs),
		ServerAlloc:   int64(after.AllocBytes - before.AllocBytes),
		ServerGCs:     int64(after.NumGC - before.NumGC),
		ServerReads:   after.Reads - before.Reads,
		WallNanos:     wall.Nanoseconds(),
		ClientNanos:   ((cu1 + cs1) - (cu0 + cs0)).Nanoseconds(),
	}, nil
}

// rawConn is a client WebSocket connection that writes frames it is
// given as they are, and reads the server's frames itself.
type rawConn struct {
	conn net.Conn
	br   *bufio.Reader
}

// acceptGUID is the GUID of RFC 6455's Sec-WebSocket-Accept.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// dialRaw opens a WebSocket connection to wsURL (ws:// only) with an
// opening handshake of its own.
func dialRaw(ctx context.Context, wsURL string) (*rawConn, error) {
	u, err := url.Parse(wsURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "ws" {
		return nil, fmt.Errorf("dial %s: want a ws:// URL", wsURL)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\n" +
		"Host: " + u.Host + "\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\n" +
		"Sec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(conn, 4<<10)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		conn.Close()
		return nil, err
	}
	resp.Body.Close()
	sum := sha1.Sum([]byte(key + acceptGUID))
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-Websocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		conn.Close()
		return nil, fmt.Errorf("dial %s: handshake answered %s", wsURL, resp.Status)
	}
	_ = conn.SetDeadline(time.Time{})
	return &rawConn{conn: conn, br: br}, nil
}

// readFrame reads one frame from the server, which are unmasked and, for
// this client, small.
func (c *rawConn) readFrame() (fin bool, op byte, p []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return false, 0, nil, err
	}
	if h[1]&0x80 != 0 {
		return false, 0, nil, errors.New("server sent a masked frame")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return false, 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return false, 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > 1<<20 {
		return false, 0, nil, fmt.Errorf("server frame of %d bytes", n)
	}
	p = make([]byte, n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		return false, 0, nil, err
	}
	return h[0]&0x80 != 0, h[0] & 0x0f, p, nil
}

// expect reads the server's next message, answering pings on the way,
// and checks that it is the text message want.
func (c *rawConn) expect(want []byte) error {
	for {
		fin, op, p, err := c.readFrame()
		if err != nil {
			return fmt.Errorf("reading the answer: %w", err)
		}
		switch op {
		case opPing:
			if _, err := c.conn.Write(appendFrame(nil, true, opPong, 0, p)); err != nil {
				return err
			}
		case opPong:
		case opText:
			if !fin || string(p) != string(want) {
				return fmt.Errorf("server answered %q (final %v), want %q", p, fin, want)
			}
			return nil
		case opClose:
			code := 0
			if len(p) >= 2 {
				code = int(binary.BigEndian.Uint16(p))
			}
			return fmt.Errorf("server closed the connection: %d %q", code, p[min(2, len(p)):])
		default:
			return fmt.Errorf("server sent a frame with opcode %#x, want a text answer", op)
		}
	}
}

// close runs the closing handshake: it sends a close frame, 1000, reads
// until the server's close frame or the end of the stream, and closes
// the connection.
func (c *rawConn) close() {
	defer c.conn.Close()
	_ = c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.conn.Write(appendFrame(nil, true, opClose, 0x12345678, []byte{0x03, 0xe8})); err != nil {
		return
	}
	for {
		_, op, _, err := c.readFrame()
		if err != nil || op == opClose {
			return
		}
	}
}
