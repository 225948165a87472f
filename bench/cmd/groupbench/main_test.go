package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pistoke/pistoke/bench/internal/harness/harnesstest"
)

// TestMain lets the test binary stand in for the command, whose
// processes the tests start.
func TestMain(m *testing.M) { harnesstest.Main(m, command.Run) }

// quickRun runs the harness in its smoke mode with extra flags and
// returns its report and the report's text.
func quickRun(t *testing.T, args ...string) (*report, string) {
	t.Helper()
	rep := harnesstest.Run(t, command, append([]string{"-quick"}, args...)...)
	var out bytes.Buffer
	rep.Write(&out, "groupbench -quick "+strings.Join(args, " "))
	return rep, out.String()
}

// checkTrials checks what holds of every trial whatever the machine's
// speed: each message published reached each member or is counted as
// lost, nothing arrived garbled, and the server's CPU was measured.
func checkTrials(t *testing.T, backend string, ts []trial) {
	t.Helper()
	for _, tr := range ts {
		name := backend + " " + tr.Kind
		if tr.Published == 0 || tr.Expected != tr.Published*int64(tr.Members) {
			t.Errorf("%s: %d messages published to %d members, %d deliveries expected", name, tr.Published, tr.Members, tr.Expected)
		}
		if tr.Delivered == 0 || tr.Delivered+tr.Lost != tr.Expected {
			t.Errorf("%s: %d delivered + %d lost, want %d", name, tr.Delivered, tr.Lost, tr.Expected)
		}
		if tr.Bad != 0 || tr.PublishErrors != 0 {
			t.Errorf("%s: %d garbled or reordered messages, %d failed Publish calls", name, tr.Bad, tr.PublishErrors)
		}
		if tr.ServerUserNS+tr.ServerSysNS <= 0 || tr.WallNS <= 0 || tr.MaxNS <= 0 {
			t.Errorf("%s: server CPU %d+%d ns, wall %d ns, max latency %d ns: not measured",
				name, tr.ServerUserNS, tr.ServerSysNS, tr.WallNS, tr.MaxNS)
		}
		if tr.Pass && tr.Lost != 0 {
			t.Errorf("%s: passed with %d deliveries lost", name, tr.Lost)
		}
		// The probe holds a tenth of the members, and hears from each
		// trial whatever its fate.
		if tr.ProbeMaxNS <= 0 {
			t.Errorf("%s: no latency measured at the probe's members", name)
		}
	}
}

// TestQuick runs the whole benchmark in its smoke mode on the in-process
// backend, in processes of its own, and checks that every measurement
// took place.
func TestQuick(t *testing.T) {
	dir := t.TempDir()
	rep, out := quickRun(t, "-profile", dir)
	if len(rep.runs) != 1 || rep.runs[0].backend != backendLocal || rep.runs[0].members != quickMembers {
		t.Fatalf("runs %+v, want one of the %s backend with %d members", rep.runs, backendLocal, quickMembers)
	}
	res := rep.runs[0].client
	if len(res.Sizes) != 2 || res.Sizes[0].Size != 64 || res.Sizes[1].Size != 1024 {
		t.Fatalf("measured sizes %+v, want 64 and 1024", res.Sizes)
	}
	for _, sr := range res.Sizes {
		if len(sr.Search) == 0 || len(sr.Search) > quickSteps {
			t.Errorf("%d B: %d search trials, want 1 to %d", sr.Size, len(sr.Search), quickSteps)
		}
		if sr.Sustained > 0 && (len(sr.Measured) != quickRounds || len(sr.Half) != 1) {
			t.Errorf("%d B: %d trials at the sustained rate and %d at half of it, want %d and 1",
				sr.Size, len(sr.Measured), len(sr.Half), quickRounds)
		}
		if len(sr.Flood) != quickRounds {
			t.Errorf("%d B: %d flood trials, want %d", sr.Size, len(sr.Flood), quickRounds)
		}
		for _, ts := range [][]trial{sr.Search, sr.Measured, sr.Half, sr.Flood} {
			checkTrials(t, backendLocal, ts)
			// The in-process backend loses nothing on the way: whatever a
			// member missed, the hub dropped from its queue and counted.
			for _, tr := range ts {
				if tr.Lost != tr.HubDropped {
					t.Errorf("%s %d B: %d deliveries lost, hub dropped %d", tr.Kind, tr.Size, tr.Lost, tr.HubDropped)
				}
			}
		}
	}
	for _, name := range rep.profiles {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Size() == 0 {
			t.Errorf("profile %s: %v, %v", name, fi, err)
		}
	}
	if len(rep.profiles) < 2 {
		t.Errorf("profiles %q, want a flood profile for each size", rep.profiles)
	}
	for _, want := range []string{
		"Command: `groupbench -quick -profile ",
		"## Sustained fan-out",
		"| backend | members | size | deliveries/s |",
		"| local | 20 | 64 | ",
		"| local | 20 | 1024 | ",
		"## Latency",
		"| backend | members | size | load | deliveries/s |",
		"## Flood",
		"## Goals",
		"## Profiles",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// TestQuickBrokers runs the smoke mode on the Redis and NATS backends,
// each over a broker the harness starts.
func TestQuickBrokers(t *testing.T) {
	for _, backend := range []string{backendRedis, backendNATS} {
		t.Run(backend, func(t *testing.T) {
			if _, err := exec.LookPath(brokerProgram(backend)); err != nil {
				if os.Getenv("CI") != "" {
					t.Fatalf("%s is required in CI: %v", brokerProgram(backend), err)
				}
				t.Skipf("no %s: %v", brokerProgram(backend), err)
			}
			rep, out := quickRun(t, "-backends", backend, "-sizes", "64")
			if len(rep.runs) != 1 || len(rep.runs[0].client.Sizes) != 1 {
				t.Fatalf("runs %+v, want one run with one size", rep.runs)
			}
			sr := rep.runs[0].client.Sizes[0]
			for _, ts := range [][]trial{sr.Search, sr.Measured, sr.Half, sr.Flood} {
				checkTrials(t, backend, ts)
				for _, tr := range ts {
					if tr.BrokerNS < 0 {
						t.Errorf("%s: broker CPU time not measured", tr.Kind)
					}
				}
			}
			if !strings.Contains(out, "| "+backend+" | 20 | 64 | ") {
				t.Errorf("report lacks the %s row:\n%s", backend, out)
			}
		})
	}
}

func TestMessageHeader(t *testing.T) {
	for _, size := range []int{minSize, 64, 1024} {
		p := messageTemplate(size)
		putHeader(p, 4242, 1733000000123456789)
		if len(p) != size {
			t.Fatalf("message of %d bytes, want %d", len(p), size)
		}
		seq, ts, err := parseHeader(p)
		if err != nil || seq != 4242 || ts != 1733000000123456789 {
			t.Errorf("size %d: parseHeader(%q) = %d, %d, %v", size, p, seq, ts, err)
		}
	}
	for _, p := range []string{"", "0000000001 17330000001234567", "000000000x 1733000000123456789 hi", "0000000001-1733000000123456789 hi"} {
		if _, _, err := parseHeader([]byte(p)); err == nil {
			t.Errorf("parseHeader(%q) accepted it", p)
		}
	}
}

func TestHistogram(t *testing.T) {
	// Buckets cover the values in order, each bucket's top just below the
	// next bucket's first value.
	for v := int64(0); v < 1<<20; v++ {
		b := bucketOf(v)
		if top := bucketTop(b); v > top || (b > 0 && v <= bucketTop(b-1)) {
			t.Fatalf("value %d in bucket %d, whose range ends at %d (previous at %d)", v, b, top, bucketTop(b-1))
		}
	}
	if b := bucketOf(1<<63 - 1); b >= histBuckets {
		t.Fatalf("largest value in bucket %d of %d", b, histBuckets)
	}

	var h histogram
	if h.quantile(0.5) != 0 {
		t.Errorf("empty histogram has a median")
	}
	for v := int64(1); v <= 100000; v++ {
		h.record(v * 1000) // 1 µs to 100 ms
	}
	h.record(-5) // a clock stepping back counts as 0
	for _, c := range []struct {
		q    float64
		want int64
	}{{0.5, 50e6}, {0.99, 99e6}, {1, 100e6}} {
		got := h.quantile(c.q)
		if got < c.want || float64(got) > float64(c.want)*(1+1.0/subCount) {
			t.Errorf("quantile(%v) = %d, want %d to %.0f", c.q, got, c.want, float64(c.want)*(1+1.0/subCount))
		}
	}
	if h.max.Load() != 100e6 || h.count.Load() != 100001 {
		t.Errorf("max %d, count %d; want 100000000 and 100001", h.max.Load(), h.count.Load())
	}
}

func TestTrialLatency(t *testing.T) {
	l := newTrialLatency(101, 100) // messages 101 to 200
	for seq := int64(101); seq <= 200; seq++ {
		l.record(seq, seq)
	}
	if n := l.early.count.Load(); n != 25 || l.early.max.Load() != 125 {
		t.Errorf("early quarter: %d messages up to %d, want 25 up to 125", n, l.early.max.Load())
	}
	if n := l.late.count.Load(); n != 25 || l.late.max.Load() != 200 {
		t.Errorf("late quarter: %d messages up to %d, want 25 up to 200", n, l.late.max.Load())
	}
	if n := l.all.count.Load(); n != 100 {
		t.Errorf("%d messages in all, want 100", n)
	}
	flood := newTrialLatency(1, -1)
	flood.record(1, 1)
	flood.record(1000, 1)
	if flood.early.count.Load() != 0 || flood.late.count.Load() != 0 || flood.all.count.Load() != 2 {
		t.Errorf("a trial of unknown length split its messages into quarters")
	}
}

func TestBadFlags(t *testing.T) {
	harnesstest.UsageErrors(t, command,
		[]string{"-backends", "local,kafka"},
		[]string{"-members", "0"},
		[]string{"-members", "ten"},
		[]string{"-sizes", "16"},
		[]string{"-rounds", "0"},
		[]string{"-duration", "0s"},
		[]string{"stray"},
		[]string{"nosuch"},
	)
}
