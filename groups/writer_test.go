package groups_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/pistoke/pistoke/groups"
)

// A member whose client pauses fills its socket, so the hub's writers
// hand it to a goroutine that waits for it; the other members keep
// receiving meanwhile, and once the client reads again it gets every
// message, in order, and goes back to the writers.
func TestPausedMemberCatchesUp(t *testing.T) {
	s := newTestServer(t, &groups.Options{QueueSize: 100_000})
	paused := s.dial(t, "g", "paused", "")
	fast := s.dial(t, "g", "fast", "")
	ctx := context.Background()
	payload := strings.Repeat("x", 16<<10)
	// 2000 messages of 16 KiB: 32 MiB, far more than the loopback
	// socket buffers hold.
	const n = 2000
	for round := range 2 {
		for i := range n {
			if err := s.hub.PublishText(ctx, "g", strconv.Itoa(i)+" "+payload); err != nil {
				t.Fatal(err)
			}
			if got, _, _ := strings.Cut(fast.receive(), " "); got != strconv.Itoa(i) {
				t.Fatalf("round %d: fast member got message %s, want %d", round, got, i)
			}
		}
		for i := range n {
			if got, _, _ := strings.Cut(paused.receive(), " "); got != strconv.Itoa(i) {
				t.Fatalf("round %d: paused member got message %s, want %d", round, got, i)
			}
		}
	}
	if d := s.hub.Dropped(); d != 0 {
		t.Errorf("hub dropped %d messages with room in every queue", d)
	}
}
