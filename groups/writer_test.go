package groups_test

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pistoke/pistoke/groups"
	"github.com/pistoke/pistoke/internal/grouptest"
)

// A member whose client pauses fills its socket, so the hub's writers
// hand it to a goroutine that waits for it; the other members keep
// receiving meanwhile, and once the client reads again it gets every
// message, in order, and goes back to the writers.
func TestPausedMemberCatchesUp(t *testing.T) {
	s := newTestServer(t, &groups.Options{QueueSize: 100_000})
	paused := s.Dial(t, "g", "paused", nil)
	fast := s.Dial(t, "g", "fast", nil)
	ctx := context.Background()
	payload := strings.Repeat("x", 16<<10)
	// 2000 messages of 16 KiB: 32 MiB, far more than the loopback
	// socket buffers hold.
	const n = 2000
	for round := range 2 {
		for i := range n {
			if err := s.Hub.PublishText(ctx, "g", strconv.Itoa(i)+" "+payload); err != nil {
				t.Fatal(err)
			}
			if got, _, _ := strings.Cut(fast.Receive(), " "); got != strconv.Itoa(i) {
				t.Fatalf("round %d: fast member got message %s, want %d", round, got, i)
			}
		}
		for i := range n {
			if got, _, _ := strings.Cut(paused.Receive(), " "); got != strconv.Itoa(i) {
				t.Fatalf("round %d: paused member got message %s, want %d", round, got, i)
			}
		}
	}
	if d := s.Hub.Dropped(); d != 0 {
		t.Errorf("hub dropped %d messages with room in every queue", d)
	}
}

// A writer the system holds up keeps only the members it has taken: the
// other writers write for the rest of its list.
func TestWritersShareABacklog(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2)) // the hub starts one writer per P
	release := make(chan struct{})
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	var held atomic.Bool
	hub, err := groups.NewWithWriteHook(context.Background(), nil, &groups.Options{Logger: quietLogger()}, func() {
		if held.CompareAndSwap(false, true) {
			<-release // the first writer to write stops here, holding its chunk
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	t.Cleanup(free) // before the hub closes, which waits for its writers
	s := newTestServerOf(t, hub)
	const members = 4 * groups.WriteChunk
	clients := make([]*grouptest.Client, members)
	for i := range clients {
		clients[i] = s.Dial(t, "g", "m"+strconv.Itoa(i), nil)
	}
	if err := s.Hub.PublishText(context.Background(), "g", "hello"); err != nil {
		t.Fatal(err)
	}
	// Everyone but the held writer's chunk receives while it is held.
	got := make(chan int, members)
	for i, c := range clients {
		go func() {
			if msg, err := c.TryReceive(); err == nil && msg == "hello" {
				got <- i
			} else {
				got <- -1
			}
		}()
	}
	received := 0
	for received < members-groups.WriteChunk {
		select {
		case i := <-got:
			if i < 0 {
				t.Fatal("a member did not receive the message")
			}
			received++
		case <-time.After(receiveTimeout):
			t.Fatalf("%d of %d members received while one writer was held; want all but its chunk of %d", received, members, groups.WriteChunk)
		}
	}
	free()
	for received < members {
		if i := <-got; i < 0 {
			t.Fatal("a member did not receive the message after the writer went on")
		}
		received++
	}
}
