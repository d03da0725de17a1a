package pmapi

import (
	"testing"

	"github.com/gopcp/gopcp/internal/leaktest"
)

// TestMain fails the run if goroutines of this module outlive the tests (servers
// not stopped, connections not closed).
func TestMain(m *testing.M) { leaktest.Main(m) }
