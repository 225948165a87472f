// Package memconn provides an in-memory, full-duplex network connection
// whose two directions are buffered.
//
// It exists for in-process clients and tests. [net.Pipe] is synchronous: a
// Write blocks until the other end reads it, so two peers that both write
// before they read (for example, both sending a WebSocket close frame at
// the same moment) deadlock. With [Pipe], a Write returns as soon as its
// bytes are buffered, and blocks only when the peer has let [BufferSize]
// bytes pile up unread.
package memconn

import (
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// BufferSize is how many unread bytes each direction of a pipe holds
// before a Write blocks until the reader catches up.
const BufferSize = 4 << 20

// Addr is the address of one end of a pipe. Its Network is "memconn".
type Addr string

// Network returns "memconn".
func (a Addr) Network() string { return "memconn" }

// String returns the address, which names the pipe and the end.
func (a Addr) String() string { return string(a) }

var pipeCount atomic.Uint64

// Pipe creates a connected pair of in-memory connections. Bytes written to
// one are read from the other, in order. Each direction buffers up to
// [BufferSize] bytes, so writes do not wait for the reader until then.
//
// Both connections implement the whole of [net.Conn] and are safe for
// concurrent use. Closing one end makes the other's reads return the
// bytes already buffered and then [io.EOF], and its writes fail with
// [io.ErrClosedPipe]. Operations on a closed end fail with [net.ErrClosed];
// operations past a deadline fail with an error that matches
// [os.ErrDeadlineExceeded] under errors.Is.
func Pipe() (net.Conn, net.Conn) {
	id := strconv.FormatUint(pipeCount.Add(1), 10)
	ab := new(buffer) // written by a, read by b
	ba := new(buffer) // written by b, read by a
	a := newConn(ba, ab, Addr("pipe"+id+".a"), Addr("pipe"+id+".b"))
	b := newConn(ab, ba, Addr("pipe"+id+".b"), Addr("pipe"+id+".a"))
	return a, b
}

// buffer is one direction of a pipe. Waiters block on a channel taken
// under mu; any change of state closes it, waking every waiter so that it
// looks again. Channels are made only when someone has to wait.
type buffer struct {
	mu        sync.Mutex
	data      []byte
	off       int  // data[off:] is unread
	wclosed   bool // the writing end is closed: EOF after the data
	rclosed   bool // the reading end is closed: writes fail
	readWait  chan struct{}
	writeWait chan struct{}
}

func (b *buffer) wakeReaders() {
	if b.readWait != nil {
		close(b.readWait)
		b.readWait = nil
	}
}

func (b *buffer) wakeWriters() {
	if b.writeWait != nil {
		close(b.writeWait)
		b.writeWait = nil
	}
}

// read copies buffered bytes into p. When it cannot make progress it
// returns a channel to wait on before trying again.
func (b *buffer) read(p []byte) (n int, wait <-chan struct{}, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.off < len(b.data) {
		n = copy(p, b.data[b.off:])
		b.off += n
		if b.off == len(b.data) {
			b.data, b.off = b.data[:0], 0
		}
		b.wakeWriters()
		return n, nil, nil
	}
	if b.wclosed {
		return 0, nil, io.EOF
	}
	if b.readWait == nil {
		b.readWait = make(chan struct{})
	}
	return 0, b.readWait, nil
}

// write buffers as much of p as fits. When nothing fits it returns a
// channel to wait on before trying again.
func (b *buffer) write(p []byte) (n int, wait <-chan struct{}, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.rclosed {
		return 0, nil, io.ErrClosedPipe
	}
	unread := len(b.data) - b.off
	free := BufferSize - unread
	if free <= 0 {
		if b.writeWait == nil {
			b.writeWait = make(chan struct{})
		}
		return 0, b.writeWait, nil
	}
	n = min(free, len(p))
	if b.off > 0 && len(b.data)+n > cap(b.data) {
		// Reuse the space already read before growing the slice.
		copy(b.data, b.data[b.off:])
		b.data, b.off = b.data[:unread], 0
	}
	b.data = append(b.data, p[:n]...)
	b.wakeReaders()
	return n, nil, nil
}

func (b *buffer) closeWriter() {
	b.mu.Lock()
	b.wclosed = true
	b.wakeReaders()
	b.mu.Unlock()
}

func (b *buffer) closeReader() {
	b.mu.Lock()
	b.rclosed = true
	b.data, b.off = nil, 0 // nobody will read it
	b.wakeWriters()
	b.mu.Unlock()
}

type conn struct {
	in, out       *buffer
	local, remote Addr
	wmu           sync.Mutex // keeps each Write contiguous in the stream
	rdl, wdl      deadline
	closeOnce     sync.Once
	done          chan struct{} // closed by Close
}

func newConn(in, out *buffer, local, remote Addr) *conn {
	c := &conn{in: in, out: out, local: local, remote: remote, done: make(chan struct{})}
	c.rdl.init()
	c.wdl.init()
	return c
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Read reads buffered bytes, waiting until some arrive, the peer closes
// (io.EOF once the buffer is drained), this end closes (net.ErrClosed) or
// the read deadline passes (os.ErrDeadlineExceeded).
func (c *conn) Read(p []byte) (int, error) {
	for {
		if isClosed(c.done) {
			return 0, net.ErrClosed
		}
		dl := c.rdl.wait()
		if isClosed(dl) {
			return 0, os.ErrDeadlineExceeded
		}
		if len(p) == 0 {
			return 0, nil
		}
		n, wait, err := c.in.read(p)
		if wait == nil {
			return n, err
		}
		select {
		case <-wait:
		case <-dl:
		case <-c.done:
		}
	}
}

// Write buffers p for the peer. It waits only while the peer's buffer is
// full, and fails if the peer closes (io.ErrClosedPipe), this end closes
// (net.ErrClosed) or the write deadline passes (os.ErrDeadlineExceeded);
// on failure it reports how many bytes were buffered before.
func (c *conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	written := 0
	for {
		if isClosed(c.done) {
			return written, net.ErrClosed
		}
		dl := c.wdl.wait()
		if isClosed(dl) {
			return written, os.ErrDeadlineExceeded
		}
		if written == len(p) {
			return written, nil
		}
		n, wait, err := c.out.write(p[written:])
		written += n
		if err != nil {
			return written, err
		}
		if wait == nil {
			continue
		}
		select {
		case <-wait:
		case <-dl:
		case <-c.done:
		}
	}
}

// Close closes this end. Blocked reads and writes on it return
// net.ErrClosed; the peer reads what is left and then io.EOF. Closing
// again returns net.ErrClosed.
func (c *conn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		err = nil
		close(c.done)
		c.out.closeWriter()
		c.in.closeReader()
	})
	return err
}

// LocalAddr returns the address of this end.
func (c *conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr returns the address of the other end.
func (c *conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets both the read and the write deadline.
func (c *conn) SetDeadline(t time.Time) error {
	if isClosed(c.done) {
		return net.ErrClosed
	}
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

// SetReadDeadline sets the time after which reads fail with
// os.ErrDeadlineExceeded; the zero time means no deadline. It also
// affects reads already waiting.
func (c *conn) SetReadDeadline(t time.Time) error {
	if isClosed(c.done) {
		return net.ErrClosed
	}
	c.rdl.set(t)
	return nil
}

// SetWriteDeadline sets the time after which writes fail with
// os.ErrDeadlineExceeded; the zero time means no deadline. It also
// affects writes already waiting.
func (c *conn) SetWriteDeadline(t time.Time) error {
	if isClosed(c.done) {
		return net.ErrClosed
	}
	c.wdl.set(t)
	return nil
}

// deadline is a channel that is closed when the deadline passes. Setting
// a new deadline reuses the channel while it is still open, so waiters
// that already hold it see the new deadline too.
type deadline struct {
	mu    sync.Mutex
	timer *time.Timer
	c     chan struct{}
}

func (d *deadline) init() { d.c = make(chan struct{}) }

func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.c
}

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		// The timer fired: wait until its function has closed the channel
		// so that the state below is settled.
		<-d.c
	}
	d.timer = nil
	expired := isClosed(d.c)
	if t.IsZero() {
		if expired {
			d.c = make(chan struct{})
		}
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		if !expired {
			close(d.c)
		}
		return
	}
	if expired {
		d.c = make(chan struct{})
	}
	c := d.c
	d.timer = time.AfterFunc(dur, func() { close(c) })
}
