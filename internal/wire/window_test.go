package wire

import (
	"net"
	"strconv"
	"strings"
	"testing"
)

// TestNegotiateWindowBits covers the server side of every window size a
// client may ask of the server, with the offers of the Autobahn cases
// 13.3 to 13.7: server_max_window_bits from 8 to 15, with and without
// server_no_context_takeover, with and without client_max_window_bits.
// The server accepts each, echoes the window, and keeps it by sending
// longer messages uncompressed.
func TestNegotiateWindowBits(t *testing.T) {
	for bits := 8; bits <= 15; bits++ {
		b := strconv.Itoa(bits)
		for _, extra := range []string{"", "; server_no_context_takeover", "; client_max_window_bits", "; client_no_context_takeover; client_max_window_bits=" + b} {
			for _, cfg := range []*DeflateConfig{{}, {ContextTakeover: true}} {
				offer := "permessage-deflate; server_max_window_bits=" + b + extra
				d, resp := NegotiateDeflate(extHeader(offer), cfg)
				if d == nil {
					t.Errorf("%q, config %+v: declined", offer, cfg)
					continue
				}
				if windowBits(d.WindowBits) != bits {
					t.Errorf("%q, config %+v: window bits %d, want %d", offer, cfg, d.WindowBits, bits)
				}
				params := map[string]string{}
				for _, p := range parseExtensions(extHeader(resp))[0].params {
					params[p.name] = p.value
				}
				if v, ok := params[paramServerMaxWindow]; !ok || v != b {
					t.Errorf("%q: answer %q does not echo the server window", offer, resp)
				}
				if _, ok := params[paramServerNoContext]; !ok {
					t.Errorf("%q: answer %q keeps server context", offer, resp)
				}
			}
		}
	}
	// Case 13.7: several offers, the bounded one first.
	d, resp := NegotiateDeflate(extHeader("permessage-deflate; server_no_context_takeover; server_max_window_bits=8, permessage-deflate; server_no_context_takeover, permessage-deflate"), &DeflateConfig{})
	if d == nil || windowBits(d.WindowBits) != 15 || strings.Contains(resp, paramServerMaxWindow) {
		t.Errorf("offers of case 13.7: %+v, %q; want the offer without a window", d, resp)
	}
}

// TestCheckWindowBits covers the client side of every window size: a
// server's server_max_window_bits is its own business unless it keeps
// context (then it bounds the window kept), and its
// client_max_window_bits becomes the client's window.
func TestCheckWindowBits(t *testing.T) {
	for sb := 8; sb <= 15; sb++ {
		for cb := 8; cb <= 15; cb++ {
			for _, noCtx := range []bool{true, false} {
				ans := "permessage-deflate; server_max_window_bits=" + strconv.Itoa(sb) + "; client_max_window_bits=" + strconv.Itoa(cb)
				if noCtx {
					ans += "; server_no_context_takeover"
				}
				d, err := CheckExtensions(extResponse(t, ans), &DeflateConfig{ContextTakeover: true})
				if err != nil {
					t.Fatalf("%q: %v", ans, err)
				}
				if windowBits(d.WindowBits) != cb || d.PeerContextTakeover == noCtx || !noCtx && d.PeerWindowBits != sb {
					t.Errorf("%q: %+v", ans, d)
				}
				// An offer of a smaller client window refuses a larger
				// answer and keeps its own when the server says nothing.
				for _, own := range []int{9, 12} {
					d, err := CheckExtensions(extResponse(t, ans), &DeflateConfig{ContextTakeover: true, CompressWindowBits: own})
					if cb > own {
						if err == nil {
							t.Errorf("%q to an offer of %d bits accepted", ans, own)
						}
						continue
					}
					if err != nil || windowBits(d.WindowBits) != cb {
						t.Errorf("%q to an offer of %d bits: %+v, %v", ans, own, d, err)
					}
				}
			}
		}
	}
}

// TestWindowBitsSend checks that with a window below 15 bits a message as
// long as the window goes compressed and a longer one uncompressed, in
// both roles, for WriteMessage and prepared messages, and that the same
// prepared message still goes compressed on a connection with the whole
// window.
func TestWindowBitsSend(t *testing.T) {
	for _, role := range roles {
		for bits := 8; bits <= 15; bits++ {
			t.Run(roleName(role)+"/"+strconv.Itoa(bits), func(t *testing.T) {
				end, peer := net.Pipe()
				defer end.Close()
				defer peer.Close()
				c := NewConn(end, Config{Role: role, Deflate: &Deflate{WindowBits: bits}})
				frames := collect(peer, false)
				size := 1 << bits
				s := sentence(9, size)
				fits := []byte(s + strings.Repeat(" ", size-len(s)))
				long := append(fits[:size:size], '.')
				whole, err := NewPreparedMessage(OpText, []byte(sentence(10, 20000)))
				if err != nil {
					t.Fatal(err)
				}
				pfits, _ := NewPreparedMessage(OpText, fits)
				go func() {
					c.WriteMessage(OpText, fits)
					c.WriteMessage(OpText, long)
					c.WritePrepared(pfits)
					c.WritePrepared(whole)
				}()
				want := []struct {
					p          []byte
					compressed bool
				}{{fits, true}, {long, bits == 15}, {fits, true}, {whole.Payload(), bits == 15}}
				for i, w := range want {
					f, ok := <-frames
					if !ok {
						t.Fatalf("frame %d missing", i)
					}
					got := f.payload
					if f.rsv == 0x40 {
						if got, err = inflateMsg(f.payload); err != nil {
							t.Fatalf("frame %d: %v", i, err)
						}
					}
					if (f.rsv == 0x40) != w.compressed || string(got) != string(w.p) {
						t.Errorf("frame %d: RSV1 %v, %d bytes; want compressed %v, %d bytes", i, f.rsv == 0x40, len(got), w.compressed, len(w.p))
					}
				}
				// The message compressed for the first connection goes
				// compressed on one with the whole window.
				if role == RoleServer && bits < 15 {
					e2, p2 := net.Pipe()
					defer e2.Close()
					defer p2.Close()
					c2 := NewConn(e2, Config{Deflate: &Deflate{}})
					go c2.WritePrepared(whole)
					if f, err := readFrame(p2); err != nil || f.rsv != 0x40 {
						t.Errorf("prepared message on a 15-bit connection: RSV1 %#x, %v", f.rsv, err)
					}
				}
			})
		}
	}
}
