package harness

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Main is the entry point of a program or of one of its subcommands: it
// runs with the arguments that follow the subcommand's name and returns
// the exit status.
type Main func(args []string, stdout, stderr io.Writer) int

// Report is what a harness measured, ready to print.
type Report interface {
	// Write prints the report as markdown. command is the command line
	// that produced it, which the report quotes.
	Write(w io.Writer, command string)
}

// Command is a benchmark program: a harness, which reads its flags into
// a configuration C, measures, and prints a report R, and the
// subcommands that are the processes the harness starts.
type Command[C any, R Report] struct {
	// Name is the program's name, in messages and in the command line
	// the report quotes.
	Name string
	// About says what the harness measures, in the usage message.
	About string
	// Parse defines the harness's flags on fs, parses args and checks
	// them. It prints its errors to fs.Output(), the program's stderr.
	// flag.ErrHelp makes the program exit with status 0, any other error
	// with status 2.
	Parse func(fs *flag.FlagSet, args []string) (C, error)
	// Measure runs the harness. An error makes the program exit with
	// status 1.
	Measure func(C) (R, error)
	// Subcommands are the processes, by name.
	Subcommands map[string]Main
}

// Run runs the program with args, its command-line arguments, and
// returns the exit status. A first argument that names a subcommand
// runs it with the rest; "run" runs the harness with the rest; "help"
// prints the harness's usage; another word is an error; flags, or no
// arguments at all, run the harness.
func (c *Command[C, R]) Run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		if sub, ok := c.Subcommands[args[0]]; ok {
			return sub(args[1:], stdout, stderr)
		}
		switch args[0] {
		case "run":
			args = args[1:]
		case "help":
			args = []string{"-h"}
		default:
			if len(args[0]) > 0 && args[0][0] != '-' {
				fmt.Fprintf(stderr, "%s: unknown subcommand %q\n", c.Name, args[0])
				return 2
			}
		}
	}
	cfg, err := c.Configure(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	rep, err := c.Measure(cfg)
	if err != nil {
		fmt.Fprintln(stderr, c.Name+":", err)
		return 1
	}
	rep.Write(stdout, c.Name+" "+strings.Join(args, " "))
	return 0
}

// Configure reads the harness's configuration from args, its flags,
// with Parse and a flag set that reports errors to stderr. On -h it
// prints the usage message: a synopsis, About, and the flags with their
// defaults.
func (c *Command[C, R]) Configure(args []string, stderr io.Writer) (C, error) {
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s [flags]\n\n%s\n\nflags:\n", c.Name, c.About)
		fs.PrintDefaults()
	}
	return c.Parse(fs, args)
}

// Given returns the names of the flags of fs that the command line set.
func Given(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// Preset gives each flag of fs named in values, unless the command line
// set it, the value there (formatted with fmt.Sprint), as if the command
// line had. It is how a mode such as -quick changes defaults without
// overriding what was asked for.
func Preset(fs *flag.FlagSet, values map[string]any) error {
	given := Given(fs)
	for name, v := range values {
		if given[name] {
			continue
		}
		if err := fs.Set(name, fmt.Sprint(v)); err != nil {
			return err
		}
	}
	return nil
}

// Finish ends a subcommand whose answer is a JSON value for the process
// that started it, and returns its exit status. With err nil, it prints
// v as a line of JSON on stdout, for Launcher.RunJSON, and returns 0;
// otherwise it prints err after the subcommand's name on stderr and
// returns 1.
func Finish(stdout, stderr io.Writer, name string, v any, err error) int {
	if err != nil {
		fmt.Fprintln(stderr, name+":", err)
		return 1
	}
	if err := json.NewEncoder(stdout).Encode(v); err != nil {
		return 1
	}
	return 0
}
