package config

import (
	"errors"
	"io/fs"
	"regexp"
)

// LockManager names the lock manager plugin that guards disks shared between domains.
type LockManager string

// The values of lock_manager.
const (
	// LockNop takes no locks.
	LockNop LockManager = "nop"
	// LockLockd takes locks through virtlockd.
	LockLockd LockManager = "lockd"
	// LockSanlock takes locks through sanlock.
	LockSanlock LockManager = "sanlock"
)

// Libxl is the content of libxl.conf, the libxl driver's own settings, with libvirt's defaults. libvirt
// reads it once, when the driver starts; SIGHUP does not re-read it.
type Libxl struct {
	// Autoballoon says whether dom0 is ballooned down to make room for a starting guest. Nil, the default,
	// means automatic: see AutoballoonFor.
	Autoballoon *bool `conf:"autoballoon,unset"`
	// LockManager guards disks against two domains writing them at once.
	LockManager LockManager `conf:"lock_manager"`
	// KeepaliveInterval is the idle time in seconds before the driver pings the destination daemon during a
	// peer-to-peer migration; 0 or less disables the pings.
	KeepaliveInterval int `conf:"keepalive_interval"`
	// KeepaliveCount is how many of those pings may go unanswered before the migration connection is closed.
	KeepaliveCount int `conf:"keepalive_count,uint"`
	// NestedHVM lets HVM guests with <cpu mode='host-passthrough'> run their own hypervisor.
	NestedHVM bool `conf:"nested_hvm"`
	// MigrationAddress is the address an incoming migration listens on and Prepare advertises (tcp://ADDR:PORT);
	// empty means the host's name, as libvirt's libxl driver uses.
	MigrationAddress string `conf:"migration_address,unset"`
	// MigrationPortMin and MigrationPortMax bound the ports an incoming migration listens on; 0 means libvirt's
	// 49152–49216.
	MigrationPortMin int `conf:"migration_port_min,uint"`
	MigrationPortMax int `conf:"migration_port_max,uint"`

	warnings []Warning
}

// DefaultLibxl returns the settings that apply when libxl.conf sets nothing or does not exist.
func DefaultLibxl() *Libxl {
	return &Libxl{
		LockManager:       LockNop,
		KeepaliveInterval: 5,
		KeepaliveCount:    5,
	}
}

// LoadLibxl reads and parses the libxl driver's config at path. As in libvirt, a file that does not exist
// or cannot be opened is no error: the defaults apply (an unreadable file adds a Warning). A file that
// exists but is malformed is an error.
func LoadLibxl(path string) (*Libxl, error) {
	data, err := readConf(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return DefaultLibxl(), nil
	case errors.Is(err, fs.ErrPermission):
		l := DefaultLibxl()
		l.warnings = []Warning{{File: path, Msg: "cannot be read, the defaults apply: " + err.Error()}}
		return l, nil
	case err != nil:
		return nil, err
	}
	return ParseLibxl(path, data)
}

// ParseLibxl parses a libxl driver config held in memory; name is used in errors. Like ParseDaemon it
// returns a complete, valid value or every problem found.
func ParseLibxl(name string, data []byte) (*Libxl, error) {
	f, err := Parse(name, data)
	if err != nil {
		return nil, err
	}
	l := DefaultLibxl()
	dec := decode(f, l, func(string) string { return "" })
	if err := joinByLine(dec.errs, runRules(l, libxlRules, name, dec.lines)); err != nil {
		return nil, err
	}
	l.warnings = dec.warnings
	return l, nil
}

var libxlRules = []rule[Libxl]{
	{"lock_manager", func(l *Libxl) error { return oneOf(l.LockManager, LockNop, LockLockd, LockSanlock) }},
	{"keepalive_interval", func(l *Libxl) error { return checkKeepalive(l.KeepaliveInterval) }},
}

// Warnings lists what LoadLibxl or ParseLibxl found worth logging: unknown or repeated keys, an
// unreadable file.
func (l *Libxl) Warnings() []Warning { return l.warnings }

// Validate checks every setting, for a Libxl built in code; ParseLibxl has already done so.
func (l *Libxl) Validate() error { return errors.Join(runRules(l, libxlRules, "", nil)...) }

// dom0MemLimit matches a Xen command line that fixes dom0's memory (libvirt's libxlGetAutoballoonConf).
var dom0MemLimit = regexp.MustCompile(`(^| )dom0_mem=((|min:|max:)[0-9]+[bBkKmMgG]?,?)+($| )`)

// AutoballoonFor resolves Autoballoon for a host whose Xen command line (libxl's version info) is
// xenCmdline: the configured value when set, otherwise on unless dom0_mem= limits dom0's memory.
func (l *Libxl) AutoballoonFor(xenCmdline string) bool {
	if l.Autoballoon != nil {
		return *l.Autoballoon
	}
	return !dom0MemLimit.MatchString(xenCmdline)
}
