//go:build unix

package harness

import (
	"syscall"
	"time"
)

// CPUTime returns the user and system CPU time the running process has
// used, from getrusage(RUSAGE_SELF): the kernel's own accounting, which
// does not depend on how busy the machine is otherwise. A measurement
// takes it before and after its phase and subtracts.
func CPUTime() (user, sys time.Duration, err error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0, err
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano()), nil
}
