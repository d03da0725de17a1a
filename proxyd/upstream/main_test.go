package upstream

import (
	"testing"

	"github.com/gopcp/gopcp/internal/leaktest"
)

func TestMain(m *testing.M) { leaktest.Main(m) }
