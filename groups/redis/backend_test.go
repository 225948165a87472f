package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pistoke/pistoke/groups"
	"github.com/pistoke/pistoke/internal/grouptest"
	"github.com/pistoke/pistoke/internal/testservers"
)

// failAfter bounds every wait of these tests: reaching it is a failure,
// never the expected path.
const failAfter = 15 * time.Second

// delivery is one call of a backend's deliver function.
type delivery struct {
	group string
	msg   string
}

// node is an open backend and what it delivered.
type node struct {
	*backend
	got chan delivery
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openNode opens a backend on url with opts, closed when the test ends.
func openNode(t *testing.T, url string, opts Options) *node {
	t.Helper()
	opts.URL = url
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	ctx := context.Background()
	gb, err := New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{backend: gb.(*backend), got: make(chan delivery, 100000)}
	if err := n.Open(ctx, func(g string, msg []byte) {
		select {
		case n.got <- delivery{g, string(msg)}:
		default:
			t.Errorf("deliveries overflow the test's buffer")
		}
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// next returns the node's next delivery, failing the test after failAfter.
func (n *node) next(t *testing.T) delivery {
	t.Helper()
	select {
	case d := <-n.got:
		return d
	case <-time.After(failAfter):
		t.Fatal("no delivery")
		return delivery{}
	}
}

func (n *node) subscribe(t *testing.T, groups ...string) {
	t.Helper()
	for _, g := range groups {
		if err := n.Subscribe(context.Background(), g); err != nil {
			t.Fatal(err)
		}
	}
}

// eventually polls cond until it holds, failing the test after failAfter.
// It serves conditions that nothing signals, such as a key expiring in
// Redis.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(failAfter)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not %s after %v", what, failAfter)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPublishSubscribeOrder(t *testing.T) {
	for _, sharded := range []bool{false, true} {
		t.Run(fmt.Sprintf("sharded=%v", sharded), func(t *testing.T) {
			srv := testservers.StartRedis(t)
			a := openNode(t, srv.URL(), Options{Sharded: sharded})
			b := openNode(t, srv.URL(), Options{Sharded: sharded})
			a.subscribe(t, "room")
			b.subscribe(t, "room", "other")

			// Two publishers at once: each one's messages arrive in its
			// order, on both nodes, this one included.
			const n = 500
			var wg sync.WaitGroup
			for _, p := range []*node{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range n {
						if err := p.Publish(context.Background(), "room", fmt.Appendf(nil, "%s-%d", p.node, i)); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			for _, sub := range []*node{a, b} {
				next := map[string]int{}
				for range 2 * n {
					d := sub.next(t)
					if d.group != "room" {
						t.Fatalf("delivery for group %q", d.group)
					}
					pub, i, _ := strings.Cut(d.msg, "-")
					if want := fmt.Sprint(next[pub]); i != want {
						t.Fatalf("from %s got message %s, want %s", pub, i, want)
					}
					next[pub]++
				}
			}
		})
	}
}

func TestSubscribeReturnsOnceEffective(t *testing.T) {
	srv := testservers.StartRedis(t)
	a := openNode(t, srv.URL(), Options{})
	b := openNode(t, srv.URL(), Options{})
	// A message published right after Subscribe returns must arrive: the
	// subscription is in place, not merely requested.
	for i := range 50 {
		g := fmt.Sprint("g", i)
		a.subscribe(t, g)
		if err := b.Publish(context.Background(), g, []byte(g)); err != nil {
			t.Fatal(err)
		}
		if d := a.next(t); d.group != g || d.msg != g {
			t.Fatalf("got %+v, want %s", d, g)
		}
	}
}

func TestUnsubscribe(t *testing.T) {
	srv := testservers.StartRedis(t)
	a := openNode(t, srv.URL(), Options{})
	a.subscribe(t, "left", "stays")
	if err := a.Unsubscribe(context.Background(), "left"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := a.Publish(ctx, "left", []byte("lost")); err != nil {
		t.Fatal(err)
	}
	// Redis handles one client's commands in order: once the marker
	// arrives, a message to "left" would have arrived before it.
	if err := a.Publish(ctx, "stays", []byte("marker")); err != nil {
		t.Fatal(err)
	}
	if d := a.next(t); d != (delivery{"stays", "marker"}) {
		t.Fatalf("got %+v, want the marker only", d)
	}
	// Subscribing again works.
	a.subscribe(t, "left")
	if err := a.Publish(ctx, "left", []byte("back")); err != nil {
		t.Fatal(err)
	}
	if d := a.next(t); d != (delivery{"left", "back"}) {
		t.Fatalf("got %+v", d)
	}
}

func TestPresence(t *testing.T) {
	srv := testservers.StartRedis(t)
	a := openNode(t, srv.URL(), Options{})
	b := openNode(t, srv.URL(), Options{})
	ctx := context.Background()
	add := func(n *node, key, id string) {
		t.Helper()
		if err := n.Presence().Add(ctx, "room", key, groups.Member{ID: id, Meta: map[string]string{"k": key}}); err != nil {
			t.Fatal(err)
		}
	}
	add(a, "s1", "ann")
	add(a, "s2", "ann") // a second tab
	add(b, "s3", "bob")
	if err := b.Presence().Add(ctx, "elsewhere", "s4", groups.Member{ID: "cy"}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*node{a, b} {
		if got, want := listKeys(t, n, "room"), []string{"s1", "s2", "s3"}; !slices.Equal(got, want) {
			t.Fatalf("List = %v, want %v", got, want)
		}
	}
	if err := a.Presence().Remove(ctx, "room", "s1"); err != nil {
		t.Fatal(err)
	}
	if got, want := listKeys(t, b, "room"), []string{"s2", "s3"}; !slices.Equal(got, want) {
		t.Fatalf("after Remove, List = %v, want %v", got, want)
	}
	// Close removes the node's entries at once, with no TTL to wait for.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := listKeys(t, b, "room"), []string{"s3"}; !slices.Equal(got, want) {
		t.Fatalf("after Close, List = %v, want %v", got, want)
	}
	if err := a.Presence().Add(ctx, "room", "s5", groups.Member{ID: "ann"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Add after Close: %v, want ErrClosed", err)
	}
}

// listKeys lists group on n and returns the Meta "k" of the members,
// which the tests set to the entry's key, sorted.
func listKeys(t *testing.T, n *node, group string) []string {
	t.Helper()
	ms, err := n.Presence().List(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	var ks []string
	for _, m := range ms {
		ks = append(ks, m.Meta["k"])
	}
	slices.Sort(ks)
	return ks
}

func TestPresenceOfStoppedNodeExpires(t *testing.T) {
	srv := testservers.StartRedis(t)
	const ttl = 300 * time.Millisecond
	a := openNode(t, srv.URL(), Options{PresenceTTL: ttl})
	b := openNode(t, srv.URL(), Options{PresenceTTL: ttl})
	ctx := context.Background()
	if err := a.Presence().Add(ctx, "room", "s1", groups.Member{ID: "ann", Meta: map[string]string{"k": "s1"}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Presence().Add(ctx, "room", "s2", groups.Member{ID: "bob", Meta: map[string]string{"k": "s2"}}); err != nil {
		t.Fatal(err)
	}
	// a stops heart-beating without cleaning up, as a crashed process
	// would; TestCrashedNodeLeavesPresence kills a real one.
	a.cancel()
	a.wg.Wait()

	// Several TTLs: b's heartbeat must keep b alive meanwhile.
	eventually(t, "expired", func() bool { return slices.Equal(listKeys(t, b, "room"), []string{"s2"}) })
	// List deleted the dead entry, not only hid it.
	fields, err := b.client.HKeys(ctx, b.hashKey("room")).Result()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fields, []string{"s2"}) {
		t.Fatalf("hash fields = %v, want [s2]", fields)
	}
}

func TestPresenceHashExpiresWithItsNodes(t *testing.T) {
	srv := testservers.StartRedis(t)
	a := openNode(t, srv.URL(), Options{PresenceTTL: 300 * time.Millisecond})
	ctx := context.Background()
	if err := a.Presence().Add(ctx, "room", "s1", groups.Member{ID: "ann"}); err != nil {
		t.Fatal(err)
	}
	a.cancel()
	a.wg.Wait()
	// Nobody lists the group: Redis drops it by itself.
	eventually(t, "gone", func() bool {
		n, err := a.client.Exists(ctx, a.hashKey("room"), a.nodeKey(a.node)).Result()
		return err == nil && n == 0
	})
}

func TestUnreachable(t *testing.T) {
	port := testservers.FreePort(t) // nothing listens there
	url := "redis://user:s3cret@" + testservers.Addr(port)
	_, err := New(context.Background(), Options{URL: url})
	if err == nil {
		t.Fatal("New succeeded with no server")
	}
	if !strings.Contains(err.Error(), testservers.Addr(port)) {
		t.Errorf("error %q does not name the server", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %q shows the password", err)
	}
	t.Log(err)
}

func TestOptions(t *testing.T) {
	ctx := context.Background()
	if _, err := New(ctx, Options{}); err == nil {
		t.Error("New without URL or Client succeeded")
	}
	if _, err := New(ctx, Options{URL: "http://nowhere"}); err == nil {
		t.Error("New with an http URL succeeded")
	}
	if _, err := New(ctx, Options{URL: "redis://127.0.0.1:1", PresenceTTL: time.Millisecond}); err == nil {
		t.Error("New with a 1 ms TTL succeeded")
	}
}

func TestClientAndPrefix(t *testing.T) {
	srv := testservers.StartRedis(t)
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), MaxRetries: -1})
	defer c.Close()
	a := openNode(t, "", Options{Client: c, Prefix: "app1:"})
	b := openNode(t, srv.URL(), Options{Prefix: "app2:"})
	a.subscribe(t, "room")
	b.subscribe(t, "room")
	ctx := context.Background()
	if err := a.Presence().Add(ctx, "room", "s1", groups.Member{ID: "ann"}); err != nil {
		t.Fatal(err)
	}
	// Prefixes keep applications apart.
	if ms, err := b.Presence().List(ctx, "room"); err != nil || len(ms) != 0 {
		t.Fatalf("other prefix lists %v, %v", ms, err)
	}
	if err := b.Publish(ctx, "room", []byte("two")); err != nil {
		t.Fatal(err)
	}
	if err := a.Publish(ctx, "room", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if d := a.next(t); d.msg != "one" {
		t.Fatalf("app1 got %+v", d)
	}
	if keys, _ := c.Keys(ctx, "app1:*").Result(); len(keys) != 2 {
		t.Fatalf("keys under the prefix: %v, want the presence hash and node key", keys)
	}
	// The backend leaves a client it was given open.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("client closed by the backend: %v", err)
	}
}

func TestClosed(t *testing.T) {
	srv := testservers.StartRedis(t)
	a := openNode(t, srv.URL(), Options{})
	a.subscribe(t, "room")
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ctx := context.Background()
	for name, err := range map[string]error{
		"Publish":   a.Publish(ctx, "room", nil),
		"Subscribe": a.Subscribe(ctx, "g"),
		"Open":      a.Open(ctx, func(string, []byte) {}),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

// Members as large as a hub accepts, hundreds per node, are all listed by
// every node; an entry no node can read is left out, and deleted, without
// hiding any other.
func TestPresenceLargestEntries(t *testing.T) {
	srv := testservers.StartRedis(t)
	nodes := []*node{openNode(t, srv.URL(), Options{}), openNode(t, srv.URL(), Options{})}
	worker := openNode(t, srv.URL(), Options{})
	ctx := context.Background()
	const perNode = 400
	var want []string
	for i, n := range nodes {
		for j := range perNode {
			m := grouptest.LargestMember(i*perNode + j)
			if err := n.Presence().Add(ctx, "room", m.ID, m); err != nil {
				t.Fatal(err)
			}
			want = append(want, m.ID)
		}
	}
	slices.Sort(want)
	hash := worker.hashKey("room")
	if err := worker.client.HSet(ctx, hash, "garbage", "{not json").Err(); err != nil {
		t.Fatal(err)
	}
	for _, lister := range []*node{worker, nodes[0]} {
		ms, err := lister.Presence().List(ctx, "room")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range ms {
			got = append(got, m.ID)
			if !maps.Equal(m.Meta, grouptest.LargestMember(0).Meta) {
				t.Fatalf("entry %.20q has %d bytes of meta", m.ID, len(m.Meta["k"]))
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("listed %d entries, want %d", len(got), len(want))
		}
	}
	if ok, err := worker.client.HExists(ctx, hash, "garbage").Result(); err != nil || ok {
		t.Errorf("the unreadable entry is still there (%v)", err)
	}
}
