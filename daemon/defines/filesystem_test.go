package defines

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/virtxend/virtxend/test/testenv"
)

// Every name whose NAME.xml fits the file system is saved, with autostart, and read back; one byte more is
// refused before anything is written, naming NAME.xml and the system's reason.
func TestSaveNamesUpToTheFileSystemLimit(t *testing.T) {
	f := newFixture(t)
	if err := os.MkdirAll(f.s.Dir(), 0o755); err != nil {
		t.Fatal(err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(f.s.Dir(), &st); err != nil {
		t.Fatal(err)
	}
	longest := int(st.Namelen) - len(".xml") // 251 on ext4, tmpfs, xfs
	for _, n := range []int{226, 240, longest} {
		name := strings.Repeat("n", n)
		f.save(spec(name, "", "128Mi"))
		if err := f.s.SetAutostart(name, true); err != nil {
			t.Fatalf("autostart of a %d-byte name: %v", n, err)
		}
	}
	f.load()
	if o := f.get(strings.Repeat("n", longest)); o == nil || !o.Spec.Autostart {
		t.Fatalf("the %d-byte name did not load with its autostart: %+v", longest, o)
	}

	name := strings.Repeat("n", longest+1)
	err := f.s.Save(spec(name, "", "128Mi"))
	var fe *FileError
	if !errors.As(err, &fe) || fe.Op != OpCreate || fe.Path != f.s.Path(name) || !errors.Is(err, syscall.ENAMETOOLONG) {
		t.Fatalf("a %d-byte name: %v, want a FileError %q naming NAME.xml with ENAMETOOLONG", longest+1, err, OpCreate)
	}
	for _, e := range entries(t, f.s.Dir()) {
		if strings.HasPrefix(e, tempPrefix) {
			t.Errorf("a refused save left %s", e)
		}
	}
}

// A full file system fails the write of NAME.xml with the errno, as a FileError naming NAME.xml, and leaves
// the previous definition and no temporary file. The directory is a 1 MiB tmpfs filled to the last byte.
func TestSaveNoSpace(t *testing.T) {
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m,mode=0755"); err != nil {
		testenv.Missing(t, "the right to mount a tmpfs ("+err.Error()+")", "the test as root (make test runs it so)")
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	s := New(dir, Options{})
	if err := s.Save(spec("web", "", "128Mi")); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(s.Path("web"))
	if err != nil {
		t.Fatal(err)
	}
	fillFileSystem(t, filepath.Join(dir, "filler"))

	big := spec("web", "", "256Mi")
	big.Description = strings.Repeat("d", 64<<10) // more than a page: the write itself needs a block
	err = s.Save(big)
	var fe *FileError
	if !errors.As(err, &fe) || fe.Path != s.Path("web") || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("save on a full file system: %v, want a FileError naming web.xml with ENOSPC", err)
	}
	if after, err := os.ReadFile(s.Path("web")); err != nil || string(after) != string(before) {
		t.Errorf("web.xml changed by a failed save: %v", err)
	}
	for _, e := range entries(t, dir) {
		if strings.HasPrefix(e, tempPrefix) {
			t.Errorf("a failed save left %s", e)
		}
	}
}

// fillFileSystem writes path until the file system has no block left.
func fillFileSystem(t *testing.T, path string) {
	t.Helper()
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := fh.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}
