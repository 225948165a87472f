package groups

import (
	"errors"
	"runtime"
	"slices"
	"sync"

	"github.com/pistoke/pistoke/internal/broadcast"
	"github.com/pistoke/pistoke/internal/wire"
)

// A writer is one of the hub's long-lived goroutines that write queued
// messages to members' sockets. It tries each socket without waiting
// (a non-blocking batched write) and hands a member whose socket would block
// to a goroutine of its own, so that a slow client never holds up the
// others. Writing from a few goroutines, rather than starting one per
// member and message, keeps a fan-out to thousands of sockets down to
// little more than its write system calls, and spreads it over the CPUs.
type writer struct {
	h    *Hub
	next *writer // the writer woken to help when this one has a backlog

	mu   sync.Mutex
	list []*Membership // members with messages to write, from list[head]
	head int
	wake chan struct{} // signalled when members are added
}

// writeChunk is how many members a writer takes from a list at a time.
// What a writer has taken only it can write; what it leaves in its list
// another writer that ran out of work takes over. So when the system
// preempts a writer's thread in the middle of a large fan-out, at most
// this many members wait for it.
const writeChunk = 64

// startWriters starts the hub's writers, one per CPU the process may use.
func (h *Hub) startWriters() {
	n := runtime.GOMAXPROCS(0)
	h.writers = make([]*writer, n)
	for i := range h.writers {
		h.writers[i] = &writer{h: h, wake: make(chan struct{}, 1)}
	}
	for i, w := range h.writers {
		w.next = h.writers[(i+1)%n]
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			w.run()
		}()
	}
}

// add schedules members for writing. A backlog longer than a chunk also
// wakes the next writer, which helps if it has nothing of its own.
func (w *writer) add(ms ...*Membership) {
	w.mu.Lock()
	w.list = append(w.list, ms...)
	backlog := len(w.list)-w.head > writeChunk
	w.mu.Unlock()
	signal(w.wake)
	if backlog && w.next != w {
		signal(w.next.wake)
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// take moves up to writeChunk members from w's list to dst.
func (w *writer) take(dst []*Membership) []*Membership {
	w.mu.Lock()
	defer w.mu.Unlock()
	end := min(w.head+writeChunk, len(w.list))
	dst = append(dst, w.list[w.head:end]...)
	clear(w.list[w.head:end])
	w.head = end
	if w.head == len(w.list) {
		w.list, w.head = w.list[:0], 0
	}
	return dst
}

// run writes for the scheduled members until the hub closes: its own
// first, then those other writers have not got round to. Members still
// behind after their turn go to the back of a list, so that one busy
// member does not starve the rest.
func (w *writer) run() {
	var work []*Membership
	var batch []*wire.PreparedMessage
	for {
		select {
		case <-w.wake:
		case <-w.h.ctx.Done():
			return
		}
		for {
			work = w.take(work[:0])
			for o := w.next; len(work) == 0 && o != w; o = o.next {
				work = o.take(work)
			}
			if len(work) == 0 {
				break
			}
			for _, m := range work {
				if w.h.writeHook != nil {
					w.h.writeHook()
				}
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
func (m *Membership) write(w *writer, batch []*wire.PreparedMessage) []*wire.PreparedMessage {
	m.mu.Lock()
	if m.stopped || m.q.n == 0 {
		m.busy = false
		m.q.idle()
		m.mu.Unlock()
		return batch
	}
	batch = m.q.take(batch[:0])
	m.mu.Unlock()
	err := broadcast.TrySendBatch(m.ws, batch)
	defer clear(batch)
	switch {
	case err == nil:
		m.mu.Lock()
		again := m.q.n > 0 && !m.stopped
		if !again {
			m.busy = false
			m.q.idle()
		}
		m.mu.Unlock()
		if again {
			w.add(m)
		}
	case errors.Is(err, broadcast.ErrWouldBlock):
		go m.drain(slices.Clone(batch)) // m stays busy, now the drainer's
	default:
		m.broken()
	}
	return batch
}
