package main

import (
	"context"
	"sync"
	"time"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/groups"
)

// publisher publishes the benchmark's messages to the group, numbering
// them from 1 across its runs.
type publisher struct {
	hub *groups.Hub

	mu   sync.Mutex // one run at a time
	next int64      // sequence number of the next message
}

// publishResult is the server's answer to POST /publish.
type publishResult struct {
	First     int64  `json:"first"`     // sequence number of the run's first message
	Published int64  `json:"published"` // messages handed to Publish, failed ones included
	StartNS   int64  `json:"start_ns"`  // Unix time of the run's start
	EndNS     int64  `json:"end_ns"`    // Unix time after the last Publish returned
	Errors    int64  `json:"errors"`    // Publish calls that failed
	Err       string `json:"err,omitempty"`
}

// floodWindow is how many messages a flood lets be on their way through
// the backend at once. A broker client buffers what Publish hands it and
// returns at once, so without a bound a flood would only measure how much
// the broker and its client can hold: the hub could not take them any
// faster.
const floodWindow = 64

// floodLost is how long a flood waits for a message to come back from
// the backend before it takes it for lost.
const floodLost = time.Second

// run publishes size-byte messages, rate a second for d. With rate 0 it
// floods: it publishes for d as fast as the hub takes them, leaving the
// CPU to the hub's writers only when the scheduler preempts it, with at
// most floodWindow messages published but not yet handed back to the hub
// by its backend (the in-process backend hands them back within Publish).
func (p *publisher) run(ctx context.Context, rate float64, d time.Duration, size int) publishResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	tmpl := messageTemplate(size)
	res := publishResult{First: p.next}
	send := func() {
		// Each message gets its own bytes: what Publish does with them
		// after it returns is the hub's business.
		m := make([]byte, size)
		copy(m, tmpl)
		putHeader(m, p.next, time.Now().UnixNano())
		p.next++
		res.Published++
		if err := p.hub.Publish(ctx, groupName, pistoke.Text, m); err != nil {
			if res.Errors == 0 {
				res.Err = err.Error()
			}
			res.Errors++
		}
	}
	var sub *groups.Subscription
	if rate == 0 {
		var err error
		if sub, err = p.hub.Subscribe(ctx, groupName, 2*floodWindow); err != nil {
			res.Errors, res.Err = 1, err.Error()
			return res
		}
		defer sub.Close()
	}
	start := time.Now()
	res.StartNS = start.UnixNano()
	if rate > 0 {
		// Each message leaves on its own schedule, not after a fixed
		// pause, so that a late wake-up does not lower the rate.
		total := max(int64(rate*d.Seconds()), 1)
		for i := range total {
			due := start.Add(time.Duration(float64(i) / rate * 1e9))
			if w := time.Until(due); w > 0 {
				time.Sleep(w)
			}
			if ctx.Err() != nil {
				break
			}
			send()
		}
	} else {
		flood(ctx, sub, d, start, send)
	}
	res.EndNS = time.Now().UnixNano()
	return res
}

// flood publishes with send until d has passed since start, keeping at
// most floodWindow messages in flight through the backend: it sees them
// come back on sub, a subscription to the group.
func flood(ctx context.Context, sub *groups.Subscription, d time.Duration, start time.Time, send func()) {
	inFlight := 0
	// back counts what came back; false means the subscription ended.
	back := func(ev groups.Event, ok bool) bool {
		if ok && ev.Kind == groups.Message {
			inFlight = max(inFlight-1, 0)
		}
		return ok
	}
	lost := time.NewTimer(floodLost)
	defer lost.Stop()
	for time.Since(start) < d && ctx.Err() == nil {
		for inFlight >= floodWindow {
			lost.Reset(floodLost)
			select {
			case ev, ok := <-sub.C():
				if !back(ev, ok) {
					return
				}
			case <-lost.C:
				inFlight = 0
			case <-ctx.Done():
				return
			}
		}
		send()
		inFlight++
		for more := true; more; {
			select {
			case ev, ok := <-sub.C():
				if !back(ev, ok) {
					return
				}
			default:
				more = false
			}
		}
	}
}
