package defines

import (
	"os"
	"testing"

	"github.com/virtxend/virtxend/test/allocbound"
)

// TestLoadHugeFile: a 200 MiB NAME.xml is an error naming it, read no further than the limit; the other
// definitions load.
func TestLoadHugeFile(t *testing.T) {
	f := newFixture(t)
	f.save(spec("web", "", "512Mi"))
	big := f.s.Path("big")
	fh, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	// A sparse file: no disk space.
	if err := fh.Truncate(200 << 20); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	if got := allocbound.Measure(f.load); got > 64<<20 {
		t.Errorf("loading with a 200 MiB definition allocated %d MiB", got>>20)
	}
	if f.get("web") == nil || f.get("big") != nil {
		t.Fatal("web not loaded, or big loaded")
	}
	want := "read " + big + ": file is larger than 16 MiB, the limit on a definition file"
	if f.rec.find(ReasonParseError, want) == nil {
		t.Errorf("no ParseError event %q", want)
	}
}
