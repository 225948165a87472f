package wire

import "unicode/utf8"

// Text messages are validated as their bytes arrive, fragment by fragment
// and read by read, with a small deterministic automaton: its state after a
// chunk is all that has to be remembered, so a code point may be split
// anywhere, and a chunk holding a byte that can no longer start or continue
// a valid UTF-8 sequence (RFC 3629) is caught as soon as it is read.

// Automaton states. utf8Accept means "at a code point boundary";
// utf8Reject is absorbing.
const (
	utf8Accept  uint8 = iota
	utf8Need1         // one more continuation byte 80-BF
	utf8Need2         // two more continuation bytes
	utf8Need3         // three more continuation bytes
	utf8AfterE0       // after E0: A0-BF, then one more (no overlong forms)
	utf8AfterED       // after ED: 80-9F, then one more (no surrogates)
	utf8AfterF0       // after F0: 90-BF, then two more (no overlong forms)
	utf8AfterF4       // after F4: 80-8F, then two more (nothing past U+10FFFF)
	utf8Reject
	utf8States
)

// Byte classes.
const (
	clASCII = iota // 00-7F
	clCont1        // 80-8F
	clCont2        // 90-9F
	clCont3        // A0-BF
	clLead2        // C2-DF
	clE0           // E0
	clLead3        // E1-EC, EE-EF
	clED           // ED
	clF0           // F0
	clLead4        // F1-F3
	clF4           // F4
	clBad          // C0, C1, F5-FF
	utf8Classes
)

var utf8Class = func() (t [256]uint8) {
	for i := range t {
		b := byte(i)
		switch {
		case b < 0x80:
			t[i] = clASCII
		case b < 0x90:
			t[i] = clCont1
		case b < 0xA0:
			t[i] = clCont2
		case b < 0xC0:
			t[i] = clCont3
		case b < 0xC2:
			t[i] = clBad
		case b < 0xE0:
			t[i] = clLead2
		case b == 0xE0:
			t[i] = clE0
		case b == 0xED:
			t[i] = clED
		case b < 0xF0:
			t[i] = clLead3
		case b == 0xF0:
			t[i] = clF0
		case b < 0xF4:
			t[i] = clLead4
		case b == 0xF4:
			t[i] = clF4
		default:
			t[i] = clBad
		}
	}
	return t
}()

// utf8Next[state*16+class] is the next state; every entry not set below is
// utf8Reject.
var utf8Next = func() (t [utf8States * 16]uint8) {
	for i := range t {
		t[i] = utf8Reject
	}
	set := func(s uint8, next uint8, classes ...int) {
		for _, c := range classes {
			t[int(s)*16+c] = next
		}
	}
	set(utf8Accept, utf8Accept, clASCII)
	set(utf8Accept, utf8Need1, clLead2)
	set(utf8Accept, utf8AfterE0, clE0)
	set(utf8Accept, utf8Need2, clLead3)
	set(utf8Accept, utf8AfterED, clED)
	set(utf8Accept, utf8AfterF0, clF0)
	set(utf8Accept, utf8Need3, clLead4)
	set(utf8Accept, utf8AfterF4, clF4)
	set(utf8Need1, utf8Accept, clCont1, clCont2, clCont3)
	set(utf8Need2, utf8Need1, clCont1, clCont2, clCont3)
	set(utf8Need3, utf8Need2, clCont1, clCont2, clCont3)
	set(utf8AfterE0, utf8Need1, clCont3)
	set(utf8AfterED, utf8Need1, clCont1, clCont2)
	set(utf8AfterF0, utf8Need2, clCont2, clCont3)
	set(utf8AfterF4, utf8Need2, clCont1)
	return t
}()

// utf8Step feeds p to the automaton in state s and returns the new state,
// utf8Reject as soon as p holds a byte that no valid text could have
// there.
//
// Only the bytes that complete a sequence left open by the previous chunk,
// and those of a sequence left open at the end of this one, go through the
// automaton; the whole code points in between are checked with
// utf8.Valid, which is much faster on long runs.
func utf8Step(s uint8, p []byte) uint8 {
	i := 0
	for s != utf8Accept && i < len(p) {
		s = utf8Next[int(s)*16+int(utf8Class[p[i]])]
		if s == utf8Reject {
			return s
		}
		i++
	}
	p = p[i:]
	if len(p) == 0 || utf8.Valid(p) {
		return s
	}
	// Invalid, or p ends inside a sequence: split off the last sequence
	// (a lead byte and at most three continuation bytes).
	j := len(p) - 1
	for j > 0 && j > len(p)-4 && p[j]&0xc0 == 0x80 {
		j--
	}
	if !utf8.Valid(p[:j]) {
		return utf8Reject
	}
	return utf8Run(utf8Accept, p[j:])
}

// utf8Run feeds p to the automaton byte by byte.
func utf8Run(s uint8, p []byte) uint8 {
	for _, b := range p {
		s = utf8Next[int(s)*16+int(utf8Class[b])]
		if s == utf8Reject {
			break
		}
	}
	return s
}

// validUTF8 reports whether p is complete, valid UTF-8.
func validUTF8(p []byte) bool { return utf8Step(utf8Accept, p) == utf8Accept }
