package groups_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/groups"
	"github.com/pistoke/pistoke/internal/grouptest"
)

// receiveTimeout keeps a test that misses a message from hanging; it is
// no assertion on speed.
const receiveTimeout = 20 * time.Second

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// present dials a client listed in its group's presence.
var present = &grouptest.DialOptions{Presence: true}

// newTestServer serves sockets that join groups of a hub of their own,
// closed when the test ends; see grouptest.
func newTestServer(t *testing.T, opts *groups.Options) *grouptest.Server {
	t.Helper()
	return newTestServerOn(t, nil, opts)
}

func newTestServerOn(t *testing.T, b groups.Backend, opts *groups.Options) *grouptest.Server {
	t.Helper()
	if opts == nil {
		opts = &groups.Options{}
	}
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	hub, err := groups.New(context.Background(), b, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	return newTestServerOf(t, hub)
}

// newTestServerOf serves sockets that join groups of hub, which the
// caller closes.
func newTestServerOf(t *testing.T, hub *groups.Hub) *grouptest.Server {
	t.Helper()
	return grouptest.NewServer(t, hub, &grouptest.Options{
		Meta:    map[string]string{"via": "test"},
		Timeout: receiveTimeout,
		// A client that stopped reading gets a chance to read its close
		// frame, however loaded the machine.
		Handler: pistoke.Options{CloseTimeout: receiveTimeout},
	})
}

// nextEvent waits for the subscription's next event.
func nextEvent(t *testing.T, sub *groups.Subscription) groups.Event {
	t.Helper()
	select {
	case ev, ok := <-sub.C():
		if !ok {
			t.Fatal("subscription channel closed")
		}
		return ev
	case <-time.After(receiveTimeout):
		t.Fatal("no event")
	}
	panic("unreachable")
}

// logCounter is a slog handler that counts records by message.
type logCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func newLogCounter() *logCounter { return &logCounter{counts: make(map[string]int)} }

func (h *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *logCounter) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logCounter) WithGroup(string) slog.Handler            { return h }

func (h *logCounter) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.counts[r.Message]++
	h.mu.Unlock()
	return nil
}

func (h *logCounter) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[msg]
}
