package testservers

import (
	"bufio"
	"bytes"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// natsStartTimeout bounds how long nats-server may take to accept
// connections.
const natsStartTimeout = 15 * time.Second

// NATS is a nats-server process of a test, without JetStream, listening
// on a loopback port that stays the same across restarts.
type NATS struct {
	t    testing.TB
	bin  string
	port int

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	out    *natsLog
}

// StartNATS starts nats-server on a free loopback port and returns once
// it accepts clients. The server is stopped when the test ends; its log
// is shown if the test failed. Without nats-server the test is skipped,
// or fails when CI is set.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	n := &NATS{t: t, bin: Require(t, "nats-server"), port: FreePort(t), out: new(natsLog)}
	n.start()
	t.Cleanup(func() {
		n.Stop()
		if t.Failed() {
			t.Logf("nats-server log:\n%s", n.out.String())
		}
	})
	return n
}

// URL returns the server's client URL, nats://127.0.0.1:PORT.
func (n *NATS) URL() string { return "nats://" + Addr(n.port) }

// Port returns the server's port.
func (n *NATS) Port() int { return n.port }

// Stop shuts the server down gracefully, closing its client connections,
// and waits for it to exit. Stopping a stopped server does nothing.
func (n *NATS) Stop() { n.signal(syscall.SIGTERM) }

// Kill stops the server with SIGKILL, as a crash would, and waits for it
// to exit.
func (n *NATS) Kill() { n.signal(syscall.SIGKILL) }

// Restart stops the server if it runs and starts it again on the same
// port. Subscriptions and connections are lost, as they are when a real
// server restarts: clients must reconnect.
func (n *NATS) Restart() {
	n.t.Helper()
	n.Stop()
	n.start()
}

func (n *NATS) signal(sig syscall.Signal) {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.cmd = nil
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// start runs the server and waits until it greets a client.
func (n *NATS) start() {
	n.t.Helper()
	cmd := exec.Command(n.bin, "-a", "127.0.0.1", "-p", strconv.Itoa(n.port), "-n", "pistoke-test")
	cmd.Stdout = n.out
	cmd.Stderr = n.out
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("start nats-server: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	n.mu.Lock()
	n.cmd, n.exited = cmd, exited
	n.mu.Unlock()

	deadline := time.Now().Add(natsStartTimeout)
	for {
		if natsGreets(Addr(n.port)) {
			return
		}
		select {
		case <-exited:
			n.t.Fatalf("nats-server exited at start:\n%s", n.out.String())
		default:
		}
		if time.Now().After(deadline) {
			n.Kill()
			n.t.Fatalf("nats-server did not accept connections within %v:\n%s", natsStartTimeout, n.out.String())
		}
		time.Sleep(20 * time.Millisecond) // polling a port: there is no signal to wait on
	}
}

// natsGreets reports whether a NATS server at addr sends its INFO line.
func natsGreets(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "INFO ")
}

// natsLog collects a process's output while it runs.
type natsLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *natsLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *natsLog) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
