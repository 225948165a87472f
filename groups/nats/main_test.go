package nats

import (
	"testing"

	"go.uber.org/goleak"
)

// Every connection, delivery loop and heartbeat the tests start must be
// gone when they end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
