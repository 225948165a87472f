// Command groupbench measures the fan-out of a pistoke groups hub: one
// publisher, one group, N members, each member a WebSocket connection
// over loopback.
//
// A server process runs pistoke.Handler and a groups.Hub over the chosen
// backend (in-process, Redis or NATS), joins every socket that connects
// to one group, and publishes to that group itself when asked to. A
// client process holds the sockets and reads them; each message carries
// a sequence number and the time it was published, so the client counts
// every delivery, every missing message, and the latency from Publish to
// the member's Receive (one machine, one clock). A probe process, started
// by the client, holds a few of the sockets, spread over the group's join
// order: idle between messages, it reads each as soon as it arrives, so
// its latencies are free of the client's own queueing.
//
// For each backend, member count and message size, the client looks for
// the highest publish rate that delivers every message to every member
// without a growing backlog, measures it again for the report, measures
// latency at half that rate, and then floods: publishes as fast as the
// hub takes messages. The server's CPU time, from its own getrusage,
// divided by the deliveries gives the cost of one delivery.
//
// The server is pinned to CPU 0 when taskset is available; the client,
// the probe and a broker the harness starts (redis-server, nats-server)
// to CPU 1, so that CPU 0 runs the hub alone.
//
// Usage:
//
//	groupbench [flags]     run everything and print a markdown report
//	groupbench -quick      a smoke run with a few members, in-process only
//
// Before the backends, the floor subcommand measures how long plain
// write system calls to N loopback sockets take, pinned like the server
// and then on every CPU: the least time in which any fan-out on this
// machine reaches its last member.
//
// The subcommands server, client, probe and floor are the processes the report
// is made of; the harness starts them itself.
package main

import (
	"os"

	"github.com/pistoke/pistoke/bench/internal/harness"
)

// command is the program: the harness and its processes.
var command = &harness.Command[config, *report]{
	Name: "groupbench",
	About: "Measures the fan-out of a groups hub: one publisher, one group, N member\n" +
		"sockets on 127.0.0.1; sustained deliveries a second, server CPU per\n" +
		"delivery and delivery latency, for each backend. Prints a markdown report.",
	Parse:   parseHarnessFlags,
	Measure: runHarness,
	Subcommands: map[string]harness.Main{
		"server": serverMain,
		"client": clientMain,
		"probe":  probeMain,
		"floor":  floorMain,
	},
}

func main() {
	os.Exit(command.Run(os.Args[1:], os.Stdout, os.Stderr))
}
