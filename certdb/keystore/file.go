package keystore

import (
	"fmt"
	"io"
	"os"
)

// ReadFile reads and decodes the keystore at path (t "" detects the type;
// keypass nil means storepass). At most MaxSize bytes are read, whatever the
// file claims to be, so a daemon pointed at a huge or endless file (a FIFO,
// /dev/zero) fails instead of filling its memory. Errors name the file.
func ReadFile(path string, t Type, storepass, keypass []byte) (*Contents, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // *PathError names the file
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%s: larger than %d bytes: %w", path, MaxSize, ErrCorrupt)
	}
	c, err := Decode(data, t, storepass, keypass)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}
