// Package harnesstest runs the harness of a benchmark command in the
// command's tests.
package harnesstest

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/pistoke/pistoke/bench/internal/harness"
)

// Main is the TestMain of a command's tests, whose entry point is main.
// It lets the test binary stand in for the command: a harness under test
// starts its processes from os.Executable, which is the test binary, and
// in those processes Main runs main instead of the tests (see
// harness.RunChild).
func Main(m *testing.M, main harness.Main) {
	harness.RunChild(main)
	os.Exit(m.Run())
}

// Run runs the harness of cmd with the flags args, in processes of its
// own, and returns its report. The test fails, with the harness's
// progress, if the flags are wrong or the harness fails.
func Run[C any, R harness.Report](t testing.TB, cmd *harness.Command[C, R], args ...string) R {
	t.Helper()
	var progress bytes.Buffer
	cfg, err := cmd.Configure(args, &progress)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	rep, err := cmd.Measure(cfg)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	return rep
}

// UsageErrors checks that cmd rejects each of the command lines with
// exit status 2, a usage error.
func UsageErrors[C any, R harness.Report](t testing.TB, cmd *harness.Command[C, R], cmdlines ...[]string) {
	t.Helper()
	for _, args := range cmdlines {
		if code := cmd.Run(args, io.Discard, io.Discard); code != 2 {
			t.Errorf("%s %s: exit status %d, want 2", cmd.Name, strings.Join(args, " "), code)
		}
	}
}
