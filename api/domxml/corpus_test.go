package domxml

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/virtxend/virtxend/test/libvirtsrc"
	"github.com/virtxend/virtxend/test/testenv"
)

// corpusDir returns the directory of libvirt's Xen test data (tests/ of libvirt's release, see package libvirtsrc).
func corpusDir(tb testing.TB) string { return libvirtsrc.Path(tb, "tests") }

// corpusFiles lists every domain XML of the three Xen test suites.
func corpusFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	for _, dir := range []string{"libxlxml2domconfigdata", "xlconfigdata", "xmconfigdata"} {
		m, err := filepath.Glob(filepath.Join(corpusDir(t), dir, "*.xml"))
		if err != nil {
			t.Fatal(err)
		}
		if len(m) == 0 {
			t.Fatalf("no domain XML in libvirt's %s", dir)
		}
		files = append(files, m...)
	}
	return files
}

// libvirtOutputs returns the corpus XML files that are libvirt's own output (the expected files of the
// xl.cfg→XML and xm→XML runs), keyed by path.
func libvirtOutputs(t testing.TB) map[string]bool {
	t.Helper()
	dir := libvirtsrc.Dir(t)
	out := map[string]bool{}
	for _, p := range []libvirtsrc.Program{libvirtsrc.XLConfig, libvirtsrc.XMConfig} {
		for _, r := range libvirtsrc.Runs(p) {
			if !r.ToNative {
				out[filepath.Join(dir, r.Expected)] = true
			}
		}
	}
	return out
}

// equivalent reports the first difference between two documents in both directions of the strictness check.
func equivalent(x, y []byte) error {
	a, err := parseTree(x)
	if err != nil {
		return err
	}
	b, err := parseTree(y)
	if err != nil {
		return err
	}
	stripRuntime(a)
	canonicalize(a)
	canonicalize(b)
	if err := subset(a, b, nil); err != nil {
		return err
	}
	return subset(b, a, nil)
}

func TestCorpusRoundTrip(t *testing.T) {
	files := corpusFiles(t)
	outputs := libvirtOutputs(t)
	var ok, exact, exactDefaults, nOutputs int
	for _, path := range files {
		name := filepath.Base(filepath.Dir(path)) + "/" + filepath.Base(path)
		in, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		good := t.Run(name, func(t *testing.T) {
			spec, err := Parse(in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			out, err := Format(spec, Inactive)
			if err != nil {
				t.Fatalf("Format: %v", err)
			}
			if err := equivalent(in, out); err != nil {
				t.Errorf("Format(Parse(x)) differs from x: %v\n%s", err, out)
			}
			again, err := Parse(out)
			if err != nil {
				t.Fatalf("Parse(Format(x)): %v\n%s", err, out)
			}
			if !equality.Semantic.DeepEqual(spec, again) {
				t.Errorf("Parse(Format(x)) != Parse(x)")
			}

			// The defaults give a valid definition that reads back the same and does not change again.
			if err := ApplyDefaults(spec, seeded(1)); err != nil {
				t.Fatalf("ApplyDefaults: %v", err)
			}
			def, err := Format(spec, Inactive)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse(def)
			if err != nil {
				t.Fatalf("Parse(Format(ApplyDefaults(x))): %v\n%s", err, def)
			}
			if !equality.Semantic.DeepEqual(spec, back) {
				t.Errorf("Parse(Format(ApplyDefaults(x))) != ApplyDefaults(x)")
			}
			if err := ApplyDefaults(back, seeded(2)); err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(spec, back) {
				twice, _ := Format(back, Inactive)
				t.Errorf("ApplyDefaults is not idempotent:\n%s", diffLines(def, twice))
			}
		})
		if good {
			ok++
		}
		if !outputs[path] {
			continue
		}
		nOutputs++
		spec, err := Parse(in)
		if err != nil {
			continue
		}
		if out, _ := Format(spec, Inactive); bytes.Equal(out, in) {
			exact++
		} else if testing.Verbose() {
			t.Logf("%s: not byte-exact:\n%s", name, diffLines(in, out))
		}
		if err := ApplyDefaults(spec, Defaults{HostArch: "x86_64"}); err != nil {
			t.Errorf("%s: ApplyDefaults: %v", name, err)
			continue
		}
		if out, _ := Format(spec, Inactive); bytes.Equal(out, in) {
			exactDefaults++
		} else {
			t.Errorf("%s: ApplyDefaults changed libvirt's own output:\n%s", name, diffLines(in, out))
		}
	}
	t.Logf("domxml round trip: %d/%d corpus documents", ok, len(files))
	t.Logf("domxml exact text: %d/%d libvirt outputs (after ApplyDefaults: %d/%d)", exact, nOutputs, exactDefaults, nOutputs)
}

// TestCorpusSchema validates what Format prints for every corpus document, as parsed and after ApplyDefaults,
// against libvirt's domain schema (xmllint, Debian package libxml2-utils).
func TestCorpusSchema(t *testing.T) {
	xmllint := needXmllint(t)
	for _, path := range corpusFiles(t) {
		name := filepath.Base(filepath.Dir(path)) + "/" + filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			in, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			spec, err := Parse(in)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := Format(spec, Inactive)
			validate(t, xmllint, out)
			if err := ApplyDefaults(spec, seeded(1)); err != nil {
				t.Fatal(err)
			}
			out, _ = Format(spec, Inactive)
			validate(t, xmllint, out)
		})
	}
}

// needXmllint returns the path of xmllint; without it the test fails under CI and skips elsewhere.
func needXmllint(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("xmllint")
	if err != nil {
		testenv.Missing(t, "xmllint (Debian package libxml2-utils)", "make test-deps")
	}
	return p
}

// validate checks a document against libvirt's domain schema with xmllint.
func validate(t *testing.T, xmllint string, doc []byte) {
	t.Helper()
	cmd := exec.Command(xmllint, "--noout", "--relaxng", libvirtsrc.Path(t, "src/conf/schemas/domain.rng"), "-")
	cmd.Stdin = bytes.NewReader(doc)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("xmllint: %v\n%s\n%s", err, out, doc)
	}
}

// diffLines shows the lines of got that are not at the same place in want.
func diffLines(want, got []byte) string {
	w := strings.Split(string(want), "\n")
	g := strings.Split(string(got), "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var x, y string
		if i < len(w) {
			x = w[i]
		}
		if i < len(g) {
			y = g[i]
		}
		if x != y {
			b.WriteString("-" + x + "\n+" + y + "\n")
		}
	}
	return b.String()
}
