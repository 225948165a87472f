package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/pistoke/pistoke/bench/internal/harness"
)

// goalRatio is the project's goal: reading a fragmented message costs
// the server at most this times the CPU per wire byte of the same
// payload in one frame.
const goalRatio = 2.0

// summary is the median of a case's measurements over its rounds.
type summary struct {
	cpu      float64 // server CPU µs per message
	wire     float64 // server CPU ns per wire byte
	payload  float64 // server CPU ns per payload byte
	user     float64 // user and system CPU µs per message
	sys      float64
	reads    float64 // read system calls per message
	allocs   float64 // allocations per message
	bytes    float64 // bytes allocated per message
	gcs      float64 // collections per message
	busy     float64 // server CPU time over wall time
	client   float64 // client CPU µs per message
	perRound []float64
}

func summarize(rs []result) summary {
	var s summary
	var cpu, payload, user, sys, reads, allocs, bytes, gcs, busy, client []float64
	for _, r := range rs {
		m := float64(r.Messages)
		cpu = append(cpu, r.cpuPerMsg())
		s.perRound = append(s.perRound, r.nsPerWireByte())
		payload = append(payload, r.nsPerPayloadByte())
		user = append(user, float64(r.ServerUser)/m/1e3)
		sys = append(sys, float64(r.ServerSys)/m/1e3)
		reads = append(reads, float64(r.ServerReads)/m)
		allocs = append(allocs, float64(r.ServerMallocs)/m)
		bytes = append(bytes, float64(r.ServerAlloc)/m)
		gcs = append(gcs, float64(r.ServerGCs)/m)
		busy = append(busy, r.serverNanos()/float64(r.WallNanos))
		client = append(client, float64(r.ClientNanos)/m/1e3)
	}
	s.cpu, s.wire, s.payload = harness.Median(cpu), harness.Median(s.perRound), harness.Median(payload)
	s.user, s.sys, s.reads = harness.Median(user), harness.Median(sys), harness.Median(reads)
	s.allocs, s.bytes, s.gcs = harness.Median(allocs), harness.Median(bytes), harness.Median(gcs)
	s.busy, s.client = harness.Median(busy), harness.Median(client)
	return s
}

// comparison is a fragmented case against its one-frame case.
type comparison struct {
	c, base     msgCase
	wire        float64 // ratio of the medians of ns per wire byte
	msg         float64 // ratio of the medians of CPU per message
	roundMedian float64 // median of the per-round ratios of ns per wire byte
}

// compare returns the comparison of the case c with its one-frame case,
// and whether both were measured.
func (r *report) compare(c msgCase, sums map[string]summary) (comparison, bool) {
	if c.base == "" {
		return comparison{}, false
	}
	s, ok1 := sums[c.name]
	b, ok2 := sums[c.base]
	if !ok1 || !ok2 || b.wire <= 0 || b.cpu <= 0 {
		return comparison{}, false
	}
	base, _ := lookupCase(c.base)
	// Rounds measure every case within seconds of each other, so each
	// round's ratio shares that moment's conditions.
	var pairs []float64
	for i := range min(len(s.perRound), len(b.perRound)) {
		pairs = append(pairs, s.perRound[i]/b.perRound[i])
	}
	return comparison{c: c, base: base, wire: s.wire / b.wire, msg: s.cpu / b.cpu, roundMedian: harness.Median(pairs)}, true
}

// perByte formats a CPU time per byte in ns: to three decimals, or to
// the nanosecond once that is more than enough, as for a message with a
// single payload byte.
func perByte(ns float64) string {
	if ns >= 1000 {
		return fmt.Sprintf("%.0f", ns)
	}
	return fmt.Sprintf("%.3f", ns)
}

// Write prints the report as markdown; command is the command line that
// produced it.
func (r *report) Write(w io.Writer, command string) {
	c := r.cfg
	harness.WriteHeader(w, "fragbench", c.Quick, command)
	fmt.Fprintf(w, "Settings: -size %d -msgs %d -warmup %d -rounds %d -cases %s\n\n",
		c.size, c.msgs, c.warmup, c.rounds, caseNames(c.cases))
	pin := "not pinned (no taskset, one CPU, or -pin=false)"
	if r.pinned {
		pin = "server pinned to CPU 0, client to CPU 1 (taskset)"
	}
	fmt.Fprintf(w, "Machine: %s; %s; server GOMAXPROCS %d.\n\n", harness.Machine(), pin, r.serverGOMAXPROCS)
	r.load.Write(w)

	sums := map[string]summary{}
	for _, mc := range c.cases {
		if rs := r.results[mc.name]; len(rs) > 0 {
			sums[mc.name] = summarize(rs)
		}
	}
	if len(sums) > 0 {
		r.writeResults(w, sums)
	}
	if len(r.profiles) > 0 {
		fmt.Fprintf(w, "## Profiles\n\nWritten to %s: %s. Read them with `go tool pprof -top <file>`.\n",
			c.Profile, strings.Join(r.profiles, ", "))
	}
}

// writeResults prints the tables of the measurements and the goal.
func (r *report) writeResults(w io.Writer, sums map[string]summary) {
	c := r.cfg
	fmt.Fprintf(w, "## Server CPU per wire byte\n\n")
	fmt.Fprintf(w, "One connection; per case and round, a fresh server process reads %d unmeasured messages and then %d measured ones, "+
		"each written by the client in one go as pre-built masked frames and answered by the server with a short text message. "+
		"Server CPU is user+system time from the server's getrusage across the measured phase, divided by the messages, "+
		"by their bytes on the wire (headers, mask keys and payload) and by their payload bytes. "+
		"The last two columns divide a case's figure by that of the one-frame case of its type. Medians of %d rounds, "+
		"rounds going through every case in turn.\n\n", c.warmup, c.msgs, c.rounds)
	fmt.Fprintf(w, "| case | frames/msg | wire bytes/msg | payload bytes/msg | server CPU µs/msg | ns/wire byte | ns/payload byte | ns/wire byte vs one frame | CPU/msg vs one frame |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	var cmps []comparison
	for _, mc := range c.cases {
		s, ok := sums[mc.name]
		if !ok {
			continue
		}
		wire, msg := "1", "1"
		if mc.base != "" {
			wire, msg = "—", "—"
			if cmp, ok := r.compare(mc, sums); ok {
				wire, msg = fmt.Sprintf("%.2f×", cmp.wire), fmt.Sprintf("%.2f×", cmp.msg)
				cmps = append(cmps, cmp)
			}
		}
		fmt.Fprintf(w, "| %s | %d | %d | %d | %.1f | %.3f | %s | %s | %s |\n",
			mc.name, mc.frames(c.size), mc.wireSize(c.size), mc.payloadSize(c.size),
			s.cpu, s.wire, perByte(s.payload), wire, msg)
	}
	fmt.Fprintln(w)

	fmt.Fprintf(w, "Where the time goes, per message (medians):\n\n")
	fmt.Fprintf(w, "| case | user µs | system µs | read calls | allocs | bytes allocated | GCs | server busy | client CPU µs |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, mc := range c.cases {
		s, ok := sums[mc.name]
		if !ok {
			continue
		}
		fmt.Fprintf(w, "| %s | %.1f | %.1f | %.1f | %.1f | %.0f | %.2f | %.0f%% | %.1f |\n",
			mc.name, s.user, s.sys, s.reads, s.allocs, s.bytes, s.gcs, 100*s.busy, s.client)
	}
	fmt.Fprintln(w)

	fmt.Fprintf(w, "Per round, ns/wire byte:")
	for _, mc := range c.cases {
		s, ok := sums[mc.name]
		if !ok {
			continue
		}
		fmt.Fprintf(w, " %s", mc.name)
		for _, v := range s.perRound {
			fmt.Fprintf(w, " %.3f", v)
		}
		fmt.Fprintf(w, ";")
	}
	fmt.Fprintf(w, "\n\n")

	if len(cmps) > 0 {
		fmt.Fprintf(w, "Goal: server CPU per wire byte within %.0f× of the same payload in one frame.\n\n", goalRatio)
		for _, cmp := range cmps {
			fmt.Fprintf(w, "- %s: **%.2f×** the ns/wire byte of %s (goal ≤ %.0f×: %s); median of the per-round ratios %.2f×\n",
				cmp.c.name, cmp.wire, cmp.base.name, goalRatio, harness.Met(cmp.wire <= goalRatio), cmp.roundMedian)
		}
		fmt.Fprintln(w)
	}
}
