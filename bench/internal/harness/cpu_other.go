//go:build !unix

package harness

import (
	"errors"
	"fmt"
	"time"
)

// errNoAccounting is what the accounting functions return where the
// system has no getrusage or setrlimit.
var errNoAccounting = fmt.Errorf("process accounting needs a unix system: %w", errors.ErrUnsupported)

// CPUTime returns the user and system CPU time the running process has
// used. On this system it fails with an error that matches
// errors.ErrUnsupported.
func CPUTime() (user, sys time.Duration, err error) { return 0, 0, errNoAccounting }
