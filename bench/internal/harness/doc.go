// Package harness holds what the benchmark commands share: starting the
// processes a measurement is made of, pinned to CPUs; the kernel's
// accounting of what a process used; the line a server process prints
// once it listens, and the control listener it answers measurements on;
// the scaffolding of a command's subcommands and flags; and the helpers
// its report is written with.
//
// A benchmark command is one program playing every part: the harness,
// run by default, starts copies of the program itself with a subcommand
// (server, client, ...) through a [Launcher], and each copy prints its
// result as JSON on stdout. Separate processes keep what is measured
// apart from what measures it, and let each be pinned to a CPU of its
// own.
package harness
