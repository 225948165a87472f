package devserver

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// Levels beyond those of log/slog, for verbosity 0 and 3.
const (
	// LevelCritical is verbosity 0 ("critical"): only failures that stop
	// the server are shown.
	LevelCritical = slog.LevelError + 4
	// LevelTrace is verbosity 3 ("trace"): everything, below debug.
	LevelTrace = slog.LevelDebug - 4
)

// ErrUnknownVerbosity is returned, wrapped, by [ParseVerbosity] for a
// value it does not accept.
var ErrUnknownVerbosity = errors.New("unknown verbosity")

// verbosities lists the accepted names in order of increasing detail.
var verbosities = []struct {
	name  string
	num   string
	level slog.Level
}{
	{"critical", "0", LevelCritical},
	{"error", "", slog.LevelError},
	{"warning", "", slog.LevelWarn},
	{"info", "1", slog.LevelInfo},
	{"debug", "2", slog.LevelDebug},
	{"trace", "3", LevelTrace},
}

// ParseVerbosity returns the least level logged at verbosity s, which is
// a number from 0 to 3 or one of the names critical (0), error, warning,
// info (1), debug (2) and trace (3), in any case. Any other value gives an
// error wrapping [ErrUnknownVerbosity] that lists the accepted ones.
func ParseVerbosity(s string) (slog.Level, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	for _, e := range verbosities {
		if v == e.name || (e.num != "" && v == e.num) {
			return e.level, nil
		}
	}
	return 0, fmt.Errorf("%w %q: want 0-3, critical, error, warning, info, debug or trace", ErrUnknownVerbosity, s)
}

// verbosityName is the name ParseVerbosity accepts for l, rounding a
// level it does not produce down to the next one it does, so that nothing
// l would show is hidden.
func verbosityName(l slog.Level) string {
	for _, e := range verbosities {
		if e.level <= l {
			return e.name
		}
	}
	return "trace"
}
