package groups

import (
	"errors"
	"runtime"
	"slices"
	"sync"

	"github.com/pistoke/pistoke"
)

// A writer is one of the hub's long-lived goroutines that write queued
// messages to members' sockets. It tries each socket without waiting
// (Conn.TrySendPreparedBatch) and hands a member whose socket would block
// to a goroutine of its own, so that a slow client never holds up the
// others. Writing from a few goroutines, rather than starting one per
// member and message, keeps a fan-out to thousands of sockets down to
// little more than its write system calls, and spreads it over the CPUs.
type writer struct {
	mu   sync.Mutex
	list []*Membership // members with messages to write
	wake chan struct{} // signalled when list becomes non-empty
}

// startWriters starts the hub's writers, one per CPU the process may use.
func (h *Hub) startWriters() {
	n := runtime.GOMAXPROCS(0)
	h.writers = make([]*writer, n)
	for i := range h.writers {
		w := &writer{wake: make(chan struct{}, 1)}
		h.writers[i] = w
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			w.run(h)
		}()
	}
}

// add schedules members for writing.
func (w *writer) add(ms ...*Membership) {
	w.mu.Lock()
	w.list = append(w.list, ms...)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run writes for the scheduled members until the hub closes. Members
// still behind after their turn go to the back of the list, so that one
// busy member does not starve the rest.
func (w *writer) run(h *Hub) {
	var work []*Membership
	var batch []*pistoke.PreparedMessage
	for {
		select {
		case <-w.wake:
		case <-h.ctx.Done():
			return
		}
		for {
			w.mu.Lock()
			work, w.list = w.list, work[:0]
			w.mu.Unlock()
			if len(work) == 0 {
				break
			}
			for _, m := range work {
				batch = m.write(w, batch)
			}
			clear(work)
		}
	}
}

// write sends what m has queued, if its socket takes it without waiting;
// otherwise a drainer goroutine takes over m. batch is scratch space,
// returned for reuse; it never holds more than a queue, QueueSize
// pointers.
func (m *Membership) write(w *writer, batch []*pistoke.PreparedMessage) []*pistoke.PreparedMessage {
	m.mu.Lock()
	if m.stopped || m.q.n == 0 {
		m.state = memberIdle
		m.q.idle()
		m.mu.Unlock()
		return batch
	}
	batch = m.q.take(batch[:0])
	m.mu.Unlock()
	err := m.ws.TrySendPreparedBatch(batch)
	defer clear(batch)
	switch {
	case err == nil:
		m.mu.Lock()
		again := m.q.n > 0 && !m.stopped
		if !again {
			m.state = memberIdle
			m.q.idle()
		}
		m.mu.Unlock()
		if again {
			w.add(m)
		}
	case errors.Is(err, pistoke.ErrWouldBlock):
		m.mu.Lock()
		m.state = memberDraining
		m.mu.Unlock()
		go m.drain(slices.Clone(batch))
	default:
		m.broken()
	}
	return batch
}
