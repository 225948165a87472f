package harnesstest_test

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"testing"

	"github.com/pistoke/pistoke/bench/internal/harness"
	"github.com/pistoke/pistoke/bench/internal/harness/harnesstest"
)

// count is the report of a harness that counts to its -n.
type count []int

func (c count) Write(w io.Writer, command string) { fmt.Fprintln(w, c) }

var counter = &harness.Command[int, count]{
	Name:  "counter",
	About: "Counts.",
	Parse: func(fs *flag.FlagSet, args []string) (int, error) {
		n := fs.Int("n", 3, "how far to count")
		err := fs.Parse(args)
		return *n, err
	},
	Measure: func(n int) (count, error) {
		if n < 0 {
			return nil, errors.New("cannot count down")
		}
		c := make(count, n)
		for i := range c {
			c[i] = i + 1
		}
		return c, nil
	},
}

func TestMain(m *testing.M) { harnesstest.Main(m, counter.Run) }

func TestRun(t *testing.T) {
	if got := harnesstest.Run(t, counter, "-n", "2"); len(got) != 2 || got[1] != 2 {
		t.Errorf("Run -n 2: %v, want [1 2]", got)
	}
	if got := harnesstest.Run(t, counter); len(got) != 3 {
		t.Errorf("Run: %v, want the default of 3", got)
	}
}

func TestUsageErrors(t *testing.T) {
	harnesstest.UsageErrors(t, counter, []string{"-n", "x"}, []string{"stray"}, []string{"-bogus"})
}
