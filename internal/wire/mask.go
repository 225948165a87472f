package wire

import (
	"encoding/binary"
	"math/bits"
)

// maskBytes XORs b in place with the masking key, starting pos bytes into
// the frame's payload, and returns the position after b (modulo 4), for
// frames whose payload arrives in pieces. key holds the four key bytes in
// little-endian order, so key byte j is key>>(8*j)&0xff.
//
// Masking is the same operation as unmasking. The bulk of the work is done
// a 64-bit word at a time.
func maskBytes(key uint32, pos int, b []byte) int {
	end := (pos + len(b)) & 3
	// Rotate the key so that its low byte applies to b[0].
	k := bits.RotateLeft32(key, -8*(pos&3))
	if len(b) >= 8 {
		k64 := uint64(k) | uint64(k)<<32
		for len(b) >= 32 {
			v0 := binary.LittleEndian.Uint64(b[0:8])
			v1 := binary.LittleEndian.Uint64(b[8:16])
			v2 := binary.LittleEndian.Uint64(b[16:24])
			v3 := binary.LittleEndian.Uint64(b[24:32])
			binary.LittleEndian.PutUint64(b[0:8], v0^k64)
			binary.LittleEndian.PutUint64(b[8:16], v1^k64)
			binary.LittleEndian.PutUint64(b[16:24], v2^k64)
			binary.LittleEndian.PutUint64(b[24:32], v3^k64)
			b = b[32:]
		}
		for len(b) >= 8 {
			binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k64)
			b = b[8:]
		}
	}
	// Whole words leave the rotation unchanged; finish byte by byte.
	for i := range b {
		b[i] ^= byte(k)
		k = bits.RotateLeft32(k, -8)
	}
	return end
}
