package main

import (
	"os"

	"github.com/pistoke/pistoke/bench/internal/harness"
)

// command is the program: the harness and its processes.
var command = &harness.Command[config, *report]{
	Name: "fragbench",
	About: "Measures the server CPU pistoke spends per wire byte reading a message in\n" +
		"one frame, in one-byte frames and in empty frames, over 127.0.0.1, and\n" +
		"prints a markdown report.",
	Parse:   parseHarnessFlags,
	Measure: runHarness,
	Subcommands: map[string]harness.Main{
		"server": serverMain,
		"client": clientMain,
	},
}

func main() {
	os.Exit(command.Run(os.Args[1:], os.Stdout, os.Stderr))
}
