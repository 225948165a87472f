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
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	bin, cleanup, err := proctest.Build(".", "seedcases")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	serverBin = bin
	return m.Run()
}

type server struct {
	cmd    *exec.Cmd
	addr   string // host:port
	stdout *proctest.Buffer
	stderr *proctest.Buffer
	exited chan struct{} // closed when the process has been waited for
	err    error         // the Wait result, valid once exited is closed
}

// startServer starts the server on a free port, with extra flags, and waits until it says
// where it listens. The process is stopped when the test ends; its log is
// shown if the test failed, and a data race it reported fails the test.
func startServer(t *testing.T, flags ...string) *server {
	t.Helper()
	s := &server{
		cmd:    proctest.Command(serverBin, append([]string{"-addr", "127.0.0.1:0"}, flags...)...),
		stdout: new(proctest.Buffer),
		stderr: new(proctest.Buffer),
		exited: make(chan struct{}),
	}
	s.cmd.Stdout = s.stdout
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("server log:\n%s", s.stderr.String())
		}
		if strings.Contains(s.stderr.String(), "WARNING: DATA RACE") {
			t.Errorf("the server reported a data race:\n%s", s.stderr.String())
		}
	})

	var line string
	select {
	case line = <-s.stdout.FirstLine():
	case <-s.exited:
		t.Fatalf("server exited before listening: %v", s.err)
	case <-time.After(startTimeout):
		t.Fatalf("server did not say where it listens within %v", startTimeout)
	}
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
	s.addr = u.Host
	return s
}

// stop interrupts the server and waits for it, killing it if it does not
// exit in time.
func (s *server) stop(t *testing.T) {
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		t.Errorf("server still running %v after SIGINT; killing it", stopTimeout)
		s.cmd.Process.Kill()
		<-s.exited
	}
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
	s.stop(t)
	log := s.stderr.String()
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

			if err := s.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-s.exited:
			case <-time.After(stopTimeout):
				t.Fatalf("server still running %v after %v", stopTimeout, sig)
			}
			if s.err != nil {
				t.Errorf("server exited with %v after %v; want status 0", s.err, sig)
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
