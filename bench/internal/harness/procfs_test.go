package harness

import (
	"errors"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// A command name may hold spaces and parentheses: the fields count
	// from the last ')'.
	const stat = "1241 (a (b) c) R 1174 1174 29353 0 -1 4194304 100 0 0 0 250 75 0 0 20 0 1 0"
	got, err := parseStat("stat", []byte(stat))
	if err != nil || got != 3250*time.Millisecond {
		t.Errorf("parseStat(%q) = %v, %v; want 3.25s", stat, got, err)
	}
	for _, bad := range []string{
		"1241 cat R 1174",
		"1241 (cat) R 1174 1174",
		"1241 (cat) R 1174 1174 29353 0 -1 4194304 100 0 0 0 x 75",
	} {
		if _, err := parseStat("stat", []byte(bad)); !errors.Is(err, ErrProcFormat) {
			t.Errorf("parseStat(%q): error %v, want ErrProcFormat", bad, err)
		}
	}
}
