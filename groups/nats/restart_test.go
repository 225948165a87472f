package nats

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pistoke/pistoke/groups"
	"github.com/pistoke/pistoke/internal/testservers"
)

// While the server is down Publish, Subscribe and List fail with
// ErrUnreachable; once it is back, subscriptions are restored, messages
// flow again in order and presence answers, and each node logged the
// outage once.
func TestServerRestart(t *testing.T) {
	for _, how := range []string{"stop", "kill"} {
		t.Run(how, func(t *testing.T) { testServerRestart(t, how) })
	}
}

func testServerRestart(t *testing.T, how string) {
	srv := testservers.StartNATS(t)
	logs := &countingHandler{level: slog.LevelInfo}
	opts := Options{URL: srv.URL(), Logger: slog.New(logs)}
	ra, rb := newRecorder(), newRecorder()
	a := openBackend(t, opts, ra.deliver)
	b := openBackend(t, opts, rb.deliver)
	ctx := ctxT(t)
	for _, be := range []groups.Backend{a, b} {
		if err := be.Subscribe(ctx, "room"); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Presence().Add(ctx, "room", "a1", groups.Member{ID: "ann"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Presence().Add(ctx, "room", "b1", groups.Member{ID: "bob"}); err != nil {
		t.Fatal(err)
	}

	// Traffic from a throughout, at a modest pace.
	stop := make(chan struct{})
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []error
	)
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if err := a.Publish(ctx, "room", fmt.Appendf(nil, "t%06d", i)); err != nil {
				mu.Lock()
				failures = append(failures, err)
				mu.Unlock()
			}
		}
	})
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()
	rb.waitLen(t, "room", 20)

	if how == "kill" {
		srv.Kill()
	} else {
		srv.Stop()
	}
	eventually(t, "Publish failing with the server down", func() bool {
		return a.Publish(ctx, "probe", nil) != nil
	})
	if err := a.Publish(ctx, "room", []byte("lost")); !errors.Is(err, ErrUnreachable) {
		t.Errorf("Publish while down: %v, want ErrUnreachable", err)
	}
	eventually(t, "b noticing the server is down", func() bool {
		_, err := b.Presence().List(ctx, "room")
		return err != nil
	})
	if _, err := b.Presence().List(ctx, "room"); !errors.Is(err, ErrUnreachable) {
		t.Errorf("List while down: %v, want ErrUnreachable", err)
	}
	if err := b.Subscribe(ctx, "later"); !errors.Is(err, ErrUnreachable) {
		t.Errorf("Subscribe while down: %v, want ErrUnreachable", err)
	}
	if err := b.Presence().Add(ctx, "room", "b2", groups.Member{ID: "bea"}); err != nil {
		t.Errorf("Add while down: %v (entries are local)", err)
	}

	srv.Restart()
	eventually(t, "Publish working again", func() bool {
		return a.Publish(ctx, "probe", nil) == nil
	})
	eventually(t, "b reconnected", func() bool {
		return b.(*backend).nc.IsConnected()
	})
	if err := b.Subscribe(ctx, "later"); err != nil {
		t.Errorf("Subscribe after the restart: %v", err)
	}
	if err := a.Publish(ctx, "room", []byte("after")); err != nil {
		t.Fatal(err)
	}
	if err := a.Publish(ctx, "later", []byte("after")); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*recorder{ra, rb} {
		r.waitFor(t, "room", func(got []string) bool { return slices.Contains(got, "after") })
	}
	rb.waitLen(t, "later", 1)
	close(stop)
	wg.Wait()

	for name, r := range map[string]*recorder{"a": ra, "b": rb} {
		got := r.got("room")
		if slices.Contains(got, "lost") {
			t.Errorf("%s received a message Publish reported lost", name)
		}
		var traffic []string
		for _, m := range got {
			if strings.HasPrefix(m, "t") {
				traffic = append(traffic, m)
			}
		}
		if !slices.IsSorted(traffic) || len(slices.Compact(slices.Clone(traffic))) != len(traffic) {
			t.Errorf("%s: traffic out of order or duplicated across the restart", name)
		}
	}
	mu.Lock()
	for _, err := range failures {
		if !errors.Is(err, ErrUnreachable) {
			t.Errorf("Publish failed with %v, want ErrUnreachable", err)
		}
	}
	mu.Unlock()

	want := []string{"ann", "bea", "bob"}
	for name, be := range map[string]groups.Backend{"a": a, "b": b} {
		if got := list(t, be, "room"); !slices.Equal(got, want) {
			t.Errorf("List on %s after the restart = %q, want %q", name, got, want)
		}
	}

	var lost, back int
	for _, r := range logs.records() {
		switch {
		case strings.Contains(r, "connection to the NATS server lost"):
			lost++
		case strings.Contains(r, "reconnected"):
			back++
		default:
			t.Errorf("unexpected log record %q", r)
		}
	}
	if lost != 2 || back != 2 {
		t.Errorf("logged %d losses and %d reconnections, want one of each per node: %q", lost, back, logs.records())
	}
}
