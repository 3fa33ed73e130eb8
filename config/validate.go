package config

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// maxSunPath is the longest socket path a sockaddr_un holds, its terminating NUL excluded.
const maxSunPath = 107

// maxKeepaliveInterval is the largest interval libvirt's keepalive accepts (INT_MAX milliseconds).
const maxKeepaliveInterval = math.MaxInt32 / 1000

// daemonRules are the checks ParseDaemon and Validate apply, in the order of the keys.
var daemonRules = []rule[Daemon]{
	{"unix_sock_ro_perms", func(d *Daemon) error { return checkPerms(d.UnixSockROPerms) }},
	{"unix_sock_rw_perms", func(d *Daemon) error { return checkPerms(d.UnixSockRWPerms) }},
	{"unix_sock_admin_perms", func(d *Daemon) error { return checkPerms(d.UnixSockAdminPerms) }},
	{"unix_sock_dir", func(d *Daemon) error {
		if d.UnixSockDir == "" {
			return errors.New("must name a directory")
		}
		if _, _, admin := d.SocketPaths(); len(admin) > maxSunPath {
			return fmt.Errorf("socket path %s is %d bytes long, more than the %d a Unix socket address holds",
				admin, len(admin), maxSunPath)
		}
		return nil
	}},
	{"auth_unix_ro", func(d *Daemon) error { return checkAuth(d.AuthUnixRO) }},
	{"auth_unix_rw", func(d *Daemon) error { return checkAuth(d.AuthUnixRW) }},
	{"access_drivers", func(d *Daemon) error {
		for _, a := range d.AccessDrivers {
			if a != "none" && a != "polkit" {
				return fmt.Errorf("unsupported access driver %q (want \"none\" or \"polkit\")", a)
			}
		}
		return nil
	}},
	{"max_clients", atLeastOne(func(d *Daemon) int { return d.MaxClients })},
	{"max_workers", atLeastOne(func(d *Daemon) int { return d.MaxWorkers })},
	{"max_client_requests", atLeastOne(func(d *Daemon) int { return d.MaxClientRequests })},
	{"admin_max_workers", atLeastOne(func(d *Daemon) int { return d.AdminMaxWorkers })},
	{"admin_max_clients", atLeastOne(func(d *Daemon) int { return d.AdminMaxClients })},
	{"admin_max_client_requests", atLeastOne(func(d *Daemon) int { return d.AdminMaxClientRequests })},
	{"log_level", func(d *Daemon) error {
		if d.LogLevel < LogDebug || d.LogLevel > LogError {
			return fmt.Errorf("%d is not 1 (debug), 2 (info), 3 (warning) or 4 (error)", d.LogLevel)
		}
		return nil
	}},
	{"log_filters", func(d *Daemon) error { _, err := ParseLogFilters(d.LogFilters); return err }},
	{"log_outputs", func(d *Daemon) error { _, err := ParseLogOutputs(d.LogOutputs); return err }},
	{"audit_level", func(d *Daemon) error {
		if d.AuditLevel < 0 || d.AuditLevel > 2 {
			return fmt.Errorf("%d is not 0 (off), 1 (when the host audits) or 2 (required)", d.AuditLevel)
		}
		return nil
	}},
	{"host_uuid", func(d *Daemon) error {
		if d.HostUUID == "" {
			return nil
		}
		return checkUUID(d.HostUUID)
	}},
	{"host_uuid_source", func(d *Daemon) error {
		return oneOf(d.HostUUIDSource, HostUUIDSMBIOS, HostUUIDMachineID)
	}},
	{"keepalive_interval", func(d *Daemon) error { return checkKeepalive(d.KeepaliveInterval) }},
	{"admin_keepalive_interval", func(d *Daemon) error { return checkKeepalive(d.AdminKeepaliveInterval) }},
	{"hypervisor", func(d *Daemon) error {
		return oneOf(d.Hypervisor, HypervisorAuto, HypervisorXen, HypervisorSim)
	}},
	{"domains_dir", func(d *Daemon) error { return checkAbs(d.DomainsDir) }},
	{"defines_dir", func(d *Daemon) error { return checkAbs(d.DefinesDir) }},
	{"state_dir", func(d *Daemon) error { return checkAbs(d.StateDir) }},
	{"libxl_config_file", func(d *Daemon) error { return checkAbs(d.LibxlConfigFile) }},
	{"resync_interval", func(d *Daemon) error {
		if d.ResyncInterval < 1 {
			return fmt.Errorf("must be at least 1 second, got %d", d.ResyncInterval)
		}
		return nil
	}},
	{"secondary_sock_dir", func(d *Daemon) error { return checkAbs(d.SecondarySockDir) }},
	{"metrics_listen", func(d *Daemon) error { return checkListen(d.MetricsListen) }},
	{"fleet_kubeconfig", func(d *Daemon) error {
		if d.FleetKubeconfig == "" {
			return nil
		}
		return checkAbs(d.FleetKubeconfig)
	}},
	{"fleet_qps", func(d *Daemon) error {
		if d.FleetQPS < 1 {
			return fmt.Errorf("must be at least 1, got %d", d.FleetQPS)
		}
		return nil
	}},
	{"fleet_burst", func(d *Daemon) error {
		if d.FleetBurst < 1 {
			return fmt.Errorf("must be at least 1, got %d", d.FleetBurst)
		}
		return nil
	}},
	{"sim_memory", func(d *Daemon) error {
		if d.SimMemory < 4096 {
			return fmt.Errorf("must be at least 4096 MiB (Domain-0 takes 2048), got %d", d.SimMemory)
		}
		return nil
	}},
	{"sim_cpus", func(d *Daemon) error {
		if d.SimCPUs < 1 {
			return fmt.Errorf("must be at least 1, got %d", d.SimCPUs)
		}
		return nil
	}},
	{"sim_numa_nodes", func(d *Daemon) error {
		if d.SimNUMANodes < 1 || d.SimCPUs%d.SimNUMANodes != 0 {
			return fmt.Errorf("must be at least 1 and divide sim_cpus (%d), got %d", d.SimCPUs, d.SimNUMANodes)
		}
		return nil
	}},
}

// checkListen accepts "", "unix:/absolute/path" and "HOST:PORT".
func checkListen(addr string) error {
	if addr == "" {
		return nil
	}
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		return checkAbs(path)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("want HOST:PORT or unix:/path, got %q", addr)
	}
	return nil
}

func atLeastOne(get func(*Daemon) int) func(*Daemon) error {
	return func(d *Daemon) error {
		if n := get(d); n < 1 {
			return fmt.Errorf("must be at least 1, got %d", n)
		}
		return nil
	}
}

func checkAuth(a Auth) error {
	if err := oneOf(a, AuthNone, AuthSASL, AuthPolkit); err != nil {
		return fmt.Errorf("unsupported authentication: %w", err)
	}
	return nil
}

// oneOf checks an enumerated value.
func oneOf[T ~string](v T, allowed ...T) error {
	if slices.Contains(allowed, v) {
		return nil
	}
	quoted := make([]string, len(allowed))
	for i, a := range allowed {
		quoted[i] = strconv.Quote(string(a))
	}
	return fmt.Errorf("%q is not one of %s", string(v), strings.Join(quoted, ", "))
}

// parsePerms reads an octal permission string such as "0770", as libvirt does with strtol base 8.
func parsePerms(s string) (fs.FileMode, error) {
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil || n > 0o7777 {
		return 0, fmt.Errorf("%q is not an octal permission mode such as \"0770\"", s)
	}
	return fs.FileMode(n), nil
}

func checkPerms(s string) error {
	_, err := parsePerms(s)
	return err
}

// checkUUID accepts what libvirt's virUUIDParse does (32 hex digits, '-' or ' ' allowed between byte pairs,
// blanks around) and refuses, like virSetHostUUIDStr, a UUID whose digits are all the same.
func checkUUID(s string) error {
	t := strings.TrimSpace(s)
	var digits []byte
	for i := 0; i < len(t); {
		c := t[i]
		switch {
		case c == '-' || c == ' ':
			i++
			continue
		case i+1 < len(t) && isHex(c) && isHex(t[i+1]) && len(digits) < 32:
			digits = append(digits, c|0x20, t[i+1]|0x20)
			i += 2
			continue
		}
		return fmt.Errorf("%q is not a UUID such as \"6f1d2c9e-8b0a-4c53-9e2f-3a7b1c4d5e60\"", s)
	}
	if len(digits) != 32 {
		return fmt.Errorf("%q is not a UUID such as \"6f1d2c9e-8b0a-4c53-9e2f-3a7b1c4d5e60\"", s)
	}
	if strings.Count(string(digits), string(digits[0])) == len(digits) {
		return fmt.Errorf("%q has all digits the same, which libvirt refuses as a host UUID", s)
	}
	return nil
}

func isHex(c byte) bool { return isDigit(c) || 'a' <= c|0x20 && c|0x20 <= 'f' }

func checkKeepalive(n int) error {
	if n > maxKeepaliveInterval {
		return fmt.Errorf("%d seconds is more than the %d libvirt's keepalive allows", n, maxKeepaliveInterval)
	}
	return nil
}

func checkAbs(p string) error {
	if !filepath.IsAbs(p) {
		return fmt.Errorf("must be an absolute path, got %q", p)
	}
	return nil
}
