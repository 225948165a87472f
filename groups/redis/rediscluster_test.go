package redis

import (
	"context"
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pistoke/pistoke/internal/testservers"
)

// openClusterNode opens a backend over its own client of cluster c.
func openClusterNode(t *testing.T, c *testservers.RedisCluster, sharded bool) *node {
	t.Helper()
	client := goredis.NewClusterClient(&goredis.ClusterOptions{
		Addrs:                 c.Addrs(),
		MaxRetries:            -1,
		DialerRetries:         1,
		ContextTimeoutEnabled: true,
	})
	t.Cleanup(func() { client.Close() })
	return openNode(t, "", Options{Client: client, Sharded: sharded})
}

// TestRedisCluster runs three nodes on a Redis Cluster of three masters,
// with groups whose channels spread over every master.
func TestRedisCluster(t *testing.T) {
	c := testservers.StartRedisCluster(t, 3)
	for _, sharded := range []bool{false, true} {
		t.Run(fmt.Sprintf("sharded=%v", sharded), func(t *testing.T) {
			var nodes []*node
			for range 3 {
				nodes = append(nodes, openClusterNode(t, c, sharded))
			}
			const ngroups = 30
			for _, n := range nodes {
				for g := range ngroups {
					n.subscribe(t, fmt.Sprint("g", g))
				}
			}
			if sharded {
				// One subscribing connection per master.
				nodes[0].mu.RLock()
				shards := len(nodes[0].shards)
				nodes[0].mu.RUnlock()
				if shards != 3 {
					t.Fatalf("%d shards, want one per master (3)", shards)
				}
			}
			ctx := context.Background()
			for g := range ngroups {
				group := fmt.Sprint("g", g)
				if err := nodes[g%3].Publish(ctx, group, []byte(group)); err != nil {
					t.Fatal(err)
				}
				for _, n := range nodes {
					if d := n.next(t); d.group != group || d.msg != group {
						t.Fatalf("got %+v, want %s", d, group)
					}
				}
			}
			if !sharded {
				return
			}
			// Unsubscribing every group of a master closes its shard.
			for g := range ngroups {
				if err := nodes[0].Unsubscribe(ctx, fmt.Sprint("g", g)); err != nil {
					t.Fatal(err)
				}
			}
			nodes[0].mu.RLock()
			left := len(nodes[0].shards)
			nodes[0].mu.RUnlock()
			if left != 0 {
				t.Fatalf("%d shards left after every group was unsubscribed", left)
			}
		})
	}
}

// TestRedisClusterSlotMoves moves the slot of a group's channel to another
// master: the master drops the node's subscription, and the node
// subscribes again on the new owner.
func TestRedisClusterSlotMoves(t *testing.T) {
	c := testservers.StartRedisCluster(t, 3)
	a := openClusterNode(t, c, true)
	pub := openClusterNode(t, c, true)
	a.subscribe(t, "room")
	ctx := context.Background()

	admin := make([]*goredis.Client, len(c.Nodes))
	ids := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		admin[i] = goredis.NewClient(&goredis.Options{Addr: n.Addr()})
		defer admin[i].Close()
		id, err := admin[i].Do(ctx, "cluster", "myid").Text()
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	slot, err := admin[0].ClusterKeySlot(ctx, a.channel("room")).Result()
	if err != nil {
		t.Fatal(err)
	}
	a.mu.RLock()
	from := a.groups["room"].addr
	a.mu.RUnlock()
	src, dst := -1, -1
	for i, n := range c.Nodes {
		if n.Addr() == from {
			src, dst = i, (i+1)%len(c.Nodes)
		}
	}
	if src < 0 {
		t.Fatalf("the group's shard %s is no master", from)
	}
	// The channel holds no keys: the slot moves with SETSLOT alone.
	steps := []struct {
		node int
		args []any
	}{
		{dst, []any{"cluster", "setslot", slot, "importing", ids[src]}},
		{src, []any{"cluster", "setslot", slot, "migrating", ids[dst]}},
		{dst, []any{"cluster", "setslot", slot, "node", ids[dst]}},
		{src, []any{"cluster", "setslot", slot, "node", ids[dst]}},
		{3 - src - dst, []any{"cluster", "setslot", slot, "node", ids[dst]}},
	}
	for _, s := range steps {
		if err := admin[s.node].Do(ctx, s.args...).Err(); err != nil {
			t.Fatalf("%v: %v", s.args, err)
		}
	}
	eventually(t, "delivering on the new master", func() bool {
		if err := pub.Publish(ctx, "room", []byte("x")); err != nil {
			return false
		}
		select {
		case <-a.got:
		case <-time.After(100 * time.Millisecond):
			return false
		}
		a.mu.RLock()
		defer a.mu.RUnlock()
		return a.groups["room"].addr == c.Nodes[dst].Addr()
	})
}
