package specdir

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/virtxend/virtxend/test/allocbound"
)

// sparse creates a file of size bytes that takes no disk space.
func sparse(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
}

// TestHugeFileIsRefused: a 200 MiB file in the directory is an error naming it, read no further than the limit,
// and the other files' domains are applied.
func TestHugeFileIsRefused(t *testing.T) {
	f := newFixture(t)
	f.write("web.yaml", domainYAML("web", uuidWeb, "512Mi"))
	big := filepath.Join(f.dir, "big.yaml")
	sparse(t, big, 200<<20)
	if got := allocbound.Measure(f.rescan); got > 64<<20 {
		t.Errorf("a pass over a 200 MiB file allocated %d MiB", got>>20)
	}
	if f.get("web") == nil {
		t.Fatal("web not applied")
	}
	want := "read " + big + ": file is larger than 16 MiB, the limit on a definition file"
	if ev := find(f.rec.take(), ReasonParseError, want); ev == nil {
		t.Errorf("no ParseError event %q", want)
	}
}
