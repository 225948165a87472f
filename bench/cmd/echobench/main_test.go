package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
)

// TestMain lets the test binary stand in for the command: the harness
// under test starts its server and client processes from os.Executable,
// which is this binary, and marks them with childEnv.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestQuick runs the whole benchmark in its smoke mode, in processes of
// its own, and checks that every measurement took place.
func TestQuick(t *testing.T) {
	var progress bytes.Buffer
	cfg, err := parseHarnessFlags([]string{"-quick"}, &progress)
	if err != nil {
		t.Fatal(err)
	}
	cfg.progress = &progress
	rep, err := runHarness(cfg)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}

	for _, impl := range []string{implPistoke, implGorilla} {
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

		idle, ok := rep.idle[impl]
		if !ok {
			t.Fatalf("%s: no idle measurement", impl)
		}
		for name, m := range map[string]memory{"opened": idle.Opened, "echoed": idle.Echoed} {
			if m.Active != quickIdle {
				t.Errorf("%s %s: %d socket handlers running, want %d", impl, name, m.Active, quickIdle)
			}
			if m.RSS == 0 || m.HeapInuse == 0 || m.StackInuse == 0 {
				t.Errorf("%s %s: memory not measured: %+v", impl, name, m)
			}
			// Each connection has at least its own goroutine in the server.
			if pc := idlePerConn(idle.Before, m, idle.Conns); pc.goroutines < 1 {
				t.Errorf("%s %s: %.2f goroutines per connection, want at least 1", impl, name, pc.goroutines)
			}
		}
	}

	// The pistoke server is the full stack: its middleware saw every
	// handshake. The gorilla server has none.
	if got := rep.echo[implPistoke][0].Handshakes; got != quickConns {
		t.Errorf("pistoke middleware saw %d handshakes, want %d", got, quickConns)
	}
	if got := rep.echo[implGorilla][0].Handshakes; got != 0 {
		t.Errorf("gorilla server counted %d handshakes through middleware it does not have", got)
	}

	rep.command = "echobench -quick"
	var out bytes.Buffer
	rep.write(&out)
	for _, want := range []string{
		"Command: `echobench -quick`",
		"| server | CPU µs/msg |",
		"| pistoke | ",
		"| gorilla | ",
		"pistoke/gorilla server CPU per message:",
		"| pistoke | after one echo | ",
		"| gorilla | after one echo | ",
		"pistoke idle memory per connection after one echo:",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// TestQuickGorillaClient drives the echo load with the other client
// library.
func TestQuickGorillaClient(t *testing.T) {
	var progress bytes.Buffer
	cfg, err := parseHarnessFlags([]string{"-quick", "-client", "gorilla", "-idle", "0"}, &progress)
	if err != nil {
		t.Fatal(err)
	}
	cfg.progress = &progress
	rep, err := runHarness(cfg)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	for _, impl := range []string{implPistoke, implGorilla} {
		if len(rep.echo[impl]) != 1 || rep.echo[impl][0].Messages != quickConns*quickMsgs {
			t.Errorf("%s: echo results %+v, want one round of %d messages", impl, rep.echo[impl], quickConns*quickMsgs)
		}
	}
	if len(rep.idle) != 0 {
		t.Errorf("-idle 0 measured idle memory anyway: %+v", rep.idle)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		in := append([]float64(nil), tc.in...)
		if got := median(in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
		for i := range in {
			if in[i] != tc.in[i] {
				t.Errorf("median reordered its argument: %v", in)
			}
		}
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-impls", "pistoke,nope"},
		{"-type", "json"},
		{"-client", "curl"},
		{"-conns", "0"},
		{"stray"},
	} {
		if code := run(args, io.Discard, io.Discard); code != 2 {
			t.Errorf("echobench %s: exit status %d, want 2", strings.Join(args, " "), code)
		}
	}
}
