package sim

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/virtxend/virtxend/libxl"
)

// request writes an injection request as another process would: in one write, or renamed into place.
func request(t *testing.T, h *Host, name, content string, rename bool) string {
	t.Helper()
	dir := filepath.Join(h.opts.StateDir, InjectDir)
	path := filepath.Join(dir, name)
	if rename {
		tmp := filepath.Join(dir, "."+name)
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
		return path
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// handled waits until the host removed the request file.
func handled(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(path); os.IsNotExist(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was not handled", filepath.Base(path))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestInjectCrashAndMemSet(t *testing.T) {
	h := newHost(t, func(o *Options) { o.Inject = true })
	events := subscribe(t, h)
	a := mustCreate(t, h, cfg("a", 256<<10, 1), libxl.CreateOptions{})
	b := mustCreate(t, h, cfg("b", 256<<10, 1), libxl.CreateOptions{})

	handled(t, request(t, h, itoa(a)+".crash", "", false))
	waitEvent(t, events, libxl.EventShutdown, a)
	if info := mustInfo(t, h, a); info.State != libxl.StateShutdown || info.ShutdownReason != libxl.ShutdownCrash {
		t.Errorf("after a crash request: %s/%v", info.State, info.ShutdownReason)
	}

	handled(t, request(t, h, itoa(b)+".mem-set", "131072\n", true))
	if info := mustInfo(t, h, b); info.TargetKiB != 131072 || info.CurrentKiB != 131072 {
		t.Errorf("after mem-set 131072: target %d, current %d", info.TargetKiB, info.CurrentKiB)
	}

	for _, c := range []struct{ name, content, want string }{
		{itoa(a) + ".crash", "", "shutdown"},                 // crashed already
		{itoa(b) + ".mem-set", "lots\n", "not a KiB number"}, // bad number
		{itoa(b) + ".mem-set", "999999999\n", "outside"},     // beyond max_memkb
		{"99.crash", "", "99"},                               // no such domain
		{itoa(b) + ".reboot", "", "unknown action"},
		{"vm.crash", "", "not DOMID.ACTION"},
	} {
		path := request(t, h, c.name, c.content, true)
		handled(t, path)
		msg, err := os.ReadFile(path + ".error")
		if err != nil || !strings.Contains(string(msg), c.want) {
			t.Errorf("%s %q: error file %q (%v), want %q", c.name, c.content, msg, err, c.want)
		}
	}
	if info := mustInfo(t, h, b); info.State != libxl.StateRunning || info.TargetKiB != 131072 {
		t.Errorf("failed requests changed b: %s, target %d", info.State, info.TargetKiB)
	}
}

// TestInjectAtOpen: requests written while no host watched (the daemon was down) are handled when one opens;
// a host without Options.Inject leaves them alone.
func TestInjectAtOpen(t *testing.T) {
	opts := testOptions(t.TempDir())
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	id := mustCreate(t, h, cfg("a", 256<<10, 1), libxl.CreateOptions{})
	path := filepath.Join(opts.StateDir, InjectDir, itoa(id)+".crash")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	h.Close()
	if h, err = New(opts); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("a host without Inject took the request: %v", err)
	}
	h.Close()
	opts.Inject = true
	if h, err = New(opts); err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the request is still there after opening: %v", err)
	}
	if info := mustInfo(t, h, id); info.ShutdownReason != libxl.ShutdownCrash {
		t.Errorf("state after the request: %s/%v", info.State, info.ShutdownReason)
	}
}

func itoa(id libxl.DomID) string { return strconv.Itoa(int(id)) }
