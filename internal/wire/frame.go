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

// frameHeader is a decoded frame header.
type frameHeader struct {
	fin    bool
	rsv1   bool // the compressed bit of permessage-deflate
	masked bool
	op     Opcode
	hlen   int    // length of the header itself
	n      int64  // payload length
	key    uint32 // masking key, when masked
}

// headerSize returns the length of a frame header whose second byte is
// b1: the extended length and the masking key follow the first two bytes.
func headerSize(b1 byte) int {
	h := 2
	switch b1 & 0x7f {
	case 126:
		h += 2
	case 127:
		h += 8
	}
	if b1&0x80 != 0 {
		h += 4
	}
	return h
}

// decodeHeader decodes the complete header b, of headerSize(b[1]) bytes,
// into h. It returns a reason, for a close frame, when the payload length
// breaks the encoding rules of RFC 6455 section 5.2: not in its shortest
// form, or with the most significant bit of the 64-bit form set.
func decodeHeader(b []byte, h *frameHeader) string {
	b0, b1 := b[0], b[1]
	h.fin = b0&0x80 != 0
	h.rsv1 = b0&0x40 != 0
	h.masked = b1&0x80 != 0
	h.op = Opcode(b0 & 0x0f)
	h.hlen = len(b)
	h.n = int64(b1 & 0x7f)
	switch h.n {
	case 126:
		h.n = int64(binary.BigEndian.Uint16(b[2:]))
		if h.n < 126 {
			return "payload length not minimally encoded"
		}
	case 127:
		u := binary.BigEndian.Uint64(b[2:])
		if u>>63 != 0 {
			return "payload length with the most significant bit set"
		}
		h.n = int64(u)
		if h.n <= math.MaxUint16 {
			return "payload length not minimally encoded"
		}
	}
	if h.masked {
		h.key = binary.LittleEndian.Uint32(b[len(b)-4:])
	}
	return ""
}

// checkStart returns why a frame whose header starts with b0 b1 breaks the
// protocol for c in its current state, or "" when it does not. It checks
// all that the first two bytes tell, so that a bad frame is refused before
// the rest of its header arrives.
func (c *Conn) checkStart(b0, b1 byte) string {
	op := Opcode(b0 & 0x0f)
	if rsv := b0 & 0x70; rsv != 0 {
		if rsv != 0x40 || c.dfl == nil {
			return "reserved bits set without an extension"
		}
		if op != OpText && op != OpBinary {
			// RFC 7692 section 6.1: only a message's first frame
			// says it is compressed.
			return "RSV1 set on a frame other than the first of a data message"
		}
	}
	switch op {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
	default:
		return "reserved opcode"
	}
	if op.isControl() {
		if b0&0x80 == 0 {
			return "fragmented control frame"
		}
		if b1&0x7f > MaxControlPayload {
			return "control frame payload longer than 125 bytes"
		}
	}
	if masked := b1&0x80 != 0; masked != (c.role == RoleServer) {
		if masked {
			return "masked frame from server"
		}
		return "unmasked frame from client"
	}
	switch {
	case op == OpContinuation && !c.inMsg:
		return "continuation frame without a message to continue"
	case (op == OpText || op == OpBinary) && c.inMsg:
		return "new data frame inside a fragmented message"
	}
	return ""
}
