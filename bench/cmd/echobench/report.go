package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pistoke/pistoke/bench/internal/harness"
)

// The project's goals, which the report says are met or not.
const (
	goalCPURatio    = 0.80     // pistoke server CPU per message ≤ this × gorilla's
	goalHsRatio     = 1.10     // pistoke server CPU per handshake ≤ this × gorilla's
	goalIdleBytes   = 10 << 10 // pistoke idle memory per connection
	goalIdleDisplay = "10 KiB"
)

// pistokeImpls returns the pistoke servers among impls, which the report
// compares with gorilla.
func pistokeImpls(impls []string) []string {
	var ps []string
	for _, impl := range impls {
		if impl != implGorilla {
			ps = append(ps, impl)
		}
	}
	return ps
}

// pairedRatio is the median of the ratios of the rounds of p to the
// rounds of g run next to them: rounds close in time share the machine's
// conditions, so it is a second opinion on the ratio of the medians.
func pairedRatio(p, g []float64) float64 {
	var pairs []float64
	for i := range min(len(p), len(g)) {
		pairs = append(pairs, p[i]/g[i])
	}
	return harness.Median(pairs)
}

// hsSummary is the median of a handshake measurement over its rounds.
type hsSummary struct {
	cpu       float64 // server CPU µs per handshake
	user, sys float64
	allocs    float64 // server allocations per handshake
	bytes     float64 // server bytes allocated per handshake
	reads     float64 // server read system calls per handshake
	writes    float64 // server write system calls per handshake
	rate      float64 // handshakes per second
	busy      float64 // server CPU time over wall time
	client    float64 // client CPU µs per handshake
	rounds    []float64
}

func summarizeHs(rs []hsResult) hsSummary {
	var s hsSummary
	var user, sys, allocs, bytes, reads, writes, rate, busy, client []float64
	for _, r := range rs {
		h := float64(r.Handshakes)
		s.rounds = append(s.rounds, r.cpuPerHandshake())
		user = append(user, float64(r.ServerUser)/h/1e3)
		sys = append(sys, float64(r.ServerSys)/h/1e3)
		allocs = append(allocs, float64(r.ServerMallocs)/h)
		bytes = append(bytes, float64(r.ServerAlloc)/h)
		reads = append(reads, float64(r.ServerReads)/h)
		writes = append(writes, float64(r.ServerWrites)/h)
		rate = append(rate, h/(float64(r.WallNanos)/1e9))
		busy = append(busy, float64(r.ServerUser+r.ServerSys)/float64(r.WallNanos))
		client = append(client, float64(r.ClientNanos)/h/1e3)
	}
	s.cpu, s.user, s.sys = harness.Median(s.rounds), harness.Median(user), harness.Median(sys)
	s.allocs, s.bytes = harness.Median(allocs), harness.Median(bytes)
	s.reads, s.writes = harness.Median(reads), harness.Median(writes)
	s.rate, s.busy, s.client = harness.Median(rate), harness.Median(busy), harness.Median(client)
	return s
}

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

// waitNote describes the quiet time of the echo test before its measured
// phase.
func waitNote(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return fmt.Sprintf(" and then %v of quiet and one more each", d)
}

func kib(b float64) string { return fmt.Sprintf("%.2f KiB", b/1024) }

// Write prints the report as markdown; command is the command line
// that produced it.
func (r *report) Write(w io.Writer, command string) {
	c := r.cfg
	harness.WriteHeader(w, "echobench", c.Quick, command)
	fmt.Fprintf(w, "Settings: -conns %d -msgs %d -warmup %d -echowait %v -size %d -type %s -client %s -rounds %d -echo=%t "+
		"-handshakes %d -hswarmup %d -hspar %d -idle %d -idlewait %v -impls %s\n\n",
		c.conns, c.msgs, c.warmup, c.echoWait, c.size, c.msgType, c.client, c.rounds, c.echo,
		c.hs, c.hsWarm, c.hsPar, c.idle, c.idleWait, strings.Join(c.impls, ","))
	pin := "not pinned (no taskset, one CPU, or -pin=false)"
	if r.pinned {
		pin = "server pinned to CPU 0, client to CPU 1 (taskset)"
	}
	fmt.Fprintf(w, "Machine: %s; %s; server GOMAXPROCS %d.\n\n", harness.Machine(), pin, r.serverGOMAXPROCS)
	r.load.Write(w)

	if len(r.echo) > 0 {
		fmt.Fprintf(w, "## Echo: server CPU per message\n\n")
		fmt.Fprintf(w, "%d connections, each doing %d request/response round trips of a %d-byte %s message per round "+
			"(after %d unmeasured ones%s); server CPU is user+system time from the server's getrusage across the measured phase, "+
			"divided by the messages echoed. Medians of %d rounds per server, rounds alternating.\n\n",
			c.conns, c.msgs, c.size, c.msgType, c.warmup, waitNote(c.echoWait), c.rounds)
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
		if g, ok := sums[implGorilla]; ok && g.cpu > 0 {
			for _, impl := range pistokeImpls(c.impls) {
				p := sums[impl]
				ratio := p.cpu / g.cpu
				fmt.Fprintf(w, "%s/gorilla server CPU per message: **%.3f** (goal ≤ %.2f: %s); "+
					"median of the per-round ratios (each round over the gorilla round of the same turn): %.3f\n\n",
					impl, ratio, goalCPURatio, harness.Met(ratio <= goalCPURatio), pairedRatio(p.rounds, g.rounds))
			}
		}
	}

	if len(r.hs) > 0 {
		fmt.Fprintf(w, "## Handshakes: server CPU per connection\n\n")
		fmt.Fprintf(w, "%d connections per round, %d at a time (after %d unmeasured ones), each opening with a handshake, "+
			"echoing one %d-byte %s message and closing with a closing handshake; server CPU is user+system time from the "+
			"server's getrusage from the first handshake until every socket handler has returned, divided by the "+
			"connections. Medians of %d rounds per server, rounds alternating.\n\n",
			c.hs, c.hsPar, c.hsWarm, handshakeSize, c.msgType, c.rounds)
		fmt.Fprintf(w, "| server | CPU µs/handshake | user µs | system µs | allocs | bytes allocated | reads | writes | handshakes/s | server busy | client CPU µs |\n")
		fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		sums := map[string]hsSummary{}
		for _, impl := range c.impls {
			s := summarizeHs(r.hs[impl])
			sums[impl] = s
			fmt.Fprintf(w, "| %s | %.1f | %.1f | %.1f | %.0f | %.0f | %.2f | %.2f | %.0f | %.0f%% | %.1f |\n",
				impl, s.cpu, s.user, s.sys, s.allocs, s.bytes, s.reads, s.writes, s.rate, 100*s.busy, s.client)
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "Per round, CPU µs/handshake:")
		for _, impl := range c.impls {
			fmt.Fprintf(w, " %s", impl)
			for _, v := range sums[impl].rounds {
				fmt.Fprintf(w, " %.1f", v)
			}
			fmt.Fprintf(w, ";")
		}
		fmt.Fprintf(w, "\n\n")
		if g, ok := sums[implGorilla]; ok && g.cpu > 0 {
			for _, impl := range pistokeImpls(c.impls) {
				p := sums[impl]
				ratio := p.cpu / g.cpu
				fmt.Fprintf(w, "%s/gorilla server CPU per handshake: **%.3f** (goal ≤ %.2f: %s); "+
					"median of the per-round ratios: %.3f\n\n",
					impl, ratio, goalHsRatio, harness.Met(ratio <= goalHsRatio), pairedRatio(p.rounds, g.rounds))
			}
		}
	}

	if len(r.idle) > 0 {
		fmt.Fprintf(w, "## Idle memory per connection\n\n")
		fmt.Fprintf(w, "%d connections held open by a client process; the server's RSS (VmRSS) and Go heap+stack in use "+
			"(HeapInuse+StackInuse), each taken after a collection that returns free memory to the OS, minus the same "+
			"before the connections opened, divided by %d. \"open\": every handler is running; \"after one echo\": every "+
			"connection has then echoed one %d-byte message and gone quiet", c.idle, c.idle, c.size)
		if c.idleWait > 0 {
			fmt.Fprintf(w, "; \"%v later\": the connections have then been quiet %v longer, "+
				"past pistoke's first keepalive ping, and echoed one more message", c.idleWait, c.idleWait)
		}
		fmt.Fprintf(w, ".\n\n")
		fmt.Fprintf(w, "| server | state | RSS/conn | heap+stack/conn | heap/conn | stack/conn | goroutines/conn |\n")
		fmt.Fprintf(w, "|---|---|---:|---:|---:|---:|---:|\n")
		for _, impl := range c.impls {
			res, ok := r.idle[impl]
			if !ok {
				continue
			}
			states := []struct {
				name  string
				after memory
			}{{"open", res.Opened}, {"after one echo", res.Echoed}}
			if res.Waited > 0 {
				states = append(states, struct {
					name  string
					after memory
				}{fmt.Sprintf("%v later, one more echo", res.Waited), res.Later})
			}
			for _, st := range states {
				pc := idlePerConn(res.Before, st.after, res.Conns)
				fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %.2f |\n",
					impl, st.name, kib(pc.rss), kib(pc.heapStack), kib(pc.heap), kib(pc.stack), pc.goroutines)
			}
		}
		fmt.Fprintln(w)
		for _, impl := range pistokeImpls(c.impls) {
			res, ok := r.idle[impl]
			if !ok {
				continue
			}
			pc := idlePerConn(res.Before, res.Echoed, res.Conns)
			worst := max(pc.rss, pc.heapStack)
			fmt.Fprintf(w, "%s idle memory per connection after one echo: RSS %s, heap+stack %s (goal ≤ %s: %s)\n\n",
				impl, kib(pc.rss), kib(pc.heapStack), goalIdleDisplay, harness.Met(worst <= goalIdleBytes))
			if res.Waited > 0 {
				pc := idlePerConn(res.Before, res.Later, res.Conns)
				worst := max(pc.rss, pc.heapStack)
				fmt.Fprintf(w, "%s idle memory per connection %v later, after one more echo: RSS %s, heap+stack %s (goal ≤ %s: %s)\n\n",
					impl, res.Waited, kib(pc.rss), kib(pc.heapStack), goalIdleDisplay, harness.Met(worst <= goalIdleBytes))
			}
		}
	}

	if len(r.profiles) > 0 {
		fmt.Fprintf(w, "## Profiles\n\nWritten to %s: %s. Read them with `go tool pprof -top <file>`.\n",
			c.Profile, strings.Join(r.profiles, ", "))
	}
}
