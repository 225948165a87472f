package main

// These tests run the rooms server as a separate process, in-process
// groups mode, and check its contract over real TCP.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pistoke/pistoke/internal/proctest"
)

const (
	listenPrefix = "pistoke rooms listening on "
	startTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
)

// serverBin is the rooms server, built once by TestMain.
var serverBin string

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	bin, cleanup, err := proctest.Build(".", "rooms")
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
	stderr *proctest.Buffer
	exited chan struct{} // closed once the process has been waited for
	err    error         // the Wait result, valid once exited is closed
}

// startServer starts the server on a free port with extra flags and waits
// until it says where it listens. It is stopped when the test ends; its
// log is shown if the test failed, and a data race it reported fails the
// test.
func startServer(t *testing.T, flags ...string) *server {
	t.Helper()
	stdout := new(proctest.Buffer)
	s := &server{
		cmd:    proctest.Command(serverBin, append([]string{"-addr", "127.0.0.1:0"}, flags...)...),
		stderr: new(proctest.Buffer),
		exited: make(chan struct{}),
	}
	s.cmd.Stdout = stdout
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
	case line = <-stdout.FirstLine():
	case <-s.exited:
		t.Fatalf("server exited before listening: %v\n%s", s.err, s.stderr.String())
	case <-time.After(startTimeout):
		t.Fatalf("server did not say where it listens within %v", startTimeout)
	}
	addr, ok := strings.CutPrefix(line, listenPrefix+"http://")
	if !ok || strings.HasSuffix(addr, ":0") || !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("first line of output = %q; want %qhttp://127.0.0.1:PORT", line, listenPrefix)
	}
	s.addr = addr
	return s
}

// stop sends SIGTERM and waits for the server, killing it if it does not
// exit in time.
func (s *server) stop(t *testing.T) {
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		t.Errorf("server still running %v after SIGTERM; killing it", stopTimeout)
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// waitExit waits for the server to exit by itself.
func (s *server) waitExit(t *testing.T) error {
	t.Helper()
	select {
	case <-s.exited:
		return s.err
	case <-time.After(stopTimeout):
		t.Fatalf("server still running after %v", stopTimeout)
	}
	return nil
}

// ctx bounds one step of a test against a server that stopped answering;
// it is no assertion on speed.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}
