package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/virtxend/virtxend/test/testenv"
)

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		code     int
		out, err string
	}{
		{[]string{"--help"}, 0, "--timeout", ""},
		{[]string{"-h"}, 0, "--pid-file", ""},
		{[]string{"--version"}, 0, "virtxend (virtxend)", ""},
		{[]string{"--bogus"}, 1, "", "unrecognized option '--bogus'"},
		{[]string{"-x"}, 1, "", "invalid option -- 'x'"},
		{[]string{"-t", "soon"}, 1, "", "invalid value for timeout"},
	} {
		r := run(t, binary, tc.args...)
		if r.Code != tc.code || !strings.Contains(r.Stdout, tc.out) || !strings.Contains(r.Stderr, tc.err) {
			t.Errorf("virtxend %v: exit %d\nstdout: %s\nstderr: %s", tc.args, r.Code, r.Stdout, r.Stderr)
		}
		if tc.code != 0 && !strings.Contains(r.Stderr, "Usage:") {
			t.Errorf("virtxend %v: no usage on a bad option:\n%s", tc.args, r.Stderr)
		}
	}
}

func TestRefusesNonRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to drop to another user")
	}
	if _, err := exec.LookPath("runuser"); err != nil {
		testenv.Missing(t, "runuser (Debian package util-linux)", "apt-get install util-linux")
	}
	r := run(t, "runuser", "-u", "nobody", "--", binary, "-f", "/nonexistent.conf")
	if r.Code != 1 || !strings.Contains(r.Stderr, "must be run as root") {
		t.Fatalf("as nobody: exit %d, stderr %q", r.Code, r.Stderr)
	}
}

func TestConfigErrors(t *testing.T) {
	i := newInstance(t, "max_clients = \"many\"")
	r := run(t, binary, "-f", i.Conf, "-p", i.Pid)
	if r.Code != 1 || !strings.Contains(r.Stderr, i.Conf+":8") || !strings.Contains(r.Stderr, "max_clients") {
		t.Fatalf("bad value: exit %d, stderr %q", r.Code, r.Stderr)
	}
	if err := os.WriteFile(i.Conf, []byte("log_level = [ 1,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := run(t, binary, "-f", i.Conf, "-p", i.Pid); r.Code != 1 || !strings.Contains(r.Stderr, i.Conf+":") {
		t.Fatalf("syntax error: exit %d, stderr %q", r.Code, r.Stderr)
	}
	if _, err := os.Stat(i.Pid); !os.IsNotExist(err) {
		t.Fatal("a refused start left a pid file")
	}
}

func TestSecondInstanceRefused(t *testing.T) {
	i := startInstance(t)
	r := run(t, binary, "-f", i.Conf, "-p", i.Pid)
	if r.Code != 1 || !strings.Contains(r.Stderr, "pid file") {
		t.Fatalf("second instance on the same pid file: exit %d, stderr %q", r.Code, r.Stderr)
	}
	r = run(t, binary, "-f", i.Conf, "-p", filepath.Join(i.Dir, "other.pid"))
	if r.Code != 1 {
		t.Fatalf("second instance on the same sockets: exit %d, stderr %q", r.Code, r.Stderr)
	}
	if i.MustVirsh("list") == "" { // the first one is undisturbed
		t.Fatal("first instance stopped answering")
	}
}

func TestSocketModes(t *testing.T) {
	i := startInstance(t, `unix_sock_group = "0"`, `unix_sock_ro_perms = "0777"`, `unix_sock_rw_perms = "0770"`)
	for path, want := range map[string]os.FileMode{i.Sock: 0o770, i.SockRO: 0o777, i.SockAdm: 0o700} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Gid != 0 {
			t.Errorf("%s: group %d, want 0", path, st.Gid)
		}
	}
}

func TestStaleSocketsReplaced(t *testing.T) {
	i := startInstance(t)
	i.Kill() // leaves the socket files and the pid file behind
	if _, err := os.Stat(i.Sock); err != nil {
		t.Fatalf("SIGKILL removed the socket file?! %v", err)
	}
	i.Start()
	i.MustVirsh("list")
}

func TestDaemonizeAndPidFile(t *testing.T) {
	i := newInstance(t)
	// -d logs to journald or /var/log/libvirt by default: keep this test's log in its own directory.
	if err := os.WriteFile(i.Conf, append(mustRead(t, i.Conf), []byte(`log_outputs = "2:file:`+filepath.Join(i.Dir, "virtxend.log")+`"`+"\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, binary, "-d", "-f", i.Conf, "-p", i.Pid)
	if r.Code != 0 {
		t.Fatalf("virtxend -d: exit %d: %s", r.Code, r.Stderr)
	}
	b, err := os.ReadFile(i.Pid)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file %q: %v", b, err)
	}
	proc, _ := os.FindProcess(pid)
	t.Cleanup(func() { _ = proc.Signal(syscall.SIGKILL) })
	i.MustVirsh("list") // it serves once -d returned
	if err := proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	i.Eventually("pid file removed after SIGTERM", 15*time.Second, func() bool {
		_, err := os.Stat(i.Pid)
		return os.IsNotExist(err)
	})
	// A failing -d start reports the child's error.
	bad := newInstance(t, `max_clients = "many"`)
	if r := run(t, binary, "-d", "-f", bad.Conf, "-p", bad.Pid); r.Code != 1 || !strings.Contains(r.Stderr, "max_clients") {
		t.Fatalf("failing -d start: exit %d, stderr %q", r.Code, r.Stderr)
	}
}

// exited waits up to limit for the instance's process to end.
func (i *instance) exited(limit time.Duration) bool {
	i.mu.Lock()
	done := i.done
	i.mu.Unlock()
	select {
	case <-done:
		return true
	case <-time.After(limit):
		return false
	}
}

func TestIdleTimeout(t *testing.T) {
	i := newInstance(t)
	i.cmdArgs = []string{"-t", "1"}
	i.Start()
	// A connected client keeps it alive.
	l := i.GoLibvirt()
	if i.exited(3 * time.Second) {
		t.Fatalf("exited with a client connected:\n%s", i.Log())
	}
	// So does a domain it must keep running, even with no client.
	i.WriteSpec("keep.yaml", pvSpec("keep", 8, "Always"))
	i.Eventually("keep running", 10*time.Second, func() bool { _, ok := runningByName(t, l)["keep"]; return ok })
	_ = l.Disconnect()
	if i.exited(3 * time.Second) {
		t.Fatalf("exited while a domain must keep running:\n%s", i.Log())
	}
	// Without it, the daemon exits; the guest it stopped managing would still run, but Halted stops it first.
	i.WriteSpec("keep.yaml", pvSpec("keep", 8, "Halted"))
	if !i.exited(20 * time.Second) {
		t.Fatalf("did not exit when idle:\n%s", tail(i.Log(), 20))
	}
	if _, err := os.Stat(i.Pid); !os.IsNotExist(err) {
		t.Fatal("pid file left after the idle exit")
	}
}

func TestSighupReloadKeepsClients(t *testing.T) {
	i := startInstance(t)
	l := i.GoLibvirt()
	// A definition written behind the daemon's back, and a changed configuration.
	if err := os.MkdirAll(i.DefinesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(i.DefinesDir, "late.xml"), []byte(defineXML("late")), 0o600); err != nil {
		t.Fatal(err)
	}
	conf, _ := os.ReadFile(i.Conf)
	if err := os.WriteFile(i.Conf, append(conf, []byte("max_clients = 100\naudit_level = 2\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	i.mu.Lock()
	_ = i.cmd.Process.Signal(syscall.SIGHUP)
	i.mu.Unlock()
	i.Eventually("late defined after SIGHUP", 10*time.Second, func() bool {
		doms, _, err := l.ConnectListAllDomains(1, 0)
		if err != nil {
			t.Fatalf("the connected client broke on SIGHUP: %v", err)
		}
		for _, d := range doms {
			if d.Name == "late" {
				return true
			}
		}
		return false
	})
	i.Eventually("reload reported", 5*time.Second, func() bool {
		return strings.Contains(i.Log(), "next start") && strings.Contains(i.Log(), "audit_level")
	})
}

func TestSocketActivationAndNotify(t *testing.T) {
	testenv.Tool(t, "/usr/bin/systemd-socket-activate", "systemd")
	i := newInstance(t)
	// A NOTIFY_SOCKET listener, as systemd would have for Type=notify.
	notifyPath := filepath.Join(i.Dir, "notify")
	ns, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if err := os.MkdirAll(filepath.Dir(i.Sock), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/bin/systemd-socket-activate",
		"-l", i.Sock, "-l", i.SockRO, "-l", i.SockAdm,
		"--fdname=virtxend.socket:virtxend-ro.socket:virtxend-admin.socket",
		"-E", "NOTIFY_SOCKET="+notifyPath,
		binary, "-f", i.Conf, "-p", i.Pid)
	cmd.Stderr = &lockedBuffer{}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	i.Eventually("activation sockets", 10*time.Second, func() bool { _, err := os.Stat(i.SockAdm); return err == nil })
	// The first connection starts the daemon on the passed sockets.
	i.MustVirsh("list")
	needTool(t, "/usr/bin/virsh")
	if r := run(t, "/usr/bin/virsh", "-r", "-c", i.RO(), "list"); r.Code != 0 {
		t.Fatalf("read-only socket after activation: %+v", r)
	}
	buf := make([]byte, 512)
	_ = ns.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := ns.ReadFromUnix(buf)
	if err != nil || !strings.Contains(string(buf[:n]), "READY=1") {
		t.Fatalf("no READY=1 from the daemon: %q %v", buf[:n], err)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = ns.SetReadDeadline(time.Now().Add(15 * time.Second))
	n, _, err = ns.ReadFromUnix(buf)
	if err != nil || !strings.Contains(string(buf[:n]), "STOPPING=1") {
		t.Fatalf("no STOPPING=1 on SIGTERM: %q %v", buf[:n], err)
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

func TestPeerCredentialsLogged(t *testing.T) {
	i := startInstance(t)
	i.MustVirsh("list")
	want := "uid=" + strconv.Itoa(os.Getuid())
	i.Eventually("a client connection logged with its credentials", 5*time.Second, func() bool {
		for _, line := range strings.Split(i.Log(), "\n") {
			if strings.Contains(line, "client connected") && strings.Contains(line, "pid=") && strings.Contains(line, want) {
				return true
			}
		}
		return false
	})
}
