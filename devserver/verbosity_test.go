package devserver

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestParseVerbosity(t *testing.T) {
	tests := []struct {
		in   string
		want slog.Level
	}{
		{"0", LevelCritical},
		{"critical", LevelCritical},
		{"error", slog.LevelError},
		{"warning", slog.LevelWarn},
		{"1", slog.LevelInfo},
		{"info", slog.LevelInfo},
		{" INFO ", slog.LevelInfo},
		{"2", slog.LevelDebug},
		{"debug", slog.LevelDebug},
		{"3", LevelTrace},
		{"Trace", LevelTrace},
	}
	for _, tt := range tests {
		got, err := ParseVerbosity(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseVerbosity(%q) = %v, %v; want %v, nil", tt.in, got, err, tt.want)
		}
	}
}

func TestParseVerbosityOrder(t *testing.T) {
	if !(LevelCritical > slog.LevelError && LevelTrace < slog.LevelDebug) {
		t.Fatalf("critical %v must be above error and trace %v below debug", LevelCritical, LevelTrace)
	}
}

func TestParseVerbosityUnknown(t *testing.T) {
	for _, in := range []string{"", "4", "-1", "verbose", "warn3"} {
		_, err := ParseVerbosity(in)
		if !errors.Is(err, ErrUnknownVerbosity) {
			t.Errorf("ParseVerbosity(%q) error = %v; want ErrUnknownVerbosity", in, err)
			continue
		}
		for _, name := range []string{"0-3", "critical", "error", "warning", "info", "debug", "trace"} {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("ParseVerbosity(%q) error %q does not list %q", in, err, name)
			}
		}
	}
}

func TestVerbosityNameRoundTrips(t *testing.T) {
	for _, l := range []slog.Level{LevelCritical, slog.LevelError, slog.LevelWarn, slog.LevelInfo, slog.LevelDebug, LevelTrace} {
		got, err := ParseVerbosity(verbosityName(l))
		if err != nil || got != l {
			t.Errorf("ParseVerbosity(verbosityName(%v)) = %v, %v", l, got, err)
		}
	}
	// A level between two names rounds towards more detail.
	if got := verbosityName(slog.LevelInfo + 2); got != "info" {
		t.Errorf("verbosityName(INFO+2) = %q; want info", got)
	}
}
