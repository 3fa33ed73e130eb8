package libxl

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/virtxend/virtxend/test/testenv"
)

// realLibxl builds testdata/libxltool's canon tool against the host's libxenlight (Debian libxen-dev) and returns a
// function that has libxl parse a configuration and print it again. Where there is no C compiler or no libxl
// headers the test fails under CI and skips elsewhere; it fails when the tool does not build with them.
func realLibxl(t *testing.T) func([]byte) ([]byte, error) {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		testenv.Missing(t, "a C compiler (Debian package gcc)", "apt-get install gcc")
	}
	if _, err := os.Stat("/usr/include/libxl.h"); err != nil {
		testenv.Missing(t, "libxl's headers (Debian package libxen-dev)", "make test-deps")
	}
	dir := t.TempDir()
	mock, canon := filepath.Join(dir, "libmock.so"), filepath.Join(dir, "canon")
	for _, args := range [][]string{
		{"-shared", "-fPIC", "-o", mock, "testdata/libxltool/mock.c"},
		{"-o", canon, "testdata/libxltool/canon.c", "-lxenlight", "-lxentoollog"},
	} {
		if out, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
			t.Fatalf("cannot build the libxl tool: %v\n%s", err, out) // with cc and headers there, a failure is a failure
		}
	}
	return func(in []byte) ([]byte, error) {
		cmd := exec.Command(canon)
		cmd.Env = append(os.Environ(), "LD_PRELOAD="+mock)
		cmd.Stdin = bytes.NewReader(in)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Logf("libxl: %s", stderr.String())
		}
		return out, err
	}
}

// TestRealLibxlReadsOurJSON hands what Build prints to libxl 4.17's own parser and printer: libxl must accept it
// and print the very same text, which is the contract of the xenlight adapter.
func TestRealLibxlReadsOurJSON(t *testing.T) {
	libxl := realLibxl(t)
	check := func(name string, ours []byte) {
		t.Helper()
		theirs, err := libxl(ours)
		if err != nil {
			t.Errorf("%s: libxl rejects our configuration: %v\n%s", name, err, ours)
			return
		}
		if !bytes.Equal(theirs, ours) {
			t.Errorf("%s: libxl prints it differently:\nours:\n%s\nlibxl:\n%s", name, ours, theirs)
		}
	}
	dir := corpusDir(t)
	for _, name := range corpusCases() {
		out, err := buildCase(dir, name, MockHostFacts())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		check(name, out)
	}
	spec, host := featuresSpec()
	res, err := Build(spec, host)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := res.Config.LibxlJSON()
	check("featuresSpec", out)
	files, _ := filepath.Glob("testdata/libxl417-extra/*.json")
	for _, f := range files {
		in, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c DomainConfig
		if err := c.UnmarshalJSON(in); err != nil {
			t.Fatal(err)
		}
		out, _ := c.LibxlJSON()
		check(f, out)
	}
}
