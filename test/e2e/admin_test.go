package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// virtAdmin runs the real virt-admin against the instance's admin socket.
func (i *instance) virtAdmin(args ...string) result {
	i.t.Helper()
	needTool(i.t, "/usr/bin/virt-admin")
	return run(i.t, "/usr/bin/virt-admin", append([]string{"-c", "virtxend+unix:///system?socket=" + i.SockAdm}, args...)...)
}

// mustVirtAdmin runs virt-admin and fails the test unless it succeeds; it returns stdout.
func (i *instance) mustVirtAdmin(args ...string) string {
	i.t.Helper()
	r := i.virtAdmin(args...)
	if r.Code != 0 {
		i.t.Fatalf("virt-admin %s: exit %d\nstdout: %s\nstderr: %s\ndaemon log:\n%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr, tail(i.Log(), 30))
	}
	return r.Stdout
}

// failVirtAdmin runs virt-admin, expects it to fail, and checks its error output contains want.
func (i *instance) failVirtAdmin(want string, args ...string) {
	i.t.Helper()
	r := i.virtAdmin(args...)
	if r.Code == 0 || !strings.Contains(r.Stderr, want) {
		i.t.Errorf("virt-admin %s: exit %d, stderr %q; want a failure saying %q", strings.Join(args, " "), r.Code, r.Stderr, want)
	}
}

// fields parses virt-admin's "name : value" listings.
func fields(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

// clientIDs parses virt-admin client-list: the ids and transports of the clients listed.
func clientIDs(out string) map[string]string {
	ids := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) >= 3 && regexp.MustCompile(`^\d+$`).MatchString(f[0]) {
			ids[f[0]] = f[1]
		}
	}
	return ids
}

func wantFields(t *testing.T, what, out string, want map[string]string) {
	t.Helper()
	got := fields(out)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %q, want %q\n%s", what, k, got[k], v, out)
		}
	}
}

func TestAdminServersAndLimits(t *testing.T) {
	i := startInstance(t)
	if out := i.mustVirtAdmin("version"); !strings.Contains(out, "Running against daemon: 11.3.0") {
		t.Errorf("version:\n%s", out)
	}
	out := i.mustVirtAdmin("srv-list")
	if !regexp.MustCompile(`(?s)0\s+virtxend\s*\n\s*1\s+admin`).MatchString(out) {
		t.Errorf("srv-list:\n%s", out)
	}

	wantFields(t, "threadpool", i.mustVirtAdmin("srv-threadpool-info", "virtxend"), map[string]string{
		"minWorkers": "5", "maxWorkers": "20", "prioWorkers": "5", "nWorkers": "0", "freeWorkers": "0", "jobQueueDepth": "0"})
	wantFields(t, "admin threadpool", i.mustVirtAdmin("srv-threadpool-info", "admin"), map[string]string{"prioWorkers": "0"})
	i.mustVirtAdmin("srv-threadpool-set", "virtxend", "--min-workers", "2", "--max-workers", "8", "--priority-workers", "3")
	wantFields(t, "threadpool after set", i.mustVirtAdmin("srv-threadpool-info", "virtxend"), map[string]string{
		"minWorkers": "2", "maxWorkers": "8", "prioWorkers": "3"})
	i.failVirtAdmin("minWorkers cannot be larger than maxWorkers", "srv-threadpool-set", "virtxend", "--min-workers", "9")
	i.failVirtAdmin("Server not found: No server named 'libvirtd'", "srv-threadpool-info", "libvirtd")

	i.GoLibvirt()
	wantFields(t, "clients", i.mustVirtAdmin("srv-clients-info", "virtxend"), map[string]string{
		"nclients_max": "5000", "nclients": "1", "nclients_unauth_max": "20", "nclients_unauth": "0"})
	i.failVirtAdmin("must not be less than the number of clients waiting for authentication",
		"srv-clients-set", "virtxend", "--max-clients", "1") // nclients_unauth_max is 20
	i.mustVirtAdmin("srv-clients-set", "virtxend", "--max-clients", "1", "--max-unauth-clients", "0")
	wantFields(t, "clients after set", i.mustVirtAdmin("srv-clients-info", "virtxend"), map[string]string{
		"nclients_max": "1", "nclients_unauth_max": "0"})
	// The limit holds at once: with one client connected, virsh is turned away; the admin socket is not.
	if r := i.Virsh("uri"); r.Code == 0 {
		t.Errorf("virsh connected past max_clients 1:\n%s", r.Stdout)
	}
	i.mustVirtAdmin("srv-clients-set", "virtxend", "--max-clients", "100")
	i.MustVirsh("uri")

	i.failVirtAdmin("no tls service found, unable to update tls files", "srv-update-tls", "virtxend")
}

func TestAdminClients(t *testing.T) {
	i := startInstance(t)
	rw := i.GoLibvirt()
	i.GoLibvirtRO()
	ids := clientIDs(i.mustVirtAdmin("client-list", "virtxend"))
	if len(ids) != 2 {
		t.Fatalf("client-list: %v", ids)
	}
	var rwID string
	readonly := map[string]int{}
	for id, transport := range ids {
		if transport != "unix" {
			t.Errorf("client %s transport %q", id, transport)
		}
		out := i.mustVirtAdmin("client-info", "virtxend", id)
		wantFields(t, "client-info "+id, out, map[string]string{
			"id": id, "transport": "unix", "unix_user_id": strconv.Itoa(os.Getuid()),
			"unix_group_id": strconv.Itoa(os.Getgid()), "unix_process_id": strconv.Itoa(os.Getpid())})
		ro := fields(out)["readonly"]
		readonly[ro]++
		if ro == "no" {
			rwID = id
		}
	}
	if readonly["no"] != 1 || readonly["yes"] != 1 {
		t.Fatalf("want one read-write and one read-only client, got readonly %v", readonly)
	}
	i.failVirtAdmin("No client with matching ID '999999'", "client-info", "virtxend", "999999")

	if out := i.mustVirtAdmin("client-disconnect", "virtxend", rwID); !strings.Contains(out, "Client '"+rwID+"' disconnected") {
		t.Errorf("client-disconnect: %s", out)
	}
	if _, err := rw.ConnectGetLibVersion(); err == nil {
		t.Error("the disconnected client still works")
	}
	i.Eventually("the client gone from the list", 5*time.Second, func() bool {
		_, still := clientIDs(i.mustVirtAdmin("client-list", "virtxend"))[rwID]
		return !still
	})
}

func TestAdminLogSettings(t *testing.T) {
	i := startInstance(t)
	if out := i.mustVirtAdmin("daemon-log-filters"); strings.TrimSpace(out) != "Logging filters:" {
		t.Errorf("initial filters: %q", out)
	}
	if out := i.mustVirtAdmin("daemon-log-outputs"); strings.TrimSpace(out) != "Logging outputs: 2:stderr" {
		t.Errorf("initial outputs (log_level 2, stderr not the journal): %q", out)
	}
	i.failVirtAdmin("invalid argument", "daemon-log-filters", "9:remote")
	i.failVirtAdmin("invalid argument", "daemon-log-outputs", "1:nowhere")

	// Nothing below warning from the admin procedures, debug from the protocol layer (the root logger "daemon",
	// or "rpc" if named so; the first matching filter wins); the file takes everything, stderr info and up.
	file := filepath.Join(i.Dir, "admin.log")
	i.mustVirtAdmin("daemon-log-outputs", "1:file:"+file+" 2:stderr")
	i.mustVirtAdmin("daemon-log-filters", "3:admin 1:rpc 1:daemon")
	if out := i.mustVirtAdmin("daemon-log-filters"); strings.TrimSpace(out) != "Logging filters: 3:admin 1:rpc 1:daemon" {
		t.Errorf("filters: %q", out)
	}
	if out := i.mustVirtAdmin("daemon-log-outputs"); strings.TrimSpace(out) != "Logging outputs: 1:file:"+file+" 2:stderr" {
		t.Errorf("outputs: %q", out)
	}
	i.mustVirtAdmin("srv-threadpool-set", "virtxend", "--max-workers", "30") // an admin Info line: filtered out
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `msg="client disconnected"`) {
		t.Errorf("no protocol debug line in the file:\n%s", data)
	}
	if strings.Contains(string(data), "thread pool limits changed") {
		t.Errorf("an admin info line passed the 3:admin filter:\n%s", data)
	}
	if strings.Contains(i.Log(), `msg="client disconnected"`) {
		t.Errorf("a debug line reached the 2:stderr output:\n%s", tail(i.Log(), 10))
	}
	if !strings.Contains(i.Log(), "log outputs changed") {
		t.Errorf("the outputs change was not logged:\n%s", tail(i.Log(), 10))
	}

	// Empty settings restore the defaults, as libvirt's virLogSetOutputs and virLogSetFilters do.
	i.mustVirtAdmin("daemon-log-outputs", "")
	i.mustVirtAdmin("daemon-log-filters", "")
	if out := i.mustVirtAdmin("daemon-log-outputs"); strings.TrimSpace(out) != "Logging outputs: 2:stderr" {
		t.Errorf("outputs after reset: %q", out)
	}
	if out := i.mustVirtAdmin("daemon-log-filters"); strings.TrimSpace(out) != "Logging filters:" {
		t.Errorf("filters after reset: %q", out)
	}

	// SIGHUP applies the log settings of virtxend.conf.
	conf, _ := os.ReadFile(i.Conf)
	if err := os.WriteFile(i.Conf, append(conf, []byte("log_filters = \"1:reconciler\"\nlog_outputs = \"3:stderr\"\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	i.mu.Lock()
	_ = i.cmd.Process.Signal(syscall.SIGHUP)
	i.mu.Unlock()
	i.Eventually("reloaded log settings", 10*time.Second, func() bool {
		return strings.TrimSpace(i.mustVirtAdmin("daemon-log-outputs")) == "Logging outputs: 3:stderr" &&
			strings.TrimSpace(i.mustVirtAdmin("daemon-log-filters")) == "Logging filters: 1:reconciler"
	})
}

func TestAdminDaemonTimeout(t *testing.T) {
	i := startInstance(t)
	i.mustVirtAdmin("daemon-timeout", "--timeout", "1")
	if !i.exited(20 * time.Second) {
		t.Fatalf("did not exit 1 s after the last client left:\n%s", tail(i.Log(), 20))
	}
	if !strings.Contains(i.Log(), "idle timeout changed") {
		t.Errorf("the change was not logged:\n%s", tail(i.Log(), 20))
	}
}
