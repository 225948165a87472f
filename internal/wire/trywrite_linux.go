package wire

import (
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// tryWriter is the state of one non-blocking write, pooled so that the
// callback handed to syscall.RawConn.Write is bound once, not per write.
type tryWriter struct {
	iov []syscall.Iovec
	n   int // bytes written
	err error
	fn  func(fd uintptr) bool
}

var tryPool = sync.Pool{New: func() any {
	t := new(tryWriter)
	t.fn = t.write
	return t
}}

// write is the syscall.RawConn.Write callback: one writev, never waiting
// for the socket to become writable.
func (t *tryWriter) write(fd uintptr) bool {
	for {
		n, _, errno := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&t.iov[0])), uintptr(len(t.iov)))
		switch errno {
		case 0:
			t.n = int(n)
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
		default:
			t.err = os.NewSyscallError("writev", errno)
		}
		return true
	}
}

// TryWritePreparedBatch sends ms in order, as WritePreparedBatch does, if
// the connection can take them without waiting: for a broadcaster that
// writes to many connections from a few goroutines, where one slow peer
// must not hold up the others. It returns ErrWouldBlock, having written
// nothing, when the socket's send buffer is full, another write is under
// way, or the connection does not allow it (a client, or a network
// connection other than TCP or Unix); the caller then falls back to
// WritePreparedBatch on a goroutine that may wait. When the socket takes
// only part of the frames, the rest is written by a goroutine of its own,
// before any other write, and TryWritePreparedBatch returns nil.
func (c *Conn) TryWritePreparedBatch(ms []*PreparedMessage) error {
	if c.raw == nil || c.role != RoleServer || len(ms) == 0 {
		if len(ms) == 0 {
			return nil
		}
		return ErrWouldBlock
	}
	if !c.wmu.TryLock() {
		return ErrWouldBlock
	}
	if c.closeSent || c.ncClosed.Load() {
		c.wmu.Unlock()
		return ErrClosed
	}
	if c.werr != nil {
		err := c.werr
		c.wmu.Unlock()
		return err
	}
	t := tryPool.Get().(*tryWriter)
	total := 0
	for _, m := range ms[:min(len(ms), maxTryIov)] {
		frame := c.preparedFrame(m)
		var v syscall.Iovec
		v.Base = &frame[0]
		v.SetLen(len(frame))
		t.iov = append(t.iov, v)
		total += len(frame)
	}
	t.n, t.err = 0, nil
	err := c.raw.Write(t.fn)
	if err == nil {
		err = t.err
	}
	n := t.n
	clear(t.iov)
	t.iov = t.iov[:0]
	t.err = nil
	tryPool.Put(t)
	switch {
	case err != nil:
		err = c.writeFailed(err)
		c.wmu.Unlock()
		return err
	case n == 0:
		c.wmu.Unlock()
		return ErrWouldBlock
	case n == total && len(ms) <= maxTryIov:
		c.wmu.Unlock()
		return nil
	}
	// A partial write: the peer holds part of a frame.
	rest := make(net.Buffers, 0, len(ms))
	for _, m := range ms {
		frame := c.preparedFrame(m)
		if n >= len(frame) {
			n -= len(frame)
			continue
		}
		rest = append(rest, frame[n:])
		n = 0
	}
	go c.finishPartial(rest)
	return nil
}
