package memconn

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// guard makes a test that would hang fail instead: it bounds every
// operation on c by a deadline far longer than any correct run needs.
func guard(t *testing.T, c net.Conn) {
	t.Helper()
	if err := c.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
}

func pipe(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	a, b := Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	guard(t, a)
	guard(t, b)
	return a, b
}

func randomBytes(n int, seed byte) []byte {
	p := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(p)
	return p
}

func TestStreamBothDirections(t *testing.T) {
	a, b := pipe(t)
	// Larger than the buffer, in odd-sized writes, so that writers block,
	// readers compact and the stream wraps many times.
	const size = 3*BufferSize + 12345
	for _, dir := range []struct {
		name string
		w, r net.Conn
		seed byte
	}{{"a to b", a, b, 1}, {"b to a", b, a, 2}} {
		t.Run(dir.name, func(t *testing.T) {
			want := randomBytes(size, dir.seed)
			errc := make(chan error, 1)
			go func() {
				p := want
				for len(p) > 0 {
					n := min(len(p), 1+len(p)%70001)
					if m, err := dir.w.Write(p[:n]); err != nil || m != n {
						errc <- err
						return
					}
					p = p[n:]
				}
				errc <- nil
			}()
			got := make([]byte, 0, size)
			buf := make([]byte, 50000)
			for len(got) < size {
				n, err := dir.r.Read(buf[:1+len(got)%len(buf)])
				if err != nil {
					t.Fatalf("Read after %d bytes: %v", len(got), err)
				}
				got = append(got, buf[:n]...)
			}
			if err := <-errc; err != nil {
				t.Fatalf("Write: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("bytes read differ from bytes written")
			}
		})
	}
}

// Both ends write before either reads, as two WebSocket peers do when
// they send close frames at the same time. net.Pipe deadlocks here.
func TestWritesDoNotWaitForReader(t *testing.T) {
	a, b := pipe(t)
	msgA := randomBytes(BufferSize, 3)
	msgB := randomBytes(BufferSize/2, 4)
	if n, err := a.Write(msgA); err != nil || n != len(msgA) {
		t.Fatalf("a.Write = %d, %v", n, err)
	}
	if n, err := b.Write(msgB); err != nil || n != len(msgB) {
		t.Fatalf("b.Write = %d, %v", n, err)
	}
	gotB := make([]byte, len(msgB))
	if _, err := io.ReadFull(a, gotB); err != nil || !bytes.Equal(gotB, msgB) {
		t.Fatalf("a read %v, equal=%v", err, bytes.Equal(gotB, msgB))
	}
	gotA := make([]byte, len(msgA))
	if _, err := io.ReadFull(b, gotA); err != nil || !bytes.Equal(gotA, msgA) {
		t.Fatalf("b read %v, equal=%v", err, bytes.Equal(gotA, msgA))
	}
}

func TestWriteBlocksWhenBufferFull(t *testing.T) {
	a, b := pipe(t)
	if _, err := a.Write(make([]byte, BufferSize-1)); err != nil {
		t.Fatal(err)
	}
	// One byte still fits, the second does not: a Write bounded by a
	// deadline buffers exactly one byte and then times out.
	a.SetWriteDeadline(time.Now().Add(20 * time.Millisecond))
	n, err := a.Write([]byte{1, 2})
	if n != 1 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write on full buffer = %d, %v; want 1, deadline exceeded", n, err)
	}

	// Without a deadline the Write waits for the reader, then completes.
	guard(t, a)
	done := make(chan error, 1)
	go func() {
		_, err := a.Write([]byte{3})
		done <- err
	}()
	if _, err := io.ReadFull(b, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Write after reader made room: %v", err)
	}
	rest, err := io.ReadAll(io.LimitReader(b, BufferSize-10+1))
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != BufferSize-10+1 || rest[len(rest)-2] != 1 || rest[len(rest)-1] != 3 {
		t.Fatalf("tail of stream = %d bytes ending %v", len(rest), rest[len(rest)-2:])
	}
}

func TestPeerClose(t *testing.T) {
	a, b := pipe(t)
	if _, err := a.Write([]byte("left behind")); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	got, err := io.ReadAll(b)
	if err != nil || string(got) != "left behind" {
		t.Fatalf("peer ReadAll = %q, %v; want buffered data then EOF", got, err)
	}
	if n, err := b.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("peer Read after drain = %d, %v; want io.EOF", n, err)
	}
	if _, err := b.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("peer Write = %v; want io.ErrClosedPipe", err)
	}
}

func TestLocalClose(t *testing.T) {
	a, b := pipe(t)
	if _, err := b.Write([]byte("unread")); err != nil {
		t.Fatal(err)
	}
	a.Close()
	if _, err := a.Read(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read on closed end = %v; want net.ErrClosed", err)
	}
	if _, err := a.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write on closed end = %v; want net.ErrClosed", err)
	}
	if err := a.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close = %v; want net.ErrClosed", err)
	}
	for name, set := range map[string]func(time.Time) error{
		"SetDeadline":      a.SetDeadline,
		"SetReadDeadline":  a.SetReadDeadline,
		"SetWriteDeadline": a.SetWriteDeadline,
	} {
		if err := set(time.Now()); !errors.Is(err, net.ErrClosed) {
			t.Errorf("%s on closed end = %v; want net.ErrClosed", name, err)
		}
	}
	// The other end's data was discarded, so its further writes fail
	// rather than fill a buffer nobody reads.
	if _, err := b.Write([]byte("more")); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("Write to closed peer = %v; want io.ErrClosedPipe", err)
	}
}

// Close wakes operations already waiting, on both ends. Whether each
// goroutine is already blocked when Close runs or only gets there after,
// the result must be the same, so the test needs no scheduling tricks.
func TestCloseWakesWaiters(t *testing.T) {
	a, b := pipe(t)
	fill := func(c net.Conn) {
		if _, err := c.Write(make([]byte, BufferSize)); err != nil {
			t.Fatal(err)
		}
	}
	fill(a) // a's further writes block
	fill(b) // b's further writes block; a has data to read, so drain it
	if _, err := io.ReadFull(a, make([]byte, BufferSize)); err != nil {
		t.Fatal(err)
	}

	type result struct {
		name string
		err  error
	}
	results := make(chan result, 3)
	go func() { _, err := a.Read(make([]byte, 1)); results <- result{"a.Read", err} }()
	go func() { _, err := a.Write([]byte{0}); results <- result{"a.Write", err} }()
	go func() { _, err := b.Write([]byte{0}); results <- result{"b.Write", err} }()
	a.Close()
	want := map[string]error{"a.Read": net.ErrClosed, "a.Write": net.ErrClosed, "b.Write": io.ErrClosedPipe}
	for range 3 {
		r := <-results
		if !errors.Is(r.err, want[r.name]) {
			t.Errorf("%s = %v; want %v", r.name, r.err, want[r.name])
		}
	}

	// b still has a's BufferSize bytes to read, and then EOF.
	go func() {
		n, err := io.Copy(io.Discard, b)
		if n != BufferSize {
			err = errors.New("short stream")
		}
		results <- result{"b.Read", err}
	}()
	if r := <-results; r.err != nil {
		t.Errorf("draining peer: %v", r.err)
	}
}

func TestReadDeadline(t *testing.T) {
	a, b := pipe(t)
	buf := make([]byte, 10)

	a.SetReadDeadline(time.Now().Add(-time.Second))
	_, err := a.Read(buf)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past deadline = %v; want os.ErrDeadlineExceeded", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("deadline error %v is not a net.Error with Timeout()", err)
	}

	// A passed deadline wins over buffered data, as with a TCP conn.
	b.Write([]byte("data"))
	if _, err := a.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past deadline with data buffered = %v", err)
	}

	// Clearing the deadline makes reads work again.
	a.SetReadDeadline(time.Time{})
	if n, err := a.Read(buf); err != nil || string(buf[:n]) != "data" {
		t.Fatalf("Read after clearing deadline = %q, %v", buf[:n], err)
	}

	// A deadline in the future ends a Read that is waiting.
	a.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := a.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("waiting Read = %v; want os.ErrDeadlineExceeded", err)
	}

	// Setting a deadline from another goroutine ends a Read that is
	// already waiting with no deadline.
	a.SetReadDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() { _, err := a.Read(buf); errc <- err }()
	a.SetReadDeadline(time.Now())
	if err := <-errc; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read after concurrent SetReadDeadline = %v", err)
	}

	// A deadline that is moved further out before it fires does not end
	// the Read; data does.
	a.SetReadDeadline(time.Now().Add(time.Hour))
	a.SetReadDeadline(time.Now().Add(30 * time.Second))
	go func() { _, err := b.Write([]byte("late")); errc <- err }()
	if n, err := a.Read(buf); err != nil || string(buf[:n]) != "late" {
		t.Fatalf("Read with extended deadline = %q, %v", buf[:n], err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestWriteDeadline(t *testing.T) {
	a, b := pipe(t)
	a.SetWriteDeadline(time.Now().Add(-time.Second))
	if n, err := a.Write([]byte("x")); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write past deadline = %d, %v", n, err)
	}
	// The read side of the same end is unaffected.
	b.Write([]byte("y"))
	if _, err := a.Read(make([]byte, 1)); err != nil {
		t.Fatalf("Read with only a write deadline set: %v", err)
	}

	a.SetWriteDeadline(time.Time{})
	if _, err := a.Write(make([]byte, BufferSize)); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { _, err := a.Write([]byte("z")); errc <- err }()
	a.SetWriteDeadline(time.Now())
	if err := <-errc; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("waiting Write after SetWriteDeadline = %v", err)
	}

	// SetDeadline covers both directions.
	a.SetDeadline(time.Now().Add(-time.Second))
	if _, err := a.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Read after SetDeadline = %v", err)
	}
	if _, err := a.Write([]byte("z")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Write after SetDeadline = %v", err)
	}
}

// Concurrent writes never interleave inside one Write, even when each is
// bigger than the buffer; everything runs at once to give the race
// detector something to look at.
func TestConcurrentUse(t *testing.T) {
	a, b := pipe(t)
	const writers, perWriter, size = 4, 5, BufferSize/2 + 999
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			rec := bytes.Repeat([]byte{byte('A' + w)}, size)
			for range perWriter {
				if _, err := a.Write(rec); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			a.SetReadDeadline(time.Now().Add(time.Hour))
			b.SetWriteDeadline(time.Now().Add(time.Hour))
			_ = a.LocalAddr().String() + b.RemoteAddr().String()
		}
	})
	go func() { wg.Wait(); a.Close() }()

	counts := map[byte]int{}
	rec := make([]byte, size)
	for {
		_, err := io.ReadFull(b, rec)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(rec, bytes.Repeat(rec[:1], size)) {
			t.Fatal("writes interleaved within one record")
		}
		counts[rec[0]]++
	}
	for w := range writers {
		if got := counts[byte('A'+w)]; got != perWriter {
			t.Errorf("writer %c: read %d records, want %d", 'A'+w, got, perWriter)
		}
	}
}

func TestAddrs(t *testing.T) {
	a, b := Pipe()
	defer a.Close()
	defer b.Close()
	for _, addr := range []net.Addr{a.LocalAddr(), a.RemoteAddr(), b.LocalAddr(), b.RemoteAddr()} {
		if addr.Network() != "memconn" {
			t.Errorf("Network() = %q; want memconn", addr.Network())
		}
	}
	if a.LocalAddr() != b.RemoteAddr() || a.RemoteAddr() != b.LocalAddr() {
		t.Errorf("ends disagree: a %v->%v, b %v->%v", a.LocalAddr(), a.RemoteAddr(), b.LocalAddr(), b.RemoteAddr())
	}
	if a.LocalAddr() == a.RemoteAddr() {
		t.Errorf("both ends have address %v", a.LocalAddr())
	}
	c, d := Pipe()
	defer c.Close()
	defer d.Close()
	if c.LocalAddr() == a.LocalAddr() {
		t.Errorf("two pipes share address %v", a.LocalAddr())
	}
}

func TestZeroLengthIO(t *testing.T) {
	a, b := pipe(t)
	if n, err := a.Read(nil); n != 0 || err != nil {
		t.Errorf("empty Read = %d, %v", n, err)
	}
	if n, err := a.Write(nil); n != 0 || err != nil {
		t.Errorf("empty Write = %d, %v", n, err)
	}
	b.Write([]byte("x"))
	if n, err := a.Read(make([]byte, 0, 1)); n != 0 || err != nil {
		t.Errorf("empty Read with data buffered = %d, %v", n, err)
	}
	if n, err := a.Read(make([]byte, 1)); n != 1 || err != nil {
		t.Errorf("Read after empty Read = %d, %v; the byte must still be there", n, err)
	}
}

func BenchmarkPingPong(b *testing.B) {
	x, y := Pipe()
	defer x.Close()
	defer y.Close()
	go func() {
		buf := make([]byte, 1024)
		for {
			n, err := io.ReadFull(y, buf)
			if err != nil {
				return
			}
			y.Write(buf[:n])
		}
	}()
	msg := make([]byte, 1024)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		x.Write(msg)
		io.ReadFull(x, msg)
	}
}

func BenchmarkStream(b *testing.B) {
	x, y := Pipe()
	defer y.Close()
	go func() { io.Copy(io.Discard, y) }()
	msg := make([]byte, 32<<10)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		x.Write(msg)
	}
	x.Close()
}
