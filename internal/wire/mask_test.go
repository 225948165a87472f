package wire

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestMaskBytes(t *testing.T) {
	key := uint32(0x3d21fa37)
	var kb [4]byte
	binary.LittleEndian.PutUint32(kb[:], key)
	src := make([]byte, 200)
	for i := range src {
		src[i] = byte(i*31 + 7)
	}
	for start := range 4 {
		for n := range 100 {
			want := append([]byte(nil), src[:n]...)
			for i := range want {
				want[i] ^= kb[(start+i)%4]
			}
			got := append([]byte(nil), src[:n]...)
			if pos := maskBytes(key, start, got); pos != (start+n)%4 {
				t.Fatalf("start %d, %d bytes: position %d, want %d", start, n, pos, (start+n)%4)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("start %d, %d bytes: wrong result", start, n)
			}
		}
	}
	// Piecewise masking equals masking in one go.
	whole := append([]byte(nil), src...)
	maskBytes(key, 0, whole)
	pieces := append([]byte(nil), src...)
	pos := 0
	for off, step := 0, 1; off < len(pieces); step++ {
		end := min(len(pieces), off+step)
		pos = maskBytes(key, pos, pieces[off:end])
		off = end
	}
	if !bytes.Equal(whole, pieces) {
		t.Fatal("masking in pieces differs from masking at once")
	}
	// The RFC 6455 section 5.7 example: "Hello" masked with 37 fa 21 3d.
	hello := []byte("Hello")
	maskBytes(key, 0, hello)
	if !bytes.Equal(hello, []byte{0x7f, 0x9f, 0x4d, 0x51, 0x58}) {
		t.Fatalf("masked Hello = % x", hello)
	}
}
