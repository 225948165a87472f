package pistokeprom_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every connection and server the tests start must be gone when they end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
