package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// keyCases holds, for every daemon key, a valid value other than the default and invalid values with the
// message each must produce. TestDaemonKeyCasesCoverEveryKey keeps it complete.
var keyCases = []struct {
	key  string
	good string
	bad  map[string]string // value → error message after "file:line: key: "
}{
	{"unix_sock_group", `"libvirt"`, map[string]string{
		`5`: "expected a string, got integer 5"}},
	{"unix_sock_ro_perms", `"0755"`, map[string]string{
		`"0778"`:  `"0778" is not an octal permission mode such as "0770"`,
		`"rwx"`:   `"rwx" is not an octal permission mode such as "0770"`,
		`"17777"`: `"17777" is not an octal permission mode such as "0770"`,
		`777`:     "expected a string, got integer 777"}},
	{"unix_sock_rw_perms", `"0770"`, map[string]string{
		`"-1"`: `"-1" is not an octal permission mode such as "0770"`,
		`""`:   `"" is not an octal permission mode such as "0770"`}},
	{"unix_sock_admin_perms", `"0600"`, map[string]string{
		`"0x1ff"`: `"0x1ff" is not an octal permission mode such as "0770"`}},
	{"unix_sock_dir", `"/tmp/x/run"`, map[string]string{
		`""`: "must name a directory",
		`"/` + strings.Repeat("d", 90) + `"`: "socket path /" + strings.Repeat("d", 90) +
			"/virtxend-admin-sock is 111 bytes long, more than the 107 a Unix socket address holds"}},
	{"auth_unix_ro", `"polkit"`, map[string]string{
		`"kerberos"`: `unsupported authentication: "kerberos" is not one of "none", "sasl", "polkit"`,
		`[ "none" ]`: "expected a string, got a list"}},
	{"auth_unix_rw", `"sasl"`, map[string]string{
		`"None"`: `unsupported authentication: "None" is not one of "none", "sasl", "polkit"`}},
	{"access_drivers", `[ "polkit" ]`, map[string]string{
		`"polkit"`:         `expected a list of strings such as [ "a", "b" ], got string "polkit"`,
		`[ "selinux" ]`:    `unsupported access driver "selinux" (want "none" or "polkit")`,
		`[ "none", 1 ]`:    "expected a list of strings, element 2 is integer 1",
		`[ "none", [ ] ]`:  "expected a list of strings, element 2 is a list",
		`[ "polkit", "" ]`: `unsupported access driver "" (want "none" or "polkit")`}},
	{"sasl_allowed_username_list", `[ "joe@EXAMPLE.COM" ]`, map[string]string{
		`[ 1 ]`: "expected a list of strings, element 1 is integer 1"}},
	{"max_clients", `10`, map[string]string{
		`0`:          "must be at least 1, got 0",
		`-1`:         "expected a non-negative integer, got integer -1",
		`"10"`:       `expected an integer, got string "10"`,
		`4294967296`: "4294967296 is out of range 0 to 4294967295"}},
	{"max_queued_clients", `0`, map[string]string{
		`-0`: "expected a non-negative integer, got integer -0"}},
	{"max_anonymous_clients", `0`, map[string]string{
		`-5`: "expected a non-negative integer, got integer -5"}},
	{"min_workers", `1`, map[string]string{
		`-1`: "expected a non-negative integer, got integer -1"}},
	{"max_workers", `50`, map[string]string{
		`0`: "must be at least 1, got 0"}},
	{"prio_workers", `0`, map[string]string{
		`-1`: "expected a non-negative integer, got integer -1"}},
	{"max_client_requests", `10`, map[string]string{
		`0`: "must be at least 1, got 0"}},
	{"admin_min_workers", `1`, map[string]string{
		`-1`: "expected a non-negative integer, got integer -1"}},
	{"admin_max_workers", `30`, map[string]string{
		`0`: "must be at least 1, got 0"}},
	{"admin_max_clients", `2`, map[string]string{
		`0`: "must be at least 1, got 0"}},
	{"admin_max_queued_clients", `5`, map[string]string{
		`-1`: "expected a non-negative integer, got integer -1"}},
	{"admin_max_client_requests", `2`, map[string]string{
		`0`: "must be at least 1, got 0"}},
	{"log_level", `1`, map[string]string{
		`5`:       "5 is not 1 (debug), 2 (info), 3 (warning) or 4 (error)",
		`"debug"`: `expected an integer, got string "debug"`}},
	{"log_filters", `"1:libxl 3:rpc"`, map[string]string{
		`"libxl"`: `filter "libxl": want LEVEL:MATCH, such as 1:libxl`,
		`"5:x"`:   `filter "5:x": level "5" is not 1 (debug), 2 (info), 3 (warning) or 4 (error)`,
		`"1:+"`:   `filter "1:+": empty match`}},
	{"log_outputs", `"1:stderr"`, map[string]string{
		`"1:file"`:     `output "1:file": want LEVEL:file:PATH (one argument, no ':' in it)`,
		`"3:kafka"`:    `output "3:kafka": unknown destination "kafka" (want stderr, journald, syslog or file)`,
		`"0:stderr"`:   `output "0:stderr": level "0" is not 1 (debug), 2 (info), 3 (warning) or 4 (error)`,
		`"1:stderr:x"`: `output "1:stderr:x": stderr takes no argument`,
		`"stderr"`:     `output "stderr": want LEVEL:DESTINATION, such as 3:stderr`}},
	{"audit_level", `2`, map[string]string{
		`3`: "3 is not 0 (off), 1 (when the host audits) or 2 (required)"}},
	{"audit_logging", `1`, map[string]string{
		`2`:     "expected 0 or 1, got integer 2",
		`"yes"`: `expected 0 or 1, got string "yes"`,
		`-0`:    "expected 0 or 1, got integer -0"}},
	{"host_uuid", `"6f1d2c9e-8b0a-4c53-9e2f-3a7b1c4d5e60"`, map[string]string{
		`"00000000-0000-0000-0000-000000000000"`:   `"00000000-0000-0000-0000-000000000000" has all digits the same, which libvirt refuses as a host UUID`,
		`"xyz"`:                                    `"xyz" is not a UUID such as "6f1d2c9e-8b0a-4c53-9e2f-3a7b1c4d5e60"`,
		`"6f1d2c9e-8b0a-4c53-9e2f-3a7b1c4d5e6"`:    `"6f1d2c9e-8b0a-4c53-9e2f-3a7b1c4d5e6" is not a UUID such as "6f1d2c9e-8b0a-4c53-9e2f-3a7b1c4d5e60"`,
		`"6f1d2c9e-8b0a-4c53-9e2f-3a7b1c4d5e6000"`: `"6f1d2c9e-8b0a-4c53-9e2f-3a7b1c4d5e6000" is not a UUID such as "6f1d2c9e-8b0a-4c53-9e2f-3a7b1c4d5e60"`}},
	{"host_uuid_source", `"machine-id"`, map[string]string{
		`"dmi"`: `"dmi" is not one of "smbios", "machine-id"`}},
	{"keepalive_interval", `-1`, map[string]string{
		`2147484`:     "2147484 seconds is more than the 2147483 libvirt's keepalive allows",
		`-2147483649`: "-2147483649 is out of range -2147483648 to 2147483647",
		`"5"`:         `expected an integer, got string "5"`}},
	{"keepalive_count", `0`, map[string]string{
		`-1`: "expected a non-negative integer, got integer -1"}},
	{"admin_keepalive_interval", `0`, map[string]string{
		`3000000`: "3000000 seconds is more than the 2147483 libvirt's keepalive allows"}},
	{"admin_keepalive_count", `1`, map[string]string{
		`-1`: "expected a non-negative integer, got integer -1"}},
	{"ovs_timeout", `10`, map[string]string{
		`-1`: "expected a non-negative integer, got integer -1"}},
	{"hypervisor", `"sim"`, map[string]string{
		`"kvm"`: `"kvm" is not one of "auto", "xen", "sim"`,
		`1`:     "expected a string, got integer 1"}},
	{"domains_dir", `"/srv/domains"`, map[string]string{
		`"domains"`: `must be an absolute path, got "domains"`,
		`""`:        `must be an absolute path, got ""`}},
	{"defines_dir", `"/srv/defines"`, map[string]string{
		`"./x"`: `must be an absolute path, got "./x"`}},
	{"state_dir", `"/srv/state"`, map[string]string{
		`""`: `must be an absolute path, got ""`}},
	{"libxl_config_file", `"/srv/libxl.conf"`, map[string]string{
		`"libxl.conf"`: `must be an absolute path, got "libxl.conf"`}},
	{"resync_interval", `5`, map[string]string{
		`0`:  "must be at least 1 second, got 0",
		`-5`: "expected a non-negative integer, got integer -5"}},
	{"secondary_sock_dir", `"/srv/run/libvirt"`, map[string]string{
		`"run"`: `must be an absolute path, got "run"`}},
	{"metrics_listen", `"127.0.0.1:9177"`, map[string]string{
		`"9177"`:            `want HOST:PORT or unix:/path, got "9177"`,
		`"unix:run/m.sock"`: `must be an absolute path, got "run/m.sock"`}},
	{"sim_memory", `262144`, map[string]string{
		`100`: "must be at least 4096 MiB (Domain-0 takes 2048), got 100"}},
	{"sim_cpus", `64`, map[string]string{
		`0`: "must be at least 1, got 0"}},
	{"sim_numa_nodes", `2`, map[string]string{
		`3`: "must be at least 1 and divide sim_cpus (8), got 3"}},
	{"fleet_kubeconfig", `"/etc/virtxend/fleet.kubeconfig"`, map[string]string{
		`"fleet.kubeconfig"`: `must be an absolute path, got "fleet.kubeconfig"`}},
	{"fleet_node_name", `"xen-01"`, nil},
	{"fleet_namespace", `"xen"`, nil},
	{"fleet_qps", `20`, map[string]string{`0`: "must be at least 1, got 0"}},
	{"fleet_burst", `40`, map[string]string{`0`: "must be at least 1, got 0"}},
}

func daemonKeys() []string {
	var keys []string
	for _, fd := range fieldsOf(reflect.TypeFor[Daemon]()) {
		keys = append(keys, fd.key)
	}
	return keys
}

func TestDaemonKeyCasesCoverEveryKey(t *testing.T) {
	var covered []string
	for _, c := range keyCases {
		covered = append(covered, c.key)
	}
	if keys := daemonKeys(); !slices.Equal(covered, keys) {
		t.Errorf("keyCases cover\n%v\nbut Daemon has, in order,\n%v", covered, keys)
	}
	if n := len(daemonKeys()); n != 33+16 {
		t.Errorf("Daemon has %d keys, want libvirt's 33 plus virtxend's 16", n)
	}
}

func TestDaemonKeyGood(t *testing.T) {
	for _, c := range keyCases {
		t.Run(c.key, func(t *testing.T) {
			d, err := ParseDaemon("d.conf", []byte("# set one key\n"+c.key+" = "+c.good+"\n"))
			if err != nil {
				t.Fatalf("ParseDaemon: %v", err)
			}
			if w := d.Warnings(); len(w) != 0 {
				t.Errorf("warnings: %v", w)
			}
			applied, restart := DefaultDaemon().Diff(d)
			if changed := append(applied, restart...); !slices.Equal(changed, []string{c.key}) {
				t.Errorf("Diff from the defaults reports %v, want just %s", changed, c.key)
			}
		})
	}
}

func TestDaemonKeyBad(t *testing.T) {
	for _, c := range keyCases {
		for val, msg := range c.bad {
			t.Run(c.key+"="+val, func(t *testing.T) {
				d, err := ParseDaemon("d.conf", []byte("# bad value on line 2\n"+c.key+" = "+val+"\n"))
				if err == nil {
					t.Fatalf("ParseDaemon accepted it: %+v", d)
				}
				if d != nil {
					t.Errorf("ParseDaemon returned a Daemon with its error")
				}
				if want := "d.conf:2: " + c.key + ": " + msg; err.Error() != want {
					t.Errorf("error\n got %s\nwant %s", err, want)
				}
				var ce *Error
				if !errors.As(err, &ce) || ce.Key != c.key || ce.Line != 2 {
					t.Errorf("errors.As: %+v, want an *Error for %s at line 2", ce, c.key)
				}
			})
		}
	}
}

func TestDefaultDaemon(t *testing.T) {
	d := DefaultDaemon()
	if err := d.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	parsed, err := ParseDaemon("empty.conf", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(parsed, d) {
		t.Errorf("an empty file gives\n%+v\nwant the defaults\n%+v", parsed, d)
	}
	// A fresh value each time: callers may modify theirs.
	d.AccessDrivers[0] = "polkit"
	if DefaultDaemon().AccessDrivers[0] != "none" {
		t.Error("DefaultDaemon shares its slices between calls")
	}
	rw, ro, admin := DefaultDaemon().SocketPaths()
	if rw != "/run/libvirt/virtxend-sock" || ro != "/run/libvirt/virtxend-sock-ro" || admin != "/run/libvirt/virtxend-admin-sock" {
		t.Errorf("SocketPaths() = %s, %s, %s", rw, ro, admin)
	}
	mrw, mro, madmin, err := DefaultDaemon().SocketModes()
	if err != nil || mrw != 0o700 || mro != 0o777 || madmin != 0o700 {
		t.Errorf("SocketModes() = %o, %o, %o, %v", mrw, mro, madmin, err)
	}
	if p := DefaultDaemon().ResyncPeriod(); p != 30*time.Second {
		t.Errorf("ResyncPeriod() = %v", p)
	}
}

func TestParseDaemonPrivateInstance(t *testing.T) {
	d, err := LoadDaemon("testdata/private.conf")
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultDaemon()
	want.UnixSockDir = "/tmp/vx/run"
	want.UnixSockGroup = "kvm"
	want.UnixSockRWPerms = "0770"
	want.AccessDrivers = []string{"none"}
	want.SASLAllowedUsernameList = []string{"admin@EXAMPLE.COM", "*@OPS.EXAMPLE.COM"}
	want.LogLevel = 2
	want.LogFilters = "1:libxl 1:rpc"
	want.LogOutputs = "2:stderr"
	want.KeepaliveInterval = -1
	want.Hypervisor = HypervisorSim
	want.DomainsDir = "/tmp/vx/domains.d"
	want.DefinesDir = "/tmp/vx/libxl"
	want.StateDir = "/tmp/vx/state"
	want.LibxlConfigFile = "/tmp/vx/libxl.conf"
	want.ResyncInterval = 2
	if !reflect.DeepEqual(d, want) {
		t.Errorf("got\n%+v\nwant\n%+v", d, want)
	}
	rw, _, _ := d.SocketPaths()
	if rw != "/tmp/vx/run/virtxend-sock" {
		t.Errorf("rw socket %s", rw)
	}
}

func TestParseDaemonReportsEveryError(t *testing.T) {
	in := "max_clients = 0\nlog_level = \"debug\"\nhypervisor = \"kvm\"\nunknown_key = 1\naudit_logging = 2\n"
	d, err := ParseDaemon("d.conf", []byte(in))
	want := "d.conf:1: max_clients: must be at least 1, got 0\n" +
		"d.conf:2: log_level: expected an integer, got string \"debug\"\n" +
		"d.conf:3: hypervisor: \"kvm\" is not one of \"auto\", \"xen\", \"sim\"\n" +
		"d.conf:5: audit_logging: expected 0 or 1, got integer 2"
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
	if d != nil {
		t.Error("a Daemon came back with the errors")
	}
}

func TestParseDaemonWarnings(t *testing.T) {
	in := `log_levl = 1
listen_tcp = 1
keepalive_required = 1
hypervisor = "sim"
hypervisor = "xen"
min_workers = 30
admin_max_workers = 2
host_uuid_source = "machine-id"
host_uuid = "6f1d2c9e-8b0a-4c53-9e2f-3a7b1c4d5e60"
frobnicate = [ 1, 2 ]
`
	d, err := ParseDaemon("w.conf", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range d.Warnings() {
		got = append(got, w.String())
	}
	want := []string{
		"w.conf:1: log_levl: unknown setting, ignored (did you mean log_level?)",
		"w.conf:2: listen_tcp: ignored: it configures libvirtd's TCP and TLS listeners, and virtxend has none (remote clients reach it through virtproxyd)",
		"w.conf:3: keepalive_required: ignored: libvirt no longer uses this setting",
		"w.conf:5: hypervisor: given again; the value at line 4 applies, as in libvirt",
		"w.conf:10: frobnicate: unknown setting, ignored",
		"w.conf:6: min_workers: 30 is more than max_workers 20; 20 workers start, as in libvirt",
		"w.conf:7: admin_min_workers: 5 is more than admin_max_workers 2; 2 workers start, as in libvirt",
		"w.conf:9: host_uuid: ignored: host_uuid_source is machine-id, so the UUID comes from /etc/machine-id",
	}
	if !slices.Equal(got, want) {
		t.Errorf("warnings\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if d.Hypervisor != HypervisorSim || d.MinWorkers != 20 || d.AdminMinWorkers != 2 || d.LogLevel != 3 {
		t.Errorf("got hypervisor %s, min_workers %d, admin_min_workers %d, log_level %d",
			d.Hypervisor, d.MinWorkers, d.AdminMinWorkers, d.LogLevel)
	}
}

func TestParseDaemonLibvirtQuirks(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		check func(*Daemon) bool
	}{
		{"log_level 0 is the default", "log_level = 0", func(d *Daemon) bool { return d.LogLevel == 3 }},
		{"polkit opens the rw socket", `auth_unix_rw = "polkit"`,
			func(d *Daemon) bool { return d.UnixSockRWPerms == "0777" && d.UnixSockROPerms == "0777" }},
		{"explicit rw perms win over polkit", "unix_sock_rw_perms = \"0770\"\nauth_unix_rw = \"polkit\"",
			func(d *Daemon) bool { return d.UnixSockRWPerms == "0770" }},
		{"polkit on ro only leaves rw alone", `auth_unix_ro = "polkit"`,
			func(d *Daemon) bool { return d.UnixSockRWPerms == "0700" }},
		{"perms without leading zero", `unix_sock_ro_perms = "755"`, func(d *Daemon) bool {
			_, ro, _, err := d.SocketModes()
			return err == nil && ro == 0o755
		}},
		{"empty access driver list means none", "access_drivers = []",
			func(d *Daemon) bool { return slices.Equal(d.AccessDrivers, []string{"none"}) }},
		{"empty username list is kept", "sasl_allowed_username_list = []",
			func(d *Daemon) bool { return d.SASLAllowedUsernameList != nil && len(d.SASLAllowedUsernameList) == 0 }},
		{"uuid with spaces and odd dashes", `host_uuid = " 6f1d2c9e8b0a-4c53 9e2f-3a7b1c4d5e60 "`,
			func(d *Daemon) bool { return d.HostUUID != "" }},
		{"plus sign on unsigned", "max_clients = +7", func(d *Daemon) bool { return d.MaxClients == 7 }},
		{"bool plus one", "audit_logging = +1", func(d *Daemon) bool { return d.AuditLogging }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseDaemon("q.conf", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(d) {
				t.Errorf("unexpected result %+v", d)
			}
		})
	}
}

func TestLoadDaemonFiles(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadDaemon(filepath.Join(dir, "missing.conf"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	if _, err := LoadDaemon(dir); err == nil {
		t.Error("a directory loaded")
	}
	big := filepath.Join(dir, "big.conf")
	if err := os.WriteFile(big, []byte(strings.Repeat("#\n", maxFileSize/2+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDaemon(big); err == nil || !strings.Contains(err.Error(), "larger than 10 MiB") {
		t.Errorf("oversized file: %v", err)
	}
	bad := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(bad, []byte("\n\nlog_level = \"debug\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = LoadDaemon(bad)
	if want := bad + `:3: log_level: expected an integer, got string "debug"`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestDaemonValidateBuiltInCode(t *testing.T) {
	d := DefaultDaemon()
	d.MaxQueuedClients = -1
	d.Hypervisor = "qemu"
	d.KeepaliveInterval = 1 << 40
	err := d.Validate()
	want := "max_queued_clients: expected a non-negative integer, got integer -1\n" +
		"keepalive_interval: 1099511627776 is out of range -2147483648 to 2147483647\n" +
		`hypervisor: "qemu" is not one of "auto", "xen", "sim"`
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
	d = DefaultDaemon()
	d.UnixSockRWPerms = "rw"
	if _, _, _, err := d.SocketModes(); err == nil || !strings.HasPrefix(err.Error(), "unix_sock_rw_perms: ") {
		t.Errorf("SocketModes: %v", err)
	}
}

func TestDiff(t *testing.T) {
	old := DefaultDaemon()
	newer, err := ParseDaemon("new.conf", []byte(`
log_level = 1
log_outputs = "1:stderr"
max_clients = 10
unix_sock_dir = "/tmp/elsewhere"
hypervisor = "sim"
domains_dir = "/srv/domains"
resync_interval = 5
access_drivers = [ "none" ]
sasl_allowed_username_list = []
audit_level = 0
admin_max_clients = 3
keepalive_count = 1
`))
	if err != nil {
		t.Fatal(err)
	}
	applied, restart := old.Diff(newer)
	wantApplied := []string{"max_clients", "admin_max_clients", "log_level", "log_outputs", "keepalive_count",
		"domains_dir", "resync_interval"}
	wantRestart := []string{"unix_sock_dir", "sasl_allowed_username_list", "audit_level", "hypervisor"}
	if !slices.Equal(applied, wantApplied) {
		t.Errorf("applied %v, want %v", applied, wantApplied)
	}
	if !slices.Equal(restart, wantRestart) {
		t.Errorf("needsRestart %v, want %v", restart, wantRestart)
	}
	if a, r := newer.Diff(newer); a != nil || r != nil {
		t.Errorf("Diff with itself: %v, %v", a, r)
	}
}

// TestReloadableKeys pins which keys a SIGHUP applies, so that a change to the list is deliberate.
func TestReloadableKeys(t *testing.T) {
	var reload []string
	for _, fd := range fieldsOf(reflect.TypeFor[Daemon]()) {
		if fd.reload {
			reload = append(reload, fd.key)
		}
	}
	want := []string{"max_clients", "max_anonymous_clients", "min_workers", "max_workers", "prio_workers",
		"max_client_requests", "admin_min_workers", "admin_max_workers", "admin_max_clients",
		"admin_max_client_requests", "log_level", "log_filters", "log_outputs", "keepalive_interval",
		"keepalive_count", "admin_keepalive_interval", "admin_keepalive_count", "ovs_timeout", "domains_dir",
		"resync_interval"}
	if !slices.Equal(reload, want) {
		t.Errorf("reloadable keys\n%v\nwant\n%v", reload, want)
	}
}
