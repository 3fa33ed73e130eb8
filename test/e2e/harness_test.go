package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"

	"github.com/virtxend/virtxend/test/testenv"
)

// binary is the daemon under test, built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "virtxend-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // other users' runs (the root check) must reach it
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "virtxend")
	build := exec.Command("go", "build", "-o", binary, "github.com/virtxend/virtxend/cmd/virtxend")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build virtxend:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// instance is one virtxend run from a private directory, as ARCHITECTURE.md describes.
type instance struct {
	t                      *testing.T
	Dir                    string
	Conf, Pid              string
	DomainsDir, DefinesDir string
	StateDir               string
	Sock, SockRO, SockAdm  string

	// cmdArgs are extra command-line options for Start.
	cmdArgs []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan struct{}
}

// lockedBuffer is a bytes.Buffer safe for a writing process and a reading test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newInstance lays out a private directory with extra lines appended to virtxend.conf. It does not start it.
func newInstance(t *testing.T, extraConf ...string) *instance {
	t.Helper()
	dir := t.TempDir()
	i := &instance{t: t, Dir: dir,
		Conf: filepath.Join(dir, "virtxend.conf"), Pid: filepath.Join(dir, "virtxend.pid"),
		DomainsDir: filepath.Join(dir, "domains.d"), DefinesDir: filepath.Join(dir, "defines"),
		StateDir: filepath.Join(dir, "state"),
		Sock:     filepath.Join(dir, "run", "virtxend-sock"), SockRO: filepath.Join(dir, "run", "virtxend-sock-ro"),
		SockAdm: filepath.Join(dir, "run", "virtxend-admin-sock"),
	}
	conf := fmt.Sprintf(`unix_sock_dir = "%[1]s/run"
hypervisor = "sim"
domains_dir = "%[1]s/domains.d"
defines_dir = "%[1]s/defines"
state_dir = "%[1]s/state"
libxl_config_file = "%[1]s/libxl.conf"
log_level = 2
`, dir) + strings.Join(extraConf, "\n") + "\n"
	if err := os.MkdirAll(i.DomainsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(i.Conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return i
}

// startInstance lays out and starts an instance, waiting until its socket answers.
func startInstance(t *testing.T, extraConf ...string) *instance {
	t.Helper()
	i := newInstance(t, extraConf...)
	i.Start()
	return i
}

// Start runs the daemon and waits for its read-write socket.
func (i *instance) Start() {
	i.t.Helper()
	i.mu.Lock()
	i.log = &lockedBuffer{}
	i.cmd = exec.Command(binary, append([]string{"-f", i.Conf, "-p", i.Pid}, i.cmdArgs...)...)
	i.cmd.Stdout, i.cmd.Stderr = i.log, i.log
	if err := i.cmd.Start(); err != nil {
		i.mu.Unlock()
		i.t.Fatal(err)
	}
	i.done = make(chan struct{})
	cmd, done := i.cmd, i.done
	i.mu.Unlock()
	go func() { _ = cmd.Wait(); close(done) }()
	i.t.Cleanup(i.Stop)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.Dial("unix", i.Sock); err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			i.t.Fatalf("virtxend exited at start:\n%s", i.Log())
		default:
		}
		if time.Now().After(deadline) {
			i.t.Fatalf("virtxend socket did not appear:\n%s", i.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends the daemon with SIGTERM and waits for it.
func (i *instance) Stop() { i.signal(syscall.SIGTERM) }

// Kill ends the daemon with SIGKILL, as a crash would.
func (i *instance) Kill() { i.signal(syscall.SIGKILL) }

func (i *instance) signal(sig syscall.Signal) {
	i.mu.Lock()
	cmd, done := i.cmd, i.done
	i.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		i.t.Errorf("virtxend did not stop on %v", sig)
	}
}

// Log is what the daemon printed.
func (i *instance) Log() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.log == nil {
		return ""
	}
	return i.log.String()
}

// URI is the connection URI of the read-write socket; RO that of the read-only one.
func (i *instance) URI() string { return "xen+unix:///system?socket=" + i.Sock }

// RO is the connection URI of the read-only socket.
func (i *instance) RO() string { return "xen+unix:///system?socket=" + i.SockRO }

// result is what a client command did.
type result struct {
	Stdout, Stderr string
	Code           int
}

// run runs a command with a deadline.
func run(t *testing.T, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LIBVIRT_DEFAULT_URI=")
	err := cmd.Run()
	r := result{Stdout: out.String(), Stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return r
}

// needTool ends the test when a client is missing: a failure under CI, a skip elsewhere.
func needTool(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		testenv.Missing(t, path, "make test-deps")
	}
}

// Virsh runs virsh against the read-write socket.
func (i *instance) Virsh(args ...string) result {
	i.t.Helper()
	needTool(i.t, "/usr/bin/virsh")
	return run(i.t, "/usr/bin/virsh", append([]string{"-c", i.URI()}, args...)...)
}

// MustVirsh runs virsh and fails the test unless it succeeds; it returns stdout.
func (i *instance) MustVirsh(args ...string) string {
	i.t.Helper()
	r := i.Virsh(args...)
	if r.Code != 0 {
		i.t.Fatalf("virsh %s: exit %d\nstdout: %s\nstderr: %s\ndaemon log:\n%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr, tail(i.Log(), 30))
	}
	return r.Stdout
}

// GoLibvirt connects go-libvirt to the read-write socket.
func (i *instance) GoLibvirt() *libvirt.Libvirt {
	i.t.Helper()
	return i.goLibvirt(i.Sock, false)
}

// GoLibvirtRO connects go-libvirt to the read-only socket.
func (i *instance) GoLibvirtRO() *libvirt.Libvirt {
	i.t.Helper()
	return i.goLibvirt(i.SockRO, true)
}

func (i *instance) goLibvirt(sock string, ro bool) *libvirt.Libvirt {
	i.t.Helper()
	c, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		i.t.Fatal(err)
	}
	// A connection on the read-only socket is read-only whatever the client asks: ro only documents intent.
	_ = ro
	l := libvirt.NewWithDialer(dialers.NewAlreadyConnected(c))
	if err := l.ConnectToURI(libvirt.ConnectURI("xen:///system")); err != nil {
		i.t.Fatal(err)
	}
	i.t.Cleanup(func() { _ = l.Disconnect() })
	return l
}

// WriteSpec drops a file into the drop-in directory atomically.
func (i *instance) WriteSpec(name, content string) {
	i.t.Helper()
	tmp := filepath.Join(i.Dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		i.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(i.DomainsDir, name)); err != nil {
		i.t.Fatal(err)
	}
}

// Eventually polls cond until it holds or the deadline passes.
func (i *instance) Eventually(what string, limit time.Duration, cond func() bool) {
	i.t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			i.t.Fatalf("timed out after %s waiting for %s\ndaemon log:\n%s", limit, what, tail(i.Log(), 30))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// pvSpec is a small PV guest as a XenDomain YAML file.
func pvSpec(name string, memMiB int, runStrategy string) string {
	return fmt.Sprintf(`apiVersion: virtxend.io/v1alpha1
kind: XenDomain
metadata:
  name: %s
spec:
  runStrategy: %s
  domain:
    memory: %dMi
    vcpu: {count: 1}
    os: {type: xen, kernel: /boot/vmlinuz}
`, name, runStrategy, memMiB)
}
