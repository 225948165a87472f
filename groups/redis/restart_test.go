package redis

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pistoke/pistoke/groups"
	"github.com/pistoke/pistoke/internal/testservers"
)

// TestBrokerRestart stops Redis while both nodes publish, and starts an
// empty one on the same port: Publish fails while it is down, and then the
// subscriptions and the presence entries come back by themselves.
func TestBrokerRestart(t *testing.T) {
	for _, sharded := range []bool{false, true} {
		t.Run(fmt.Sprintf("sharded=%v", sharded), func(t *testing.T) {
			testBrokerRestart(t, sharded)
		})
	}
}

func testBrokerRestart(t *testing.T, sharded bool) {
	srv := testservers.StartRedis(t)
	opts := Options{Sharded: sharded, PresenceTTL: 600 * time.Millisecond}
	a := openNode(t, srv.URL(), opts)
	b := openNode(t, srv.URL(), opts)
	a.subscribe(t, "room", "quiet")
	b.subscribe(t, "room")
	ctx := context.Background()
	for i, n := range []*node{a, b} {
		k := fmt.Sprint("s", i)
		if err := n.Presence().Add(ctx, "room", k, groups.Member{ID: k, Meta: map[string]string{"k": k}}); err != nil {
			t.Fatal(err)
		}
	}

	// Traffic throughout: a publishes, counting what fails.
	var failed, sent atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Paced, so that the nodes' delivery buffers cannot fill.
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := a.Publish(pctx, "room", fmt.Append(nil, i))
			cancel()
			if err != nil {
				failed.Add(1)
			} else {
				sent.Add(1)
			}
		}
	}()
	// Both nodes hear the traffic before the stop.
	a.next(t)
	b.next(t)

	srv.Stop()
	// While Redis is down Publish fails, within its context's deadline.
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := b.Publish(pctx, "room", []byte("while down"))
	cancel()
	if err == nil {
		t.Fatal("Publish succeeded with Redis down")
	}
	t.Logf("Publish while down: %v", err)
	if _, err := b.Presence().List(ctx, "room"); err == nil {
		t.Fatal("List succeeded with Redis down")
	}
	srv.Restart()
	restarted := time.Now()

	// Delivery resumes on both nodes, for every subscribed group: a
	// message published after the restart arrives.
	for _, n := range []*node{a, b} {
		drain(n)
	}
	eventually(t, "delivering again", func() bool {
		if err := b.Publish(ctx, "quiet", []byte("after")); err != nil {
			return false
		}
		for {
			select {
			case d := <-a.got:
				if d.group == "quiet" {
					return true
				}
			default:
				return false
			}
		}
	})
	t.Logf("delivering again %v after the restart", time.Since(restarted).Round(time.Millisecond))
	drain(b)
	b.next(t) // a's publishing reaches b again
	close(stop)
	wg.Wait()
	if failed.Load() == 0 {
		t.Error("no Publish failed while Redis was down")
	}
	t.Logf("publishes: %d succeeded, %d failed", sent.Load(), failed.Load())

	// Each node writes its entries back into the empty Redis.
	eventually(t, "present again", func() bool {
		return slices.Equal(listKeys(t, b, "room"), []string{"s0", "s1"})
	})
	t.Logf("presence complete again %v after the restart", time.Since(restarted).Round(time.Millisecond))
}

// drain discards what n has delivered so far.
func drain(n *node) {
	for {
		select {
		case <-n.got:
		default:
			return
		}
	}
}

// TestBrokerKilled kills Redis (no goodbye on the connections) and brings
// it back; the nodes recover as from a clean stop.
func TestBrokerKilled(t *testing.T) {
	srv := testservers.StartRedis(t)
	a := openNode(t, srv.URL(), Options{PresenceTTL: 600 * time.Millisecond})
	a.subscribe(t, "room")
	ctx := context.Background()
	if err := a.Presence().Add(ctx, "room", "s0", groups.Member{ID: "ann", Meta: map[string]string{"k": "s0"}}); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	srv.Restart()
	restarted := time.Now()
	eventually(t, "delivering again", func() bool {
		if a.Publish(ctx, "room", []byte("x")) != nil {
			return false
		}
		select {
		case <-a.got:
			return true
		case <-time.After(100 * time.Millisecond):
			return false
		}
	})
	t.Logf("delivering again %v after the restart", time.Since(restarted).Round(time.Millisecond))
	eventually(t, "present again", func() bool { return slices.Equal(listKeys(t, a, "room"), []string{"s0"}) })
}
