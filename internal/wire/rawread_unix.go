//go:build unix

package wire

import (
	"io"
	"os"
	"syscall"
)

// rawReads says that idle sockets are read on readiness with a borrowed
// buffer (see fillIdle), which needs read(2) on the descriptor.
const rawReads = true

// rawRead is the syscall.RawConn read callback of fillIdle.
func (c *Conn) rawRead(fd uintptr) bool {
	if c.rbp == nil {
		c.borrow(defaultReadSize)
	}
	for {
		n, err := syscall.Read(int(fd), c.rb)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			// Nothing to read: park without a buffer.
			c.release()
			return false
		case err != nil:
			c.rawErr = os.NewSyscallError("read", err)
			c.release()
		case n == 0:
			c.rawErr = io.EOF
			c.release()
		default:
			c.r, c.w = 0, n
		}
		return true
	}
}
