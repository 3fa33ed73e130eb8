package xlcfg

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/virtxend/virtxend/api/domxml"
	v1alpha1 "github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/test/allocbound"
)

// FuzzParse: no input makes the parsers or the formatters panic, and every error says what kind it is. The daemon
// parses whatever a client sends with domxml-from-native.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"xlconfigdata", "xmconfigdata"} {
		files, _ := filepath.Glob(filepath.Join(corpusDir(f), dir, "*.cfg"))
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte("name = \"g\"\ndisk = [ \"tap:qcow2:/x,xvda:cdrom,w!\", \"target=rbd:p/i:mon_host=[a\\\\:b]\\\\:1,vdev=hdb\" ]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for xm, parse := range []func([]byte) (*v1alpha1.DomainSpec, error){ParseXL, ParseXM} {
			var spec *v1alpha1.DomainSpec
			var err error
			allocbound.Check(t, len(data), func() { spec, err = parse(data) })
			if err != nil {
				if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrInvalid) &&
					!errors.Is(err, domxml.ErrInvalid) && !errors.Is(err, domxml.ErrUnsupported) {
					t.Fatalf("error of no kind: %v", err)
				}
				continue
			}
			if _, err := domxml.Format(spec, domxml.Inactive); err != nil {
				t.Fatalf("domxml.Format: %v", err)
			}
			if xm == 1 {
				_, _ = FormatXM(spec)
			} else {
				_, _ = FormatXL(spec)
			}
		}
	})
}
