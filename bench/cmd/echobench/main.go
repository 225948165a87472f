// Command echobench compares the server cost of a pistoke WebSocket
// endpoint with a plain gorilla/websocket one, on loopback only.
//
// It measures three things:
//
//   - the server CPU time (user + system, from the server process's own
//     accounting) spent per echoed message while many connections do
//     request/response round trips;
//   - the server CPU time spent per connection that opens, echoes one
//     small message and closes: the cost of a handshake;
//   - the memory (RSS, and Go heap + stacks) an idle connection holds in
//     the server.
//
// The pistoke servers are the whole stack an application has:
// pistoke.Handler as the http.Server's Handler, around middleware and a
// router (http.ServeMux for "pistoke", chi for "pistoke-chi").
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
	"os"

	"github.com/pistoke/pistoke/bench/internal/harness"
)

// command is the program: the harness and its processes.
var command = &harness.Command[config, *report]{
	Name: "echobench",
	About: "Measures server CPU per echoed WebSocket message, server CPU per\n" +
		"handshake and idle memory per connection for pistoke and gorilla/websocket\n" +
		"on 127.0.0.1, and prints a markdown report.",
	Parse:   parseHarnessFlags,
	Measure: runHarness,
	Subcommands: map[string]harness.Main{
		"server":    serverMain,
		"load":      loadMain,
		"idle":      idleMain,
		"handshake": handshakeMain,
	},
}

func main() {
	os.Exit(command.Run(os.Args[1:], os.Stdout, os.Stderr))
}
