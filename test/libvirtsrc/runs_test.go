package libvirtsrc

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"
)

var (
	cIfRE    = regexp.MustCompile(`^#\s*if(n?def)?\s+(.*)$`)
	cElseRE  = regexp.MustCompile(`^#\s*else\b`)
	cEndifRE = regexp.MustCompile(`^#\s*endif\b`)
	cTestRE  = regexp.MustCompile(`^(DO_TEST\w*)\("([^"]+)"(?:,\s*(\w+))?`)
)

// programRuns reads the DO_TEST lines of one of libvirt's test programs and expands them as its macros do.
func programRuns(t *testing.T, p Program) []Run {
	t.Helper()
	f, err := os.Open(Path(t, "tests/"+string(p)+".c"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Run
	var conds []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		s := strings.TrimSpace(sc.Text())
		if m := cIfRE.FindStringSubmatch(s); m != nil {
			c := strings.TrimSpace(m[2])
			if m[1] == "ndef" {
				c = "!" + c
			}
			conds = append(conds, c)
			continue
		}
		if cElseRE.MatchString(s) {
			c := conds[len(conds)-1]
			if strings.Contains(c, " ") {
				c = "(" + c + ")"
			}
			conds[len(conds)-1] = "!" + c
			continue
		}
		if cEndifRE.MatchString(s) {
			if len(conds) > 0 {
				conds = conds[:len(conds)-1]
			}
			continue
		}
		m := cTestRE.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		var cs []string
		for _, c := range conds {
			if c != "defined(WITH_LIBXL)" {
				cs = append(cs, c)
			}
		}
		cond := strings.Join(cs, " && ")
		macro, name, replace := m[1], m[2], m[3] == "true" || m[1] == "DO_TEST_REPLACE_VARS"
		switch p {
		case LibxlXML2DomConfig:
			out = append(out, xml2json(name, cond))
		case DomainCaps:
			if macro == "DO_TEST_LIBXL" {
				out = append(out, caps(name))
			}
		case XLConfig, XMConfig:
			dir := map[Program]string{XLConfig: "xlconfigdata", XMConfig: "xmconfigdata"}[p]
			switch macro {
			case "DO_TEST", "DO_TEST_REPLACE_VARS":
				out = append(out, native(p, dir, name, true, replace, cond), native(p, dir, name, false, replace, cond))
			case "DO_TEST_PARSE":
				out = append(out, native(p, dir, name, true, replace, cond))
			case "DO_TEST_FORMAT":
				out = append(out, native(p, dir, name, false, replace, cond))
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRunsMatchLibvirtPrograms checks the table against the test programs of the pinned release, and that every
// file it names is in the release.
func TestRunsMatchLibvirtPrograms(t *testing.T) {
	for _, p := range []Program{LibxlXML2DomConfig, XLConfig, XMConfig, DomainCaps} {
		t.Run(string(p), func(t *testing.T) {
			want, got := programRuns(t, p), Runs(p)
			if len(want) != len(got) {
				t.Errorf("the table has %d runs, %s.c has %d", len(got), p, len(want))
			}
			for i := range min(len(want), len(got)) {
				if want[i] != got[i] {
					t.Errorf("run %d: table %+v, libvirt %+v", i, got[i], want[i])
				}
			}
			for _, r := range got {
				for _, f := range []string{r.Input, r.Expected} {
					if f == "" {
						continue
					}
					if _, err := os.Stat(Path(t, f)); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
}

// TestCounts pins the size of the corpus the conformance tests report, so that a shrinking table is noticed.
func TestCounts(t *testing.T) {
	count := func(p Program) (all, applies int) {
		for _, r := range Runs(p) {
			all++
			if r.Applies() {
				applies++
			}
		}
		return
	}
	for _, c := range []struct {
		p            Program
		all, applies int
	}{{LibxlXML2DomConfig, 20, 18}, {XLConfig, 84, 84}, {XMConfig, 68, 68}, {DomainCaps, 2, 2}} {
		if all, applies := count(c.p); all != c.all || applies != c.applies {
			t.Errorf("%s: %d runs, %d for libxl 4.17; want %d, %d", c.p, all, applies, c.all, c.applies)
		}
	}
}
