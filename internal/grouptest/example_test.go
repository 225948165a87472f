package grouptest_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pistoke/pistoke/groups"
	"github.com/pistoke/pistoke/internal/grouptest"
)

// test stands in for the *testing.T of a test: it runs what was to be
// cleaned up when the test ends.
type test struct{ cleanups []func() }

func (t *test) Helper()                           {}
func (t *test) Cleanup(f func())                  { t.cleanups = append(t.cleanups, f) }
func (t *test) Fatal(args ...any)                 { panic(fmt.Sprint(args...)) }
func (t *test) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

func (t *test) end() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

// Two clients join a room, one of them present; what one sends, the
// other receives.
func Example() {
	t := new(test) // in a test, its *testing.T
	defer t.end()

	ctx := context.Background()
	hub, err := groups.New(ctx, nil, &groups.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()

	s := grouptest.NewServer(t, hub, nil)
	ann := s.Dial(t, "room", "ann", &grouptest.DialOptions{Presence: true})
	bob := s.Dial(t, "room", "bob", nil)
	if err := ann.Conn.SendText("hello, room"); err != nil {
		t.Fatal(err)
	}
	fmt.Println(bob.Receive())

	present, err := hub.Presence(ctx, "room")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range present {
		fmt.Println("present:", m.ID)
	}
	// Output:
	// hello, room
	// present: ann
}
