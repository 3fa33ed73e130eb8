package specdir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virtxend/virtxend/api/domxml"
	"github.com/virtxend/virtxend/test/allocbound"
)

// The memory budget of a YAML file: see FuzzDecode.
const (
	yamlPerByte   = 192
	yamlAllowance = 8 << 20
)

// FuzzDecode: no YAML or JSON file in the drop-in directory makes the loader panic or costs more memory than
// allocbound allows; a file that decodes gives objects with a name. (XML files go through domxml.Parse, fuzzed in
// api/domxml.)
func FuzzDecode(f *testing.F) {
	for _, pat := range []string{"*.yaml", "*.json"} {
		s, _ := filepath.Glob(filepath.Join("..", "..", "config", "samples", pat))
		for _, p := range s {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte(domainYAML("web", uuidWeb, "512Mi") + "---\n" + domainYAML("db", uuidDB, "64Ei")))
	f.Add([]byte("apiVersion: virtxend.io/v1alpha1\nkind: XenDomainList\nitems:\n- metadata: {name: a}\n  spec: {domain: {memory: 1Gi, vcpu: {count: 4294967295}, os: {type: hvm}}}\n"))
	f.Add([]byte("a: &a [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"))
	f.Add([]byte(strings.Repeat("[", 10000)))
	defaults := domxml.Defaults{HostArch: "x86_64"}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, name := range []string{"/d/f.yaml", "/d/f.json"} {
			perByte, allowance := uint64(allocbound.PerByte), uint64(allocbound.Allowance)
			if strings.HasSuffix(name, ".yaml") {
				// sigs.k8s.io/yaml builds a node per scalar and converts the tree to JSON: ~80-130 bytes per input
				// byte for files of tiny scalars, linearly, and up to ~5 MB for one collection nested as deep as
				// the YAML parser allows (10000).
				perByte, allowance = yamlPerByte, yamlAllowance
			}
			allocbound.CheckWithin(t, len(data), perByte, allowance, func() {
				objs, err := decodeFile(name, data, defaults)
				if err != nil {
					return
				}
				for _, o := range objs {
					if o.Name == "" || o.Spec.Domain.Name != o.Name {
						t.Fatalf("%s: object without a name: %+v", name, o.ObjectMeta)
					}
				}
			})
		}
	})
}
