package redis_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pistoke/pistoke/groups"
	"github.com/pistoke/pistoke/groups/redis"
	"github.com/pistoke/pistoke/internal/grouptest"
	"github.com/pistoke/pistoke/internal/testservers"
)

// clusterTimeout bounds each wait of the cluster tests; reaching it is a
// failure.
const clusterTimeout = 30 * time.Second

// startClusterNode starts one node of a cluster: a hub over its own
// Redis backend, serving sockets whose clients are all present. Its
// sockets have small send buffers, so that a client that does not read
// stops its server's writes after a few kilobytes rather than a few
// megabytes.
func startClusterNode(t *testing.T, redisURL string, sharded bool) *grouptest.Server {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	b, err := redis.New(ctx, redis.Options{URL: redisURL, Sharded: sharded, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	hub, err := groups.New(ctx, b, &groups.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	return grouptest.NewServer(t, hub, &grouptest.Options{
		Presence:   true,
		SendBuffer: func(string) int { return 8192 },
		Timeout:    clusterTimeout,
	})
}

// The clients' sockets are closed abruptly: a client that stopped
// reading cannot finish a closing handshake. The one that never reads has
// a small receive buffer too.
var (
	reader     = &grouptest.DialOptions{CloseNow: true}
	slowReader = &grouptest.DialOptions{CloseNow: true, ReadBuffer: 4096}
)

// TestCluster runs three nodes on one Redis, with clients spread over
// them and three of them publishing at once: every client receives every
// message exactly once, in each publisher's order, while a client on one
// node reads nothing at all.
func TestCluster(t *testing.T) {
	for _, sharded := range []bool{false, true} {
		t.Run(fmt.Sprintf("sharded=%v", sharded), func(t *testing.T) { testCluster(t, sharded) })
	}
}

func testCluster(t *testing.T, sharded bool) {
	srv := testservers.StartRedis(t)
	var nodes []*grouptest.Server
	for range 3 {
		nodes = append(nodes, startClusterNode(t, srv.URL(), sharded))
	}
	const (
		clients    = 9
		publishers = 3 // clients 0, 1 and 2, one on each node
		perPub     = 300
		window     = 16 // a publisher's messages not yet back
		size       = 1024
	)
	conns := make([]*grouptest.Client, clients)
	for i := range conns {
		conns[i] = nodes[i%3].Dial(t, "room", "c"+strconv.Itoa(i), reader)
	}
	nodes[1].Dial(t, "room", "slow", slowReader) // joined, and never read again

	// Presence from any node lists every client, once.
	want := []string{"slow"}
	for i := range clients {
		want = append(want, "c"+strconv.Itoa(i))
	}
	slices.Sort(want)
	for _, n := range nodes {
		ms, err := n.Hub.Presence(context.Background(), "room")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range ms {
			got = append(got, m.ID)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("presence = %v, want %v", got, want)
		}
	}

	// Each client's reader checks, per publisher, that message numbers
	// come one after the other: a loss, a duplicate or a reordering
	// fails. A publisher gets a window slot back once every client has
	// read a message of its own, so that no fast member's queue ever
	// holds more than publishers*window messages, far below the hub's
	// bound, however slowly a loaded machine runs some reader.
	slots := make([]chan struct{}, publishers)
	acks := make([][]atomic.Int32, publishers)
	for p := range slots {
		slots[p] = make(chan struct{}, window)
		for range window {
			slots[p] <- struct{}{}
		}
		acks[p] = make([]atomic.Int32, perPub)
	}
	errs := make(chan error, clients+publishers)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- readAll(c, i, clients, publishers, perPub, slots, acks)
		}()
	}
	pad := strings.Repeat("x", size)
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := range perPub {
				select {
				case <-slots[p]:
				case <-time.After(clusterTimeout):
					errs <- fmt.Errorf("publisher %d: message %d did not come back", p, seq)
					return
				}
				msg := fmt.Sprintf("%d:%d:%s", p, seq, pad)
				if err := conns[p].Conn.SendText(msg); err != nil {
					errs <- fmt.Errorf("publisher %d: %w", p, err)
					return
				}
			}
			errs <- nil
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	// The client that never read was stuck behind a full socket, and
	// lost messages to its bounded queue, while everyone else got all.
	if d := nodes[1].Membership("slow").Dropped(); d == 0 {
		t.Error("the client that never read lost no message: was it stuck at all?")
	} else {
		t.Logf("dropped for the client that never read: %d of %d", d, publishers*perPub)
	}
}

// readAll reads publishers*perPub messages on c and checks their order;
// the last of the clients to read a message gives its publisher's slot
// back.
func readAll(c *grouptest.Client, id, clients, publishers, perPub int, slots []chan struct{}, acks [][]atomic.Int32) error {
	next := make([]int, publishers)
	for range publishers * perPub {
		msg, err := c.TryReceive()
		if err != nil {
			return fmt.Errorf("client %d: %w after %v", id, err, next)
		}
		fields := strings.SplitN(msg, ":", 3)
		pub, _ := strconv.Atoi(fields[0])
		seq, _ := strconv.Atoi(fields[1])
		if seq != next[pub] {
			return fmt.Errorf("client %d: from publisher %d got message %d, want %d", id, pub, seq, next[pub])
		}
		next[pub]++
		if acks[pub][seq].Add(1) == int32(clients) {
			slots[pub] <- struct{}{}
		}
	}
	return nil
}

// Over Redis, members as large as a hub accepts are listed by every
// node, and larger ones refused.
func TestPresenceAtLimits(t *testing.T) {
	srv := testservers.StartRedis(t)
	var hubs []*groups.Hub
	for range 2 {
		ctx := context.Background()
		logger := slog.New(slog.DiscardHandler)
		b, err := redis.New(ctx, redis.Options{URL: srv.URL(), Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		hub, err := groups.New(ctx, b, &groups.Options{Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { hub.Close() })
		hubs = append(hubs, hub)
	}
	grouptest.PresenceAtLimits(t, hubs, "room", 40)
}
