package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/pistoke/pistoke/bench/internal/harness"
)

// The project's goals, which the report says are met or not.
const (
	goalPerCore    = 1e6   // in-process deliveries per second of server CPU
	goalP99        = 50e6  // ns, p99 delivery latency with goalP99Members members
	goalP99Members = 10000 // the member count the latency goal is about
)

// summary is the median of each figure over several trials.
type summary struct {
	n, passed    int
	rate         float64 // deliveries a second
	msgRate      float64 // messages published a second
	cpu          float64 // server ns per delivery
	user         float64 // the user-space part of it
	writes       float64 // server write system calls per delivery
	perCore      float64 // deliveries per second of server CPU
	busy         float64
	client       float64 // client ns per delivery
	clientBusy   float64
	broker       float64 // broker µs per message, -1 unknown
	p50, p99, mx float64 // ns, at the client's members
	probeP50     float64 // ns, at the probe's members; -1 without a probe
	probeP99     float64
	probeMax     float64
	lost         float64 // share of the expected deliveries
	hubDropped   float64 // per trial
	allocs       float64 // server allocations per delivery
}

func summarize(ts []trial) summary {
	s := summary{n: len(ts)}
	var rate, msgRate, cpu, user, writes, perCore, busy, client, clientBusy, broker, p50, p99, mx, pp50, pp99, pmax, lost, drops, allocs []float64
	for _, t := range ts {
		if t.Pass {
			s.passed++
		}
		rate = append(rate, t.deliveryRate())
		if t.PublishNS > 0 {
			msgRate = append(msgRate, float64(t.Published)/(float64(t.PublishNS)/1e9))
		}
		cpu = append(cpu, t.serverCPU())
		user = append(user, t.serverUser())
		writes = append(writes, t.writesPerDelivery())
		perCore = append(perCore, t.perCore())
		busy = append(busy, t.busy())
		client = append(client, t.clientCPU())
		clientBusy = append(clientBusy, t.clientBusy())
		if t.BrokerNS >= 0 && t.Published > 0 {
			broker = append(broker, float64(t.BrokerNS)/float64(t.Published)/1e3)
		}
		p50 = append(p50, float64(t.P50NS))
		if t.ProbeMaxNS > 0 {
			pp50 = append(pp50, float64(t.ProbeP50NS))
			pp99 = append(pp99, float64(t.ProbeP99NS))
			pmax = append(pmax, float64(t.ProbeMaxNS))
		}
		p99 = append(p99, float64(t.P99NS))
		mx = append(mx, float64(t.MaxNS))
		if t.Expected > 0 {
			lost = append(lost, float64(t.Lost)/float64(t.Expected))
		}
		drops = append(drops, float64(t.HubDropped))
		if t.Delivered > 0 {
			allocs = append(allocs, float64(t.ServerMallocs)/float64(t.Delivered))
		}
	}
	s.rate, s.msgRate, s.cpu, s.perCore = harness.Median(rate), harness.Median(msgRate), harness.Median(cpu), harness.Median(perCore)
	s.user, s.writes = harness.Median(user), harness.Median(writes)
	s.busy, s.client, s.clientBusy = harness.Median(busy), harness.Median(client), harness.Median(clientBusy)
	s.broker = -1
	if len(broker) > 0 {
		s.broker = harness.Median(broker)
	}
	s.p50, s.p99, s.mx = harness.Median(p50), harness.Median(p99), harness.Median(mx)
	s.probeP50, s.probeP99, s.probeMax = -1, -1, -1
	if len(pmax) > 0 {
		s.probeP50, s.probeP99, s.probeMax = harness.Median(pp50), harness.Median(pp99), harness.Median(pmax)
	}
	s.lost, s.hubDropped, s.allocs = harness.Median(lost), harness.Median(drops), harness.Median(allocs)
	return s
}

// row is one line of the report's tables: a backend, a member count and
// a message size.
type row struct {
	backend string
	members int
	sr      sizeResult
}

func (r *report) rows() []row {
	var rows []row
	for _, m := range r.runs {
		for _, sr := range m.client.Sizes {
			rows = append(rows, row{m.backend, m.members, sr})
		}
	}
	return rows
}

// Write prints the report as markdown; command is the command line
// that produced it.
func (r *report) Write(w io.Writer, command string) {
	c := r.cfg
	harness.WriteHeader(w, "groupbench", c.Quick, command)
	fmt.Fprintf(w, "Settings: -backends %s -members %s -sizes %s -duration %v -rounds %d -start %.0f -steps %d -probes %d -queue %d -server-procs %d -flood=%t\n\n",
		strings.Join(c.backends, ","), joinInts(c.members), joinInts(c.sizes), c.duration, c.rounds, c.start, c.steps, c.probes, c.queue, c.serverProcs, c.flood)
	pin := "not pinned (no taskset, one CPU, or -pin=false)"
	if r.pinned {
		pin = "server pinned to CPU 0; client, probe and broker to CPU 1 (taskset)"
	}
	fmt.Fprintf(w, "Machine: %s; %s; server GOMAXPROCS %d. "+
		"The publisher is a goroutine of the server process.\n\n",
		harness.Machine(), pin, r.serverGOMAXPROCS)
	r.load.Write(w)
	for _, b := range c.backends {
		if why, ok := r.skipped[b]; ok {
			fmt.Fprintf(w, "Backend %s not measured: %s.\n\n", b, why)
		}
	}
	rows := r.rows()

	fmt.Fprintf(w, "## Sustained fan-out\n\n")
	fmt.Fprintf(w, "The highest publish rate at which every member received every message and the hub kept up: "+
		"the publisher kept to its schedule and the last quarter of the messages waited at most %.1f × as long as the "+
		"first quarter (p50, + %v), so that no backlog grew. Found by doubling and then bisecting the rate in trials of %v; "+
		"then %d more trials at %.0f %% of it, whose medians are shown (\"trials passed\": how many of those passed too). "+
		"Server CPU is user+system time from the server's getrusage across each trial, divided by the deliveries; "+
		"writes are the server's write system calls (a writev counts once).\n\n",
		trendFactor, trendSlack, c.duration, c.rounds, 100*sustainMargin)
	fmt.Fprintf(w, "| backend | members | size | deliveries/s | messages/s | server ns/delivery | user ns/delivery | writes/delivery | deliveries per core-second | server busy | client ns/delivery | client busy | broker µs/message | trials passed |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, x := range rows {
		if x.sr.Sustained == 0 {
			fmt.Fprintf(w, "| %s | %d | %d | no rate passed | | | | | | | | | | |\n", x.backend, x.members, x.sr.Size)
			continue
		}
		s := summarize(x.sr.Measured)
		fmt.Fprintf(w, "| %s | %d | %d | %.0f | %.0f | %.0f | %.0f | %.2f | %.0f | %.0f%% | %.0f | %.0f%% | %s | %d/%d |\n",
			x.backend, x.members, x.sr.Size, s.rate, s.msgRate, s.cpu, s.user, s.writes, s.perCore, 100*s.busy,
			s.client, 100*s.clientBusy, brokerCell(s.broker), s.passed, s.n)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Rate search (deliveries/s asked for, ✓ passed, ✗ failed):\n\n")
	for _, x := range rows {
		var steps []string
		for _, t := range x.sr.Search {
			mark := "✗"
			if t.Pass {
				mark = "✓"
			}
			steps = append(steps, fmt.Sprintf("%.0f %s", t.Rate*float64(t.Members), mark))
		}
		fmt.Fprintf(w, "- %s, %d members, %d B: %s\n", x.backend, x.members, x.sr.Size, strings.Join(steps, ", "))
	}
	fmt.Fprintln(w)

	fmt.Fprintf(w, "## Latency\n\n")
	fmt.Fprintf(w, "From Publish to the member's Receive, at the sustained rate (medians of its trials) and at half of it. "+
		"\"members\": the sockets of the probe process, spread evenly over the group's join order, which are idle "+
		"between messages and so read at once; what a member on a machine of its own would see. \"client\": the "+
		"sockets of the client process, which also waits for the client to get round to each socket among all the "+
		"others on one CPU.\n\n")
	fmt.Fprintf(w, "| backend | members | size | load | deliveries/s | server busy | members p50 | members p99 | members max | client p50 | client p99 | client max |\n")
	fmt.Fprintf(w, "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, x := range rows {
		for _, l := range []struct {
			name string
			ts   []trial
		}{{"sustained", x.sr.Measured}, {"half", x.sr.Half}} {
			if len(l.ts) == 0 {
				continue
			}
			s := summarize(l.ts)
			fmt.Fprintf(w, "| %s | %d | %d | %s | %.0f | %.0f%% | %s | %s | %s | %s | %s | %s |\n",
				x.backend, x.members, x.sr.Size, l.name, s.rate, 100*s.busy,
				probeCell(s.probeP50), probeCell(s.probeP99), probeCell(s.probeMax), ms(int64(s.p50)), ms(int64(s.p99)), ms(int64(s.mx)))
		}
	}
	fmt.Fprintln(w)

	if c.flood {
		fmt.Fprintf(w, "## Flood\n\n")
		fmt.Fprintf(w, "The publisher publishes for %v as fast as the hub takes messages: as fast as Publish returns, "+
			"with at most %d messages on their way through a broker (the in-process backend takes each within Publish). "+
			"Members whose queue is full lose their oldest messages. Medians of %d trials.\n\n", c.duration, floodWindow, c.rounds)
		fmt.Fprintf(w, "| backend | members | size | messages/s | deliveries/s | lost | server ns/delivery | user ns/delivery | writes/delivery | deliveries per core-second | server busy | client busy | members p99 |\n")
		fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, x := range rows {
			if len(x.sr.Flood) == 0 {
				continue
			}
			s := summarize(x.sr.Flood)
			fmt.Fprintf(w, "| %s | %d | %d | %.0f | %.0f | %s | %.0f | %.0f | %.2f | %.0f | %.0f%% | %.0f%% | %s |\n",
				x.backend, x.members, x.sr.Size, s.msgRate, s.rate, pct(s.lost), s.cpu, s.user, s.writes, s.perCore,
				100*s.busy, 100*s.clientBusy, probeCell(s.probeP99))
		}
		fmt.Fprintln(w)
	}

	if len(r.floors) > 0 {
		fmt.Fprintf(w, "## Write floor\n\n"+
			"Plain write system calls of one %d-byte frame to each of N loopback sockets, with no hub, no WebSocket and no reader "+
			"(the peers are sockets of the same process, never read): the least time any fan-out on this machine needs to reach its last member. "+
			"First with the server's pinning, then with one goroutine per CPU. Median of 5 rounds.\n\n", r.floors[0].Size+2)
		fmt.Fprintf(w, "| members | goroutines | time to write every socket | CPU ns per write |\n|---:|---:|---:|---:|\n")
		for _, f := range r.floors {
			fmt.Fprintf(w, "| %d | %d | %s | %.0f |\n", f.Members, f.Goroutines, ms(int64(f.Wall)), f.PerWrite)
		}
		fmt.Fprintln(w)
	}

	fmt.Fprintf(w, "## Goals\n\n")
	any := false
	for _, x := range rows {
		if x.backend != backendLocal {
			continue
		}
		if x.sr.Sustained > 0 {
			any = true
			s := summarize(x.sr.Measured)
			fmt.Fprintf(w, "- in-process, %d members, %d B, sustained rate: %.0f deliveries per server core-second (goal ≥ %.0f: %s)\n",
				x.members, x.sr.Size, s.perCore, goalPerCore, harness.Met(s.perCore >= goalPerCore))
		}
		if len(x.sr.Flood) > 0 {
			any = true
			s := summarize(x.sr.Flood)
			fmt.Fprintf(w, "- in-process, %d members, %d B, flood: %.0f deliveries per server core-second (goal ≥ %.0f: %s)\n",
				x.members, x.sr.Size, s.perCore, goalPerCore, harness.Met(s.perCore >= goalPerCore))
		}
	}
	for _, x := range rows {
		if x.members != goalP99Members || x.sr.Sustained == 0 {
			continue
		}
		any = true
		s := summarize(x.sr.Measured)
		p99, who := s.probeP99, "members"
		if p99 < 0 {
			p99, who = s.p99, "client"
		}
		fmt.Fprintf(w, "- %s, %d members, %d B, sustained rate: p99 latency (%s) %s (goal ≤ %s: %s)%s\n",
			x.backend, x.members, x.sr.Size, who, ms(int64(p99)), ms(goalP99), harness.Met(p99 <= goalP99), r.floorNote(x.members))
		if len(x.sr.Half) > 0 {
			s := summarize(x.sr.Half)
			p99, who := s.probeP99, "members"
			if p99 < 0 {
				p99, who = s.p99, "client"
			}
			fmt.Fprintf(w, "- %s, %d members, %d B, half the sustained rate: p99 latency (%s) %s (goal ≤ %s: %s)\n",
				x.backend, x.members, x.sr.Size, who, ms(int64(p99)), ms(goalP99), harness.Met(p99 <= goalP99))
		}
	}
	if !any {
		fmt.Fprintf(w, "No measurement the goals are about (the in-process backend, %d members).\n", goalP99Members)
	}
	fmt.Fprintln(w)

	if len(r.profiles) > 0 {
		fmt.Fprintf(w, "## Profiles\n\nServer CPU profiles written to %s: %s. Read them with `go tool pprof -top <file>`.\n",
			c.Profile, strings.Join(r.profiles, ", "))
	}
}

// floorNote says how long plain writes to every member take, for a
// latency goal line: the floor under any latency on this machine.
func (r *report) floorNote(members int) string {
	var parts []string
	for _, f := range r.floors {
		if f.Members == members {
			parts = append(parts, fmt.Sprintf("%s with %d goroutine(s)", ms(int64(f.Wall)), f.Goroutines))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; writing to every member takes " + strings.Join(parts, ", ") + " by itself"
}

// probeCell formats a probe latency, -1 meaning there was no probe.
func probeCell(ns float64) string {
	if ns < 0 {
		return "–"
	}
	return ms(int64(ns))
}

func brokerCell(us float64) string {
	if us < 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f", us)
}

func pct(f float64) string {
	if f == 0 {
		return "0"
	}
	return fmt.Sprintf("%.2f%%", 100*f)
}
