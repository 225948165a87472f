package nats

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// maxToken bounds the subject token a group name becomes. The server
// closes a connection whose protocol line exceeds its max_control_line
// (4 KiB by default), so a long group name, taken from a URL say, must not
// make a subject that long: longer tokens are replaced by a hash.
const maxToken = 200

// groupToken maps a group name to a single subject token that any group
// name, whatever its bytes, maps to without colliding with another.
//
// Letters, digits and '-' stand for themselves, so that common names
// ("lobby", "room-42") stay readable on the broker; every other byte,
// '_' included, becomes '_' followed by two upper-case hex digits, so '.',
// '*', '>' and white space never reach the subject. The empty name is "_".
// A token longer than maxToken is replaced by "_H" and the hex SHA-256 of
// the name; no escaped token starts that way, since an escape is always
// followed by two hex digits.
func groupToken(group string) string {
	if group == "" {
		return "_"
	}
	plain := true
	for i := 0; i < len(group); i++ {
		if !plainByte(group[i]) {
			plain = false
			break
		}
	}
	if plain && len(group) <= maxToken {
		return group
	}
	var b strings.Builder
	for i := 0; i < len(group); i++ {
		c := group[i]
		if plainByte(c) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "_%02X", c)
		}
		if b.Len() > maxToken {
			sum := sha256.Sum256([]byte(group))
			return "_H" + hex.EncodeToString(sum[:])
		}
	}
	return b.String()
}

// plainByte reports whether c stands for itself in a subject token.
func plainByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-'
}

// validPrefix reports whether p, which ends with '.', is a literal subject
// prefix: non-empty tokens without wildcards or white space.
func validPrefix(p string) bool {
	if p == "." {
		return false
	}
	for _, tok := range strings.Split(strings.TrimSuffix(p, "."), ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n") {
			return false
		}
	}
	return true
}

// subjects are the subjects a backend uses under its prefix.
type subjects struct {
	prefix string
}

// group is the subject of group's messages.
func (s subjects) group(group string) string { return s.prefix + "g." + groupToken(group) }

// control matches every subject of the presence protocol, which one
// subscription per node serves.
func (s subjects) control() string { return s.prefix + "presence.>" }

// node is where nodes announce themselves (heartbeats, hello, bye).
func (s subjects) node() string { return s.prefix + "presence.node" }

// list is where a node asks every node for its entries of group.
func (s subjects) list(group string) string { return s.prefix + "presence.list." + groupToken(group) }

// isList reports whether subject is a presence list request.
func (s subjects) isList(subject string) bool {
	return strings.HasPrefix(subject, s.prefix+"presence.list.")
}
