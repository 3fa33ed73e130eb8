package docs

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/virtxend/virtxend/test/testenv"
)

// installEnv is the environment for a nested make: nothing of an outer make's flags or variables.
func installEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		for _, k := range []string{"MAKEFLAGS=", "MFLAGS=", "MAKELEVEL=", "MAKEOVERRIDES=", "GNUMAKEFLAGS="} {
			if strings.HasPrefix(kv, k) {
				return true
			}
		}
		return false
	})
}

// makeIn runs make in the repository with a stand-in binary: GO=true makes the build step a no-op, so the
// test does not compile the daemon.
func makeIn(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("make", append([]string{"--no-print-directory", "BIN=" + bin, "GO=true"}, args...)...)
	cmd.Dir = ".."
	cmd.Env = installEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func wantFile(t *testing.T, path string, mode fs.FileMode, content []byte) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Error(err)
		return
	}
	if !st.Mode().IsRegular() || st.Mode().Perm() != mode {
		t.Errorf("%s: mode %v, want %v", path, st.Mode(), mode)
	}
	if content != nil {
		if got, _ := os.ReadFile(path); !bytes.Equal(got, content) {
			t.Errorf("%s: content differs from its source", path)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func unitNames(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(unitDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestMakeInstall runs make install into a DESTDIR and checks the tree: the binary, every unit of
// config/systemd (pointed at the installed binary), the man page, the default configuration (never
// overwriting the host's) and the drop-in directory; then make uninstall. The installed units go through
// systemd-analyze verify when it can run here.
func TestMakeInstall(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		testenv.Missing(t, "make (Debian package make)", "apt-get install make")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	fake := []byte("#!/bin/sh\necho virtxend stand-in\n")
	if err := os.WriteFile(filepath.Join(bin, "virtxend"), fake, 0o700); err != nil {
		t.Fatal(err)
	}

	t.Run("PREFIX=/usr", func(t *testing.T) {
		root := filepath.Join(tmp, "usr-root")
		makeIn(t, bin, "install", "DESTDIR="+root, "PREFIX=/usr")
		wantFile(t, filepath.Join(root, "usr/sbin/virtxend"), 0o755, fake)
		for _, u := range unitNames(t) {
			wantFile(t, filepath.Join(root, "usr/lib/systemd/system", u), 0o644, mustRead(t, filepath.Join(unitDir, u)))
		}
		wantFile(t, filepath.Join(root, "usr/share/man/man8/virtxend.8"), 0o644, mustRead(t, manPage))
		for _, f := range []string{"virtxend.conf", "libxl.conf"} {
			wantFile(t, filepath.Join(root, "etc/libvirt", f), 0o644, mustRead(t, filepath.Join("../config", f)))
		}
		if st, err := os.Stat(filepath.Join(root, "etc/virtxend/domains.d")); err != nil || !st.IsDir() || st.Mode().Perm() != 0o755 {
			t.Errorf("etc/virtxend/domains.d: not a 0755 directory (%v)", err)
		}
		verifyUnits(t, root)

		// A second install keeps the host's configuration.
		local := []byte("# this host's own settings\nlog_level = 2\n")
		conf := filepath.Join(root, "etc/libvirt/virtxend.conf")
		if err := os.WriteFile(conf, local, 0o640); err != nil {
			t.Fatal(err)
		}
		out := makeIn(t, bin, "install", "DESTDIR="+root, "PREFIX=/usr")
		if got := mustRead(t, conf); !bytes.Equal(got, local) {
			t.Errorf("make install overwrote an existing virtxend.conf:\n%s", got)
		}
		if !strings.Contains(out, "keeping the existing") {
			t.Errorf("make install did not say it kept virtxend.conf:\n%s", out)
		}

		makeIn(t, bin, "uninstall", "DESTDIR="+root, "PREFIX=/usr")
		var left []string
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				left = append(left, strings.TrimPrefix(p, root+"/"))
			}
			return err
		})
		if want := []string{"etc/libvirt/libxl.conf", "etc/libvirt/virtxend.conf"}; !slices.Equal(left, want) {
			t.Errorf("after make uninstall: %v, want only %v", left, want)
		}
		if _, err := os.Stat(filepath.Join(root, "etc/virtxend/domains.d")); err != nil {
			t.Errorf("make uninstall removed the drop-in directory: %v", err)
		}
	})

	t.Run("PREFIX=/usr/local", func(t *testing.T) {
		root := filepath.Join(tmp, "local-root")
		makeIn(t, bin, "install", "DESTDIR="+root, "PREFIX=/usr/local")
		wantFile(t, filepath.Join(root, "usr/local/sbin/virtxend"), 0o755, fake)
		wantFile(t, filepath.Join(root, "usr/local/share/man/man8/virtxend.8"), 0o644, nil)
		svc := string(mustRead(t, filepath.Join(root, "usr/local/lib/systemd/system/virtxend.service")))
		if !strings.Contains(svc, "\nExecStart=/usr/local/sbin/virtxend $VIRTXEND_ARGS\n") {
			t.Errorf("virtxend.service does not start /usr/local/sbin/virtxend:\n%s", svc)
		}
		// The daemon reads its configuration in /etc whatever the prefix.
		wantFile(t, filepath.Join(root, "etc/libvirt/virtxend.conf"), 0o644, nil)
		if _, err := os.Stat(filepath.Join(root, "usr/local/etc")); err == nil {
			t.Error("make install wrote under PREFIX/etc, where the daemon does not look")
		}
	})

	t.Run("help", func(t *testing.T) {
		out := regexp.MustCompile(`\x1b\[[0-9;]*m`).ReplaceAllString(makeIn(t, bin, "help"), "")
		for _, target := range []string{"install", "uninstall"} {
			if !regexp.MustCompile(`(?m)^\s+` + target + `\s+\S`).MatchString(out) {
				t.Errorf("make help does not list %s:\n%s", target, out)
			}
		}
	})
}

// verifyUnits runs systemd-analyze verify on the units installed under root, pointed at the installed
// binary, with the installed man page answering their Documentation=man:virtxend(8). Any output fails: verify
// exits 0 on unknown keys and bad values, which it only prints.
func verifyUnits(t *testing.T, root string) {
	t.Helper()
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Log("systemd-analyze is not installed: the units are not verified by systemd")
		return
	}
	dir := filepath.Join(t.TempDir(), "units")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	env := append(installEnv(), "MANPATH="+filepath.Join(root, "usr/share/man"), "SYSTEMD_LOG_COLOR=0", "SYSTEMD_PAGER=")
	verify := func(files ...string) (string, error) {
		cmd := exec.Command("systemd-analyze", append([]string{"verify"}, files...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// Can verify run here at all? A trivial unit must pass cleanly.
	probe := filepath.Join(dir, "virtxend-probe.service")
	if err := os.WriteFile(probe, []byte("[Service]\nType=oneshot\nExecStart=/bin/true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := verify(probe); err != nil || out != "" {
		t.Logf("systemd-analyze verify cannot run here (%v): the units are not verified by systemd\n%s", err, out)
		return
	}
	os.Remove(probe)

	sbin := filepath.Join(root, "usr/sbin/virtxend")
	var files []string
	for _, u := range unitNames(t) {
		b := mustRead(t, filepath.Join(root, "usr/lib/systemd/system", u))
		b = bytes.ReplaceAll(b, []byte("/usr/sbin/virtxend"), []byte(sbin))
		p := filepath.Join(dir, u)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	if out, err := verify(files...); err != nil || out != "" {
		t.Errorf("systemd-analyze verify %s: %v\n%s", strings.Join(files, " "), err, out)
	} else {
		t.Logf("systemd-analyze verify: %d units clean", len(files))
	}
}
