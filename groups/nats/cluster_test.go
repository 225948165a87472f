package nats

import (
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/groups"
	"github.com/pistoke/pistoke/internal/grouptest"
	"github.com/pistoke/pistoke/internal/testservers"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newHub returns a hub over a new backend on the server at natsURL.
func newHub(t *testing.T, natsURL string, opts *groups.Options) *groups.Hub {
	t.Helper()
	ctx := ctxT(t)
	b, err := New(ctx, Options{URL: natsURL, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if opts == nil {
		opts = &groups.Options{}
	}
	opts.Logger = quiet()
	hub, err := groups.New(ctx, b, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	return hub
}

// startClusterNode starts a process of a cluster in miniature: a hub
// over its own NATS backend, serving sockets whose clients are all
// present. The client "slow" gets a small send buffer.
func startClusterNode(t *testing.T, natsURL string, opts *groups.Options) *grouptest.Server {
	t.Helper()
	return grouptest.NewServer(t, newHub(t, natsURL, opts), &grouptest.Options{
		Presence:   true,
		SendBuffer: slowBuffer,
		Timeout:    waitTimeout,
	})
}

// slowBuffer gives the client "slow" a small send buffer on the server.
// With slowClient's small receive buffer, it makes that client hold up
// its socket after a few kilobytes when it does not read.
func slowBuffer(id string) int {
	if id == "slow" {
		return 4096
	}
	return 0
}

// slowClient dials the client "slow" with a small receive buffer.
var slowClient = &grouptest.DialOptions{ReadBuffer: 4096}

// Three nodes on one server, clients spread over them, publishers on
// every node and a worker without sockets publishing at once: every
// client receives every message exactly once, each publisher's in order.
// A client that never reads, on the first node, loses messages without
// holding back anyone on its node or the others. Presence is the same
// from every node.
func TestCluster(t *testing.T) {
	srv := testservers.StartNATS(t)
	var nodes []*grouptest.Server
	for range 3 {
		nodes = append(nodes, startClusterNode(t, srv.URL(), nil))
	}
	worker := newHub(t, srv.URL(), nil)

	var clients []*grouptest.Client
	var ids []string
	for i := range 9 {
		id := fmt.Sprintf("c%d", i)
		clients = append(clients, nodes[i%3].Dial(t, "room", id, nil))
		ids = append(ids, id)
	}
	nodes[0].Dial(t, "room", "slow", slowClient)
	ids = append(ids, "slow")
	slices.Sort(ids)
	ctx := ctxT(t)

	// Phase 1: concurrent publishers. All their messages together fit in
	// a member's queue, so a client that reads loses none whatever the
	// timing.
	const perPublisher = 60
	publishers := []string{"c0", "c1", "c2", "worker"} // one per node, and the worker
	total := perPublisher * len(publishers)
	if total >= groups.DefaultQueueSize {
		t.Fatalf("%d messages may not fit in a queue of %d", total, groups.DefaultQueueSize)
	}
	pad := strings.Repeat("p", 1024)

	// Every client reads in its own goroutine: all the messages, then,
	// once every client has them, one marker the worker publishes. A
	// duplicate would come before the marker.
	type result struct {
		id   string
		msgs []string
		err  error
	}
	all := make(chan result, len(clients))
	marker := make(chan result, len(clients))
	for _, c := range clients {
		go func() {
			var msgs []string
			for len(msgs) < total {
				m, err := c.TryReceive()
				if err != nil {
					all <- result{c.ID, msgs, err}
					return
				}
				msgs = append(msgs, m)
			}
			all <- result{c.ID, msgs, nil}
			m, err := c.TryReceive()
			marker <- result{c.ID, []string{m}, err}
		}()
	}

	var wg sync.WaitGroup
	for _, c := range clients[:3] {
		wg.Go(func() {
			for i := range perPublisher {
				if err := c.Conn.SendText(fmt.Sprintf("%s:%d %s", c.ID, i, pad)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range perPublisher {
			if err := worker.PublishText(ctx, "room", fmt.Sprintf("worker:%d %s", i, pad)); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()

	for range clients {
		r := <-all
		if r.err != nil {
			t.Fatalf("%s after %d of %d messages: %v", r.id, len(r.msgs), total, r.err)
		}
		next := make(map[string]int)
		for _, m := range r.msgs {
			head, _, _ := strings.Cut(m, " ")
			from, seq, _ := strings.Cut(head, ":")
			i, err := strconv.Atoi(seq)
			if err != nil || !slices.Contains(publishers, from) {
				t.Fatalf("%s received %.40q", r.id, m)
			}
			if i != next[from] {
				t.Fatalf("%s received %s's message %d when %d was due", r.id, from, i, next[from])
			}
			next[from]++
		}
	}
	if err := worker.PublishText(ctx, "room", "end"); err != nil {
		t.Fatal(err)
	}
	for range clients {
		r := <-marker
		if r.err != nil || r.msgs[0] != "end" {
			t.Fatalf("%s: after all the messages got %.40q (%v), want the marker", r.id, r.msgs[0], r.err)
		}
	}

	// Phase 2: the worker publishes until the client that does not read
	// has filled its buffers and its queue, each message received by
	// every other client before the next is published.
	big := strings.Repeat("b", 16<<10)
	i := 0
	for extra := 0; extra < 10; i++ {
		if i == 10_000 {
			t.Fatal("the hub never gave up on a client that does not read")
		}
		want := fmt.Sprintf("s%d", i)
		if err := worker.PublishText(ctx, "room", want+" "+big); err != nil {
			t.Fatal(err)
		}
		for _, c := range clients {
			m, err := c.TryReceive()
			if err != nil {
				t.Fatal(err)
			}
			if got, _, _ := strings.Cut(m, " "); got != want {
				t.Fatalf("%s received %.20q, want %s", c.ID, got, want)
			}
		}
		if nodes[0].Hub.Dropped() > 0 {
			extra++
		}
	}
	t.Logf("the client that does not read lost %d of %d messages", nodes[0].Hub.Dropped(), i)
	for i, n := range nodes[1:] {
		if d := n.Hub.Dropped(); d != 0 {
			t.Errorf("node %d dropped %d messages, with no slow client", i+1, d)
		}
	}

	// Presence is the same from every node and from the worker, and a
	// client that leaves is gone from it everywhere.
	hubs := []*groups.Hub{nodes[0].Hub, nodes[1].Hub, nodes[2].Hub, worker}
	for i, h := range hubs {
		if got := presenceIDs(t, h, "room"); !slices.Equal(got, ids) {
			t.Errorf("presence from hub %d = %q, want %q", i, got, ids)
		}
	}
	clients[8].Conn.Close(pistoke.CloseNormal, "")
	want := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == "c8" })
	for i, h := range hubs {
		eventually(t, fmt.Sprintf("c8 gone from the presence seen by hub %d", i), func() bool {
			return slices.Equal(presenceIDs(t, h, "room"), want)
		})
	}
}

func presenceIDs(t *testing.T, h *groups.Hub, group string) []string {
	t.Helper()
	ms, err := h.Presence(ctxT(t), group)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

// Over NATS, members as large as a hub accepts are listed by every node,
// and larger ones refused.
func TestPresenceAtLimits(t *testing.T) {
	srv := testservers.StartNATS(t)
	grouptest.PresenceAtLimits(t, []*groups.Hub{newHub(t, srv.URL(), nil), newHub(t, srv.URL(), nil)}, "room", 40)
}
