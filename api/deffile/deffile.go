package deffile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// MaxSize is the largest definition file virtxend reads, in bytes (documented in virtxend(8), DROP-IN
// DIRECTORY). The largest real definitions, with hundreds of devices, stay below 1 MiB.
const MaxSize = 16 << 20

// ErrTooLarge is the error (inside an *fs.PathError naming the file) for a file larger than MaxSize.
var ErrTooLarge = fmt.Errorf("file is larger than %d MiB, the limit on a definition file", MaxSize>>20)

// ReadFile reads the file at path, refusing one larger than MaxSize with an *fs.PathError wrapping ErrTooLarge
// ("read /etc/virtxend/domains.d/big.yaml: file is larger than 16 MiB, ..."). Other errors are os.Open's and
// the read's, so errors.Is(err, fs.ErrNotExist) still tells a missing file.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > MaxSize {
		return nil, &fs.PathError{Op: "read", Path: path, Err: ErrTooLarge}
	}
	// The file may grow between the stat and the read: read one byte more than allowed to notice.
	buf := make([]byte, 0, fi.Size()+1)
	for {
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > MaxSize {
			return nil, &fs.PathError{Op: "read", Path: path, Err: ErrTooLarge}
		}
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
}
