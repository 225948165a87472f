package wire

import (
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// checkAutomaton compares the automaton's verdict on p, fed byte by byte,
// with the standard library's decoder.
func checkAutomaton(t *testing.T, p []byte) {
	s := utf8Run(utf8Accept, p)
	if (s == utf8Accept) != utf8.Valid(p) {
		t.Fatalf("% x: state %d, utf8.Valid %v", p, s, utf8.Valid(p))
	}
	if (s == utf8Reject) == utf8Prefix(p) {
		t.Fatalf("% x: state %d, but can begin valid text: %v", p, s, utf8Prefix(p))
	}
}

func TestUTF8AutomatonExhaustive(t *testing.T) {
	var p [4]byte
	for a := range 256 {
		p[0] = byte(a)
		checkAutomaton(t, p[:1])
		for b := range 256 {
			p[1] = byte(b)
			checkAutomaton(t, p[:2])
			if testing.Short() && b%7 != 0 {
				continue
			}
			for c := range 256 {
				p[2] = byte(c)
				checkAutomaton(t, p[:3])
			}
		}
	}
	// Four-byte sequences: every lead byte, the boundary values after it.
	edges := []byte{0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xe0, 0xf0, 0xf4, 0xf5, 0xff}
	for a := range 256 {
		for _, b := range edges {
			for _, c := range edges {
				for _, d := range edges {
					checkAutomaton(t, []byte{byte(a), b, c, d})
				}
			}
		}
	}
}

// TestUTF8Chunks feeds texts in random pieces, as reads and fragments
// deliver them, and checks each piece's verdict against the text so far.
func TestUTF8Chunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []string{"a", "Z", " ", "é", "ß", "€", "世", "😀", "\U0010FFFF", "\u0080", "\u07ff", "\u0800", "\uffff", "\U00010000"}
	bad := []string{"\x80", "\xbf", "\xc0\x80", "\xc1\xbf", "\xe0\x9f\xbf", "\xed\xa0\x80", "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xf5", "\xff", "\xe2\x82", "\xf0\x9f\x98"}
	for range 20000 {
		var text []byte
		for range rng.IntN(40) {
			text = append(text, alphabet[rng.IntN(len(alphabet))]...)
		}
		if rng.IntN(3) == 0 {
			at := rng.IntN(len(text) + 1)
			ins := bad[rng.IntN(len(bad))]
			text = append(text[:at:at], append([]byte(ins), text[at:]...)...)
		}
		s := utf8Accept
		for off := 0; off < len(text); {
			end := min(len(text), off+1+rng.IntN(9))
			s = utf8Step(s, text[off:end])
			if (s == utf8Reject) == utf8Prefix(text[:end]) {
				t.Fatalf("%q cut at %d: state %d, valid prefix %v", text, end, s, utf8Prefix(text[:end]))
			}
			if s == utf8Reject {
				break
			}
			off = end
		}
		if s != utf8Reject && (s == utf8Accept) != utf8.Valid(text) {
			t.Fatalf("%q: final state %d, utf8.Valid %v", text, s, utf8.Valid(text))
		}
	}
}
