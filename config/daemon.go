package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Where things are by default, and what the sockets are called inside unix_sock_dir.
const (
	// DefaultDaemonPath is the daemon config a root virtxend reads when -f is not given.
	DefaultDaemonPath = "/etc/libvirt/virtxend.conf"
	// DefaultLibxlPath is the libxl driver's config file, the default of libxl_config_file.
	DefaultLibxlPath = "/etc/libvirt/libxl.conf"
	// SocketName is the read-write socket.
	SocketName = "virtxend-sock"
	// ROSocketName is the read-only socket.
	ROSocketName = "virtxend-sock-ro"
	// AdminSocketName is the admin socket, for virt-admin.
	AdminSocketName = "virtxend-admin-sock"
)

// maxFileSize is libvirt's sanity limit on a conf file.
const maxFileSize = 10 << 20

// Auth is an authentication scheme for a Unix socket.
type Auth string

// The schemes auth_unix_ro and auth_unix_rw accept.
const (
	// AuthNone lets in whoever may open the socket.
	AuthNone Auth = "none"
	// AuthSASL asks for SASL authentication.
	AuthSASL Auth = "sasl"
	// AuthPolkit asks polkit whether the connecting user may manage the host.
	AuthPolkit Auth = "polkit"
)

// Hypervisor selects the backend.
type Hypervisor string

// The values of the hypervisor key.
const (
	// HypervisorAuto picks Xen where /proc/xen/capabilities exists, else the simulated host.
	HypervisorAuto Hypervisor = "auto"
	// HypervisorXen requires real Xen through libxenlight.
	HypervisorXen Hypervisor = "xen"
	// HypervisorSim runs the embedded simulated Xen host.
	HypervisorSim Hypervisor = "sim"
)

// HostUUIDSource says where the host UUID comes from when host_uuid does not give it.
type HostUUIDSource string

// The values of host_uuid_source.
const (
	// HostUUIDSMBIOS reads the system UUID from SMBIOS; host_uuid, when set, takes precedence.
	HostUUIDSMBIOS HostUUIDSource = "smbios"
	// HostUUIDMachineID reads /etc/machine-id; host_uuid is then ignored.
	HostUUIDMachineID HostUUIDSource = "machine-id"
)

// Daemon is the content of virtxend.conf: every setting libvirt's virtxend reads from it (the settings of
// libvirt's remote daemons minus the TCP/TLS ones, which virtxend lacks), with libvirt's defaults, plus
// virtxend's own. The conf tags name the keys, in the order of the shipped virtxend.conf.
//
// The defaults are those of a libvirt built without polkit: the read-write socket is root's alone (mode
// 0700, no authentication). Setting auth_unix_rw = "polkit" opens its default mode to 0777, as in libvirt.
type Daemon struct {
	// UnixSockGroup owns all three sockets; empty leaves them root's group.
	UnixSockGroup string `conf:"unix_sock_group,unset"`
	// UnixSockROPerms is the octal mode of the read-only socket.
	UnixSockROPerms string `conf:"unix_sock_ro_perms"`
	// UnixSockRWPerms is the octal mode of the read-write socket.
	UnixSockRWPerms string `conf:"unix_sock_rw_perms"`
	// UnixSockAdminPerms is the octal mode of the admin socket.
	UnixSockAdminPerms string `conf:"unix_sock_admin_perms"`
	// UnixSockDir is where the sockets are created (see SocketPaths).
	UnixSockDir string `conf:"unix_sock_dir"`

	// AuthUnixRO is the authentication on the read-only socket.
	AuthUnixRO Auth `conf:"auth_unix_ro"`
	// AuthUnixRW is the authentication on the read-write socket. The admin socket never authenticates.
	AuthUnixRW Auth `conf:"auth_unix_rw"`
	// AccessDrivers are the API access control drivers, "none" or "polkit", all of which must allow a call.
	// An empty list in the file means [ "none" ], as in libvirt.
	AccessDrivers []string `conf:"access_drivers"`
	// SASLAllowedUsernameList holds glob patterns of the SASL user names let in. Nil checks nothing; an
	// empty list lets nobody in.
	SASLAllowedUsernameList []string `conf:"sasl_allowed_username_list,unset"`

	// MaxClients caps concurrent client connections over all sockets but the admin one.
	MaxClients int `conf:"max_clients,uint,reload"`
	// MaxQueuedClients is the listen backlog.
	MaxQueuedClients int `conf:"max_queued_clients,uint"`
	// MaxAnonymousClients caps connections accepted but not yet authenticated; 0 means no cap.
	MaxAnonymousClients int `conf:"max_anonymous_clients,uint,reload"`
	// MinWorkers is the number of RPC worker threads started up front. ParseDaemon lowers it to MaxWorkers
	// when above, as libvirt's thread pool does.
	MinWorkers int `conf:"min_workers,uint,reload"`
	// MaxWorkers caps RPC worker threads.
	MaxWorkers int `conf:"max_workers,uint,reload"`
	// PrioWorkers are extra workers that only run high-priority calls (such as destroy).
	PrioWorkers int `conf:"prio_workers,uint,reload"`
	// MaxClientRequests caps the calls one client may have in flight.
	MaxClientRequests int `conf:"max_client_requests,uint,reload"`

	// AdminMinWorkers is MinWorkers for the admin server.
	AdminMinWorkers int `conf:"admin_min_workers,uint,reload"`
	// AdminMaxWorkers is MaxWorkers for the admin server.
	AdminMaxWorkers int `conf:"admin_max_workers,uint,reload"`
	// AdminMaxClients is MaxClients for the admin socket.
	AdminMaxClients int `conf:"admin_max_clients,uint,reload"`
	// AdminMaxQueuedClients is the admin socket's listen backlog.
	AdminMaxQueuedClients int `conf:"admin_max_queued_clients,uint"`
	// AdminMaxClientRequests is MaxClientRequests for admin clients.
	AdminMaxClientRequests int `conf:"admin_max_client_requests,uint,reload"`

	// LogLevel is the default log priority, 1 (debug) to 4 (error). A 0 in the file means the default, 3.
	LogLevel int `conf:"log_level,uint,reload"`
	// LogFilters overrides the level per source category (see ParseLogFilters); empty means none.
	LogFilters string `conf:"log_filters,unset,reload"`
	// LogOutputs says where logs go (see ParseLogOutputs); empty means journald when available, else
	// stderr in the foreground and a log file with -d.
	LogOutputs string `conf:"log_outputs,unset,reload"`

	// AuditLevel is 0 (no auditing), 1 (audit when the host audits) or 2 (exit when it does not).
	AuditLevel int `conf:"audit_level,uint"`
	// AuditLogging also sends audit records to the daemon's log.
	AuditLogging bool `conf:"audit_logging"`

	// HostUUID overrides the host UUID; empty reads it from HostUUIDSource.
	HostUUID string `conf:"host_uuid,unset"`
	// HostUUIDSource is where the host UUID comes from.
	HostUUIDSource HostUUIDSource `conf:"host_uuid_source"`

	// KeepaliveInterval is the idle time in seconds before the daemon pings a client; 0 or less disables
	// the pings (-1 by convention).
	KeepaliveInterval int `conf:"keepalive_interval,reload"`
	// KeepaliveCount is how many pings may go unanswered before the connection is closed.
	KeepaliveCount int `conf:"keepalive_count,uint,reload"`
	// AdminKeepaliveInterval is KeepaliveInterval for admin clients.
	AdminKeepaliveInterval int `conf:"admin_keepalive_interval,reload"`
	// AdminKeepaliveCount is KeepaliveCount for admin clients.
	AdminKeepaliveCount int `conf:"admin_keepalive_count,uint,reload"`

	// OVSTimeout is the timeout in seconds of ovs-vsctl calls for Open vSwitch interfaces.
	OVSTimeout int `conf:"ovs_timeout,uint,reload"`

	// Hypervisor selects real Xen, the simulated host, or whichever is present.
	Hypervisor Hypervisor `conf:"hypervisor"`
	// DomainsDir is the read-only drop-in directory of desired-state files.
	DomainsDir string `conf:"domains_dir,reload"`
	// DefinesDir holds persistent defines (NAME.xml) and their autostart/ links, as libvirt's libxl driver
	// keeps them.
	DefinesDir string `conf:"defines_dir"`
	// StateDir holds runtime state, and the simulated host's state.
	StateDir string `conf:"state_dir"`
	// LibxlConfigFile is the libxl driver's config (see Libxl).
	LibxlConfigFile string `conf:"libxl_config_file"`
	// ResyncInterval is the time in seconds between full observations of the hypervisor.
	ResyncInterval int `conf:"resync_interval,uint,reload"`
	// SecondarySockDir holds the sockets of the libvirt daemons that serve the secondary drivers (network,
	// storage, nodedev, secret, interface, nwfilter), whose calls virtxend forwards: virtnetworkd-sock and
	// its siblings, else the monolithic libvirtd's libvirt-sock.
	SecondarySockDir string `conf:"secondary_sock_dir"`
	// MetricsListen is where the Prometheus endpoint (/metrics, /healthz, /readyz) listens: "HOST:PORT" or
	// "unix:/path"; empty turns it off.
	MetricsListen string `conf:"metrics_listen,unset"`

	// SimMemory is the simulated host's memory in MiB (hypervisor "sim"; default 16 GiB, as the
	// simulator's own), so that tests and benchmarks can model a large host.
	SimMemory int `conf:"sim_memory,uint"`
	// SimCPUs is the simulated host's number of physical cpus (default 8).
	SimCPUs int `conf:"sim_cpus,uint"`
	// SimNUMANodes is the simulated host's number of NUMA nodes, which must divide its cpus (default 1).
	SimNUMANodes int `conf:"sim_numa_nodes,uint"`

	// FleetKubeconfig is the kubeconfig of a Kubernetes API server holding XenDomain objects for many hosts
	// (fleet mode); empty is local mode. In fleet mode the API server is the only record: the drop-in
	// directory and virsh define are not read.
	FleetKubeconfig string `conf:"fleet_kubeconfig,unset"`
	// FleetNodeName is this host's name in the fleet: the objects whose spec.nodeName it is are this host's.
	// Empty means the host name.
	FleetNodeName string `conf:"fleet_node_name,unset"`
	// FleetNamespace limits fleet mode to one namespace; empty means all.
	FleetNamespace string `conf:"fleet_namespace,unset"`
	// FleetQPS and FleetBurst limit the requests to the API server (client-go's rate limiter; KubeVirt's node
	// agent's defaults).
	FleetQPS   int `conf:"fleet_qps,uint"`
	FleetBurst int `conf:"fleet_burst,uint"`

	warnings []Warning
}

// DefaultDaemon returns the settings that apply when virtxend.conf sets nothing, those of a daemon run as
// root (a session daemon's socket directory differs, which is the caller's business).
func DefaultDaemon() *Daemon {
	return &Daemon{
		UnixSockROPerms:    "0777",
		UnixSockRWPerms:    "0700",
		UnixSockAdminPerms: "0700",
		UnixSockDir:        "/run/libvirt",

		AuthUnixRO:    AuthNone,
		AuthUnixRW:    AuthNone,
		AccessDrivers: []string{"none"},

		MaxClients:          5000,
		MaxQueuedClients:    1000,
		MaxAnonymousClients: 20,
		MinWorkers:          5,
		MaxWorkers:          20,
		PrioWorkers:         5,
		MaxClientRequests:   5,

		AdminMinWorkers:        5,
		AdminMaxWorkers:        20,
		AdminMaxClients:        5000,
		AdminMaxQueuedClients:  20,
		AdminMaxClientRequests: 5,

		LogLevel: LogWarning,

		AuditLevel: 1,

		HostUUIDSource: HostUUIDSMBIOS,

		KeepaliveInterval:      5,
		KeepaliveCount:         5,
		AdminKeepaliveInterval: 5,
		AdminKeepaliveCount:    5,

		OVSTimeout: 5,

		Hypervisor:      HypervisorAuto,
		DomainsDir:      "/etc/virtxend/domains.d",
		DefinesDir:      "/etc/libvirt/libxl",
		StateDir:        "/run/virtxend",
		LibxlConfigFile: DefaultLibxlPath,
		ResyncInterval:  30,

		SecondarySockDir: "/var/run/libvirt",

		SimMemory:    16384,
		SimCPUs:      8,
		SimNUMANodes: 1,

		FleetQPS:   5,
		FleetBurst: 10,
	}
}

// LoadDaemon reads and parses the daemon config at path. A missing file is an error that wraps
// fs.ErrNotExist: like libvirt, the daemon should tolerate it only for the default path, not for -f.
func LoadDaemon(path string) (*Daemon, error) {
	data, err := readConf(path)
	if err != nil {
		return nil, err
	}
	return ParseDaemon(path, data)
}

// ParseDaemon parses a daemon config held in memory; name is used in errors. It either returns a complete,
// valid Daemon (defaults for what data does not set) or an error listing every problem found, never a
// partly applied value. Problems libvirt tolerates become Warnings.
func ParseDaemon(name string, data []byte) (*Daemon, error) {
	f, err := Parse(name, data)
	if err != nil {
		return nil, err
	}
	d := DefaultDaemon()
	dec := decode(f, d, ignoredDaemonKey)
	if d.LogLevel == 0 {
		d.LogLevel = LogWarning
	}
	if len(d.AccessDrivers) == 0 {
		d.AccessDrivers = []string{"none"}
	}
	// libvirt built with polkit opens the read-write socket when polkit guards it, unless told otherwise.
	if _, setPerms := dec.lines["unix_sock_rw_perms"]; d.AuthUnixRW == AuthPolkit && !setPerms {
		d.UnixSockRWPerms = "0777"
	}
	if err := joinByLine(dec.errs, runRules(d, daemonRules, name, dec.lines)); err != nil {
		return nil, err
	}
	d.warnings = append(dec.warnings, d.settle(name, dec.lines)...)
	return d, nil
}

// settle makes the adjustments libvirt makes silently to a valid config, and warns about them.
func (d *Daemon) settle(file string, lines map[string]int) []Warning {
	var ws []Warning
	clamp := func(minKey, maxKey string, lo *int, hi int) {
		if *lo <= hi {
			return
		}
		line := lines[minKey]
		if line == 0 {
			line = lines[maxKey]
		}
		ws = append(ws, Warning{File: file, Line: line, Key: minKey,
			Msg: fmt.Sprintf("%d is more than %s %d; %d workers start, as in libvirt", *lo, maxKey, hi, hi)})
		*lo = hi
	}
	clamp("min_workers", "max_workers", &d.MinWorkers, d.MaxWorkers)
	clamp("admin_min_workers", "admin_max_workers", &d.AdminMinWorkers, d.AdminMaxWorkers)
	if d.HostUUID != "" && d.HostUUIDSource == HostUUIDMachineID {
		ws = append(ws, Warning{File: file, Line: lines["host_uuid"], Key: "host_uuid",
			Msg: "ignored: host_uuid_source is machine-id, so the UUID comes from /etc/machine-id"})
	}
	return ws
}

// Warnings lists what ParseDaemon or LoadDaemon found worth logging in an otherwise valid file: unknown,
// obsolete or repeated keys, values libvirt adjusts silently.
func (d *Daemon) Warnings() []Warning { return d.warnings }

// Validate checks every setting, for a Daemon built in code; ParseDaemon has already done so.
func (d *Daemon) Validate() error { return errors.Join(runRules(d, daemonRules, "", nil)...) }

// SocketPaths returns the paths of the read-write, read-only and admin sockets under UnixSockDir.
func (d *Daemon) SocketPaths() (rw, ro, admin string) {
	return filepath.Join(d.UnixSockDir, SocketName),
		filepath.Join(d.UnixSockDir, ROSocketName),
		filepath.Join(d.UnixSockDir, AdminSocketName)
}

// SocketModes returns the permission bits of the read-write, read-only and admin sockets.
func (d *Daemon) SocketModes() (rw, ro, admin fs.FileMode, err error) {
	if rw, err = parsePerms(d.UnixSockRWPerms); err != nil {
		return 0, 0, 0, fmt.Errorf("unix_sock_rw_perms: %w", err)
	}
	if ro, err = parsePerms(d.UnixSockROPerms); err != nil {
		return 0, 0, 0, fmt.Errorf("unix_sock_ro_perms: %w", err)
	}
	if admin, err = parsePerms(d.UnixSockAdminPerms); err != nil {
		return 0, 0, 0, fmt.Errorf("unix_sock_admin_perms: %w", err)
	}
	return rw, ro, admin, nil
}

// Fleet reports whether the daemon runs in fleet mode (fleet_kubeconfig set).
func (d *Daemon) Fleet() bool { return d.FleetKubeconfig != "" }

// ResyncPeriod is ResyncInterval as a duration.
func (d *Daemon) ResyncPeriod() time.Duration { return time.Duration(d.ResyncInterval) * time.Second }

// Diff compares d, the settings in force, with newer, a freshly loaded file, for a SIGHUP reload. It lists
// the keys whose value changed, in the order of the shipped file: applied holds those a running daemon takes on (log settings,
// client and worker limits, keepalive, domains_dir, resync_interval), needsRestart those it keeps until the
// next start (sockets and their permissions, authentication, auditing, the host UUID, hypervisor, the state
// and defines directories, libxl_config_file). Warnings are not compared.
func (d *Daemon) Diff(newer *Daemon) (applied, needsRestart []string) {
	return diffFields(d, newer)
}

// ignoredDaemonKey explains keys that libvirt's virtxend ignores without a word.
func ignoredDaemonKey(key string) string {
	switch key {
	case "listen_tls", "listen_tcp", "tls_port", "tcp_port", "listen_addr", "tcp_min_ssf", "auth_tcp",
		"auth_tls", "tls_no_sanity_certificate", "tls_no_verify_certificate", "key_file", "cert_file",
		"ca_file", "crl_file", "tls_allowed_dn_list", "tls_priority":
		return "ignored: it configures libvirtd's TCP and TLS listeners, and virtxend has none " +
			"(remote clients reach it through virtproxyd)"
	case "keepalive_required", "admin_keepalive_required", "mdns_adv", "mdns_name", "max_requests":
		return "ignored: libvirt no longer uses this setting"
	}
	return ""
}

// readConf reads a conf file, refusing one larger than libvirt would read.
func readConf(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("read config %s: larger than %d MiB", path, maxFileSize>>20)
	}
	return data, nil
}
