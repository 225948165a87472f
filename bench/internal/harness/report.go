package harness

import (
	"fmt"
	"io"
	"runtime"
	"strings"
)

// WriteHeader prints the opening of a markdown report: its title, the
// program's name; a warning when it comes from a smoke run (-quick),
// whose figures mean nothing; and the command line that produced it.
func WriteHeader(w io.Writer, name string, quick bool, command string) {
	fmt.Fprintf(w, "# %s\n\n", name)
	if quick {
		fmt.Fprintf(w, "Smoke run (-quick): the numbers below mean nothing.\n\n")
	}
	fmt.Fprintf(w, "Command: `%s`\n\n", strings.TrimSpace(command))
}

// Machine describes what a report's figures were measured on: the Go
// version, the system and the number of CPUs, as in
// "go1.25.0 linux/amd64, 2 CPUs".
func Machine() string {
	return fmt.Sprintf("%s %s/%s, %d CPUs", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
}

// LoadAverages are the machine's load averages (see LoadAverage) at the
// start and at the end of a run. Other work on the machine shows up in a
// benchmark's figures as noise; these say how much of it there was.
type LoadAverages struct {
	Start, End string
}

// Write prints a report's sentence about the load averages, or nothing
// where the system does not say.
func (l LoadAverages) Write(w io.Writer) {
	if l.Start == "" {
		return
	}
	fmt.Fprintf(w, "Load average (1, 5, 15 min) at the start: %s; at the end: %s. Other work on the machine shows up as noise.\n\n",
		l.Start, l.End)
}

// Met says in a report whether a goal was met: "met", or "**not met**",
// in bold so that it stands out.
func Met(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}
