// Package testservers starts real broker servers (redis-server,
// nats-server) on free loopback ports for tests, and stops them when the
// test ends.
package testservers

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pistoke/pistoke/internal/proctest"
)

// Require returns the path of the program name, or skips the test with a
// one-line reason when it is not installed; when the environment variable
// CI is set, a missing program fails the test instead, since CI installs
// everything the suite needs.
func Require(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		for _, dir := range []string{"/usr/bin", "/usr/sbin", "/usr/local/bin"} {
			if _, serr := os.Stat(dir + "/" + name); serr == nil {
				return dir + "/" + name
			}
		}
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed (CI is set, so this is an error)", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return path
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Addr formats a loopback address with port.
func Addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// server is the process of a server that a test may stop, kill and start
// again.
type server struct {
	t testing.TB

	mu   sync.Mutex
	proc *proctest.Process // nil while stopped
}

// take returns the running process, if any, and forgets it, so that a
// process is stopped once however many goroutines stop the server.
func (s *server) take() *proctest.Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proc
	s.proc = nil
	return p
}

func (s *server) set(p *proctest.Process) {
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
}

// stop shuts the process down gracefully, killing it if it does not exit
// in time, as proctest.Process.Stop does.
func (s *server) stop() {
	if p := s.take(); p != nil {
		p.Stop(s.t)
	}
}

func (s *server) kill() {
	if p := s.take(); p != nil {
		p.Kill()
	}
}

// startServer starts cmd, whose output goes to one proctest.Buffer, and
// returns once it writes a line containing ready and check succeeds. The
// process stops with SIGTERM when the test ends. On an error the process
// is gone and the error shows its output.
func startServer(t testing.TB, cmd *exec.Cmd, ready string, timeout time.Duration, check func() error) (*proctest.Process, error) {
	t.Helper()
	out := new(proctest.Buffer)
	cmd.Stdout, cmd.Stderr = out, out
	p := proctest.Start(t, cmd, &proctest.Options{Signal: syscall.SIGTERM})
	select {
	case <-out.LineContaining(ready):
	case <-p.Exited():
		return nil, fmt.Errorf("exited at start:\n%s", out)
	case <-time.After(timeout):
		p.Kill()
		return nil, fmt.Errorf("not ready after %v:\n%s", timeout, out)
	}
	if err := check(); err != nil {
		p.Kill()
		return nil, fmt.Errorf("%w\n%s", err, out)
	}
	return p, nil
}
