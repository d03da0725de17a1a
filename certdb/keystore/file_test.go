package keystore

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadFileHostile: a file larger than MaxSize (sparse, so the test is
// cheap) is refused after reading at most MaxSize+1 bytes; a missing file and
// a damaged one are errors naming the file.
func TestReadFileHostile(t *testing.T) {
	d := t.TempDir()
	big := filepath.Join(d, "big.jks")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0xFE, 0xED, 0xFE, 0xED})
	if err := f.Truncate(4 * MaxSize); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := ReadFile(big, "", []byte("x"), nil); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), big) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("huge file: %v", err)
	}
	if _, err := ReadFile(filepath.Join(d, "none.p12"), "", nil, nil); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "none.p12") {
		t.Errorf("missing file: %v", err)
	}
	junk := filepath.Join(d, "junk.jks")
	os.WriteFile(junk, []byte{0xFE, 0xED, 0xFE, 0xED, 0, 0, 0, 2, 0x7f, 0xff, 0xff, 0xff}, 0o600)
	if _, err := ReadFile(junk, JKS, []byte("x"), nil); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), junk) {
		t.Errorf("damaged file: %v", err)
	}
}
