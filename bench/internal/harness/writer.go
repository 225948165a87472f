package harness

import (
	"io"
	"sync"
)

// LockedWriter serializes the writes to an io.Writer. A harness's
// progress comes from the harness itself and from the stderr of the
// processes it starts, at once; exec copies a process's stderr into a
// writer that is not a file from a goroutine of its own.
type LockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// NewLockedWriter returns a LockedWriter that writes to w.
func NewLockedWriter(w io.Writer) *LockedWriter {
	return &LockedWriter{w: w}
}

// Write writes p to the underlying writer, after any write in progress.
func (l *LockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
