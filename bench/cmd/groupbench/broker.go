package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/pistoke/pistoke/bench/internal/harness"
)

// errNoBroker reports that the program of a broker is not installed.
var errNoBroker = errors.New("broker program not found")

// broker is a redis-server or nats-server the harness started for a run.
type broker struct {
	url  string
	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done is closed
}

// brokerProgram returns the program that runs a broker of the backend
// kind.
func brokerProgram(kind string) string {
	switch kind {
	case backendRedis:
		return "redis-server"
	case backendNATS:
		return "nats-server"
	}
	return ""
}

// startBroker starts the broker of the backend kind on a free loopback
// port, pinned by the command prefix pin, and waits until it accepts
// connections.
func startBroker(kind string, pin []string) (*broker, error) {
	prog, err := exec.LookPath(brokerProgram(kind))
	if err != nil {
		return nil, fmt.Errorf("%w: %s", errNoBroker, brokerProgram(kind))
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p := strconv.Itoa(port)
	b := &broker{out: &tailBuffer{max: 8 << 10}, done: make(chan struct{})}
	var args []string
	switch kind {
	case backendRedis:
		// No persistence: a background save would land on the broker's
		// CPU in the middle of a trial.
		args = []string{"--bind", "127.0.0.1", "--port", p, "--save", "", "--appendonly", "no", "--loglevel", "warning"}
		b.url = "redis://127.0.0.1:" + p
	case backendNATS:
		args = []string{"-a", "127.0.0.1", "-p", p}
		b.url = "nats://127.0.0.1:" + p
	}
	b.cmd = harness.PinnedCommand(context.Background(), pin, prog, args...)
	b.cmd.Stdout, b.cmd.Stderr = b.out, b.out
	if err := b.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		b.err = b.cmd.Wait()
		close(b.done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+p, time.Second)
		if err == nil {
			c.Close()
			return b, nil
		}
		select {
		case <-b.done:
			return nil, fmt.Errorf("%s exited: %v\n%s", prog, b.err, b.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.stop()
			return nil, fmt.Errorf("%s does not accept connections on port %s:\n%s", prog, p, b.out.String())
		}
	}
}

// pid returns the broker's process ID. With taskset in front, the
// process started is taskset, which executes the broker in its place, so
// the ID is the broker's either way.
func (b *broker) pid() int { return b.cmd.Process.Pid }

// stop terminates the broker, and kills it if it does not go.
func (b *broker) stop() {
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
	}
}

// freePort returns a loopback TCP port that nothing listens on. Another
// process may take it before the broker does; the broker then fails to
// start and says so.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last max bytes written to it, to show what a
// process said when it failed.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.b))
}
