package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// screenshotsEnv names a directory that keeps TestVirtManager's screenshots after the test; without it they go
// to the test's temporary directory, removed at its end.
const screenshotsEnv = "VIRTXEND_E2E_SCREENSHOTS"

// startXvfb starts a private X server and returns its DISPLAY. Xvfb picks a free display itself (-displayfd).
func startXvfb(t *testing.T) string {
	t.Helper()
	needTool(t, "/usr/bin/Xvfb")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var log lockedBuffer
	cmd := exec.Command("/usr/bin/Xvfb", "-displayfd", "3", "-screen", "0", "1280x800x24", "-nolisten", "tcp")
	cmd.ExtraFiles = []*os.File{w}
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start Xvfb: %v", err)
	}
	w.Close()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	// Xvfb writes the display number once it accepts clients, and closes the pipe when it dies.
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatalf("Xvfb gave no display: %v\n%s", err, log.String())
	}
	return ":" + strings.TrimSpace(line)
}

// screenshotDir is where TestVirtManager saves its screenshots.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(screenshotsEnv)
	if dir == "" {
		dir = t.TempDir()
		t.Logf("screenshots in %s (removed after the test; set %s=DIR to keep them)", dir, screenshotsEnv)
		return dir
	}
	dir = filepath.Join(dir, t.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// TestVirtManager starts virt-manager on virtxend's URI under a private Xvfb and D-Bus session and drives it
// through its accessibility tree with dogtail, as virt-manager's own UI tests do (testdata/virtmanager/drive.py):
// it lists the domains, opens a guest's details, starts it and shuts it down. The test checks every state
// change with virsh and saves a screenshot of each step.
func TestVirtManager(t *testing.T) {
	needTool(t, "/usr/bin/virt-manager")
	needTool(t, "/usr/bin/dbus-run-session")
	needTool(t, "/usr/libexec/at-spi-bus-launcher")
	needTool(t, "/usr/lib/python3/dist-packages/dogtail/tree.py")
	h := startToolHost(t)
	kernel := h.file(t, "vmlinuz", "a kernel\n")
	for _, name := range []string{"vmmguest", "vmmother"} {
		xml := fmt.Sprintf("<domain type='xen'><name>%s</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>"+
			"<os><type>linux</type><kernel>%s</kernel></os></domain>\n", name, kernel)
		h.virsh(t, "define", h.file(t, name+".xml", xml))
	}
	h.virsh(t, "start", "vmmother")
	display := startXvfb(t)
	out := screenshotDir(t)
	script, err := filepath.Abs(filepath.Join("testdata", "virtmanager", "drive.py"))
	if err != nil {
		t.Fatal(err)
	}

	runtime := t.TempDir() // the AT-SPI bus puts its socket here
	cmd := exec.Command("/usr/bin/dbus-run-session", "--", "/usr/bin/python3", script, h.URI(), out, "vmmguest", "vmmother")
	cmd.Env = append(os.Environ(), "DISPLAY="+display, "HOME="+h.Home, "XDG_RUNTIME_DIR="+runtime,
		"XDG_CONFIG_HOME="+filepath.Join(h.Home, ".config"), "XDG_CACHE_HOME="+filepath.Join(h.Home, ".cache"),
		"LC_ALL=C.UTF-8", "LIBVIRT_DEFAULT_URI=", "NO_AT_BRIDGE=")
	// Its own process group: the session bus, the accessibility bus and virt-manager end with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the dogtail script: %v", err)
	}
	done := make(chan error, 1) // the script's exit, put back by whoever takes it
	lines := make(chan string)
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		for range lines {
		}
		<-done
	})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		done <- cmd.Wait()
	}()
	failed := func(format string, args ...any) {
		t.Helper()
		vmlog, _ := os.ReadFile(filepath.Join(out, "virt-manager.log"))
		t.Fatalf(format+"\nscript stderr:\n%s\nvirt-manager log:\n%s\ndaemon log:\n%s", append(args,
			tail(stderr.String(), 60), tail(string(vmlog), 30), tail(h.Log(), 20))...)
	}

	// Each step the script reports is checked with virsh before the script goes on.
	checks := map[string]func() error{
		"listed": func() error {
			return wantState(h.state(t, "vmmguest"), "shut off")
		},
		"details": func() error { return wantState(h.state(t, "vmmguest"), "shut off") },
		"running": func() error {
			return wantState(h.state(t, "vmmguest"), "running")
		},
		"shutoff": func() error { return wantState(h.state(t, "vmmguest"), "shut off") },
	}
	var seen, shots []string
	deadline := time.After(4 * time.Minute)
	for len(seen) < len(checks) {
		var line string
		var ok bool
		select {
		case line, ok = <-lines:
		case <-deadline:
			failed("the dogtail script is stuck after steps %v", seen)
		}
		if !ok {
			failed("the dogtail script ended after steps %v", seen)
		}
		switch f := strings.Fields(line); {
		case len(f) == 2 && f[0] == "SCREENSHOT":
			shots = append(shots, f[1])
		case len(f) == 2 && f[0] == "STEP" && checks[f[1]] != nil:
			if err := checks[f[1]](); err != nil {
				failed("after step %s: %v", f[1], err)
			}
			seen = append(seen, f[1])
			if _, err := io.WriteString(stdin, "ok\n"); err != nil {
				failed("tell the script to go on: %v", err)
			}
		default:
			t.Logf("dogtail script: %s", line)
		}
	}
	stdin.Close()
	for range lines {
	}
	err = <-done
	done <- err
	if err != nil {
		failed("the dogtail script: %v", err)
	}
	if len(shots) != 4 {
		t.Errorf("screenshots %v, want 4", shots)
	}
	for _, p := range shots {
		if b, err := os.ReadFile(p); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
			t.Errorf("screenshot %s is no PNG: %v", p, err)
		}
	}
}

// wantState is an error unless got is want.
func wantState(got, want string) error {
	if got != want {
		return fmt.Errorf("domstate vmmguest = %q, want %q", got, want)
	}
	return nil
}
