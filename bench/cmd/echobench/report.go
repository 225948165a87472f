package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/pistoke/pistoke/bench/internal/harness"
)

// The project's goals, which the report says are met or not.
const (
	goalCPURatio    = 0.80     // pistoke server CPU per message ≤ this × gorilla's
	goalIdleBytes   = 10 << 10 // pistoke idle memory per connection
	goalIdleDisplay = "10 KiB"
)

// echoSummary is the median of an echo measurement over its rounds.
type echoSummary struct {
	cpu       float64 // server CPU µs per message
	user, sys float64 // the same, split
	allocs    float64 // server allocations per message
	bytes     float64 // server bytes allocated per message
	rate      float64 // round trips per second, all connections
	busy      float64 // server CPU time over wall time
	client    float64 // client CPU µs per round trip
	reads     float64 // server read system calls per message
	writes    float64 // server write system calls per message
	rounds    []float64
}

func summarize(rs []loadResult) echoSummary {
	var s echoSummary
	var user, sys, allocs, bytes, rate, busy, client, reads, writes []float64
	for _, r := range rs {
		m := float64(r.Messages)
		s.rounds = append(s.rounds, r.cpuPerMsg())
		user = append(user, float64(r.ServerUser)/m/1e3)
		sys = append(sys, float64(r.ServerSys)/m/1e3)
		allocs = append(allocs, float64(r.ServerMallocs)/m)
		bytes = append(bytes, float64(r.ServerAlloc)/m)
		rate = append(rate, m/(float64(r.WallNanos)/1e9))
		busy = append(busy, float64(r.ServerUser+r.ServerSys)/float64(r.WallNanos))
		client = append(client, float64(r.ClientNanos)/m/1e3)
		reads = append(reads, float64(r.ServerReads)/m)
		writes = append(writes, float64(r.ServerWrites)/m)
	}
	s.cpu, s.user, s.sys = harness.Median(s.rounds), harness.Median(user), harness.Median(sys)
	s.allocs, s.bytes, s.rate = harness.Median(allocs), harness.Median(bytes), harness.Median(rate)
	s.busy, s.client = harness.Median(busy), harness.Median(client)
	s.reads, s.writes = harness.Median(reads), harness.Median(writes)
	return s
}

// perConn is one idle measurement divided by the connection count; the
// values are signed because a small run may see memory shrink.
type perConn struct {
	rss, heapStack, heap, stack, goroutines float64
}

func idlePerConn(before, after memory, n int) perConn {
	d := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) }
	return perConn{
		rss:        d(after.RSS, before.RSS),
		heapStack:  d(after.HeapInuse+after.StackInuse, before.HeapInuse+before.StackInuse),
		heap:       d(after.HeapInuse, before.HeapInuse),
		stack:      d(after.StackInuse, before.StackInuse),
		goroutines: (float64(after.Goroutines) - float64(before.Goroutines)) / float64(n),
	}
}

func kib(b float64) string { return fmt.Sprintf("%.2f KiB", b/1024) }

// Write prints the report as markdown; command is the command line
// that produced it.
func (r *report) Write(w io.Writer, command string) {
	c := r.cfg
	harness.WriteHeader(w, "echobench", c.Quick, command)
	fmt.Fprintf(w, "Settings: -conns %d -msgs %d -warmup %d -size %d -type %s -client %s -rounds %d -idle %d -impls %s\n\n",
		c.conns, c.msgs, c.warmup, c.size, c.msgType, c.client, c.rounds, c.idle, strings.Join(c.impls, ","))
	pin := "not pinned (no taskset, one CPU, or -pin=false)"
	if r.pinned {
		pin = "server pinned to CPU 0, client to CPU 1 (taskset)"
	}
	fmt.Fprintf(w, "Machine: %s; %s; server GOMAXPROCS %d.\n\n", harness.Machine(), pin, r.serverGOMAXPROCS)
	r.load.Write(w)

	if len(r.echo) > 0 {
		fmt.Fprintf(w, "## Echo: server CPU per message\n\n")
		fmt.Fprintf(w, "%d connections, each doing %d request/response round trips of a %d-byte %s message per round "+
			"(after %d unmeasured ones); server CPU is user+system time from the server's getrusage across the measured phase, "+
			"divided by the messages echoed. Medians of %d rounds per server, rounds alternating.\n\n",
			c.conns, c.msgs, c.size, c.msgType, c.warmup, c.rounds)
		fmt.Fprintf(w, "| server | CPU µs/msg | user µs/msg | system µs/msg | allocs/msg | bytes allocated/msg | reads/msg | writes/msg | round trips/s | server busy | client CPU µs/msg |\n")
		fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		sums := map[string]echoSummary{}
		for _, impl := range c.impls {
			s := summarize(r.echo[impl])
			sums[impl] = s
			fmt.Fprintf(w, "| %s | %.2f | %.2f | %.2f | %.2f | %.0f | %.2f | %.2f | %.0f | %.0f%% | %.2f |\n",
				impl, s.cpu, s.user, s.sys, s.allocs, s.bytes, s.reads, s.writes, s.rate, 100*s.busy, s.client)
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "Per round, CPU µs/msg:")
		for _, impl := range c.impls {
			fmt.Fprintf(w, " %s", impl)
			for _, v := range sums[impl].rounds {
				fmt.Fprintf(w, " %.2f", v)
			}
			fmt.Fprintf(w, ";")
		}
		fmt.Fprintf(w, "\n\n")
		p, okp := sums[implPistoke]
		g, okg := sums[implGorilla]
		if okp && okg && g.cpu > 0 {
			ratio := p.cpu / g.cpu
			fmt.Fprintf(w, "pistoke/gorilla server CPU per message: **%.3f** (goal ≤ %.2f: %s)\n\n", ratio, goalCPURatio, harness.Met(ratio <= goalCPURatio))
			// Rounds next to each other in time share the machine's
			// conditions, so their ratios are a second opinion.
			var pairs []float64
			for i := range min(len(p.rounds), len(g.rounds)) {
				pairs = append(pairs, p.rounds[i]/g.rounds[i])
			}
			fmt.Fprintf(w, "Median of the per-round ratios (each pistoke round over the gorilla round after it): %.3f\n\n", harness.Median(pairs))
		}
	}

	if len(r.idle) > 0 {
		fmt.Fprintf(w, "## Idle memory per connection\n\n")
		fmt.Fprintf(w, "%d connections held open by a client process; the server's RSS (VmRSS) and Go heap+stack in use "+
			"(HeapInuse+StackInuse), each taken after a collection that returns free memory to the OS, minus the same "+
			"before the connections opened, divided by %d. \"open\": every handler is running; \"after one echo\": every "+
			"connection has then echoed one %d-byte message and gone quiet.\n\n", c.idle, c.idle, c.size)
		fmt.Fprintf(w, "| server | state | RSS/conn | heap+stack/conn | heap/conn | stack/conn | goroutines/conn |\n")
		fmt.Fprintf(w, "|---|---|---:|---:|---:|---:|---:|\n")
		for _, impl := range c.impls {
			res, ok := r.idle[impl]
			if !ok {
				continue
			}
			for _, st := range []struct {
				name  string
				after memory
			}{{"open", res.Opened}, {"after one echo", res.Echoed}} {
				pc := idlePerConn(res.Before, st.after, res.Conns)
				fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %.2f |\n",
					impl, st.name, kib(pc.rss), kib(pc.heapStack), kib(pc.heap), kib(pc.stack), pc.goroutines)
			}
		}
		fmt.Fprintln(w)
		if res, ok := r.idle[implPistoke]; ok {
			pc := idlePerConn(res.Before, res.Echoed, res.Conns)
			worst := max(pc.rss, pc.heapStack)
			fmt.Fprintf(w, "pistoke idle memory per connection after one echo: RSS %s, heap+stack %s (goal ≤ %s: %s)\n\n",
				kib(pc.rss), kib(pc.heapStack), goalIdleDisplay, harness.Met(worst <= goalIdleBytes))
		}
	}

	if len(r.profiles) > 0 {
		fmt.Fprintf(w, "## Profiles\n\nWritten to %s: %s. Read them with `go tool pprof -top <file>`.\n",
			c.Profile, strings.Join(r.profiles, ", "))
	}
}
