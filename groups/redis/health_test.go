package redis

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pistoke/pistoke/internal/testservers"
)

// blackholeProxy forwards TCP connections to a server until it is told to
// drop everything the connections open at that moment carry, in both
// directions, without closing them: what a network partition, or a server
// host that vanished, looks like to a client. Later connections pass.
type blackholeProxy struct {
	ln       net.Listener
	upstream string
	wg       sync.WaitGroup

	mu    sync.Mutex
	conns []*proxiedConn
}

type proxiedConn struct {
	client, server net.Conn
	dropping       atomic.Bool
}

func startBlackholeProxy(t *testing.T, upstream string) *blackholeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &blackholeProxy{ln: ln, upstream: upstream}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *blackholeProxy) url() string { return "redis://" + p.ln.Addr().String() }

func (p *blackholeProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.upstream)
		if err != nil {
			c.Close()
			continue
		}
		pc := &proxiedConn{client: c, server: s}
		p.mu.Lock()
		p.conns = append(p.conns, pc)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(pc, c, s)
		go p.pipe(pc, s, c)
	}
}

func (p *blackholeProxy) pipe(pc *proxiedConn, from, to net.Conn) {
	defer p.wg.Done()
	defer from.Close()
	defer to.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 && !pc.dropping.Load() {
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// blackhole starts dropping the traffic of the open connections.
func (p *blackholeProxy) blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pc := range p.conns {
		pc.dropping.Store(true)
	}
}

func (p *blackholeProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, pc := range p.conns {
		pc.client.Close()
		pc.server.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// TestSilentConnectionIsReplaced cuts the subscribing connection off
// without closing it: the backend notices the silence, connects again and
// resubscribes, and deliveries resume.
func TestSilentConnectionIsReplaced(t *testing.T) {
	srv := testservers.StartRedis(t)
	proxy := startBlackholeProxy(t, srv.Addr())
	a := openNode(t, proxy.url(), Options{})
	b := openNode(t, srv.URL(), Options{})
	a.subscribe(t, "room")
	ctx := context.Background()
	if err := b.Publish(ctx, "room", []byte("before")); err != nil {
		t.Fatal(err)
	}
	if d := a.next(t); d.msg != "before" {
		t.Fatalf("got %+v", d)
	}

	proxy.blackhole()
	start := time.Now()
	eventually(t, "delivering again", func() bool {
		if err := b.Publish(ctx, "room", []byte("after")); err != nil {
			t.Fatal(err)
		}
		select {
		case d := <-a.got:
			return d.msg == "after"
		case <-time.After(100 * time.Millisecond):
			return false
		}
	})
	t.Logf("deliveries resumed %v after the connection went silent", time.Since(start).Round(100*time.Millisecond))
}
