package main

import (
	"math"
	"math/bits"
	"sync/atomic"
)

// histogram counts latencies in log-linear buckets: exact below 64 ns,
// then 32 buckets per power of two, so that a quantile is off by at most
// 1/32 (3 %). Recording is lock-free, for thousands of readers at once.
type histogram struct {
	buckets [histBuckets]atomic.Uint64
	count   atomic.Uint64
	max     atomic.Int64
}

const (
	subBits     = 5
	subCount    = 1 << subBits
	histBuckets = (64 - subBits) * subCount
)

// bucketOf returns the bucket of a value v ≥ 0.
func bucketOf(v int64) int {
	if v < 2*subCount {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - (subBits + 1)
	return shift*subCount + int(v>>shift)
}

// bucketTop returns the largest value bucket i holds.
func bucketTop(i int) int64 {
	if i < 2*subCount {
		return int64(i)
	}
	shift := i/subCount - 1
	m := int64(i - shift*subCount)
	return (m+1)<<shift - 1
}

// record counts one latency in nanoseconds; a negative one (clocks
// stepping backwards) counts as 0.
func (h *histogram) record(ns int64) {
	ns = max(ns, 0)
	h.buckets[bucketOf(ns)].Add(1)
	h.count.Add(1)
	for {
		m := h.max.Load()
		if ns <= m || h.max.CompareAndSwap(m, ns) {
			return
		}
	}
}

// quantile returns the smallest bucket bound below which a fraction q of
// the recorded values lie, or 0 when none were recorded.
func (h *histogram) quantile(q float64) int64 {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q * float64(n))
	rank = min(max(rank, 1), n)
	var seen uint64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen >= rank {
			return min(bucketTop(i), h.max.Load())
		}
	}
	return h.max.Load()
}

// trialLatency collects the latencies of one trial: all of them, and
// apart those of its first and its last quarter of messages. When the
// members keep up, both quarters see the same latency; when a backlog
// grows, the last quarter waits longer.
type trialLatency struct {
	all, early, late histogram
	earlyEnd         int64 // sequence numbers below this are early
	lateStart        int64 // and from this on, late
}

// newTrialLatency returns the collector of a trial whose messages carry
// the sequence numbers first to first+n-1; n < 0 means unknown.
func newTrialLatency(first, n int64) *trialLatency {
	l := &trialLatency{earlyEnd: first, lateStart: math.MaxInt64}
	if n > 0 {
		l.earlyEnd, l.lateStart = first+n/4, first+n-n/4
	}
	return l
}

// record counts the latency ns of message seq.
func (l *trialLatency) record(seq, ns int64) {
	l.all.record(ns)
	switch {
	case seq < l.earlyEnd:
		l.early.record(ns)
	case seq >= l.lateStart:
		l.late.record(ns)
	}
}
