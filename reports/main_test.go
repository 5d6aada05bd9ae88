package reports

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: the browser test
// starts processes and a loopback server, and must end them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
