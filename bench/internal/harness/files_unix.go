//go:build unix

package harness

import "syscall"

// RaiseOpenFileLimit lifts the soft limit on open files to the hard
// limit, so that the ten thousand sockets of a measurement fit. Each
// process that holds many sockets calls it before it opens them.
func RaiseOpenFileLimit() error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur >= lim.Max {
		return nil
	}
	lim.Cur = lim.Max
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}

// OpenFileLimit returns the soft limit on open files, or 0 where the
// system does not say.
func OpenFileLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	return uint64(lim.Cur)
}
