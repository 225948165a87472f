package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"time"

	"github.com/pistoke/pistoke/bench/internal/harness"
)

// trial is one publishing run and what it delivered.
type trial struct {
	Kind          string  `json:"kind"` // search, sustained, half, flood or profile
	Size          int     `json:"size"`
	Members       int     `json:"members"`
	Rate          float64 `json:"rate"` // messages a second asked for; 0: as fast as the hub takes them
	Published     int64   `json:"published"`
	PublishErrors int64   `json:"publish_errors"`
	PublishNS     int64   `json:"publish_ns"` // how long publishing took
	Expected      int64   `json:"expected"`   // published × members
	Delivered     int64   `json:"delivered"`
	Lost          int64   `json:"lost"`   // expected - delivered
	Missed        int64   `json:"missed"` // sequence numbers members skipped over
	Bad           int64   `json:"bad"`    // unreadable, repeated or reordered messages
	HubDropped    int64   `json:"hub_dropped"`
	WallNS        int64   `json:"wall_ns"` // from the first Publish to the last delivery
	ServerUserNS  int64   `json:"server_user_ns"`
	ServerSysNS   int64   `json:"server_sys_ns"`
	ServerMallocs int64   `json:"server_mallocs"`
	ServerGCs     int64   `json:"server_gcs"`
	ServerWrites  int64   `json:"server_writes"` // write system calls
	ClientNS      int64   `json:"client_ns"`     // the client process's CPU time
	BrokerNS      int64   `json:"broker_ns"`     // the broker's CPU time, -1 when unknown
	EarlyP50NS    int64   `json:"early_p50_ns"`  // p50 latency of the first quarter of messages
	LateP50NS     int64   `json:"late_p50_ns"`   // and of the last quarter
	ProbeP50NS    int64   `json:"probe_p50_ns"`  // latency at the probe's members
	ProbeP99NS    int64   `json:"probe_p99_ns"`
	ProbeMaxNS    int64   `json:"probe_max_ns"`
	P50NS         int64   `json:"p50_ns"` // latency at the client's members
	P99NS         int64   `json:"p99_ns"`
	MaxNS         int64   `json:"max_ns"`
	Pass          bool    `json:"pass"`
}

// A paced trial passes when every member received every message and the
// hub kept up with the rate: the publisher kept to its schedule, and the
// messages of the trial's last quarter waited no longer than those of its
// first quarter, give or take noise (a backlog that grows shows there
// long before member queues overflow).
const (
	scheduleSlack = 1.05                 // publishing may take this × the trial's duration
	trendFactor   = 1.5                  // late p50 latency ≤ this × early p50 latency
	trendSlack    = 5 * time.Millisecond // + this
)

// deliveryRate returns the deliveries a second, from the first Publish
// to the last delivery.
func (t trial) deliveryRate() float64 {
	if t.WallNS <= 0 {
		return 0
	}
	return float64(t.Delivered) / (float64(t.WallNS) / 1e9)
}

// serverCPU returns the server's CPU time per delivery, in ns.
func (t trial) serverCPU() float64 {
	if t.Delivered == 0 {
		return 0
	}
	return float64(t.ServerUserNS+t.ServerSysNS) / float64(t.Delivered)
}

// serverUser returns the server's user-space CPU time per delivery, in
// ns: the part that is the hub's and pistoke's own code rather than the
// kernel's.
func (t trial) serverUser() float64 {
	if t.Delivered == 0 {
		return 0
	}
	return float64(t.ServerUserNS) / float64(t.Delivered)
}

// writesPerDelivery returns the server's write system calls per delivery:
// below 1 when members catch up on several messages with one writev.
func (t trial) writesPerDelivery() float64 {
	if t.Delivered == 0 {
		return 0
	}
	return float64(t.ServerWrites) / float64(t.Delivered)
}

// perCore returns the deliveries per second of server CPU time.
func (t trial) perCore() float64 {
	if c := t.serverCPU(); c > 0 {
		return 1e9 / c
	}
	return 0
}

// busy returns the server's CPU time over the trial's wall time.
func (t trial) busy() float64 {
	if t.WallNS <= 0 {
		return 0
	}
	return float64(t.ServerUserNS+t.ServerSysNS) / float64(t.WallNS)
}

// clientBusy returns the client's CPU time over the trial's wall time.
func (t trial) clientBusy() float64 {
	if t.WallNS <= 0 {
		return 0
	}
	return float64(t.ClientNS) / float64(t.WallNS)
}

// clientCPU returns the client's CPU time per delivery, in ns.
func (t trial) clientCPU() float64 {
	if t.Delivered == 0 {
		return 0
	}
	return float64(t.ClientNS) / float64(t.Delivered)
}

// driver runs trials against one server with one set of members.
type driver struct {
	ctl       *ctlClient
	ms        *members
	brokerPID int
	probe     *probeProc    // nil: no probe
	probes    int           // sockets the probe holds
	nextSeq   int64         // sequence number of the next message the server publishes
	settle    time.Duration // how long deliveries may pause before a trial counts as over
	label     string        // names the run in progress lines and profiles
	progress  io.Writer
}

// run publishes at rate for dur and waits for the deliveries: all of them,
// or until none has come for d.settle.
func (d *driver) run(ctx context.Context, kind string, size int, rate float64, dur time.Duration) (trial, error) {
	t := trial{Kind: kind, Size: size, Members: len(d.ms.list) + d.probes, Rate: rate, BrokerNS: -1}
	total := int64(-1) // messages the trial will publish, when known
	if rate > 0 {
		total = max(int64(rate*dur.Seconds()), 1)
	}
	lat := newTrialLatency(d.nextSeq, total)
	d.ms.lat.Store(lat)
	d.ms.lastRecv.Store(0)
	del0, missed0, bad0 := d.ms.totals()
	s0, err := d.ctl.stats(ctx)
	if err != nil {
		return t, err
	}
	cu0, cs0, err := harness.CPUTime()
	if err != nil {
		return t, err
	}
	var b0 time.Duration
	if d.brokerPID > 0 {
		b0, err = harness.ProcessCPU(d.brokerPID)
		if err != nil {
			return t, fmt.Errorf("broker CPU time: %w", err)
		}
	}

	if d.probe != nil {
		if _, err := d.probe.call("start %d %d", d.nextSeq, total); err != nil {
			return t, err
		}
	}
	pr, err := d.ctl.publish(ctx, rate, dur, size)
	if err != nil {
		return t, err
	}
	if pr.First != d.nextSeq {
		return t, fmt.Errorf("server published from sequence number %d, want %d", pr.First, d.nextSeq)
	}
	d.nextSeq = pr.First + pr.Published
	t.Published, t.PublishErrors = pr.Published, pr.Errors
	t.PublishNS = pr.EndNS - pr.StartNS
	t.Expected = pr.Published * int64(t.Members)
	if pr.Errors > 0 {
		fmt.Fprintf(d.progress, "groupbench: %s: %d of %d Publish calls failed, the first with: %s\n",
			d.label, pr.Errors, pr.Published, pr.Err)
	}

	d.ms.await(del0+pr.Published*int64(len(d.ms.list)), d.settle, waitLimit(dur))
	var probe probeReply
	if d.probe != nil {
		if probe, err = d.probe.call("stop %d", pr.Published); err != nil {
			return t, err
		}
	}
	if err := ctx.Err(); err != nil {
		return t, err
	}

	s1, err := d.ctl.stats(ctx)
	if err != nil {
		return t, err
	}
	cu1, cs1, err := harness.CPUTime()
	if err != nil {
		return t, err
	}
	if d.brokerPID > 0 {
		b1, err := harness.ProcessCPU(d.brokerPID)
		if err != nil {
			return t, fmt.Errorf("broker CPU time: %w", err)
		}
		t.BrokerNS = (b1 - b0).Nanoseconds()
	}
	del1, missed1, bad1 := d.ms.totals()
	t.Delivered = del1 - del0 + probe.Delivered
	t.Missed = missed1 - missed0 + probe.Missed
	t.Bad = bad1 - bad0 + probe.Bad
	t.ProbeP50NS, t.ProbeP99NS, t.ProbeMaxNS = probe.P50NS, probe.P99NS, probe.MaxNS
	t.Lost = max(t.Expected-t.Delivered, 0)
	t.HubDropped = s1.Dropped - s0.Dropped
	if lr := d.ms.lastRecv.Load(); lr > 0 {
		t.WallNS = lr - pr.StartNS
	}
	t.ServerUserNS, t.ServerSysNS = s1.UserNanos-s0.UserNanos, s1.SysNanos-s0.SysNanos
	t.ServerMallocs = int64(s1.Mallocs - s0.Mallocs)
	t.ServerGCs = int64(s1.NumGC - s0.NumGC)
	t.ServerWrites = s1.Writes - s0.Writes
	t.ClientNS = ((cu1 + cs1) - (cu0 + cs0)).Nanoseconds()
	t.P50NS, t.P99NS, t.MaxNS = lat.all.quantile(0.50), lat.all.quantile(0.99), lat.all.max.Load()
	t.EarlyP50NS, t.LateP50NS = lat.early.quantile(0.50), lat.late.quantile(0.50)
	onSchedule := float64(t.PublishNS) <= scheduleSlack*float64(dur)+float64(10*time.Millisecond)
	steady := lat.early.count.Load() == 0 || lat.late.count.Load() == 0 ||
		float64(t.LateP50NS) <= trendFactor*float64(t.EarlyP50NS)+float64(trendSlack)
	t.Pass = rate > 0 && t.Lost == 0 && t.Missed == 0 && t.Bad == 0 && t.PublishErrors == 0 && onSchedule && steady
	d.report(t)
	return t, nil
}

// report prints a progress line for t.
func (d *driver) report(t trial) {
	asked := "flood"
	if t.Rate > 0 {
		asked = fmt.Sprintf("%.0f/s asked", t.Rate*float64(t.Members))
	}
	verdict, quarters := "", ""
	if t.Rate > 0 {
		quarters = fmt.Sprintf(" (first/last quarter %s/%s)", ms(t.EarlyP50NS), ms(t.LateP50NS))
		verdict = "fail"
		if t.Pass {
			verdict = "pass"
		}
	}
	fmt.Fprintf(d.progress, "groupbench: %s %dB %-9s %14s: %8.0f deliveries/s, lost %d, server %4.0f ns/delivery (user %3.0f, %.2f writes, busy %3.0f%%), client %4.0f ns/delivery (busy %3.0f%%), p50 %s%s p99 %s max %s, probes p50 %s p99 %s max %s, publishing %v %s\n",
		d.label, t.Size, t.Kind, asked, t.deliveryRate(), t.Lost, t.serverCPU(), t.serverUser(), t.writesPerDelivery(), 100*t.busy(),
		t.clientCPU(), 100*t.clientBusy(), ms(t.P50NS), quarters, ms(t.P99NS), ms(t.MaxNS), ms(t.ProbeP50NS), ms(t.ProbeP99NS), ms(t.ProbeMaxNS),
		time.Duration(t.PublishNS).Round(time.Millisecond), verdict)
}

// search looks for the highest rate, in messages a second, at which
// trials pass: doubling from start until one fails (halving while they
// fail), then bisecting, in at most steps trials. It returns 0 when no
// trial passed.
func (d *driver) search(ctx context.Context, size int, start float64, steps int, dur time.Duration) (float64, []trial, error) {
	var good, bad float64
	var trials []trial
	rate := start
	for range steps {
		t, err := d.run(ctx, "search", size, rate, dur)
		if err != nil {
			return 0, trials, err
		}
		trials = append(trials, t)
		if t.Pass {
			good = rate
		} else {
			bad = rate
		}
		switch {
		case bad == 0:
			rate *= 2
		case good == 0:
			rate /= 2
		default:
			rate = math.Sqrt(good * bad)
		}
		if good > 0 && bad > 0 && bad/good < 1.1 {
			break
		}
	}
	return good, trials, nil
}

// sustainMargin is the share of the highest rate that passed at which
// the sustained rate is measured: the search stops at the edge, where
// the machine's noise alone makes a trial pass or fail.
const sustainMargin = 0.9

// sizeResult is what the client measured with one message size.
type sizeResult struct {
	Size      int     `json:"size"`
	Search    []trial `json:"search"`
	Highest   float64 `json:"highest"`   // messages a second, the highest rate that passed; 0: none did
	Sustained float64 `json:"sustained"` // the rate of the Measured trials: sustainMargin × Highest
	Measured  []trial `json:"measured"`  // trials at the sustained rate
	Half      []trial `json:"half"`      // a trial at half the sustained rate
	Flood     []trial `json:"flood"`
}

// measureSize runs every trial of one message size.
func (d *driver) measureSize(ctx context.Context, cfg clientConfig, size int) (sizeResult, error) {
	res := sizeResult{Size: size}
	n := float64(len(d.ms.list) + d.probes)
	// Warm up: the first messages grow buffers and goroutine stacks.
	if _, err := d.run(ctx, "warm-up", size, cfg.start/n/2, min(cfg.duration, time.Second)); err != nil {
		return res, err
	}
	good, trials, err := d.search(ctx, size, cfg.start/n, cfg.steps, cfg.duration)
	res.Search, res.Highest, res.Sustained = trials, good, sustainMargin*good
	if err != nil {
		return res, err
	}
	if good > 0 {
		for range cfg.rounds {
			t, err := d.run(ctx, "sustained", size, res.Sustained, cfg.duration)
			if err != nil {
				return res, err
			}
			res.Measured = append(res.Measured, t)
		}
		t, err := d.run(ctx, "half", size, res.Sustained/2, cfg.duration)
		if err != nil {
			return res, err
		}
		res.Half = append(res.Half, t)
	}
	if cfg.flood {
		for range cfg.rounds {
			t, err := d.run(ctx, "flood", size, 0, cfg.duration)
			if err != nil {
				return res, err
			}
			res.Flood = append(res.Flood, t)
		}
	}
	return res, nil
}

// profile runs a flood trial and, when there is a sustained rate, a
// trial at it, each under the server's CPU profiler, and returns the
// names of the profiles.
func (d *driver) profile(ctx context.Context, cfg clientConfig, sr sizeResult) ([]string, error) {
	var names []string
	runs := []struct {
		name string
		rate float64
	}{{"flood", 0}}
	if sr.Sustained > 0 {
		runs = append(runs, struct {
			name string
			rate float64
		}{"sustained", sr.Sustained})
	}
	for _, r := range runs {
		name := fmt.Sprintf("%s-%d-%s", cfg.profile, sr.Size, r.name)
		if err := d.ctl.Do(ctx, http.MethodPost, "/profile/cpu/start", url.Values{"name": {name}}, nil); err != nil {
			return names, err
		}
		_, err := d.run(ctx, "profile", sr.Size, r.rate, cfg.duration)
		if serr := d.ctl.Post(ctx, "/profile/cpu/stop"); err == nil {
			err = serr
		}
		if err != nil {
			return names, err
		}
		names = append(names, name+"-cpu.pprof")
	}
	return names, nil
}

// ms formats nanoseconds as milliseconds.
func ms(ns int64) string { return fmt.Sprintf("%.2fms", float64(ns)/1e6) }
