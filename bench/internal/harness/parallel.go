package harness

import (
	"errors"
	"sync"
)

// Parallel calls f with 0 to n-1, each in a goroutine of its own, at
// most par at a time, and returns the errors joined in the order of the
// calls. It is how a client opens or closes thousands of connections
// without overflowing the server's accept queue.
func Parallel(n, par int, f func(i int) error) error {
	errs := make([]error, n)
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = f(i)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
