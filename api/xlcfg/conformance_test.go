package xlcfg

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virtxend/virtxend/api/domxml"
)

// corpusDir is libvirt's Xen conformance data, shared by all packages.
var corpusDir = filepath.Join("..", "..", "..", "shared", "conformance", "libvirt")

// knownFailures are the corpus runs that do not match, keyed "program/direction/case", with the reason. A run
// listed here that matches fails the test too, so that the table stays honest.
var knownFailures = map[string]string{}

// corpusRun is one row of MANIFEST.tsv: one virTestRun of libvirt's xlconfigtest or xmconfigtest.
type corpusRun struct {
	program, direction, name string
	input, expected          string
	toNative                 bool // XML -> cfg (libvirt's "Parse" label)
	replaceVars              bool
}

func (r corpusRun) key() string {
	dir := "cfg->XML"
	if r.toNative {
		dir = "XML->cfg"
	}
	return r.program + "/" + dir + "/" + r.name
}

// corpusRuns reads the manifest rows of program.
func corpusRuns(t *testing.T, program string) []corpusRun {
	t.Helper()
	f, err := os.Open(filepath.Join(corpusDir, "MANIFEST.tsv"))
	if err != nil {
		t.Skipf("no conformance corpus: %v", err)
	}
	defer f.Close()
	var runs []corpusRun
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) < 6 || cols[0] != program {
			continue
		}
		runs = append(runs, corpusRun{
			program: cols[0], direction: cols[1], name: cols[2],
			input:       filepath.Join(corpusDir, strings.TrimPrefix(cols[3], "tests/")),
			expected:    filepath.Join(corpusDir, strings.TrimPrefix(cols[4], "tests/")),
			toNative:    strings.HasPrefix(cols[1], "XML->"),
			replaceVars: strings.Contains(cols[1], "[replace"),
		})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
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
	if r.replaceVars {
		in, want = replaceVars(in), replaceVars(want)
	}
	xm := r.program == "xmconfigtest"
	var got []byte
	if r.toNative {
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

func testCorpus(t *testing.T, program, label string, total int) {
	runs := corpusRuns(t, program)
	if len(runs) != total {
		t.Errorf("MANIFEST.tsv has %d %s runs, want %d", len(runs), program, total)
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

// TestConformanceXL runs every xlconfigtest row of the corpus in its direction.
func TestConformanceXL(t *testing.T) { testCorpus(t, "xlconfigtest", "xlconfig", 84) }

// TestConformanceXM runs every xmconfigtest row of the corpus in its direction.
func TestConformanceXM(t *testing.T) { testCorpus(t, "xmconfigtest", "xmconfig", 68) }

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
