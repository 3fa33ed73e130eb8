package deffile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virtxend/virtxend/test/allocbound"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, size int64) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		// A sparse file: the test costs no disk space.
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		size int64
		err  error
	}{
		{"empty", 0, nil},
		{"small", 4096, nil},
		{"at the limit", MaxSize, nil},
		{"one byte over", MaxSize + 1, ErrTooLarge},
		{"200 MiB", 200 << 20, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := write(strings.ReplaceAll(tt.name, " ", "-")+".yaml", tt.size)
			var data []byte
			var err error
			// Reading is bounded by the limit, not by the file: a huge file costs nothing.
			allocbound.Check(t, int(min(tt.size, MaxSize)), func() { data, err = ReadFile(p) })
			if !errors.Is(err, tt.err) {
				t.Fatalf("ReadFile: %v, want %v", err, tt.err)
			}
			if tt.err != nil {
				var pe *fs.PathError
				if !errors.As(err, &pe) || pe.Path != p || !strings.Contains(err.Error(), p) {
					t.Fatalf("error %q does not name the file", err)
				}
				return
			}
			if int64(len(data)) != tt.size {
				t.Fatalf("read %d bytes, want %d", len(data), tt.size)
			}
		})
	}
	if _, err := ReadFile(filepath.Join(dir, "missing.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}
