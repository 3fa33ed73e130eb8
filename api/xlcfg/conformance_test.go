package xlcfg

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virtxend/virtxend/api/domxml"
	"github.com/virtxend/virtxend/test/libvirtsrc"
)

// corpusDir returns the directory of libvirt's Xen test data (tests/ of libvirt's release, see package libvirtsrc).
func corpusDir(tb testing.TB) string { return libvirtsrc.Path(tb, "tests") }

// knownFailures are the corpus runs that do not match, keyed "program/direction/case", with the reason. A run
// listed here that matches fails the test too, so that the table stays honest.
var knownFailures = map[string]string{}

// corpusRun is one virTestRun of libvirt's xlconfigtest or xmconfigtest, with its files resolved.
type corpusRun struct {
	libvirtsrc.Run
	input, expected string
}

func (r corpusRun) key() string {
	dir := "cfg->XML"
	if r.ToNative {
		dir = "XML->cfg"
	}
	return string(r.Program) + "/" + dir + "/" + r.Case
}

// corpusRuns returns the runs of program, from the project's table of libvirt's test runs.
func corpusRuns(t *testing.T, program libvirtsrc.Program) []corpusRun {
	t.Helper()
	dir := libvirtsrc.Dir(t)
	var runs []corpusRun
	for _, r := range libvirtsrc.Runs(program) {
		runs = append(runs, corpusRun{Run: r,
			input: filepath.Join(dir, r.Input), expected: filepath.Join(dir, r.Expected)})
	}
	return runs
}

// loadExpected is virTestLoadFile: the file with every backslash-newline pair removed.
func loadExpected(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	return bytes.ReplaceAll(b, []byte("\\\n"), nil), err
}

// replaceVars is the test's testReplaceVarsXML: the build-time firmware directory in place of a placeholder.
func replaceVars(b []byte) []byte {
	return bytes.ReplaceAll(b, []byte("/LIBXL_FIRMWARE_DIR"), []byte(DefaultFirmwareDir))
}

// runCorpus converts one corpus input and compares the result with the expected file, as virTestCompareToFile
// does: a missing final newline of the output is added, the expected file is read by loadExpected.
func runCorpus(r corpusRun) error {
	in, err := os.ReadFile(r.input)
	if err != nil {
		return err
	}
	want, err := loadExpected(r.expected)
	if err != nil {
		return err
	}
	if r.ReplaceVars {
		in, want = replaceVars(in), replaceVars(want)
	}
	xm := r.Program == libvirtsrc.XMConfig
	var got []byte
	if r.ToNative {
		// virDomainDefParseFile with the libxl driver's parser config: its post-parse defaults apply.
		spec, err := domxml.Parse(in)
		if err != nil {
			return fmt.Errorf("domxml.Parse: %w", err)
		}
		if err := domxml.ApplyDefaults(spec, domxml.Defaults{HostArch: "x86_64"}); err != nil {
			return fmt.Errorf("ApplyDefaults: %w", err)
		}
		if xm {
			got, err = FormatXM(spec)
		} else {
			got, err = FormatXL(spec)
		}
		if err != nil {
			return fmt.Errorf("format: %w", err)
		}
	} else {
		parse := ParseXL
		if xm {
			parse = ParseXM
		}
		spec, err := parse(in)
		if err != nil {
			return fmt.Errorf("parse: %w", err)
		}
		// xmconfigtest formats with VIR_DOMAIN_DEF_FORMAT_SECURE only, not INACTIVE: that prints the domain id,
		// a live VNC port, pty paths and aliases, none of which a parsed configuration has, so the output is
		// the inactive one.
		if got, err = domxml.Format(spec, domxml.Inactive); err != nil {
			return fmt.Errorf("domxml.Format: %w", err)
		}
	}
	if len(got) > 0 && got[len(got)-1] != '\n' {
		got = append(got, '\n')
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("output differs from %s:\n%s", filepath.Base(r.expected), diffLines(want, got))
	}
	return nil
}

func testCorpus(t *testing.T, program libvirtsrc.Program, label string, total int) {
	runs := corpusRuns(t, program)
	if len(runs) != total {
		t.Errorf("the table has %d %s runs, want %d", len(runs), program, total)
	}
	match := 0
	for _, r := range runs {
		err := runCorpus(r)
		if err == nil {
			match++
		}
		reason, known := knownFailures[r.key()]
		t.Run(r.key(), func(t *testing.T) {
			switch {
			case err != nil && known:
				t.Skipf("known failure (%s): %v", reason, err)
			case err != nil:
				t.Error(err)
			case known:
				t.Errorf("matches now: remove it from knownFailures (%s)", reason)
			}
		})
	}
	t.Logf("conformance %s: %d/%d runs match", label, match, len(runs))
}

// TestConformanceXL runs every xlconfigtest run of the corpus in its direction.
func TestConformanceXL(t *testing.T) { testCorpus(t, libvirtsrc.XLConfig, "xlconfig", 84) }

// TestConformanceXM runs every xmconfigtest run of the corpus in its direction.
func TestConformanceXM(t *testing.T) { testCorpus(t, libvirtsrc.XMConfig, "xmconfig", 68) }

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
			fmt.Fprintf(&b, "%d: -%s\n%d: +%s\n", i+1, x, i+1, y)
		}
	}
	return b.String()
}
