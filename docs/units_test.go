package docs

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/virtxend/virtxend/config"
)

const unitDir = "../config/systemd"

// unit is a parsed unit file: section → key → values, in order (systemd keys may repeat).
type unit map[string]map[string][]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	sec := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || l[0] == '#' || l[0] == ';':
		case l[0] == '[' && l[len(l)-1] == ']':
			sec = l[1 : len(l)-1]
			if u[sec] == nil {
				u[sec] = map[string][]string{}
			}
		default:
			k, v, ok := strings.Cut(l, "=")
			if !ok || sec == "" {
				t.Fatalf("%s:%d: not a key=value in a section: %q", path, n, l)
			}
			u[sec][k] = append(u[sec][k], strings.Fields(v)...)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

func (u unit) get(sec, key string) string { return strings.Join(u[sec][key], " ") }

// TestUnits checks what the daemon and libvirt's clients rely on in the shipped units, without systemd:
// the socket paths and modes, the descriptor names the daemon matches, and the service settings that keep
// guests alive and readiness reported.
func TestUnits(t *testing.T) {
	sockets := []struct {
		unit, sock, mode string
	}{
		{"virtxend.socket", config.SocketName, "0600"},
		{"virtxend-ro.socket", config.ROSocketName, "0666"},
		{"virtxend-admin.socket", config.AdminSocketName, "0600"},
	}
	for _, s := range sockets {
		u := parseUnit(t, filepath.Join(unitDir, s.unit))
		if got, want := u.get("Socket", "ListenStream"), "/run/libvirt/"+s.sock; got != want {
			t.Errorf("%s: ListenStream=%s, want %s", s.unit, got, want)
		}
		if got := u.get("Socket", "FileDescriptorName"); got != s.unit {
			t.Errorf("%s: FileDescriptorName=%s, want the unit's name, which the daemon matches", s.unit, got)
		}
		if got := u.get("Socket", "SocketMode"); got != s.mode {
			t.Errorf("%s: SocketMode=%s, want %s", s.unit, got, s.mode)
		}
		if got := u.get("Socket", "Service"); got != "virtxend.service" {
			t.Errorf("%s: Service=%s", s.unit, got)
		}
		if s.unit != "virtxend.socket" && u.get("Unit", "BindsTo") != "virtxend.socket" {
			t.Errorf("%s: not bound to virtxend.socket", s.unit)
		}
		if !slices.Contains(u["Install"]["WantedBy"], "sockets.target") {
			t.Errorf("%s: not WantedBy=sockets.target", s.unit)
		}
	}

	svc := parseUnit(t, filepath.Join(unitDir, "virtxend.service"))
	for key, want := range map[string]string{
		"Type":            "notify",
		"KillMode":        "process",
		"Restart":         "on-failure",
		"ExecStart":       "/usr/sbin/virtxend $VIRTXEND_ARGS",
		"ExecReload":      "/bin/kill -HUP $MAINPID",
		"EnvironmentFile": "-/etc/default/virtxend",
		"Environment":     `VIRTXEND_ARGS="--timeout 120"`,
	} {
		if got := svc.get("Service", key); got != want {
			t.Errorf("virtxend.service: %s=%s, want %s", key, got, want)
		}
	}
	if got := svc.get("Unit", "BindsTo"); got != "virtxend.socket" {
		t.Errorf("virtxend.service: BindsTo=%s", got)
	}
	after := svc["Unit"]["After"]
	for _, s := range sockets {
		if !slices.Contains(after, s.unit) {
			t.Errorf("virtxend.service: not After=%s", s.unit)
		}
	}
	for _, s := range []string{"virtxend-ro.socket", "virtxend-admin.socket"} {
		if !slices.Contains(svc["Unit"]["Wants"], s) {
			t.Errorf("virtxend.service: does not want %s", s)
		}
	}
	for _, c := range []string{"libvirtd.service", "xendomains.service"} {
		if !slices.Contains(svc["Unit"]["Conflicts"], c) {
			t.Errorf("virtxend.service: does not conflict with %s", c)
		}
	}

	path := parseUnit(t, filepath.Join(unitDir, "virtxend.path"))
	if got := path.get("Path", "PathChanged"); got != config.DefaultDaemon().DomainsDir {
		t.Errorf("virtxend.path: PathChanged=%s, want the default domains_dir %s", got, config.DefaultDaemon().DomainsDir)
	}
	if got := path.get("Path", "Unit"); got != "virtxend.service" {
		t.Errorf("virtxend.path: Unit=%s", got)
	}

	entries, err := os.ReadDir(unitDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		u := parseUnit(t, filepath.Join(unitDir, e.Name()))
		if got := u.get("Unit", "ConditionPathExists"); got != "/proc/xen/capabilities" {
			t.Errorf("%s: ConditionPathExists=%s, want /proc/xen/capabilities like libvirt's units", e.Name(), got)
		}
		if got := u.get("Unit", "Documentation"); got != "man:virtxend(8)" {
			t.Errorf("%s: Documentation=%s", e.Name(), got)
		}
	}
}
