package main

// These tests run the seedcases server as a separate process and check it
// over real TCP with WebSocket clients written in other languages, so that
// the server is judged by independent implementations rather than by
// pistoke's own client.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pistoke/pistoke/internal/proctest"
)

// interopCases are the cases every interop client must report as passed.
// A client that skips one fails the test as surely as one that fails it.
var interopCases = []string{
	"http-get-echo",
	"http-get-class",
	"echo",
	"echo-iter",
	"raw-text",
	"raw-binary",
	"empty",
	"sub-client-order",
	"sub-greater",
	"sub-none-offered",
	"sub-none-compatible",
	"private-outer-denied",
	"private-outer-allowed",
	"private-inner-denied",
	"private-inner-allowed",
	"origin-hostile",
	"origin-exempt",
	"origin-allowed-host",
	"origin-same-host",
	"csrf-valid",
	"csrf-invalid",
	"arith-summa",
	"arith-erotus",
	"arith-bad-token",
	"json-echo",
	"json-invalid",
	"fail",
	"panic",
	"class-text",
	"class-binary",
	"get-only",
	"redirect",
	"nested",
	"unknown-path",
}

const (
	listenPrefix  = "pistoke seedcases listening on "
	startTimeout  = 30 * time.Second
	stopTimeout   = 10 * time.Second
	clientTimeout = 5 * time.Minute
)

// serverBin is the seedcases server, built once by TestMain.
var serverBin string

func TestMain(m *testing.M) {
	os.Exit(proctest.BuildAndRun(m, ".", "seedcases", &serverBin))
}

// server is a seedcases server process and where it listens.
type server struct {
	*proctest.Process
	addr string // host:port
}

// startServer starts the server on a free port, with extra flags, and
// waits until it says where it listens. The process is interrupted when
// the test ends; its log is shown if the test failed, and a data race it
// reported fails the test.
func startServer(t *testing.T, flags ...string) *server {
	t.Helper()
	cmd := proctest.Command(serverBin, append([]string{"-addr", "127.0.0.1:0"}, flags...)...)
	p := proctest.Start(t, cmd, &proctest.Options{Signal: os.Interrupt, StopTimeout: stopTimeout, CheckRaces: true})
	line := p.FirstLine(t, startTimeout)
	rawURL, ok := strings.CutPrefix(line, listenPrefix)
	if !ok {
		t.Fatalf("first line of output = %q; want %q followed by the URL", line, listenPrefix)
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "http" || u.Host == "" || u.Path != "" {
		t.Fatalf("listening URL %q is not http://HOST:PORT", rawURL)
	}
	if host, port, err := net.SplitHostPort(u.Host); err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("listening URL %q: want 127.0.0.1 and the real port", rawURL)
	}
	return &server{Process: p, addr: u.Host}
}

// runClient runs an interop client against a fresh server and checks
// that it passed every case in interopCases and nothing else.
func runClient(t *testing.T, name string, args ...string) {
	runClientWith(t, nil, name, args...)
}

// runClientWith is runClient against a server started with serverFlags;
// it returns the server, for its log.
func runClientWith(t *testing.T, serverFlags []string, name string, args ...string) *server {
	s := startServer(t, serverFlags...)
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, append(args, "ws://"+s.addr)...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Errorf("client did not finish within %v", clientTimeout)
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("running client: %v", err)
	}

	passed := map[string]bool{}
	for line := range strings.Lines(string(out)) {
		line = strings.TrimRight(line, "\r\n")
		if c, ok := strings.CutPrefix(line, "ok "); ok {
			if !slices.Contains(interopCases, c) {
				t.Errorf("client passed a case this test does not know: %q", c)
			}
			passed[c] = true
		} else if strings.HasPrefix(line, "FAIL ") {
			t.Error(line)
		}
	}
	for _, c := range interopCases {
		if !passed[c] {
			t.Errorf("case %s: client did not report ok", c)
		}
	}
	if err != nil {
		t.Errorf("client exited with %v", err)
	}
	if t.Failed() {
		t.Logf("client output:\n%s", out)
	}
	return s
}

// requirePeer skips the test when a peer client is not installed, except
// in CI, where a missing peer means the gate would silently test less.
func requirePeer(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (CI is set, so this is an error)")
	}
	t.Skip(msg)
}

const python = "/usr/bin/python3"

func TestInteropPython(t *testing.T) {
	if out, err := exec.Command(python, "-c", "import websockets").CombinedOutput(); err != nil {
		requirePeer(t, "%s cannot import websockets (install python3-websockets): %v %s", python, err, bytes.TrimSpace(out))
	}
	runClient(t, python, filepath.Join("testdata", "interop_client.py"))
}

// compressedFlags start the server with permessage-deflate and a log that
// says which sockets negotiated it.
var compressedFlags = []string{"-compress", "-v", "debug"}

// expectCompressed checks that the client's sockets negotiated
// compression (both clients offer it by default).
func expectCompressed(t *testing.T, s *server) {
	t.Helper()
	s.Stop(t)
	log := s.Stderr.String()
	if !strings.Contains(log, "compressed=true") || strings.Contains(log, "compressed=false") {
		t.Errorf("not every socket negotiated permessage-deflate; server log:\n%s", log)
	}
}

func TestInteropPythonCompressed(t *testing.T) {
	if out, err := exec.Command(python, "-c", "import websockets").CombinedOutput(); err != nil {
		requirePeer(t, "%s cannot import websockets (install python3-websockets): %v %s", python, err, bytes.TrimSpace(out))
	}
	s := runClientWith(t, compressedFlags, python, filepath.Join("testdata", "interop_client.py"))
	expectCompressed(t, s)
}

func TestInteropNode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		requirePeer(t, "node is not installed")
	}
	e2e := filepath.Join("..", "..", "e2e")
	if _, err := os.Stat(filepath.Join(e2e, "node_modules", "ws", "package.json")); err != nil {
		requirePeer(t, "the ws package is not installed: run `npm ci` in e2e")
	}
	runClient(t, node, filepath.Join(e2e, "seedcases-client.mjs"))
	t.Run("compressed", func(t *testing.T) {
		s := runClientWith(t, compressedFlags, node, filepath.Join(e2e, "seedcases-client.mjs"))
		expectCompressed(t, s)
	})
}

// TestServerExitsOnSignal checks that the server stops promptly and
// cleanly when interrupted, also with a WebSocket open.
func TestServerExitsOnSignal(t *testing.T) {
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			s := startServer(t)
			conn := openSocket(t, s.addr)
			defer conn.Close()

			if err := s.Cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if err := s.Wait(t, stopTimeout); err != nil {
				t.Errorf("server exited with %v after %v; want status 0", err, sig)
			}
			// The open socket ends with the process, with or without a
			// close frame; only a read that still waits is wrong.
			conn.SetReadDeadline(time.Now().Add(stopTimeout))
			if _, err := io.Copy(io.Discard, conn); errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("open socket still open after the server exited")
			}
		})
	}
}

// openSocket completes a WebSocket handshake to /echo/ by hand and
// returns the connection.
func openSocket(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, startTimeout)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(startTimeout))
	fmt.Fprintf(conn, "GET /echo/ HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	br := bufio.NewReader(conn)
	status, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 101 ") {
		t.Fatalf("handshake response %q, %v; want 101", status, err)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading handshake headers: %v", err)
		}
		if line == "\r\n" {
			break
		}
	}
	conn.SetDeadline(time.Time{})
	return conn
}
