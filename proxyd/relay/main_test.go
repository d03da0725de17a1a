package relay

import (
	"testing"

	"github.com/gopcp/gopcp/proxyd/internal/leak"
)

func TestMain(m *testing.M) { leak.Main(m) }
