package pistoke

import (
	"testing"

	"github.com/pistoke/pistoke/internal/wire"
)

// The close codes and message types are the codec's own values, under the
// same names.
func TestVocabularySharedWithTheCodec(t *testing.T) {
	for _, c := range []struct {
		name      string
		ours, its int
	}{
		{"CloseNormal", CloseNormal, wire.CloseNormal},
		{"CloseGoingAway", CloseGoingAway, wire.CloseGoingAway},
		{"CloseProtocolError", CloseProtocolError, wire.CloseProtocolError},
		{"CloseNoStatus", CloseNoStatus, wire.CloseNoStatus},
		{"CloseAbnormal", CloseAbnormal, wire.CloseAbnormal},
		{"CloseInvalidPayload", CloseInvalidPayload, wire.CloseInvalidPayload},
		{"ClosePolicyViolation", ClosePolicyViolation, wire.ClosePolicyViolation},
		{"CloseMessageTooBig", CloseMessageTooBig, wire.CloseMessageTooBig},
		{"CloseInternalError", CloseInternalError, wire.CloseInternalError},
		{"Text", int(Text), int(wire.OpText)},
		{"Binary", int(Binary), int(wire.OpBinary)},
	} {
		if c.ours != c.its {
			t.Errorf("%s = %d, the codec's is %d", c.name, c.ours, c.its)
		}
	}
}
