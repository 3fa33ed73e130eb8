package sim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/virtxend/virtxend/libxl"
)

// Defaults for Options.
const (
	DefaultTotalMemKiB   = 16 << 20 // 16 GiB
	DefaultDom0MemKiB    = 2 << 20  // 2 GiB
	DefaultCPUs          = 8
	DefaultNodes         = 1
	DefaultShutdownDelay = 200 * time.Millisecond
	DefaultEventBuffer   = 1024
)

// The simulated hypervisor's identity: Debian 12's Xen on an x86_64 host with HVM support.
var xenVersion = libxl.Version{Major: 4, Minor: 17, Micro: 3}

const xenCapabilities = "xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64"

// Errors of the simulator itself (the hypervisor's decisions use libxl's sentinels).
var (
	// ErrClosed is returned by every method of a Host after Close.
	ErrClosed = errors.New("simulated xen host is closed")
	// ErrStateDirBusy is returned by New when another live Host (in any process) owns the state directory.
	ErrStateDirBusy = errors.New("state directory is in use by another simulated host")
)

// Options configures a simulated host. Only StateDir is required.
type Options struct {
	// StateDir holds the host's persistent state; it is created if missing.
	StateDir string
	// TotalMemKiB is the host's memory (default DefaultTotalMemKiB).
	TotalMemKiB uint64
	// Dom0MemKiB is Domain-0's allocation when the simulated host boots (default DefaultDom0MemKiB), like
	// Xen's dom0_mem=. Within one boot, Domain-0's ballooned size persists instead.
	Dom0MemKiB uint64
	// CPUs is the number of physical cpus (default DefaultCPUs); Domain-0 has as many vcpus.
	CPUs int
	// Nodes is the number of NUMA nodes (default DefaultNodes); it must divide CPUs. Each node is one socket.
	Nodes int
	// ShutdownDelay is the guest time a guest takes to act on a shutdown or reboot request: 0 means
	// DefaultShutdownDelay, a negative value means at once (the request completes before the call returns).
	ShutdownDelay time.Duration
	// Hostname is the host's name (default os.Hostname).
	Hostname string
	// BootID identifies the host's boot (default /proc/sys/kernel/random/boot_id). A Host opening a state
	// directory written under another boot id starts a freshly booted host: the old guests are gone.
	BootID string
	// Clock tells the time (default time.Now). Timers for pending shutdowns use real time regardless.
	Clock func() time.Time
	// Sync makes every state write durable (fsync). Off by default: simulated guests, like real ones, do not
	// survive a power failure, while an atomic rename already survives a daemon crash.
	Sync bool
	// EventBuffer is the number of events buffered per subscriber (default DefaultEventBuffer).
	EventBuffer int
	// Inject makes the host take requests from other processes through StateDir/inject (see InjectDir), by
	// watching that directory with inotify. The daemon turns it on; a test in the same process calls
	// InjectCrash and the other methods instead.
	Inject bool
}

// Host is a simulated Xen host. It implements libxl.Hypervisor; its extra methods (InjectCrash, GuestPrint,
// SetShutdownDelay, DomainConfig) play the guests' part and let tests change the host behind the daemon's back.
type Host struct {
	opts   Options
	static libxl.HostInfo
	lock   *os.File
	events *libxl.EventHub

	mu            sync.Mutex
	closed        bool
	doms          map[libxl.DomID]*domain
	names         map[string]libxl.DomID
	nextID        libxl.DomID
	persistedNext libxl.DomID
	bootID        string
	bootedAt      time.Time
	shutdownDelay time.Duration
	// used is the memory every domain holds, kept as domains come, go and balloon, once usedKnown (the first
	// call of usedKiB after load sums it): a start must not walk ten thousand domains to find free memory.
	used      uint64
	usedKnown bool
	inject    *injector // nil without Options.Inject
}

var _ libxl.Hypervisor = (*Host)(nil)

// New opens (creating it if needed) the simulated host whose state lives in opts.StateDir: the guests a
// previous Host left there are running still, with their domids, states and userdata. It fails with
// ErrStateDirBusy while another Host owns the directory.
func New(opts Options) (*Host, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("simulated xen host: %w", err)
	}
	lock, err := lockStateDir(opts.StateDir)
	if err != nil {
		return nil, err
	}
	h := &Host{
		opts:          opts,
		lock:          lock,
		events:        libxl.NewEventHub(opts.EventBuffer),
		doms:          make(map[libxl.DomID]*domain),
		names:         make(map[string]libxl.DomID),
		bootID:        opts.BootID,
		shutdownDelay: opts.ShutdownDelay,
	}
	h.static = hostStatic(opts, h.bootID)
	h.mu.Lock()
	err = h.load()
	h.mu.Unlock()
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("simulated xen host in %s: %w", opts.StateDir, err)
	}
	if opts.Inject {
		h.inject = h.startInjector()
	}
	return h, nil
}

func (o *Options) setDefaults() error {
	if o.StateDir == "" {
		return fmt.Errorf("simulated xen host: no state directory: %w", libxl.ErrInvalid)
	}
	if o.TotalMemKiB == 0 {
		o.TotalMemKiB = DefaultTotalMemKiB
	}
	if o.Dom0MemKiB == 0 {
		o.Dom0MemKiB = DefaultDom0MemKiB
	}
	if o.CPUs == 0 {
		o.CPUs = DefaultCPUs
	}
	if o.Nodes == 0 {
		o.Nodes = DefaultNodes
	}
	switch {
	case o.ShutdownDelay == 0:
		o.ShutdownDelay = DefaultShutdownDelay
	case o.ShutdownDelay < 0:
		o.ShutdownDelay = 0
	}
	if o.EventBuffer <= 0 {
		o.EventBuffer = DefaultEventBuffer
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Hostname == "" {
		o.Hostname, _ = os.Hostname()
	}
	if o.BootID == "" {
		b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
		if err != nil {
			return fmt.Errorf("simulated xen host: no boot id (set Options.BootID): %w", err)
		}
		o.BootID = strings.TrimSpace(string(b))
	}
	switch {
	case o.Dom0MemKiB >= o.TotalMemKiB:
		return fmt.Errorf("simulated xen host: Domain-0's %d KiB do not fit in %d KiB: %w",
			o.Dom0MemKiB, o.TotalMemKiB, libxl.ErrInvalid)
	case o.CPUs < 0 || o.Nodes < 0 || o.CPUs%o.Nodes != 0:
		return fmt.Errorf("simulated xen host: %d cpus do not split into %d nodes: %w", o.CPUs, o.Nodes, libxl.ErrInvalid)
	}
	return nil
}

func lockStateDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("simulated xen host: %w", err)
	}
	rc, err := f.SyscallConn()
	if err == nil {
		cerr := rc.Control(func(fd uintptr) { err = unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB) })
		if err == nil {
			err = cerr
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("simulated xen host: %s is locked by another daemon: %w", path, ErrStateDirBusy)
		}
		return nil, fmt.Errorf("simulated xen host: lock %s: %w", path, err)
	}
	return f, nil
}

// hostStatic describes the simulated machine. The cpu model comes from the real machine when it can be read.
func hostStatic(o Options, bootID string) libxl.HostInfo {
	info := libxl.HostInfo{
		Hostname:     o.Hostname,
		XenVersion:   xenVersion,
		Capabilities: xenCapabilities,
		CPUModel:     "Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz",
		CPUMHz:       3000,
		Nodes:        o.Nodes,
		Sockets:      o.Nodes,
		CoresPer:     o.CPUs / o.Nodes,
		ThreadsPer:   1,
		CPUs:         o.CPUs,
		TotalKiB:     o.TotalMemKiB,
		HVM:          true,
		Scheduler:    "credit",
		BootID:       bootID,
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		var model, mhz bool
		sc := bufio.NewScanner(f)
		for sc.Scan() && !(model && mhz) {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if !ok {
				continue
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			switch {
			case k == "model name" && !model && v != "":
				info.CPUModel, model = v, true
			case k == "cpu MHz" && !mhz:
				if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 {
					info.CPUMHz, mhz = uint32(f+0.5), true
				}
			}
		}
	}
	return info
}

func (h *Host) now() time.Time { return h.opts.Clock() }

// get returns the domain domid; called with h.mu held.
func (h *Host) get(domid libxl.DomID) (*domain, error) {
	if h.closed {
		return nil, ErrClosed
	}
	d, ok := h.doms[domid]
	if !ok {
		return nil, fmt.Errorf("domain %d: %w", domid, libxl.ErrNoDomain)
	}
	return d, nil
}

// guest returns domain domid for an operation Domain-0 refuses; called with h.mu held.
func (h *Host) guest(domid libxl.DomID) (*domain, error) {
	d, err := h.get(domid)
	if err == nil && d.isDom0() {
		return nil, fmt.Errorf("domain 0: %w", libxl.ErrDom0)
	}
	return d, err
}

// lockCtx checks ctx, then locks h.
func (h *Host) lockCtx(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h.mu.Lock()
	return nil
}

// usedKiB is the memory every domain holds; called with h.mu held.
func (h *Host) usedKiB() uint64 {
	if !h.usedKnown {
		h.used = 0
		for _, d := range h.doms {
			h.used += d.curKiB
		}
		h.usedKnown = true
	}
	return h.used
}

// setCurKiB changes d's allocation and the host's total with it; called with h.mu held.
func (h *Host) setCurKiB(d *domain, kib uint64) {
	if h.usedKnown {
		h.used = h.used - d.curKiB + kib
	}
	d.curKiB = kib
}

func (h *Host) freeKiB() uint64 {
	used := h.usedKiB()
	if used >= h.opts.TotalMemKiB {
		return 0
	}
	return h.opts.TotalMemKiB - used
}

// HostInfo describes the simulated machine and hypervisor.
func (h *Host) HostInfo(ctx context.Context) (libxl.HostInfo, error) {
	if err := h.lockCtx(ctx); err != nil {
		return libxl.HostInfo{}, err
	}
	defer h.mu.Unlock()
	if h.closed {
		return libxl.HostInfo{}, ErrClosed
	}
	info := h.static
	info.FreeKiB = h.freeKiB()
	return info, nil
}

// ListDomains returns every domain, Domain-0 first, ordered by domid.
func (h *Host) ListDomains(ctx context.Context) ([]libxl.DomainInfo, error) {
	if err := h.lockCtx(ctx); err != nil {
		return nil, err
	}
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	now := h.now()
	out := make([]libxl.DomainInfo, 0, len(h.doms))
	for _, d := range h.doms {
		out = append(out, d.info(now))
	}
	slices.SortFunc(out, func(a, b libxl.DomainInfo) int { return int(a.DomID) - int(b.DomID) })
	return out, nil
}

// DomainInfo returns one domain.
func (h *Host) DomainInfo(ctx context.Context, domid libxl.DomID) (libxl.DomainInfo, error) {
	if err := h.lockCtx(ctx); err != nil {
		return libxl.DomainInfo{}, err
	}
	defer h.mu.Unlock()
	d, err := h.get(domid)
	if err != nil {
		return libxl.DomainInfo{}, err
	}
	return d.info(h.now()), nil
}

// Close releases the host's resources: its lock on the state directory, its consoles, its timers and its
// event subscriptions. The simulated guests keep running: a new Host on the same directory finds them.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	for _, d := range h.doms {
		d.stopTimer()
		if d.console != nil {
			d.console.close()
			d.console = nil
		}
	}
	h.mu.Unlock()
	h.inject.stop()
	h.events.Close()
	if h.lock != nil {
		return h.lock.Close() // releases the flock
	}
	return nil
}
