package main

// These tests check the runtime flags of the contract (-drain, -max-conns,
// -ping, -metrics, -v) against the built server process over real TCP.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pistoke/pistoke"
)

func dialServer(t *testing.T, s *server, path string) *pistoke.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := pistoke.Dial(ctx, "ws://"+s.addr+path, nil)
	if err != nil {
		t.Fatalf("Dial %s: %v", path, err)
	}
	t.Cleanup(func() { ws.Close(pistoke.CloseNormal, "") })
	return ws
}

func echoOnce(t *testing.T, ws *pistoke.Conn, msg string) {
	t.Helper()
	if err := ws.SendText(msg); err != nil {
		t.Fatal(err)
	}
	if _, p, err := ws.Receive(); err != nil || string(p) != msg {
		t.Fatalf("echo of %q: %q %v", msg, p, err)
	}
}

// rawSocket opens a socket by hand and then neither reads nor answers:
// a dead peer for keepalive, a stubborn one for a drain.
func rawSocket(t *testing.T, s *server, path string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	fmt.Fprintf(nc, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", path, s.addr)
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("raw handshake: %v %v", resp, err)
	}
	return nc
}

func handshakeStatus(t *testing.T, s *server, path string) int {
	t.Helper()
	_, _, err := pistoke.Dial(context.Background(), "ws://"+s.addr+path, nil)
	var he *pistoke.HandshakeError
	if !errors.As(err, &he) {
		t.Fatalf("Dial %s = %v, want a refused handshake", path, err)
	}
	return he.Status
}

func TestSIGTERMDrains(t *testing.T) {
	s := startServer(t, "-drain", "10s")
	clients := make([]*pistoke.Conn, 20)
	for i := range clients {
		clients[i] = dialServer(t, s, "/echo/")
		echoOnce(t, clients[i], fmt.Sprint("before ", i))
	}
	// This one never answers the close frame, which keeps the drain going
	// for the close timeout, long enough to knock during it.
	rawSocket(t, s, "/echo/")

	start := time.Now()
	if err := s.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for i, ws := range clients {
		_, _, err := ws.Receive()
		var ce *pistoke.CloseError
		if !errors.As(err, &ce) || ce.Code != pistoke.CloseGoingAway {
			t.Fatalf("client %d saw %v, want 1001", i, err)
		}
		if i == 0 {
			// The drain has begun, and lasts until the stubborn socket's
			// closing handshake times out: knock now.
			if st := handshakeStatus(t, s, "/echo/"); st != http.StatusServiceUnavailable {
				t.Errorf("handshake during the drain: %d, want 503", st)
			}
		}
	}
	if err := s.Wait(t, 15*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want status 0", err)
	}
	t.Logf("drain with a stubborn client took %v", time.Since(start).Round(time.Millisecond))
}

func TestMaxConnsFlag(t *testing.T) {
	s := startServer(t, "-max-conns", "2")
	a := dialServer(t, s, "/echo/")
	echoOnce(t, a, "a")
	b := dialServer(t, s, "/echo/")
	echoOnce(t, b, "b")
	if st := handshakeStatus(t, s, "/echo/"); st != http.StatusServiceUnavailable {
		t.Fatalf("third socket: %d, want 503", st)
	}
	echoOnce(t, a, "a still works")
}

func TestPingFlagDropsDeadPeer(t *testing.T) {
	// A live client must answer each ping within the interval: keep it
	// wide enough for a loaded machine.
	s := startServer(t, "-ping", "1s")

	// A live client reads, and so answers pings, while the dead peer
	// below is found out: it is still there afterwards.
	live := dialServer(t, s, "/echo/")
	echoed := make(chan string, 1)
	go func() {
		_, p, err := live.Receive()
		if err != nil {
			echoed <- err.Error()
			return
		}
		echoed <- string(p)
	}()

	nc := rawSocket(t, s, "/echo/")
	nc.SetReadDeadline(time.Now().Add(time.Minute))
	_, err := io.Copy(io.Discard, nc) // pings, then the end of the stream
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server kept a peer that answers no ping")
	}

	if err := live.SendText("alive"); err != nil {
		t.Fatalf("the live client after the dead peer was dropped: %v", err)
	}
	select {
	case got := <-echoed:
		if got != "alive" {
			t.Errorf("the live client after the dead peer was dropped: %s; want the echo", got)
		}
	case <-time.After(time.Minute):
		t.Fatal("the live client received nothing")
	}
}

func TestMetricsFlag(t *testing.T) {
	s := startServer(t, "-metrics")
	ws := dialServer(t, s, "/echo/")
	echoOnce(t, ws, "counted")
	if st := handshakeStatus(t, s, "/nowhere/"); st != http.StatusNotFound {
		t.Fatalf("unknown path: %d", st)
	}
	// The server counts a message it sent once the write has returned,
	// and a refused handshake once it has answered: after the client has
	// seen them. Wait for the counters, as a scraper would see them.
	waitMetrics(t, s,
		"pistoke_connections_open 1",
		`pistoke_handshakes_total{outcome="accepted"} 1`,
		`pistoke_handshakes_total{outcome="rejected"} 1`,
		`pistoke_messages_received_total{type="text"} 1`,
		`pistoke_messages_sent_total{type="text"} 1`,
	)
	ws.Close(4321, "done")
	// And the close after the closing handshake.
	waitMetrics(t, s,
		`pistoke_closes_total{by="client",code="other"} 1`,
		"pistoke_connections_open 0",
		`pistoke_messages_sent_total{type="text"} 1`,
	)
}

// waitMetrics scrapes /metrics until it holds every line of want, and
// fails the test if it does not within a minute.
func waitMetrics(t *testing.T, s *server, want ...string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		text := scrape(t, s)
		var missing []string
		for _, w := range want {
			if !hasLine(text, w) {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks %q:\n%s", missing, text)
		}
		<-tick.C
	}
}

// hasLine reports whether text holds line as a whole line.
func hasLine(text, line string) bool {
	for l := range strings.Lines(text) {
		if strings.TrimRight(l, "\n") == line {
			return true
		}
	}
	return false
}

// scrape fetches /metrics and checks it is in the Prometheus text format.
func scrape(t *testing.T, s *server) string {
	t.Helper()
	resp, err := http.Get("http://" + s.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	return string(body)
}

func TestVerbosityFlag(t *testing.T) {
	out, err := exec.Command(serverBin, "-v", "loud").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("-v loud: %v, want exit status 2", err)
	}
	if !strings.Contains(string(out), "critical, error, warning, info, debug or trace") {
		t.Errorf("-v loud says %q, want the accepted values", out)
	}
	for _, v := range []string{"0", "critical", "trace", "3"} {
		s := startServer(t, "-v", v)
		echoOnce(t, dialServer(t, s, "/echo/"), v)
	}
}
