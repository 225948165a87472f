package wire

import (
	"math/bits"
	"sync"
)

// Payload buffers come from pools in power-of-two size classes and are
// held only while a message is being read or written, so that an idle
// connection costs no buffer memory. The pools store *[]byte so that Put
// does not allocate.
const (
	minClassShift = 9  // 512 B
	maxClassShift = 22 // 4 MiB; larger buffers are allocated and dropped
)

var pools [maxClassShift - minClassShift + 1]sync.Pool

// classOf returns the pool index of the smallest class holding n bytes.
func classOf(n int) int {
	if n <= 1<<minClassShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minClassShift
}

// getBuf returns a buffer of at least n bytes; len(*p) == cap(*p).
func getBuf(n int) *[]byte {
	if n > 1<<maxClassShift {
		b := make([]byte, n)
		return &b
	}
	i := classOf(n)
	if p, _ := pools[i].Get().(*[]byte); p != nil {
		return p
	}
	b := make([]byte, 1<<(i+minClassShift))
	return &b
}

// putBuf returns a buffer obtained from getBuf. Buffers outside the size
// classes are left to the garbage collector.
func putBuf(p *[]byte) {
	n := cap(*p)
	if n < 1<<minClassShift || n > 1<<maxClassShift || n&(n-1) != 0 {
		return
	}
	*p = (*p)[:n]
	pools[classOf(n)].Put(p)
}
