package domxml

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/virtxend/virtxend/test/allocbound"
	"github.com/virtxend/virtxend/test/libvirtsrc"
)

// FuzzParse: no document makes Parse, ApplyDefaults or Format panic, every error says what kind it is, what
// parses prints as a document that parses again, and no document costs more memory than allocbound allows. The
// daemon parses whatever a client hands to virsh define, and every drop-in XML file.
func FuzzParse(f *testing.F) {
	var seeds []string
	for _, dir := range []string{"tests/libxlxml2domconfigdata", "tests/xlconfigdata", "tests/xmconfigdata"} {
		s, _ := filepath.Glob(filepath.Join(libvirtsrc.Path(f, dir), "*.xml"))
		seeds = append(seeds, s...)
	}
	s, _ := filepath.Glob(filepath.Join("testdata", "*.xml"))
	seeds = append(seeds, s...)
	s, _ = filepath.Glob(filepath.Join("..", "..", "config", "samples", "*.xml"))
	seeds = append(seeds, s...)
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add(nestedDoc(maxDepth - 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		var err error
		allocbound.Check(t, len(data), func() { err = parseAndPrint(data) })
		if err != nil && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnsupported) {
			t.Fatalf("error of no kind: %v", err)
		}
	})
}

// parseAndPrint is what the daemon does with a definition: parse, complete, print; the printed document must
// parse again.
func parseAndPrint(data []byte) error {
	spec, err := Parse(data)
	if err != nil {
		return err
	}
	if err := ApplyDefaults(spec, seeded(1)); err != nil {
		return err
	}
	out, err := Format(spec, Inactive)
	if err != nil {
		return err
	}
	if _, err := Parse(out); err != nil {
		return &kindError{kind: errors.New("reprint does not parse"), msg: err.Error() + "\n" + string(out)}
	}
	return nil
}
