package libvirtsrc

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/virtxend/virtxend/test/testenv"
)

// Version is the libvirt release the reference data is pinned to (and hack/libvirt-src.sh fetches).
const Version = "11.3.0"

// EnvDir names the environment variable that overrides the cache directory.
const EnvDir = "VIRTXEND_LIBVIRT_SRC"

// FetchCommand is what a person runs to fetch the data; it prints the directory it fills.
const FetchCommand = "hack/libvirt-src.sh (make test-deps runs it)"

// CacheDir returns where the extracted release is expected: $VIRTXEND_LIBVIRT_SRC, else
// $VIRTXEND_CACHE/libvirt-VERSION, else ~/.cache/virtxend/libvirt-VERSION.
func CacheDir() string {
	if d := os.Getenv(EnvDir); d != "" {
		return d
	}
	root := os.Getenv("VIRTXEND_CACHE")
	if root == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "/root"
		}
		root = filepath.Join(home, ".cache", "virtxend")
	}
	return filepath.Join(root, "libvirt-"+Version)
}

// Available reports whether the extracted release is complete at CacheDir.
func Available() bool {
	_, err := os.Stat(filepath.Join(CacheDir(), ".complete"))
	return err == nil
}

// Dir returns the directory of libvirt's extracted source tree (it holds tests/ and src/). Without it the test
// fails under CI and skips elsewhere, naming what is missing and the command that fetches it.
func Dir(tb testing.TB) string {
	tb.Helper()
	d := CacheDir()
	if !Available() {
		testenv.Missing(tb, "libvirt "+Version+"'s test data at "+d, FetchCommand)
	}
	return d
}

// Path returns the file or directory rel (slash-separated, relative to the top of libvirt's source tree, such
// as "tests/xlconfigdata") of the extracted release, failing or skipping like Dir when it is not there.
func Path(tb testing.TB, rel string) string {
	tb.Helper()
	p := filepath.Join(Dir(tb), filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		testenv.Missing(tb, p+" ("+err.Error()+"; the cache is older than the list of parts)", FetchCommand)
	}
	return p
}
