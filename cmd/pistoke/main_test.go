package main

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine the tests start must be gone when they end; the built
// command is removed.
func TestMain(m *testing.M) {
	code := m.Run()
	if cliDir != "" {
		os.RemoveAll(cliDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}
