package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/pistoke/pistoke/groups"
)

// The presence protocol, on subjects under the prefix:
//
//   - presence.node carries announcements: every node publishes a "beat"
//     every TTL/3, a "hello" when it connects or reconnects (every node
//     hearing one answers with a beat, so the newcomer learns the cluster
//     at once), and a "bye" when it closes.
//   - presence.list.<group token> carries list requests, {"group": name},
//     with a reply subject; every node answers with its entries of the
//     group, split into several answers when they would not fit in one
//     message, all but the last marked "more". The last answer is always
//     sent: it is what tells the lister that the node has answered.
//
// A node that is not heard from for its TTL is forgotten: a crashed node
// answers nothing, and lists stop waiting for it once it is forgotten.
const (
	kindBeat  = "beat"
	kindHello = "hello"
	kindBye   = "bye"

	// discoveryWait is how long after connecting a list also waits for
	// nodes it has not heard from yet: their answer to the hello takes a
	// round trip.
	discoveryWait = 250 * time.Millisecond
	// maxAnswerWait bounds how long a list waits for a node it believes
	// alive, counted from the request or from the node's latest part of
	// an answer: a node that says nothing for that long is a crashed one
	// until its TTL runs out, or an overloaded one, and its entries are
	// left out. A node sending a long answer is waited for as long as its
	// parts keep coming.
	maxAnswerWait = time.Second
)

// announcement is published on presence.node.
type announcement struct {
	Node string `json:"node"`
	Kind string `json:"kind"`
	TTL  int64  `json:"ttl_ms"` // the sender's PresenceTTL
}

// listRequest asks every node for its entries of a group.
type listRequest struct {
	Group string `json:"group"`
}

// listAnswer is a node's answer to a listRequest, or part of it:
//
//	{"node":"…","ttl_ms":6000,"members":[{…},{…}],"more":true}
//
// Nodes write it themselves (see answer), entries as they were encoded
// by Add; listers decode each entry on its own, so that one they cannot
// read does not cost them the others.
type listAnswer struct {
	Node    string            `json:"node"`
	TTL     int64             `json:"ttl_ms"`
	More    bool              `json:"more"`
	Members []json.RawMessage `json:"members"`
}

// nodeInfo is what a node knows of another.
type nodeInfo struct {
	seen time.Time     // last heard from
	ttl  time.Duration // its PresenceTTL
}

func (n nodeInfo) alive(now time.Time) bool { return now.Sub(n.seen) <= n.ttl }

// ttlOf converts a TTL received from another node.
func ttlOf(ms int64) time.Duration {
	if ms <= 0 {
		return DefaultPresenceTTL
	}
	return time.Duration(ms) * time.Millisecond
}

// announce publishes an announcement of this node. A failure means the
// connection is down, which is logged once by onDisconnect; the next
// heartbeat tries again.
func (b *backend) announce(nc *natsgo.Conn, kind string) {
	p, _ := json.Marshal(announcement{Node: b.node, Kind: kind, TTL: b.ttl.Milliseconds()})
	_ = nc.Publish(b.subj.node(), p)
}

// heartbeat announces this node every TTL/3 until Close and forgets the
// nodes not heard from within their TTL. It also notices reconnections
// of a connection the backend did not create, whose handlers it cannot
// set.
func (b *backend) heartbeat() {
	defer b.wg.Done()
	t := time.NewTicker(b.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-b.done:
			return
		case <-t.C:
		}
		b.announce(b.nc, kindBeat)
		b.rejoin(b.nc.Stats().Reconnects)
		now := time.Now()
		b.mu.Lock()
		for id, n := range b.nodes {
			if !n.alive(now) {
				delete(b.nodes, id)
			}
		}
		b.mu.Unlock()
	}
}

// rejoin says hello again after the reconnects-th reconnection, once.
// The other nodes may have forgotten this one, and it them, while the
// connection was down.
func (b *backend) rejoin(reconnects uint64) {
	b.mu.Lock()
	if b.state != open || reconnects <= b.reconnects {
		b.mu.Unlock()
		return
	}
	b.reconnects = reconnects
	b.settleUntil = time.Now().Add(discoveryWait)
	nc := b.nc
	b.mu.Unlock()
	b.announce(nc, kindHello)
}

// saw records that node is alive.
func (b *backend) saw(node string, ttlMillis int64) {
	b.mu.Lock()
	b.nodes[node] = nodeInfo{seen: time.Now(), ttl: ttlOf(ttlMillis)}
	b.mu.Unlock()
}

// onControl serves the presence protocol: it runs for every
// announcement and list request, on a goroutine of its own so that
// presence never delays messages.
func (b *backend) onControl(m *natsgo.Msg) {
	b.mu.Lock()
	if b.state != open {
		b.mu.Unlock()
		return
	}
	nc := b.nc
	switch {
	case m.Subject == b.subj.node():
		var a announcement
		if json.Unmarshal(m.Data, &a) != nil || a.Node == "" {
			b.mu.Unlock()
			return
		}
		if a.Kind == kindBye {
			delete(b.nodes, a.Node)
		} else {
			b.nodes[a.Node] = nodeInfo{seen: time.Now(), ttl: ttlOf(a.TTL)}
		}
		b.mu.Unlock()
		if a.Kind == kindHello && a.Node != b.node {
			b.announce(nc, kindBeat)
		}
	case b.subj.isList(m.Subject) && m.Reply != "":
		var req listRequest
		if json.Unmarshal(m.Data, &req) != nil {
			b.mu.Unlock()
			return
		}
		entries := make([]json.RawMessage, 0, len(b.entries[req.Group]))
		for _, e := range b.entries[req.Group] {
			entries = append(entries, e)
		}
		b.mu.Unlock()
		b.answer(nc, m.Reply, entries)
	default:
		b.mu.Unlock()
	}
}

// answer sends entries to a lister, in as few messages as the server's
// payload limit allows, all but the last marked "more". The last one is
// sent whatever the entries: an empty answer still tells the lister that
// this node has replied, and an entry too large for a message of its own
// is left out, and logged, rather than ending the answer early. So one
// member's entry can neither hide the others nor keep the lister waiting
// for an answer that never comes.
func (b *backend) answer(nc *natsgo.Conn, reply string, entries []json.RawMessage) {
	const more, last = `],"more":true}`, `],"more":false}`
	node, _ := json.Marshal(b.node)
	head := fmt.Appendf(nil, `{"node":%s,"ttl_ms":%d,"members":[`, node, b.ttl.Milliseconds())
	room := int(nc.MaxPayload()) - len(head) - len(last) // for the entries and their commas
	size := 0
	for _, e := range entries {
		size += len(e) + 1
	}
	buf := make([]byte, 0, len(head)+min(size, max(room, 0))+len(last))
	buf = append(buf, head...)
	n, skipped := 0, 0
	for _, e := range entries {
		if len(e) > room {
			skipped++
			continue
		}
		if n > 0 && len(buf)-len(head)+1+len(e) > room {
			if err := nc.Publish(reply, append(buf, more...)); err != nil {
				b.log.Debug("groups/nats: cannot answer a presence list", "err", err)
				return
			}
			buf, n = append(buf[:0], head...), 0
		}
		if n > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, e...)
		n++
	}
	if skipped > 0 && b.every(logSkipped) {
		b.log.Warn("groups/nats: presence entries left out of a list: larger than the server's max_payload",
			"skipped", skipped, "max_payload", nc.MaxPayload())
	}
	if err := nc.Publish(reply, append(buf, last...)); err != nil {
		b.log.Debug("groups/nats: cannot answer a presence list", "err", err)
	}
}

// store is the backend's groups.PresenceStore.
type store struct{ b *backend }

// Add records m in group under key. The entry lives in this node's
// memory, so Add succeeds while the server is unreachable too; other
// nodes see it in their next List.
func (s *store) Add(ctx context.Context, group, key string, m groups.Member) error {
	p, err := json.Marshal(m)
	if err != nil {
		return err
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == closed {
		return ErrClosed
	}
	g := b.entries[group]
	if g == nil {
		g = make(map[string]json.RawMessage)
		b.entries[group] = g
	}
	g[key] = p
	return nil
}

// Remove deletes the entry under key, which must have been added on
// this node.
func (s *store) Remove(ctx context.Context, group, key string) error {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == closed {
		return ErrClosed
	}
	if g := b.entries[group]; g != nil {
		delete(g, key)
		if len(g) == 0 {
			delete(b.entries, group)
		}
	}
	return nil
}

// List asks every node for its entries of group and returns them once
// every node heard from within its TTL has answered. A node silent for a
// second (less when the TTL is short) after the request, or after the
// latest part of its answer, is not waited for any longer: its entries
// are left out.
func (s *store) List(ctx context.Context, group string) ([]groups.Member, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b := s.b
	nc, err := b.conn()
	if err != nil {
		return nil, err
	}
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, b.wrap("list presence", err)
	}
	defer sub.Unsubscribe()
	// The answers are read as they come; a large group must not overflow
	// nats.go's default bounds and lose one, which would keep the list
	// waiting for it.
	_ = sub.SetPendingLimits(-1, -1)
	req, _ := json.Marshal(listRequest{Group: group})
	if err := nc.PublishRequest(b.subj.list(group), inbox, req); err != nil {
		return nil, b.wrap("list presence", err)
	}

	start := time.Now()
	wait := min(b.ttl/2, maxAnswerWait)
	b.mu.Lock()
	deadline := start.Add(wait)
	if b.settleUntil.After(deadline) {
		deadline = b.settleUntil
	}
	b.mu.Unlock()
	answered := make(map[string]bool)
	members := []groups.Member{}
	for {
		now := time.Now()
		until, complete := b.listProgress(answered, now, deadline)
		if complete && !now.Before(deadline) {
			if n, _, _ := sub.Pending(); n > 0 {
				// Received already: the node answered in time, however
				// long this list takes to read it.
				until, complete = now.Add(wait), false
			}
		}
		if complete {
			if !now.Before(deadline) {
				b.forgetSilent(answered, start)
			}
			return members, nil
		}
		wctx, cancel := context.WithDeadline(ctx, until)
		m, err := sub.NextMsgWithContext(wctx)
		cancel()
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			continue
		default:
			return nil, b.wrap("list presence", err)
		}
		var a listAnswer
		if json.Unmarshal(m.Data, &a) != nil || a.Node == "" {
			continue
		}
		for _, e := range a.Members {
			var member groups.Member
			if err := json.Unmarshal(e, &member); err != nil {
				b.log.Debug("groups/nats: discarded a malformed presence entry", "node", a.Node, "err", err)
				continue
			}
			members = append(members, member)
		}
		if a.More {
			// The node is answering: the rest is on its way.
			deadline = later(deadline, time.Now().Add(wait))
		} else {
			answered[a.Node] = true
		}
		b.saw(a.Node, a.TTL)
	}
}

// later returns the later of two times.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// listProgress tells a List whether it has all its answers and, if not,
// until when to wait for the next one. It is complete when every node
// believed alive has answered and the discovery window after
// (re)connecting has passed, or at the deadline.
func (b *backend) listProgress(answered map[string]bool, now, deadline time.Time) (until time.Time, complete bool) {
	if !now.Before(deadline) {
		return time.Time{}, true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, n := range b.nodes {
		if n.alive(now) && !answered[id] {
			return deadline, false
		}
	}
	if now.Before(b.settleUntil) {
		return b.settleUntil, false
	}
	return time.Time{}, true
}

// forgetSilent, for a list that reached its deadline, counts it in
// b.incomplete if a node it waited for has not answered, and forgets the
// nodes that did not answer the list, sent at start, and have not been
// heard from since: most likely they crashed, and the next lists need not
// wait for them. A node that is only slow is remembered again at its next
// heartbeat.
func (b *backend) forgetSilent(answered map[string]bool, start time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	for id, n := range b.nodes {
		if !answered[id] && n.alive(now) {
			b.incomplete.Add(1)
			break
		}
	}
	for id, n := range b.nodes {
		if !answered[id] && n.seen.Before(start) {
			delete(b.nodes, id)
			b.log.Debug("groups/nats: a node did not answer a presence list; not waiting for it until it is heard from again", "silent", id)
		}
	}
}
