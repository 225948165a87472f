package devserver

import (
	"testing"

	"go.uber.org/goleak"
)

// Servers and connections the tests start must be gone when they end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
