package main

// These tests run the rooms server as a separate process, in-process
// groups mode, and check its contract over real TCP.

import (
	"context"
	"os"
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

func TestMain(m *testing.M) {
	os.Exit(proctest.BuildAndRun(m, ".", "rooms", &serverBin))
}

// server is a rooms server process and where it listens.
type server struct {
	*proctest.Process
	addr string // host:port
}

// startServer starts the server on a free port with extra flags and waits
// until it says where it listens. It is stopped with SIGTERM when the
// test ends; its log is shown if the test failed, and a data race it
// reported fails the test.
func startServer(t *testing.T, flags ...string) *server {
	t.Helper()
	cmd := proctest.Command(serverBin, append([]string{"-addr", "127.0.0.1:0"}, flags...)...)
	p := proctest.Start(t, cmd, &proctest.Options{Signal: syscall.SIGTERM, StopTimeout: stopTimeout, CheckRaces: true})
	line := p.FirstLine(t, startTimeout)
	addr, ok := strings.CutPrefix(line, listenPrefix+"http://")
	if !ok || strings.HasSuffix(addr, ":0") || !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("first line of output = %q; want %qhttp://127.0.0.1:PORT", line, listenPrefix)
	}
	return &server{Process: p, addr: addr}
}

// ctx bounds one step of a test against a server that stopped answering;
// it is no assertion on speed.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}
