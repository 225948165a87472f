package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pistoke/pistoke/bench/internal/harness/harnesstest"
)

// TestMain lets the test binary stand in for the command, whose
// processes the tests start.
func TestMain(m *testing.M) { harnesstest.Main(m, command.Run) }

// TestQuick runs the whole benchmark in its smoke mode, in processes of
// its own, and checks that every measurement took place.
func TestQuick(t *testing.T) {
	rep := harnesstest.Run(t, command, "-quick", "-impls", strings.Join(allImpls, ","), "-idlewait", "500ms")

	for _, impl := range allImpls {
		rounds := rep.echo[impl]
		if len(rounds) != quickRounds {
			t.Fatalf("%s: %d echo rounds, want %d", impl, len(rounds), quickRounds)
		}
		r := rounds[0]
		if want := int64(quickConns * quickMsgs); r.Messages != want || r.Conns != quickConns {
			t.Errorf("%s: %d messages on %d connections, want %d on %d", impl, r.Messages, r.Conns, want, quickConns)
		}
		if r.ServerUser+r.ServerSys <= 0 || r.WallNanos <= 0 {
			t.Errorf("%s: server CPU %d+%d ns, wall %d ns: not measured", impl, r.ServerUser, r.ServerSys, r.WallNanos)
		}

		hs := rep.hs[impl]
		if len(hs) != quickRounds {
			t.Fatalf("%s: %d handshake rounds, want %d", impl, len(hs), quickRounds)
		}
		if h := hs[0]; h.Handshakes != quickHs || h.ServerUser+h.ServerSys <= 0 || h.WallNanos <= 0 {
			t.Errorf("%s: handshake round %+v: want %d handshakes and the server's CPU measured", impl, h, quickHs)
		}

		idle, ok := rep.idle[impl]
		if !ok {
			t.Fatalf("%s: no idle measurement", impl)
		}
		if idle.Waited <= 0 {
			t.Errorf("%s: no measurement after -idlewait", impl)
		}
		for name, m := range map[string]memory{"opened": idle.Opened, "echoed": idle.Echoed, "later": idle.Later} {
			if m.Active != quickIdle {
				t.Errorf("%s %s: %d socket handlers running, want %d", impl, name, m.Active, quickIdle)
			}
			if m.RSS == 0 || m.HeapInuse == 0 || m.StackInuse == 0 {
				t.Errorf("%s %s: memory not measured: %+v", impl, name, m)
			}
			// Each connection has at least its own goroutine in the server.
			pc := idlePerConn(idle.Before, m, idle.Conns)
			if pc.goroutines < 1 {
				t.Errorf("%s %s: %.2f goroutines per connection, want at least 1", impl, name, pc.goroutines)
			}
			// With pistoke.Handler as the server's handler, net/http's
			// connection goroutine returns at the upgrade: the socket
			// handler's goroutine is the only one left.
			if impl != implGorilla && pc.goroutines >= 1.5 {
				t.Errorf("%s %s: %.2f goroutines per connection, want 1: net/http's goroutine stayed", impl, name, pc.goroutines)
			}
		}
	}

	// The pistoke servers are the full stack: their middleware saw every
	// handshake. The gorilla server has none.
	for _, impl := range []string{implPistoke, implPistokeChi} {
		if got := rep.echo[impl][0].Handshakes; got != quickConns {
			t.Errorf("%s middleware saw %d handshakes, want %d", impl, got, quickConns)
		}
		if got := rep.hs[impl][0].Seen; got != quickHs {
			t.Errorf("%s middleware saw %d handshakes in the handshake test, want %d", impl, got, quickHs)
		}
	}
	if got := rep.echo[implGorilla][0].Handshakes; got != 0 {
		t.Errorf("gorilla server counted %d handshakes through middleware it does not have", got)
	}

	var out bytes.Buffer
	rep.Write(&out, "echobench -quick")
	for _, want := range []string{
		"Command: `echobench -quick`",
		"| server | CPU µs/msg |",
		"| pistoke | ",
		"| gorilla | ",
		"pistoke/gorilla server CPU per message:",
		"pistoke-chi/gorilla server CPU per message:",
		"| server | CPU µs/handshake |",
		"pistoke/gorilla server CPU per handshake:",
		"pistoke-chi/gorilla server CPU per handshake:",
		"| pistoke | after one echo | ",
		"| pistoke-chi | after one echo | ",
		"| pistoke | 500ms later, one more echo | ",
		"| gorilla | after one echo | ",
		"pistoke idle memory per connection after one echo:",
		"pistoke-chi idle memory per connection after one echo:",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// TestQuickGorillaClient drives the echo load with the other client
// library.
func TestQuickGorillaClient(t *testing.T) {
	rep := harnesstest.Run(t, command, "-quick", "-client", "gorilla", "-idle", "0", "-handshakes", "0", "-echowait", "200ms")
	for _, impl := range []string{implPistoke, implGorilla} {
		if len(rep.echo[impl]) != 1 || rep.echo[impl][0].Messages != quickConns*quickMsgs {
			t.Errorf("%s: echo results %+v, want one round of %d messages", impl, rep.echo[impl], quickConns*quickMsgs)
		}
	}
	if len(rep.idle) != 0 {
		t.Errorf("-idle 0 measured idle memory anyway: %+v", rep.idle)
	}
	if len(rep.hs) != 0 {
		t.Errorf("-handshakes 0 measured handshakes anyway: %+v", rep.hs)
	}
}

// TestQuickHandshakesOnly skips the echo test and measures handshakes
// with gorilla's client, one at a time.
func TestQuickHandshakesOnly(t *testing.T) {
	rep := harnesstest.Run(t, command, "-quick", "-echo=false", "-idle", "0", "-client", "gorilla", "-hspar", "1")
	if len(rep.echo) != 0 {
		t.Errorf("-echo=false measured echoes anyway: %+v", rep.echo)
	}
	for _, impl := range []string{implPistoke, implGorilla} {
		if len(rep.hs[impl]) != 1 || rep.hs[impl][0].Handshakes != quickHs || rep.hs[impl][0].Par != 1 {
			t.Errorf("%s: handshake results %+v, want one round of %d, one at a time", impl, rep.hs[impl], quickHs)
		}
	}
}

func TestBadFlags(t *testing.T) {
	harnesstest.UsageErrors(t, command,
		[]string{"-impls", "pistoke,nope"},
		[]string{"-impls", "pistoke,pistoke"},
		[]string{"-hspar", "0"},
		[]string{"-handshakes", "-1"},
		[]string{"-echowait", "-1s"},
		[]string{"-type", "json"},
		[]string{"-client", "curl"},
		[]string{"-conns", "0"},
		[]string{"stray"},
	)
}
