package harness

import (
	"log/slog"
	"os"
)

// Logger returns a logger that writes the records at level or above to
// stderr. A server under test logs what it does for each connection, or
// each message, at lower levels: that would bury the benchmark's own
// output, and cost the server time the measurement would count.
func Logger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
