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
	"fmt"
	"io"
	"os"
)

// childEnv marks the processes the harness starts. The command ignores
// it, but a test binary standing in for the command uses it to run main
// instead of the tests.
const childEnv = "GROUPBENCH_CHILD"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches to a subcommand and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "server":
			return serverMain(args[1:], stdout, stderr)
		case "client":
			return clientMain(args[1:], stdout, stderr)
		case "probe":
			return probeMain(args[1:], stdout, stderr)
		case "floor":
			return floorMain(args[1:], stdout, stderr)
		case "run":
			args = args[1:]
		case "help":
			args = []string{"-h"}
		default:
			if len(args[0]) > 0 && args[0][0] != '-' {
				fmt.Fprintf(stderr, "groupbench: unknown subcommand %q\n", args[0])
				return 2
			}
		}
	}
	return harnessMain(args, stdout, stderr)
}
