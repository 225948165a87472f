// Command echobench compares the server cost of a pistoke WebSocket
// endpoint with a plain gorilla/websocket one, on loopback only.
//
// It measures two things:
//
//   - the server CPU time (user + system, from the server process's own
//     accounting) spent per echoed message while many connections do
//     request/response round trips;
//   - the memory (RSS, and Go heap + stacks) an idle connection holds in
//     the server.
//
// Each server runs in its own process, pinned to CPU 0 when taskset is
// available, and the load comes from another process pinned to CPU 1.
// Rounds alternate between the servers and the report gives medians.
//
// Usage:
//
//	echobench [flags]     run everything and print a markdown report
//	echobench -quick      a smoke run with a few connections and messages
//
// The subcommands server, load and idle are the processes the report is
// made of; the harness starts them itself.
package main

import (
	"fmt"
	"io"
	"os"
)

// childEnv marks the processes the harness starts. The command ignores
// it, but a test binary standing in for the command uses it to run main
// instead of the tests.
const childEnv = "ECHOBENCH_CHILD"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches to a subcommand and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "server":
			return serverMain(args[1:], stdout, stderr)
		case "load":
			return loadMain(args[1:], stdout, stderr)
		case "idle":
			return idleMain(args[1:], stdout, stderr)
		case "run":
			args = args[1:]
		case "help":
			args = []string{"-h"}
		default:
			if len(args[0]) > 0 && args[0][0] != '-' {
				fmt.Fprintf(stderr, "echobench: unknown subcommand %q\n", args[0])
				return 2
			}
		}
	}
	return harnessMain(args, stdout, stderr)
}
