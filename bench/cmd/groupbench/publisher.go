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

// run publishes size-byte messages, rate a second for d; with rate 0 it
// publishes for d as fast as the hub takes them, leaving the CPU to the
// hub's writers only when the scheduler preempts it.
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
		for time.Since(start) < d && ctx.Err() == nil {
			send()
		}
	}
	res.EndNS = time.Now().UnixNano()
	return res
}
