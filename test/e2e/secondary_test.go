package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/test/libvirtinstall"
	"github.com/virtxend/virtxend/test/testenv"
)

// privateLibvirtd is a libvirtd run by a test from a directory of its own, unprivileged (as nobody when the test
// runs as root), so in session mode: it serves the secondary drivers on Dir/run/libvirt/libvirt-sock without
// touching the host's libvirt.
type privateLibvirtd struct {
	Dir     string // its home; files it must reach go here
	SockDir string // where libvirt-sock is
	uid     int
	gid     int
	cmd     *exec.Cmd
	done    chan struct{}
	log     string
}

// startPrivateLibvirtd starts a private libvirtd and waits for its socket.
func startPrivateLibvirtd(t *testing.T) *privateLibvirtd {
	t.Helper()
	testenv.Tool(t, "/usr/sbin/libvirtd", "libvirt-daemon")
	// Not t.TempDir: the daemon's user must be able to reach the directory.
	top, err := os.MkdirTemp("", "virtxend-libvirtd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	d := &privateLibvirtd{Dir: filepath.Join(top, "home"), SockDir: filepath.Join(top, "run", "libvirt"),
		uid: os.Getuid(), gid: os.Getgid(), done: make(chan struct{}), log: filepath.Join(top, "libvirtd.log")}
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if os.Geteuid() == 0 {
		var err error
		if d.uid, d.gid, err = libvirtinstall.Nobody(); err != nil {
			t.Fatalf("user nobody: %v", err)
		}
		attr.Credential = &syscall.Credential{Uid: uint32(d.uid), Gid: uint32(d.gid)}
	}
	if err := os.Chmod(top, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{d.Dir, filepath.Dir(d.SockDir)} {
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, d.uid, d.gid); err != nil {
			t.Fatal(err)
		}
	}
	log, err := os.Create(d.log)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	d.cmd = exec.Command("/usr/sbin/libvirtd", "--timeout", "600") // a backstop: the test stops it
	d.cmd.Dir = d.Dir
	d.cmd.Env = []string{"HOME=" + d.Dir, "XDG_RUNTIME_DIR=" + filepath.Dir(d.SockDir),
		"XDG_CONFIG_HOME=" + filepath.Join(d.Dir, ".config"), "XDG_CACHE_HOME=" + filepath.Join(d.Dir, ".cache"),
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	d.cmd.Stdout, d.cmd.Stderr = log, log
	d.cmd.SysProcAttr = attr
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start libvirtd: %v", err)
	}
	go func() { _ = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(d.stop)
	sock := filepath.Join(d.SockDir, "libvirt-sock")
	for deadline := time.Now().Add(30 * time.Second); ; {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return d
		}
		select {
		case <-d.done:
			t.Fatalf("libvirtd exited:\n%s", d.tail())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("libvirtd does not listen on %s:\n%s", sock, d.tail())
		}
	}
}

// stop ends libvirtd and its process group: SIGTERM, then SIGKILL.
func (d *privateLibvirtd) stop() {
	pid := d.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-d.done
	}
}

func (d *privateLibvirtd) tail() string {
	b, _ := os.ReadFile(d.log)
	return tail(string(b), 20)
}

// dirFor makes a directory the daemon's user owns.
func (d *privateLibvirtd) dirFor(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(d.Dir, name)
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, d.uid, d.gid); err != nil {
		t.Fatal(err)
	}
	return p
}

// VirshRO runs virsh read-only against the read-only socket.
func (i *instance) VirshRO(args ...string) result {
	i.t.Helper()
	needTool(i.t, "/usr/bin/virsh")
	return run(i.t, "/usr/bin/virsh", append([]string{"-r", "-c", i.RO()}, args...)...)
}

// TestSecondaryDrivers drives the network, storage, nodedev, secret, interface and nwfilter drivers with virsh
// through virtxend, which forwards them to a private libvirtd as libvirt's modular daemons forward them.
func TestSecondaryDrivers(t *testing.T) {
	lv := startPrivateLibvirtd(t)
	i := startInstance(t, fmt.Sprintf("secondary_sock_dir = %q", lv.SockDir))

	t.Run("network", func(t *testing.T) {
		if out := i.MustVirsh("net-list", "--all"); !strings.Contains(out, "Name") || !strings.Contains(out, "Persistent") {
			t.Errorf("net-list --all:\n%s", out)
		}
		xml := i.xmlFile("net.xml", "<network><name>sectest</name><forward mode='bridge'/><bridge name='br-sectest'/></network>\n")
		if out := i.MustVirsh("net-define", xml); !strings.Contains(out, "Network sectest defined") {
			t.Errorf("net-define: %s", out)
		}
		// Events of the network driver come back to a client of virtxend.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ev := exec.CommandContext(ctx, "/usr/bin/virsh", "-c", i.URI(), "net-event", "--loop", "--event", "lifecycle")
		ev.Env = append(os.Environ(), "LC_ALL=C")
		var evOut lockedBuffer
		ev.Stdout, ev.Stderr = &evOut, &evOut
		if err := ev.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = ev.Process.Kill(); _ = ev.Wait() }()
		// virsh says nothing once its registration is in place: start the network until the event shows up
		// (a start before the registration reached libvirtd has no event), without ever sleeping blindly.
		started := func() bool { return strings.Contains(evOut.String(), "event 'lifecycle' for network sectest: Started") }
		for deadline := time.Now().Add(20 * time.Second); ; {
			if out := i.MustVirsh("net-start", "sectest"); !strings.Contains(out, "Network sectest started") {
				t.Errorf("net-start: %s", out)
			}
			for wait := time.Now().Add(time.Second); !started() && time.Now().Before(wait); {
				time.Sleep(20 * time.Millisecond)
			}
			if started() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no started event from net-event:\n%s", evOut.String())
			}
			i.MustVirsh("net-destroy", "sectest")
		}
		dump := i.MustVirsh("net-dumpxml", "sectest")
		for _, want := range []string{"<name>sectest</name>", "<forward mode='bridge'/>", "<bridge name='br-sectest'/>", "<uuid>"} {
			if !strings.Contains(dump, want) {
				t.Errorf("net-dumpxml lacks %s:\n%s", want, dump)
			}
		}
		if out := i.MustVirsh("net-destroy", "sectest"); !strings.Contains(out, "Network sectest destroyed") {
			t.Errorf("net-destroy: %s", out)
		}
		i.Eventually("the stopped event", 10*time.Second, func() bool {
			return strings.Contains(evOut.String(), "event 'lifecycle' for network sectest: Stopped")
		})
		if out := i.MustVirsh("net-list", "--all"); !strings.Contains(out, "sectest") || !strings.Contains(out, "inactive") {
			t.Errorf("net-list --all after net-destroy:\n%s", out)
		}
	})

	t.Run("storage", func(t *testing.T) {
		target := lv.dirFor(t, "pool")
		i.MustVirsh("pool-define-as", "p1", "dir", "--target", target)
		i.MustVirsh("pool-start", "p1")
		if out := i.MustVirsh("vol-create-as", "p1", "v1", "1M"); !strings.Contains(out, "Vol v1 created") {
			t.Errorf("vol-create-as: %s", out)
		}
		if out := i.MustVirsh("vol-list", "p1"); !strings.Contains(out, "v1") || !strings.Contains(out, filepath.Join(target, "v1")) {
			t.Errorf("vol-list:\n%s", out)
		}
		if out := strings.TrimSpace(i.MustVirsh("vol-path", "v1", "--pool", "p1")); out != filepath.Join(target, "v1") {
			t.Errorf("vol-path = %q, want %q", out, filepath.Join(target, "v1"))
		}
		// The streams of vol-upload and vol-download are bridged.
		up := i.xmlFile("upload.bin", "contents uploaded through virtxend\n")
		i.MustVirsh("vol-upload", "v1", up, "--pool", "p1")
		// virsh hears that the upload finished before libvirtd has written it (see the secondary package).
		i.Eventually("the upload to reach the volume", 10*time.Second, func() bool {
			b, _ := os.ReadFile(filepath.Join(target, "v1"))
			return strings.HasPrefix(string(b), "contents uploaded through virtxend\n")
		})
		down := filepath.Join(i.Dir, "download.bin")
		i.MustVirsh("vol-download", "v1", down, "--pool", "p1", "--length", "35")
		if b, err := os.ReadFile(down); err != nil || string(b) != "contents uploaded through virtxend\n" {
			t.Errorf("vol-download gave %q, %v", b, err)
		}
		if out := i.MustVirsh("pool-list", "--all"); !strings.Contains(out, "p1") || !strings.Contains(out, "active") {
			t.Errorf("pool-list --all:\n%s", out)
		}
	})

	t.Run("others", func(t *testing.T) {
		if out := i.MustVirsh("nodedev-list"); !strings.Contains(out, "computer") {
			t.Errorf("nodedev-list:\n%s", out)
		}
		if out := i.MustVirsh("secret-list"); !strings.Contains(out, "UUID") || !strings.Contains(out, "Usage") {
			t.Errorf("secret-list:\n%s", out)
		}
		if out := i.MustVirsh("iface-list", "--all"); !strings.Contains(out, "Name") || !strings.Contains(out, "MAC Address") {
			t.Errorf("iface-list --all:\n%s", out)
		}
		if out := i.MustVirsh("nwfilter-list"); !strings.Contains(out, "UUID") || !strings.Contains(out, "Name") {
			t.Errorf("nwfilter-list:\n%s", out)
		}
	})

	t.Run("read-only", func(t *testing.T) {
		if r := i.VirshRO("net-list", "--all"); r.Code != 0 || !strings.Contains(r.Stdout, "sectest") {
			t.Errorf("read-only net-list: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
		xml := i.xmlFile("net2.xml", "<network><name>sectest2</name><forward mode='bridge'/><bridge name='br-s2'/></network>\n")
		r := i.VirshRO("net-define", xml)
		if r.Code != 1 || !strings.Contains(r.Stderr, "operation forbidden: read only access prevents virNetworkDefineXML") {
			t.Errorf("read-only net-define: exit %d\n%s", r.Code, r.Stderr)
		}
		// virsh refuses that on its side already; a client that sends the call anyway is refused by virtxend.
		l := i.GoLibvirtRO()
		_, err := l.NetworkDefineXML("<network><name>sectest2</name><forward mode='bridge'/><bridge name='br-s2'/></network>")
		var le libvirt.Error
		if !errors.As(err, &le) || le.Code != uint32(libvirt.ErrOperationDenied) ||
			!strings.Contains(le.Message, "read only access prevents virNetworkDefineXML") {
			t.Errorf("read-only NetworkDefineXML: %v", err)
		}
		if nets, _, err := l.ConnectListAllNetworks(1, 0); err != nil || len(nets) != 1 || nets[0].Name != "sectest" {
			t.Errorf("read-only ConnectListAllNetworks = %v, %v", nets, err)
		}
	})
}

// TestSecondaryWithoutDaemon: with no daemon for a secondary driver, its calls fail with libvirt's own error
// naming the driver's socket, not with NO_SUPPORT.
func TestSecondaryWithoutDaemon(t *testing.T) {
	empty := t.TempDir()
	i := startInstance(t, fmt.Sprintf("secondary_sock_dir = %q", empty))
	i.wantVirshError([]string{"pool-list", "--all"},
		"error: Failed to connect socket to '"+filepath.Join(empty, "virtstoraged-sock")+"': No such file or directory")
	i.wantVirshError([]string{"net-list"},
		"error: Failed to connect socket to '"+filepath.Join(empty, "virtnetworkd-sock")+"': No such file or directory")
	l := i.GoLibvirt()
	_, _, err := l.ConnectListAllSecrets(1, 0)
	var le libvirt.Error
	if !errors.As(err, &le) || le.Code != uint32(libvirt.ErrSystemError) ||
		le.Message != "Failed to connect socket to '"+filepath.Join(empty, "virtsecretd-sock")+"': No such file or directory" {
		t.Errorf("ConnectListAllSecrets without a daemon: %v (%+v)", err, le)
	}
	// The hypervisor driver is not affected.
	if out := i.MustVirsh("list", "--all"); !strings.Contains(out, "Name") {
		t.Errorf("list --all:\n%s", out)
	}
}
