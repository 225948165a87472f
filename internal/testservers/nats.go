package testservers

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// natsStartTimeout bounds how long nats-server may take to accept
// connections.
const natsStartTimeout = 15 * time.Second

// NATS is a nats-server process of a test, without JetStream, listening
// on a loopback port that stays the same across restarts.
type NATS struct {
	server
	bin  string
	port int
}

// StartNATS starts nats-server on a free loopback port and returns once
// it accepts clients. The server is stopped when the test ends; its log
// is shown if the test failed. Without nats-server the test is skipped,
// or fails when CI is set.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	n := &NATS{server: server{t: t}, bin: Require(t, "nats-server"), port: FreePort(t)}
	n.start()
	return n
}

// URL returns the server's client URL, nats://127.0.0.1:PORT.
func (n *NATS) URL() string { return "nats://" + Addr(n.port) }

// Port returns the server's port.
func (n *NATS) Port() int { return n.port }

// Stop shuts the server down gracefully (SIGTERM), closing its client
// connections, and waits for it to exit. Stopping a stopped server does
// nothing.
func (n *NATS) Stop() { n.stop() }

// Kill stops the server with SIGKILL, as a crash would, and waits for it
// to exit.
func (n *NATS) Kill() { n.kill() }

// Restart stops the server if it runs and starts it again on the same
// port. Subscriptions and connections are lost, as they are when a real
// server restarts: clients must reconnect.
func (n *NATS) Restart() {
	n.t.Helper()
	n.Stop()
	n.start()
}

// start runs the server and waits until it says it is ready and greets a
// client.
func (n *NATS) start() {
	n.t.Helper()
	cmd := exec.Command(n.bin, "-a", "127.0.0.1", "-p", strconv.Itoa(n.port), "-n", "pistoke-test")
	p, err := startServer(n.t, cmd, "Server is ready", natsStartTimeout, func() error { return natsGreet(Addr(n.port)) })
	if err != nil {
		n.t.Fatalf("nats-server: %v", err)
	}
	n.set(p)
}

// natsGreet checks that a NATS server at addr sends its INFO line.
func natsGreet(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "INFO ") {
		return fmt.Errorf("greeting %q; want INFO", line)
	}
	return nil
}
