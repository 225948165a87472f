package harness_test

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/pistoke/pistoke/bench/internal/harness"
)

// greeting is the report of the example's harness.
type greeting struct{ name string }

func (g greeting) Write(w io.Writer, command string) {
	harness.WriteHeader(w, "hello", false, command)
	fmt.Fprintf(w, "Hello, %s.\n", g.name)
}

func ExampleCommand() {
	hello := &harness.Command[string, greeting]{
		Name:  "hello",
		About: "Greets someone.",
		Parse: func(fs *flag.FlagSet, args []string) (string, error) {
			name := fs.String("name", "world", "who to greet")
			err := fs.Parse(args)
			return *name, err
		},
		Measure: func(name string) (greeting, error) { return greeting{name}, nil },
		Subcommands: map[string]harness.Main{
			"version": func(args []string, stdout, stderr io.Writer) int {
				return harness.Finish(stdout, stderr, "hello version", map[string]string{"version": "1.0"}, nil)
			},
		},
	}
	hello.Run([]string{"-name", "gopher"}, os.Stdout, os.Stderr)
	hello.Run([]string{"version"}, os.Stdout, os.Stderr)
	fmt.Println("exit status", hello.Run([]string{"bogus"}, os.Stdout, io.Discard))
	// Output:
	// # hello
	//
	// Command: `hello -name gopher`
	//
	// Hello, gopher.
	// {"version":"1.0"}
	// exit status 2
}

func ExampleMedian() {
	rounds := []float64{2.31, 2.12, 9.75, 2.18}
	fmt.Printf("%.2f\n", harness.Median(rounds))
	// Output: 2.25
}
