package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pistoke/pistoke/groups"
)

// entry is the value of a presence hash field.
type entry struct {
	Member groups.Member `json:"member"`
	Node   string        `json:"node"`
}

// presence implements groups.PresenceStore.
//
// Redis holds, per group, a hash of entries (field: the socket's key)
// whose expiry the nodes with entries in it push back at every heartbeat,
// and, per node, a liveness key the node's heartbeat keeps alive. The node
// also keeps its own entries here, to write them back whenever Redis has
// lost them, and the keys whose removal failed, to retry it.
type presence struct {
	b *backend

	// sync is held for writing while the heartbeat writes this node's
	// entries back, so that the copy it writes matches what Add and
	// Remove (holding it for reading) have done.
	sync sync.RWMutex

	mu      sync.Mutex
	local   map[string]map[string]string   // group → key → entry JSON
	orphans map[string]map[string]struct{} // group → keys to delete

	// resyncNext asks the next heartbeat to write every entry back again:
	// after a node was taken for dead, another node's List may have been
	// deleting its entries while it wrote them back. Heartbeat only.
	resyncNext bool
}

// Add implements groups.PresenceStore. When it fails the entry is not
// recorded.
func (p *presence) Add(ctx context.Context, group, key string, m groups.Member) error {
	b := p.b
	if err := b.checkOpen(); err != nil {
		return err
	}
	v, err := json.Marshal(entry{Member: m, Node: b.node})
	if err != nil {
		return fmt.Errorf("redis: presence entry: %w", err)
	}
	p.sync.RLock()
	defer p.sync.RUnlock()
	if b.closed.Load() {
		return ErrClosed // Close has removed this node's entries
	}
	p.mu.Lock()
	setIn(&p.local, group, key, string(v))
	deleteIn(p.orphans, group, key)
	p.mu.Unlock()

	pipe := b.client.Pipeline()
	pipe.HSet(ctx, b.hashKey(group), key, v)
	pipe.PExpire(ctx, b.hashKey(group), b.ttl)
	if _, err := pipe.Exec(ctx); err != nil {
		p.mu.Lock()
		deleteIn(p.local, group, key)
		// The write may have reached Redis all the same.
		setIn(&p.orphans, group, key, struct{}{})
		p.mu.Unlock()
		return fmt.Errorf("redis: presence add to group %q on %s: %w", group, b.where, err)
	}
	return nil
}

// Remove implements groups.PresenceStore. When Redis cannot be reached the
// entry leaves this node's copy at once, and Redis at a later heartbeat.
func (p *presence) Remove(ctx context.Context, group, key string) error {
	b := p.b
	if err := b.checkOpen(); err != nil {
		return err
	}
	p.sync.RLock()
	defer p.sync.RUnlock()
	if b.closed.Load() {
		return ErrClosed // Close has removed this node's entries
	}
	p.mu.Lock()
	deleteIn(p.local, group, key)
	p.mu.Unlock()
	if err := b.client.HDel(ctx, b.hashKey(group), key).Err(); err != nil {
		p.mu.Lock()
		setIn(&p.orphans, group, key, struct{}{})
		p.mu.Unlock()
		return fmt.Errorf("redis: presence remove from group %q on %s: %w", group, b.where, err)
	}
	return nil
}

// List implements groups.PresenceStore. Entries of nodes whose liveness
// key has expired are left out, and deleted.
func (p *presence) List(ctx context.Context, group string) ([]groups.Member, error) {
	b := p.b
	if err := b.checkOpen(); err != nil {
		return nil, err
	}
	hash := b.hashKey(group)
	all, err := b.client.HGetAll(ctx, hash).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: presence list of group %q on %s: %w", group, b.where, err)
	}
	entries := make(map[string]entry, len(all))
	alive := map[string]*goredis.IntCmd{}
	var stale []string
	for k, v := range all {
		var e entry
		if json.Unmarshal([]byte(v), &e) != nil || e.Node == "" {
			stale = append(stale, k)
			continue
		}
		entries[k] = e
		if e.Node != b.node {
			alive[e.Node] = nil
		}
	}
	if len(alive) > 0 {
		pipe := b.client.Pipeline()
		for n := range alive {
			alive[n] = pipe.Exists(ctx, b.nodeKey(n))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("redis: presence list of group %q on %s: %w", group, b.where, err)
		}
	}
	members := make([]groups.Member, 0, len(entries))
	for k, e := range entries {
		if c := alive[e.Node]; c != nil && c.Val() == 0 {
			stale = append(stale, k)
			continue
		}
		members = append(members, e.Member)
	}
	if len(stale) > 0 {
		// Best effort: the next List retries what fails.
		_ = b.client.HDel(ctx, hash, stale...).Err()
	}
	return members, nil
}

// heartbeat keeps this node's presence alive until the backend closes.
func (b *backend) heartbeat() {
	defer b.wg.Done()
	interval := b.ttl / 3
	t := time.NewTicker(interval)
	defer t.Stop()
	cond := conditionLog{log: b.log, what: "presence heartbeat to " + b.where}
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		case <-b.kick:
		}
		ctx, cancel := context.WithTimeout(b.ctx, interval)
		err := b.pres.beat(ctx)
		cancel()
		if b.ctx.Err() != nil {
			return
		}
		if err != nil {
			cond.fail(err)
		} else {
			cond.ok()
		}
	}
}

// kickHeartbeat asks for a heartbeat now, as when a lost connection comes
// back.
func (b *backend) kickHeartbeat() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// beat pushes back the expiry of this node's liveness key and of the
// hashes holding its entries. Whatever of them Redis no longer has (it
// restarted without persistence, or took this node for dead after a
// stall), beat writes back; it retries failed removals too.
func (p *presence) beat(ctx context.Context) error {
	b := p.b
	p.mu.Lock()
	gs := make([]string, 0, len(p.local))
	for g := range p.local {
		gs = append(gs, g)
	}
	p.mu.Unlock()

	pipe := b.client.Pipeline()
	node := pipe.PExpire(ctx, b.nodeKey(b.node), b.ttl)
	hashes := make([]*goredis.BoolCmd, len(gs))
	for i, g := range gs {
		hashes[i] = pipe.PExpire(ctx, b.hashKey(g), b.ttl)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	var lost []string
	all := false
	switch {
	case !node.Val():
		// The liveness key goes back first: entries of a node without one
		// are deleted by List.
		if err := b.client.Set(ctx, b.nodeKey(b.node), "1", b.ttl).Err(); err != nil {
			return err
		}
		all, p.resyncNext = true, true
	case p.resyncNext:
		all, p.resyncNext = true, false
	default:
		for i, c := range hashes {
			if !c.Val() {
				lost = append(lost, gs[i])
			}
		}
	}
	if all || len(lost) > 0 {
		if err := p.writeBack(ctx, all, lost); err != nil {
			return err
		}
	}
	return p.retryOrphans(ctx)
}

// writeBack writes this node's entries of groups gs, or of all groups, to
// Redis.
func (p *presence) writeBack(ctx context.Context, all bool, gs []string) error {
	b := p.b
	p.sync.Lock()
	defer p.sync.Unlock()
	p.mu.Lock()
	if all {
		gs = gs[:0]
		for g := range p.local {
			gs = append(gs, g)
		}
	}
	pipe := b.client.Pipeline()
	for _, g := range gs {
		entries := p.local[g]
		if len(entries) == 0 {
			continue
		}
		fields := make([]any, 0, 2*len(entries))
		for k, v := range entries {
			fields = append(fields, k, v)
		}
		pipe.HSet(ctx, b.hashKey(g), fields...)
		pipe.PExpire(ctx, b.hashKey(g), b.ttl)
	}
	p.mu.Unlock()
	if pipe.Len() == 0 {
		return nil
	}
	_, err := pipe.Exec(ctx)
	return err
}

// retryOrphans deletes the entries whose removal failed earlier.
func (p *presence) retryOrphans(ctx context.Context) error {
	b := p.b
	p.mu.Lock()
	if len(p.orphans) == 0 {
		p.mu.Unlock()
		return nil
	}
	pipe := b.client.Pipeline()
	sent := make(map[string][]string, len(p.orphans))
	for g, ks := range p.orphans {
		for k := range ks {
			sent[g] = append(sent[g], k)
		}
		pipe.HDel(ctx, b.hashKey(g), sent[g]...)
	}
	p.mu.Unlock()
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	p.mu.Lock()
	for g, ks := range sent {
		for _, k := range ks {
			deleteIn(p.orphans, g, k)
		}
	}
	p.mu.Unlock()
	return nil
}

// removeAll deletes this node's entries and liveness key, for Close.
func (p *presence) removeAll(ctx context.Context) error {
	b := p.b
	p.sync.Lock()
	defer p.sync.Unlock()
	p.mu.Lock()
	pipe := b.client.Pipeline()
	for _, m := range []map[string]map[string]string{p.local, orphanKeys(p.orphans)} {
		for g, entries := range m {
			ks := make([]string, 0, len(entries))
			for k := range entries {
				ks = append(ks, k)
			}
			if len(ks) > 0 {
				pipe.HDel(ctx, b.hashKey(g), ks...)
			}
		}
	}
	pipe.Del(ctx, b.nodeKey(b.node))
	p.local, p.orphans = nil, nil
	p.mu.Unlock()
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redis: removing presence entries on %s (they expire within %v): %w", b.where, b.ttl, err)
	}
	return nil
}

func orphanKeys(o map[string]map[string]struct{}) map[string]map[string]string {
	m := make(map[string]map[string]string, len(o))
	for g, ks := range o {
		for k := range ks {
			setIn(&m, g, k, "")
		}
	}
	return m
}

// setIn sets m[g][k] = v, making the maps it needs.
func setIn[V any](m *map[string]map[string]V, g, k string, v V) {
	if *m == nil {
		*m = make(map[string]map[string]V)
	}
	inner := (*m)[g]
	if inner == nil {
		inner = make(map[string]V)
		(*m)[g] = inner
	}
	inner[k] = v
}

// deleteIn deletes m[g][k], and m[g] when it becomes empty.
func deleteIn[V any](m map[string]map[string]V, g, k string) {
	inner := m[g]
	if inner == nil {
		return
	}
	delete(inner, k)
	if len(inner) == 0 {
		delete(m, g)
	}
}
