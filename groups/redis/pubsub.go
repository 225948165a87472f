package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// moving marks, in backend.groups, a group being routed to another shard.
var moving = &shard{}

// Publish implements groups.Backend. It fails, and the message is lost,
// while Redis is unreachable; it waits no longer than ctx allows and the
// client's dial and write timeouts.
func (b *backend) Publish(ctx context.Context, group string, msg []byte) error {
	if err := b.checkOpen(); err != nil {
		return err
	}
	var err error
	if b.sharded {
		err = b.client.SPublish(ctx, b.channel(group), msg).Err()
	} else {
		err = b.client.Publish(ctx, b.channel(group), msg).Err()
	}
	if err != nil {
		return fmt.Errorf("redis: publish to group %q on %s: %w", group, b.where, err)
	}
	return nil
}

// Subscribe implements groups.Backend. It returns once the server has
// confirmed the subscription, so that every message published after it
// returns reaches this node. While Redis is unreachable it fails, and the
// group stays unsubscribed.
func (b *backend) Subscribe(ctx context.Context, group string) error {
	if err := b.checkOpen(); err != nil {
		return err
	}
	ch := b.channel(group)
	b.mu.Lock()
	if _, ok := b.groups[group]; ok {
		b.mu.Unlock()
		return nil
	}
	s, err := b.shardFor(ctx, ch)
	if err != nil {
		b.mu.Unlock()
		return fmt.Errorf("redis: subscribe to group %q: %w", group, err)
	}
	b.groups[group] = s
	s.ngroups++
	b.mu.Unlock()

	if err := b.subscribeOn(ctx, s, ch); err != nil {
		b.mu.Lock()
		if b.groups[group] == s {
			delete(b.groups, group)
			b.release(s)
		}
		b.mu.Unlock()
		return fmt.Errorf("redis: subscribe to group %q on %s: %w", group, b.where, err)
	}
	return nil
}

// subscribeOn subscribes s to ch and waits for the confirmation. On
// failure it leaves s unsubscribed from ch.
func (b *backend) subscribeOn(ctx context.Context, s *shard, ch string) error {
	w := s.await(ch)
	defer s.unawait(ch, w)
	err := s.subscribe(ctx, ch)
	if err == nil {
		t := time.NewTimer(subscribeTimeout)
		select {
		case err = <-w:
		case <-ctx.Done():
			err = ctx.Err()
		case <-t.C:
			err = errors.New("no confirmation from the server")
		case <-b.ctx.Done():
			err = ErrClosed
		}
		t.Stop()
	}
	if err != nil {
		// go-redis resubscribes to every channel it was asked for when it
		// reconnects; drop this one.
		uctx, cancel := context.WithTimeout(context.Background(), subscribeTimeout)
		_ = s.unsubscribe(uctx, ch)
		cancel()
	}
	return err
}

// shardFor returns the shard that serves ch, creating it if needed.
// Called with b.mu held.
func (b *backend) shardFor(ctx context.Context, ch string) (*shard, error) {
	if b.closed.Load() {
		return nil, ErrClosed // Close may have stopped the shards already
	}
	if b.cluster == nil {
		return b.def, nil
	}
	master, err := b.cluster.MasterForKey(ctx, ch)
	if err != nil {
		return nil, err
	}
	addr := master.Options().Addr
	s := b.shards[addr]
	if s == nil {
		s = b.newShard(master, addr)
		b.shards[addr] = s
	}
	return s, nil
}

// release notes that a group left s, and closes s when it was the last of
// a cluster shard. Called with b.mu held.
func (b *backend) release(s *shard) {
	s.ngroups--
	if s.addr != "" && s.ngroups == 0 && b.shards[s.addr] == s {
		delete(b.shards, s.addr)
		// Closing waits for the shard's reader, which may be waiting for
		// b.mu: close it without the lock.
		go s.close()
	}
}

// Unsubscribe implements groups.Backend. Deliveries of group stop when it
// returns. It reports no network error: a subscription whose UNSUBSCRIBE
// could not be sent dies with the broken connection, and go-redis does
// not restore it.
func (b *backend) Unsubscribe(ctx context.Context, group string) error {
	if b.closed.Load() {
		return ErrClosed
	}
	b.mu.Lock()
	s, ok := b.groups[group]
	delete(b.groups, group)
	if !ok || s == moving {
		b.mu.Unlock()
		return nil
	}
	last := s.addr != "" && s.ngroups == 1
	b.release(s)
	b.mu.Unlock()
	if !last {
		_ = s.unsubscribe(ctx, b.channel(group))
	}
	return nil
}

// receive passes a message from s on to deliver, unless its group is no
// longer subscribed there.
func (b *backend) receive(s *shard, m *goredis.Message) {
	group, ok := b.groupOf(m.Channel)
	if !ok {
		return
	}
	b.mu.RLock()
	ok = b.groups[group] == s
	b.mu.RUnlock()
	if !ok {
		return
	}
	b.deliverMu.Lock()
	b.deliver(group, []byte(m.Payload))
	b.deliverMu.Unlock()
}

// reroute moves group from s to the shard of the master that owns its
// channel now. Messages published while it moves are lost for this node,
// as at-most-once delivery allows.
func (b *backend) reroute(s *shard, group string) {
	b.mu.Lock()
	if b.groups[group] != s || b.closed.Load() {
		b.mu.Unlock()
		return
	}
	b.groups[group] = moving
	b.release(s)
	// Under b.mu, which Close takes before it waits for b.wg.
	b.wg.Add(1)
	b.mu.Unlock()

	go func() {
		defer b.wg.Done()
		ch := b.channel(group)
		ctx, cancel := context.WithTimeout(b.ctx, subscribeTimeout)
		_ = s.unsubscribe(ctx, ch) // else go-redis resubscribes it on reconnect
		cancel()
		for attempt := 1; ; attempt++ {
			// The client's map of the slots is out of date.
			b.cluster.ReloadState(b.ctx)
			ctx, cancel := context.WithTimeout(b.ctx, subscribeTimeout)
			err := b.resubscribe(ctx, group, ch)
			cancel()
			if err == nil || b.ctx.Err() != nil {
				return
			}
			if attempt == 1 {
				b.log.Warn("redis: moving a group to its new shard", "group", group, "err", err)
			}
			t := time.NewTimer(backoff(attempt))
			select {
			case <-t.C:
			case <-b.ctx.Done():
				t.Stop()
				return
			}
		}
	}()
}

// resubscribe ends a reroute: it subscribes group on its shard, unless it
// was unsubscribed meanwhile.
func (b *backend) resubscribe(ctx context.Context, group, ch string) error {
	b.mu.Lock()
	if b.groups[group] != moving {
		b.mu.Unlock()
		return nil
	}
	ns, err := b.shardFor(ctx, ch)
	if err != nil {
		b.mu.Unlock()
		return err
	}
	ns.ngroups++
	b.mu.Unlock()

	err = b.subscribeOn(ctx, ns, ch)
	b.mu.Lock()
	placed := err == nil && b.groups[group] == moving
	if placed {
		b.groups[group] = ns
	} else {
		b.release(ns)
	}
	b.mu.Unlock()
	if err == nil && !placed {
		_ = ns.unsubscribe(ctx, ch) // the group was unsubscribed while it moved
	}
	return err
}

// rerouteAll reroutes every group of s.
func (b *backend) rerouteAll(s *shard) {
	var gs []string
	b.mu.RLock()
	for g, gs2 := range b.groups {
		if gs2 == s {
			gs = append(gs, g)
		}
	}
	b.mu.RUnlock()
	for _, g := range gs {
		b.reroute(s, g)
	}
}
