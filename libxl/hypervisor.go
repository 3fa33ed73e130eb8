package libxl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// Hypervisor is the port through which virtxend drives a Xen host. It is deliberately narrow and speaks only
// this package's types, so that the simulated host (libxl/sim) and the libxenlight adapter (libxl/xenlight)
// are interchangeable. Every method is safe for concurrent use.
//
// Methods that take a domid fail with ErrNoDomain when no such domain exists. Domain 0 always exists and
// refuses lifecycle operations with ErrDom0.
type Hypervisor interface {
	// HostInfo describes the physical host and the hypervisor.
	HostInfo(ctx context.Context) (HostInfo, error)

	// ListDomains returns every domain on the host, Domain-0 included, ordered by domid.
	ListDomains(ctx context.Context) ([]DomainInfo, error)
	// DomainInfo returns one domain.
	DomainInfo(ctx context.Context, domid DomID) (DomainInfo, error)

	// CreateDomain builds and starts a domain from cfg; with opts.Paused it is left paused before its first
	// instruction. The domain's userdata is set before the call returns, so a crash of the caller never leaves
	// an unmarked domain behind.
	CreateDomain(ctx context.Context, cfg *DomainConfig, opts CreateOptions) (DomID, error)
	// DestroyDomain kills a domain at once.
	DestroyDomain(ctx context.Context, domid DomID) error
	// ShutdownDomain asks the guest to power off; it returns once the request is delivered, not when the guest
	// is down (watch Events for that).
	ShutdownDomain(ctx context.Context, domid DomID) error
	// RebootDomain asks the guest to reboot.
	RebootDomain(ctx context.Context, domid DomID) error
	// PauseDomain stops scheduling a running domain (ErrBadState if already paused).
	PauseDomain(ctx context.Context, domid DomID) error
	// UnpauseDomain resumes a paused domain (ErrBadState if not paused).
	UnpauseDomain(ctx context.Context, domid DomID) error

	// SetMemoryTarget sets the balloon target in KiB.
	SetMemoryTarget(ctx context.Context, domid DomID, kib uint64) error
	// SetMaxMemory sets the memory ceiling in KiB.
	SetMaxMemory(ctx context.Context, domid DomID, kib uint64) error
	// SetVcpusOnline brings vcpus 0..n-1 online and the rest offline (n ≤ max vcpus).
	SetVcpusOnline(ctx context.Context, domid DomID, n int) error
	// PinVcpu sets the hard affinity of one vcpu to the given physical cpus.
	PinVcpu(ctx context.Context, domid DomID, vcpu int, cpus []int) error
	// VcpuInfo reports each vcpu of a domain.
	VcpuInfo(ctx context.Context, domid DomID) ([]VcpuInfo, error)
	// SchedParams reports a domain's credit-scheduler parameters (libxl_domain_sched_params_get).
	SchedParams(ctx context.Context, domid DomID) (SchedParams, error)
	// SetSchedParams sets them on a running domain (libxl_domain_sched_params_set); a field of KeepSchedParam
	// and the other parameters of the domain's scheduler keep their values.
	SetSchedParams(ctx context.Context, domid DomID, p SchedParams) error

	// SaveDomain writes the domain's memory and config to f, from its current offset, and destroys the domain
	// (libxl_domain_suspend onto an fd). The caller may have written its own header first, as libvirt does.
	SaveDomain(ctx context.Context, domid DomID, f *os.File) error
	// RestoreDomain creates a domain from what SaveDomain wrote, read from f's current offset, with cfg as its
	// configuration (libxl_domain_create_restore from an fd).
	RestoreDomain(ctx context.Context, cfg *DomainConfig, f *os.File, opts CreateOptions) (DomID, error)
	// CoreDump writes the domain's memory to path; the domain keeps its state.
	CoreDump(ctx context.Context, domid DomID, path string) error

	// AttachDevice hot-plugs a device into a running domain.
	AttachDevice(ctx context.Context, domid DomID, dev Device) error
	// DetachDevice hot-unplugs a device.
	DetachDevice(ctx context.Context, domid DomID, dev Device) error

	// ConsolePath returns the pty of a domain's console (kind ConsoleSerial or ConsolePV, index n).
	ConsolePath(ctx context.Context, domid DomID, kind ConsoleKind, n int) (string, error)

	// SetUserdata stores a per-domain blob under key (libxl_userdata_store); it outlives the daemon.
	SetUserdata(ctx context.Context, domid DomID, key string, data []byte) error
	// Userdata reads a blob stored by SetUserdata; ErrNoUserdata when there is none.
	Userdata(ctx context.Context, domid DomID, key string) ([]byte, error)

	// Events returns a stream of domain state changes. The channel is closed when ctx ends. A consumer that
	// falls behind loses events, never blocks the hypervisor, and is told so by an EventOverflow event: it must
	// then re-list.
	Events(ctx context.Context) (<-chan Event, error)

	// Close releases the hypervisor's resources. Guests keep running.
	Close() error
}

// DomID is a Xen domain id. 0 is Domain-0.
type DomID uint32

// Dom0 is the control domain's id.
const Dom0 DomID = 0

// Sentinel errors for decisions the callers make. Backends wrap them with context.
var (
	ErrNoDomain   = errors.New("no such domain")
	ErrNoMemory   = errors.New("not enough free memory")
	ErrBadState   = errors.New("domain is not in a state that allows this operation")
	ErrDom0       = errors.New("operation not permitted on Domain-0")
	ErrNoUserdata = errors.New("no userdata stored")
	ErrNoDevice   = errors.New("no such device")
	ErrDevExists  = errors.New("device already exists")
	ErrInvalid    = errors.New("invalid argument")
)

// HostInfo describes the physical host.
type HostInfo struct {
	Hostname   string
	XenVersion Version
	// Capabilities is Xen's capabilities string, e.g. "xen-3.0-x86_64 hvm-3.0-x86_32 ...".
	Capabilities string
	CPUModel     string
	CPUMHz       uint32
	Nodes        int
	Sockets      int
	CoresPer     int
	ThreadsPer   int
	CPUs         int
	TotalKiB     uint64
	FreeKiB      uint64
	// HVM reports whether the CPU can run HVM guests (vmx or svm).
	HVM bool
	// Scheduler is Xen's CPU scheduler (libxl_get_scheduler): credit, credit2, arinc653, rtds, null.
	Scheduler string
	// BootID changes at every host boot (autostart runs once per boot).
	BootID string
	// NUMA are the host's NUMA nodes with memory (libxl_get_numainfo) and CPUPlaces where its present cpus sit
	// (libxl_get_cpu_topology). Both are nil when the hypervisor does not report them; the host is then laid out
	// from Nodes, Sockets, CoresPer and ThreadsPer.
	NUMA      []NUMANode
	CPUPlaces []CPUPlace
}

// NUMANode is one NUMA node of the host, as Xen reports it.
type NUMANode struct {
	ID              int
	MemKiB, FreeKiB uint64
	// Distances are the node's distances to every node, by node id (10 to itself).
	Distances []int
}

// CPUPlace is where one physical cpu sits.
type CPUPlace struct{ CPU, Core, Socket, Node int }

// Version is a Xen version.
type Version struct{ Major, Minor, Micro int }

// State is the run state of a domain as Xen reports it.
type State int

// Domain states, in the vocabulary of libxl_dominfo.
const (
	StateRunning  State = iota // running or runnable
	StateBlocked               // blocked (idle)
	StatePaused                // paused by the toolstack
	StateShutdown              // shut down, still present (see ShutdownReason)
	StateDying                 // being destroyed
	StateCrashed               // crashed; backends report a crash as StateShutdown with ShutdownCrash
)

func (s State) String() string {
	switch s {
	case StateRunning:
		return "running"
	case StateBlocked:
		return "blocked"
	case StatePaused:
		return "paused"
	case StateShutdown:
		return "shutdown"
	case StateDying:
		return "dying"
	case StateCrashed:
		return "crashed"
	}
	return "unknown"
}

// ShutdownReason mirrors libxl_shutdown_reason.
type ShutdownReason int

// Shutdown reasons.
const (
	ShutdownUnknown  ShutdownReason = -1
	ShutdownPoweroff ShutdownReason = 0
	ShutdownReboot   ShutdownReason = 1
	ShutdownSuspend  ShutdownReason = 2
	ShutdownCrash    ShutdownReason = 3
	ShutdownWatchdog ShutdownReason = 4
	ShutdownSoftRst  ShutdownReason = 5
)

func (r ShutdownReason) String() string {
	switch r {
	case ShutdownPoweroff:
		return "poweroff"
	case ShutdownReboot:
		return "reboot"
	case ShutdownSuspend:
		return "suspend"
	case ShutdownCrash:
		return "crash"
	case ShutdownWatchdog:
		return "watchdog"
	case ShutdownSoftRst:
		return "soft_reset"
	}
	return "unknown"
}

// DomainInfo is one domain as the hypervisor sees it.
type DomainInfo struct {
	DomID DomID
	UUID  string
	Name  string
	Type  DomainType
	State State
	// ShutdownReason is meaningful in StateShutdown and StateCrashed.
	ShutdownReason ShutdownReason
	MaxMemKiB      uint64
	// CurrentKiB is the memory the domain holds now; TargetKiB the balloon target.
	CurrentKiB uint64
	TargetKiB  uint64
	MaxVcpus   int
	// OnlineVcpus is the number of vcpus online.
	OnlineVcpus int
	CPUTime     time.Duration
	// Created is when the domain was built (used to tell a re-created domain from the old one).
	Created time.Time
}

// SchedParams are a domain's parameters under Xen's credit scheduler. Given to SetSchedParams, a field of
// KeepSchedParam leaves that parameter as it is (libxl's LIBXL_DOMAIN_SCHED_PARAM_*_DEFAULT), so that two
// callers setting different parameters do not undo each other.
type SchedParams struct {
	// Weight is the domain's share of the cpus against other domains: 1 to 65535, Xen's default 256.
	Weight int
	// Cap is the most cpu time the domain may use, in percent of one cpu (at most 100 per vcpu); 0 for no cap.
	Cap int
}

// KeepSchedParam in a SchedParams field given to SetSchedParams keeps the domain's current value.
const KeepSchedParam = -1

// Check refuses parameters Xen's credit schedulers reject, wrapping ErrInvalid. The cap's upper bound, 100 per
// vcpu, depends on the domain and is checked where the domain is known.
func (p SchedParams) Check() error {
	if (p.Weight != KeepSchedParam && (p.Weight < 1 || p.Weight > MaxSchedWeight)) || p.Cap < KeepSchedParam {
		return fmt.Errorf("scheduler weight %d (1..%d), cap %d (0 or more): %w", p.Weight, MaxSchedWeight, p.Cap, ErrInvalid)
	}
	return nil
}

// DefaultSchedWeight is the credit scheduler's weight of a domain created without one.
const DefaultSchedWeight = 256

// MaxSchedWeight is the largest credit-scheduler weight.
const MaxSchedWeight = 65535

// VcpuInfo is one vcpu of a domain.
type VcpuInfo struct {
	ID      int
	Online  bool
	Running bool
	Blocked bool
	CPU     int
	CPUTime time.Duration
	// Affinity lists the physical cpus the vcpu may run on.
	Affinity []int
}

// CreateOptions modifies CreateDomain and RestoreDomain.
type CreateOptions struct {
	// Paused leaves the domain paused once built.
	Paused bool
	// Userdata is stored on the new domain before it is unpaused (key → blob).
	Userdata map[string][]byte
}

// DeviceKind names the kind of a hot-pluggable device.
type DeviceKind string

// Device kinds.
const (
	KindDisk DeviceKind = "disk"
	KindNic  DeviceKind = "nic"
	KindPCI  DeviceKind = "pci"
	KindUSB  DeviceKind = "usb"
)

// Device is a hot-pluggable device; exactly one of the pointers is set, matching Kind.
type Device struct {
	Kind DeviceKind
	Disk *DeviceDisk
	Nic  *DeviceNic
	PCI  *DevicePci
	USB  *DeviceUsbdev
}

// ConsoleKind mirrors libxl_console_type.
type ConsoleKind int

// Console kinds.
const (
	ConsoleSerial ConsoleKind = 1
	ConsolePV     ConsoleKind = 2
)

// EventType says what an Event reports.
type EventType int

// Event types.
const (
	// EventCreated: a domain appeared (created, restored, or found at start).
	EventCreated EventType = iota
	// EventStateChanged: running/paused/blocked changed.
	EventStateChanged
	// EventShutdown: the guest shut down (see Reason); the domain still exists until destroyed.
	EventShutdown
	// EventDeath: the domain is gone.
	EventDeath
	// EventOverflow: events were lost; re-list.
	EventOverflow
)

func (t EventType) String() string {
	switch t {
	case EventCreated:
		return "created"
	case EventStateChanged:
		return "state-changed"
	case EventShutdown:
		return "shutdown"
	case EventDeath:
		return "death"
	case EventOverflow:
		return "overflow"
	}
	return "unknown"
}

// Event is a change of one domain.
type Event struct {
	Type   EventType
	DomID  DomID
	UUID   string
	Name   string
	State  State
	Reason ShutdownReason
	Time   time.Time
}
