package docs

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/virtxend/virtxend/test/testenv"
)

const manPage = "virtxend.8"

// roffEnv is the environment for man and groff: a fixed locale and width, and no seccomp sandbox, which
// some containers refuse.
func roffEnv(width string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		for _, k := range []string{"LANG=", "LC_", "LANGUAGE=", "MANWIDTH=", "MANPAGER=", "PAGER=", "MANOPT=", "MANROFFOPT=", "GROFF_"} {
			if strings.HasPrefix(kv, k) {
				return true
			}
		}
		return false
	})
	return append(env, "LC_ALL=C.UTF-8", "MANPAGER=cat", "PAGER=cat", "MAN_DISABLE_SECCOMP=1", "MANWIDTH="+width)
}

func run(t *testing.T, env []string, name string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// TestManPageWarnings renders the page the way a reader does, with every warning on: any warning fails.
func TestManPageWarnings(t *testing.T) {
	t.Run("groff", func(t *testing.T) {
		if _, err := exec.LookPath("groff"); err != nil {
			testenv.Missing(t, "groff (Debian package groff-base)", "make test-deps")
		}
		for _, ll := range []string{"", "-rLL=60n", "-rLL=78n", "-rLL=120n"} {
			args := []string{"-man", "-ww", "-z", "-Tutf8"}
			if ll != "" {
				args = append(args, ll)
			}
			_, stderr, err := run(t, roffEnv("80"), "groff", append(args, manPage)...)
			if err != nil || stderr != "" {
				t.Errorf("groff %s: %v\n%s", strings.Join(args, " "), err, stderr)
			}
		}
	})
	t.Run("man", func(t *testing.T) {
		if _, err := exec.LookPath("man"); err != nil {
			testenv.Missing(t, "man (Debian package man-db)", "make test-deps")
		}
		for _, width := range []string{"60", "80", "120"} {
			out, stderr, err := run(t, roffEnv(width), "man", "--warnings", "-E", "UTF-8", "-l", manPage)
			if err != nil || stderr != "" {
				t.Errorf("MANWIDTH=%s man --warnings -E UTF-8 -l %s: %v\n%s", width, manPage, err, stderr)
			}
			for _, sec := range []string{"NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "SIGNALS", "SOCKETS", "FILES",
				"DROP-IN DIRECTORY", "SIMULATED HOST", "ENVIRONMENT", "EXIT STATUS", "EXAMPLES", "SEE ALSO"} {
				if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sec) + `$`).MatchString(out) {
					t.Errorf("MANWIDTH=%s: the rendered page has no %s section", width, sec)
				}
			}
		}
	})
}

// render formats the page as plain ASCII text, without bold or underlining.
func render(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("groff"); err != nil {
		testenv.Missing(t, "groff (Debian package groff-base)", "make test-deps")
	}
	out, stderr, err := run(t, roffEnv("80"), "groff", "-man", "-Tascii", "-P-cbou", manPage)
	if err != nil {
		t.Fatalf("groff: %v\n%s", err, stderr)
	}
	return out
}

// section returns the lines of the rendered section title, up to the next section.
func section(text, title string) []string {
	var lines []string
	in := false
	for _, l := range strings.Split(text, "\n") {
		if l != "" && l[0] != ' ' { // section titles start in column 0
			in = l == title
			continue
		}
		if in {
			lines = append(lines, l)
		}
	}
	return lines
}

// usageOptions returns the option groups of the usage text in cmd/virtxend/options.go, each as its
// spellings ("-t", "--timeout").
func usageOptions(t *testing.T) [][]string {
	t.Helper()
	src, err := os.ReadFile("../cmd/virtxend/options.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)const usage = `(.*?)`").FindSubmatch(src)
	if m == nil {
		t.Fatal("cmd/virtxend/options.go: no const usage = `...`")
	}
	var groups [][]string
	in := false
	for _, l := range strings.Split(string(m[1]), "\n") {
		switch {
		case strings.TrimSpace(l) == "Options:":
			in = true
			continue
		case strings.TrimSpace(l) == "":
			in = false
		}
		if !in {
			continue
		}
		spec, _, _ := strings.Cut(strings.TrimSpace(l), "  ") // the description follows two spaces
		var g []string
		for _, f := range strings.Fields(spec) {
			if strings.HasPrefix(f, "-") {
				g = append(g, f)
			}
		}
		if len(g) == 0 {
			t.Fatalf("usage line %q names no option", l)
		}
		groups = append(groups, g)
	}
	if len(groups) < 5 {
		t.Fatalf("found only %d options in the usage text: %v", len(groups), groups)
	}
	return groups
}

// TestManPageOptions keeps OPTIONS and the usage text of cmd/virtxend in step, both ways: each option group
// of the usage text is a tag of OPTIONS ("-t, --timeout seconds"), and each tag names options of the usage.
func TestManPageOptions(t *testing.T) {
	groups := usageOptions(t)
	text := render(t)
	opts := section(text, "OPTIONS")
	if len(opts) == 0 {
		t.Fatal("the rendered page has no OPTIONS section")
	}
	tagRe := regexp.MustCompile(`^ {7}(-[^ ,]+(?:, -[^ ,]+)*)`) // tags are indented 7, their text 14
	var tags [][]string
	for _, l := range opts {
		if m := tagRe.FindStringSubmatch(l); m != nil {
			tags = append(tags, strings.Split(m[1], ", "))
		}
	}
	for _, g := range groups {
		if !slices.ContainsFunc(tags, func(tag []string) bool { return slices.Equal(tag, g) }) {
			t.Errorf("option %s of the usage text is not a tag of the man page's OPTIONS (tags: %v)", strings.Join(g, ", "), tags)
		}
	}
	for _, tag := range tags {
		if !slices.ContainsFunc(groups, func(g []string) bool { return slices.Equal(tag, g) }) {
			t.Errorf("the man page documents %s, which the usage text of cmd/virtxend/options.go does not list", strings.Join(tag, ", "))
		}
	}
	synopsis := strings.Join(section(text, "SYNOPSIS"), "\n")
	for _, g := range groups {
		if !slices.ContainsFunc(g, func(o string) bool {
			return regexp.MustCompile(`(^|[\s\[|])` + regexp.QuoteMeta(o) + `($|[\s\]|])`).MatchString(synopsis)
		}) {
			t.Errorf("the SYNOPSIS shows none of %v", g)
		}
	}
}
