package groups

import (
	"encoding/json"
	"fmt"

	"github.com/pistoke/pistoke"
)

// What travels through a Backend: one kind byte, then the payload, which
// is the message itself for kindText and kindBinary and a JSON Member for
// kindJoined and kindLeft. Backends treat it as opaque bytes; only hubs
// read it, so nodes of one cluster must run compatible versions of this
// package.
const (
	kindText   byte = 1
	kindBinary byte = 2
	kindJoined byte = 3
	kindLeft   byte = 4
)

// encodeMessage returns the envelope of a data message.
func encodeMessage(typ pistoke.MessageType, p []byte) []byte {
	b := make([]byte, 1+len(p))
	b[0] = kindText
	if typ == pistoke.Binary {
		b[0] = kindBinary
	}
	copy(b[1:], p)
	return b
}

// encodePresence returns the envelope of a Joined or Left event.
func encodePresence(kind byte, m Member) ([]byte, error) {
	j, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return append([]byte{kind}, j...), nil
}

// decodePresence reads the Member of a presence envelope's payload.
func decodePresence(p []byte) (Member, error) {
	var m Member
	if err := json.Unmarshal(p, &m); err != nil {
		return Member{}, fmt.Errorf("groups: bad presence event: %w", err)
	}
	return m, nil
}
