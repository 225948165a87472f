//go:build !unix

package harness

// RaiseOpenFileLimit lifts the soft limit on open files to the hard
// limit. On this system it fails with an error that matches
// errors.ErrUnsupported.
func RaiseOpenFileLimit() error { return errNoAccounting }

// OpenFileLimit returns the soft limit on open files: 0, as this system
// does not say.
func OpenFileLimit() uint64 { return 0 }
