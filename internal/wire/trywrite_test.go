package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"runtime"
	"testing"
	"time"
)

// numbered returns n prepared binary messages of size bytes each, whose
// first 4 bytes hold their index.
func numbered(t *testing.T, n, size int) []*PreparedMessage {
	t.Helper()
	ms := make([]*PreparedMessage, n)
	for i := range ms {
		p := make([]byte, size)
		binary.BigEndian.PutUint32(p, uint32(i))
		m, err := NewPreparedMessage(OpBinary, p)
		if err != nil {
			t.Fatal(err)
		}
		ms[i] = m
	}
	return ms
}

// expectNumbered reads frames on r until it has seen messages 0..n-1 in
// order, each whole, of size bytes.
func expectNumbered(t *testing.T, r *bufio.Reader, n, size int) {
	t.Helper()
	for i := range n {
		f, err := readFrame(r)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if f.op != OpBinary || !f.fin || len(f.payload) != size {
			t.Fatalf("message %d: %v fin=%v, %d bytes", i, f.op, f.fin, len(f.payload))
		}
		if got := binary.BigEndian.Uint32(f.payload); got != uint32(i) {
			t.Fatalf("message %d arrived as number %d", i, got)
		}
	}
}

func TestTryWritePreparedBatch(t *testing.T) {
	if runtime.GOOS != "linux" {
		end, _ := tcpPair(t)
		c := NewConn(end, Config{Role: RoleServer})
		if err := c.TryWritePreparedBatch(numbered(t, 1, 8)); !errors.Is(err, ErrWouldBlock) {
			t.Fatalf("TryWritePreparedBatch = %v, want ErrWouldBlock on %s", err, runtime.GOOS)
		}
		return
	}
	end, peer := tcpPair(t)
	c := NewConn(end, Config{Role: RoleServer})
	ms := numbered(t, 10, 100)
	if err := c.TryWritePreparedBatch(nil); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
	if err := c.TryWritePreparedBatch(ms[:1]); err != nil {
		t.Fatal(err)
	}
	if err := c.TryWritePreparedBatch(ms[1:]); err != nil {
		t.Fatal(err)
	}
	expectNumbered(t, bufio.NewReader(peer), 10, 100)

	// Another write under way: the try does not wait for it.
	c.wmu.Lock()
	err := c.TryWritePreparedBatch(ms[:1])
	c.wmu.Unlock()
	if !errors.Is(err, ErrWouldBlock) {
		t.Errorf("with a write under way: %v, want ErrWouldBlock", err)
	}

	c.CloseNow()
	if err := c.TryWritePreparedBatch(ms[:1]); !errors.Is(err, ErrClosed) {
		t.Errorf("after CloseNow: %v, want ErrClosed", err)
	}
}

func TestTryWriteNotSupported(t *testing.T) {
	ms := numbered(t, 1, 8)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if err := NewConn(a, Config{Role: RoleServer}).TryWritePreparedBatch(ms); !errors.Is(err, ErrWouldBlock) {
		t.Errorf("over net.Pipe: %v, want ErrWouldBlock", err)
	}
	end, _ := tcpPair(t)
	if err := NewConn(end, Config{Role: RoleClient}).TryWritePreparedBatch(ms); !errors.Is(err, ErrWouldBlock) {
		t.Errorf("client: %v, want ErrWouldBlock", err)
	}
}

// smallBufferPair is tcpPair with small socket buffers, which a test
// fills quickly by not reading.
func smallBufferPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	end, peer := tcpPair(t)
	if err := end.SetWriteBuffer(8 << 10); err != nil {
		t.Fatal(err)
	}
	if err := peer.SetReadBuffer(8 << 10); err != nil {
		t.Fatal(err)
	}
	return end, peer
}

// A peer that stops reading fills the socket: tries then return
// ErrWouldBlock having written nothing, the one that fit only in part is
// finished by the engine before any later write, and the peer gets every
// accepted message whole and in order.
func TestTryWriteFullSocket(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("non-blocking writes are implemented on Linux only")
	}
	end, peer := smallBufferPair(t)
	c := NewConn(end, Config{Role: RoleServer})
	const size = 1000
	ms := numbered(t, 4000, size)
	accepted := 0
	blocked := false
	for accepted < len(ms) {
		// Batches of 7 frames of 1004 bytes rarely end where the socket's
		// buffer does, so the last accepted batch is usually partial.
		n := min(7, len(ms)-accepted)
		err := c.TryWritePreparedBatch(ms[accepted : accepted+n])
		if errors.Is(err, ErrWouldBlock) {
			blocked = true
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		accepted += n
	}
	if !blocked {
		t.Fatalf("the socket took all %d messages without the peer reading", len(ms))
	}
	// A blocking write waits for the partial batch, then follows it.
	last, _ := NewPreparedMessage(OpText, []byte("last"))
	done := make(chan error, 1)
	go func() { done <- c.WritePreparedBatch([]*PreparedMessage{last, last}) }()
	r := bufio.NewReader(peer)
	expectNumbered(t, r, accepted, size)
	for range 2 {
		f, err := readFrame(r)
		if err != nil || f.op != OpText || string(f.payload) != "last" {
			t.Fatalf("after the accepted messages: %v %q, %v", f.op, f.payload, err)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WritePreparedBatch did not return")
	}
	if err := c.TryWritePreparedBatch(ms[:1]); err != nil {
		t.Errorf("once the peer read everything: %v", err)
	}
}

// When the socket has no room at all, a try writes nothing and returns
// ErrWouldBlock at once, leaving the connection free for other writes.
func TestTryWriteWouldBlock(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("non-blocking writes are implemented on Linux only")
	}
	end, peer := smallBufferPair(t)
	// Fill the socket to the last byte: a write that times out has written
	// all that fit.
	filler := make([]byte, 4<<20)
	end.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	filled, err := end.Write(filler)
	if !errors.Is(err, os.ErrDeadlineExceeded) || filled == 0 {
		t.Fatalf("filling the socket: %d bytes, %v", filled, err)
	}
	end.SetWriteDeadline(time.Time{})
	c := NewConn(end, Config{Role: RoleServer})
	ms := numbered(t, 3, 100)
	for range 3 {
		if err := c.TryWritePreparedBatch(ms[:1]); !errors.Is(err, ErrWouldBlock) {
			t.Fatalf("into a full socket: %v, want ErrWouldBlock", err)
		}
	}
	// The connection is still free: a blocking write goes through once
	// the peer reads, right after the filler.
	done := make(chan error, 1)
	go func() { done <- c.WritePreparedBatch(ms) }()
	r := bufio.NewReader(peer)
	if _, err := r.Discard(filled); err != nil {
		t.Fatal(err)
	}
	expectNumbered(t, r, 3, 100)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A peer that reset the connection makes the try fail for good, like any
// other write.
func TestTryWriteBrokenPeer(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("non-blocking writes are implemented on Linux only")
	}
	end, peer := tcpPair(t)
	peer.SetLinger(0)
	peer.Close() // sends RST
	c := NewConn(end, Config{Role: RoleServer})
	ms := numbered(t, 1, 10)
	var err error
	for range 100 {
		// The first write may be taken before the reset is seen.
		if err = c.TryWritePreparedBatch(ms); err != nil {
			break
		}
	}
	if err == nil || errors.Is(err, ErrWouldBlock) {
		t.Fatalf("writing to a reset connection: %v", err)
	}
	if again := c.TryWritePreparedBatch(ms); again == nil || errors.Is(again, ErrWouldBlock) {
		t.Errorf("after a failed write: %v, want the error again", again)
	}
}
