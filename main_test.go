package pistoke_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every connection, watcher and server the tests start must be gone when
// they end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
