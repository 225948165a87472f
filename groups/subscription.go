package groups

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/pistoke/pistoke"
)

// EventKind says what an Event reports.
type EventKind int

// The kinds of Event.
const (
	// Message: a message was published to the group.
	Message EventKind = iota + 1
	// Joined: a socket joined the group with a presence Member.
	Joined
	// Left: a socket with a presence Member left the group.
	Left
)

// String returns the kind's name.
func (k EventKind) String() string {
	switch k {
	case Message:
		return "Message"
	case Joined:
		return "Joined"
	case Left:
		return "Left"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is what a Subscription receives.
type Event struct {
	Group string
	Kind  EventKind
	// Type and Data are the message, for Kind Message. Data is shared
	// with other subscriptions and must not be modified.
	Type pistoke.MessageType
	Data []byte
	// Member is who joined or left, for Kind Joined and Left.
	Member Member
}

// Subscription receives the messages and presence events of a group, for
// code that handles them itself rather than forwarding them to a socket
// unchanged: a handler transforming messages per user, a background job
// storing them.
type Subscription struct {
	hub *Hub
	g   *group
	ch  chan Event

	ended   bool // C is closed; guarded by g.mu
	dropped atomic.Int64
	once    sync.Once
}

// Subscribe starts receiving group's events from every node: those
// published after Subscribe returned. Up to size events wait in C (size
// < 1 means DefaultQueueSize); when C is full the oldest waiting event is
// dropped, counted by Dropped, so that a slow subscriber never holds up a
// group. ctx bounds the subscribing only; Close ends the subscription.
func (h *Hub) Subscribe(ctx context.Context, group string, size int) (*Subscription, error) {
	if err := checkGroup(group); err != nil {
		return nil, err
	}
	if size < 1 {
		size = DefaultQueueSize
	}
	g, err := h.acquire(ctx, group)
	if err != nil {
		return nil, err
	}
	s := &Subscription{hub: h, g: g, ch: make(chan Event, size)}
	g.mu.Lock()
	if h.closed.Load() {
		g.mu.Unlock()
		h.release(g)
		return nil, ErrClosed
	}
	g.subs = append(g.subs, s)
	g.mu.Unlock()
	return s, nil
}

// C returns the channel of events. It is closed by Close, and when the
// hub closes.
func (s *Subscription) C() <-chan Event { return s.ch }

// Dropped returns how many events the subscription lost because C was
// full.
func (s *Subscription) Dropped() int64 { return s.dropped.Load() }

// Close ends the subscription and closes C. Calling it again does
// nothing.
func (s *Subscription) Close() error {
	s.once.Do(func() {
		g := s.g
		g.mu.Lock()
		for i, x := range g.subs {
			if x == s {
				g.subs = append(g.subs[:i], g.subs[i+1:]...)
				break
			}
		}
		s.end()
		g.mu.Unlock()
		s.hub.release(g)
	})
	return nil
}

// end closes C once; the caller holds the group's lock, which keeps
// deliveries from sending meanwhile.
func (s *Subscription) end() {
	if !s.ended {
		s.ended = true
		close(s.ch)
	}
}

// push sends ev without blocking, dropping the oldest waiting event if
// C is full. The caller holds the group's lock for reading.
func (s *Subscription) push(ev Event) {
	if s.ended {
		return
	}
	select {
	case s.ch <- ev:
		return
	default:
	}
	select {
	case <-s.ch:
	default:
	}
	s.dropped.Add(1)
	s.hub.dropped.Add(1)
	select {
	case s.ch <- ev:
	default: // taken by another delivery meanwhile: ev is the one lost
	}
}
