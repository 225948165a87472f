package wire

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"
)

func TestPreparedMessage(t *testing.T) {
	if _, err := NewPreparedMessage(OpClose, nil); !errors.Is(err, ErrInvalidOpcode) {
		t.Errorf("NewPreparedMessage(OpClose) = %v, want ErrInvalidOpcode", err)
	}
	for _, size := range []int{0, 125, 126, 70000} {
		payload := []byte(strings.Repeat("p", size))
		m, err := NewPreparedMessage(OpText, payload)
		if err != nil {
			t.Fatal(err)
		}
		if size > 0 {
			payload[0] = 'X' // NewPreparedMessage made its own copy
		}
		if m.Opcode() != OpText || len(m.Payload()) != size || strings.Count(string(m.Payload()), "p") != size {
			t.Fatalf("%d bytes: Opcode %v, payload %.20q", size, m.Opcode(), m.Payload())
		}
		for _, role := range roles {
			end, peer := tcpPair(t)
			c := NewConn(end, Config{Role: role})
			go func() {
				for range 2 {
					if err := c.WritePrepared(m); err != nil {
						t.Error(err)
					}
				}
			}()
			keys := map[uint32]bool{}
			for range 2 {
				f, err := readFrame(peer)
				if err != nil {
					t.Fatal(err)
				}
				if f.op != OpText || !f.fin || f.masked != (role == RoleClient) || !bytes.Equal(f.payload, m.Payload()) {
					t.Fatalf("%s, %d bytes: got %v fin=%v masked=%v, %d bytes", roleName(role), size, f.op, f.fin, f.masked, len(f.payload))
				}
				keys[f.key] = true
			}
			if role == RoleClient && len(keys) != 2 {
				t.Errorf("client reused a masking key for a prepared message")
			}
			c.CloseNow()
			if err := c.WritePrepared(m); !errors.Is(err, ErrClosed) {
				t.Errorf("WritePrepared after CloseNow = %v, want ErrClosed", err)
			}
		}
	}
}

func TestWritePreparedAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	end, peer := tcpPair(t)
	c := NewConn(end, Config{})
	go func() {
		var buf [64 << 10]byte
		for {
			if _, err := peer.Read(buf[:]); err != nil {
				return
			}
		}
	}()
	m, _ := NewPreparedMessage(OpBinary, make([]byte, 1024))
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 2000 {
		if err := c.WritePrepared(m); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if n := after.Mallocs - before.Mallocs; n > 5 {
		t.Errorf("%d allocations in 2000 prepared writes", n)
	}
	c.CloseNow()
}
