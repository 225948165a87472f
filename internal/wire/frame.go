package wire

import (
	"encoding/binary"
	"math"
)

// headerLen returns the length of a frame header for an n-byte payload.
func headerLen(n int, masked bool) int {
	h := 2
	switch {
	case n > math.MaxUint16:
		h += 8
	case n > 125:
		h += 2
	}
	if masked {
		h += 4
	}
	return h
}

// putHeader writes a final frame's header into b.
func putHeader(b []byte, op Opcode, n int, masked bool, key uint32) {
	b[0] = 0x80 | byte(op)
	var m byte
	if masked {
		m = 0x80
	}
	i := 2
	switch {
	case n > math.MaxUint16:
		b[1] = m | 127
		binary.BigEndian.PutUint64(b[2:], uint64(n))
		i += 8
	case n > 125:
		b[1] = m | 126
		binary.BigEndian.PutUint16(b[2:], uint16(n))
		i += 2
	default:
		b[1] = m | byte(n)
	}
	if masked {
		binary.LittleEndian.PutUint32(b[i:], key)
	}
}
