package nats

import (
	"strings"
	"testing"
)

// Every group name becomes one valid subject token of bounded length,
// and distinct names distinct tokens.
func TestGroupToken(t *testing.T) {
	names := []string{"", "_", "-", "lobby", "Lobby", "room-1", "room 1", "room_201", "room_1", "a.b", "a_2Eb", "*", ">", "_2A", "_H", "_H00",
		"\t", "é", "\xff", "\x00", strings.Repeat("a", maxToken), strings.Repeat("a", maxToken+1), strings.Repeat(".", 70), strings.Repeat(".", 67)}
	seen := make(map[string]string)
	for _, name := range names {
		tok := groupToken(name)
		if tok == "" || len(tok) > maxToken+2 {
			t.Errorf("groupToken(%.40q) = %q: empty or longer than %d", name, tok, maxToken+2)
		}
		if strings.ContainsAny(tok, ".*> \t\r\n") {
			t.Errorf("groupToken(%.40q) = %q: not a single literal token", name, tok)
		}
		for _, c := range []byte(tok) {
			if !plainByte(c) && c != '_' {
				t.Errorf("groupToken(%.40q) = %q: byte %q outside [A-Za-z0-9_-]", name, tok, c)
				break
			}
		}
		if other, ok := seen[tok]; ok {
			t.Errorf("groupToken(%.40q) = groupToken(%.40q) = %q", name, other, tok)
		}
		seen[tok] = name
	}
	if got := groupToken("lobby"); got != "lobby" {
		t.Errorf("groupToken(lobby) = %q: plain names must stay readable", got)
	}
	if got := groupToken("room 1"); got != "room_201" {
		t.Errorf("groupToken(\"room 1\") = %q, want room_201", got)
	}
}
