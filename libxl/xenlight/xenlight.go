//go:build xenlight

package xenlight

/*
#cgo LDFLAGS: -lxenlight -lxentoollog -lxenstore
#include "vx.h"
*/
import "C"

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/cgo"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/go-logr/logr"

	"github.com/virtxend/virtxend/libxl"
)

// The Go mirrors of libxl's codes and enumerations (errors.go, translate.go) must match the headers this
// package is compiled against: each line fails to compile when they differ.
var (
	_ = [1]struct{}{}[C.ERROR_FAIL-errFail]
	_ = [1]struct{}{}[C.ERROR_NOMEM-errNomem]
	_ = [1]struct{}{}[C.ERROR_INVAL-errInval]
	_ = [1]struct{}{}[C.ERROR_NOPARAVIRT-errNoparavirt]
	_ = [1]struct{}{}[C.ERROR_DEVICE_EXISTS-errDeviceExists]
	_ = [1]struct{}{}[C.ERROR_DOMAIN_NOTFOUND-errDomainNotfound]
	_ = [1]struct{}{}[C.ERROR_NOTFOUND-errNotfound]
	_ = [1]struct{}{}[C.ERROR_DOMAIN_DESTROYED-errDomainDestroyed]
	_ = [1]struct{}{}[C.ERROR_QEMU_API-errQemuAPI]
	_ = [1]struct{}{}[C.VX_EPARSE-errParse]
	_ = [1]struct{}{}[C.LIBXL_EVENT_TYPE_DOMAIN_SHUTDOWN-eventDomainShutdown]
	_ = [1]struct{}{}[C.LIBXL_EVENT_TYPE_DOMAIN_DEATH-eventDomainDeath]
	_ = [1]struct{}{}[C.LIBXL_DOMAIN_TYPE_HVM-domainTypeHVM]
	_ = [1]struct{}{}[C.LIBXL_DOMAIN_TYPE_PV-domainTypePV]
	_ = [1]struct{}{}[C.LIBXL_DOMAIN_TYPE_PVH-domainTypePVH]
	_ = [1]struct{}{}[C.XTL_DEBUG-xtlDebug]
	_ = [1]struct{}{}[C.XTL_PROGRESS-xtlProgress]
	_ = [1]struct{}{}[C.XTL_WARN-xtlWarn]
	_ = [1]struct{}{}[C.XTL_CRITICAL-xtlCritical]
	_ = [1]struct{}{}[C.LIBXL_CONSOLE_TYPE_SERIAL-int(libxl.ConsoleSerial)]
	_ = [1]struct{}{}[C.LIBXL_CONSOLE_TYPE_PV-int(libxl.ConsolePV)]
)

// Defaults of Options.
const (
	DefaultEventBuffer  = 1024
	DefaultScanInterval = 2 * time.Second
)

// Options configures New.
type Options struct {
	// Log receives libxl's own messages (errors as errors, warnings at V(0), notices at V(1), debug at V(2))
	// and the adapter's. The zero Logger discards them.
	Log logr.Logger
	// Autoballoon decides, from Xen's command line, whether Domain-0 is ballooned down to make room for a
	// starting guest: libxl.conf's autoballoon as libvirt resolves it (config.Libxl.AutoballoonFor). Nil never
	// balloons.
	Autoballoon func(xenCmdline string) bool
	// EventBuffer is the number of events buffered per Events subscriber (default DefaultEventBuffer).
	EventBuffer int
	// ScanInterval is how often the domain list is compared with the previous one, to notice domains other
	// toolstacks create and pause (libxl has no event for either) (default DefaultScanInterval).
	ScanInterval time.Duration
}

// Hypervisor drives the Xen host through libxenlight. It implements libxl.Hypervisor; create it with New and
// release it with Close. Every method is safe for concurrent use.
type Hypervisor struct {
	logp        atomic.Pointer[logr.Logger]
	minLevel    atomic.Int32 // the xentoollog level below which the C logger drops messages
	opts        Options
	autoballoon bool
	static      libxl.HostInfo // what does not change while the host runs
	pageKiB     uint64
	bootTime    time.Time

	handle cgo.Handle
	logger *C.vx_logger
	ctx    *C.libxl_ctx
	xsh    *C.struct_xs_handle

	// life is held shared by every call into libxl and exclusively by Close, which frees the ctx.
	life   sync.RWMutex
	closed atomic.Bool

	events   *libxl.EventHub
	balloon  sync.Mutex                   // one dom0 balloon-down at a time
	creating atomic.Int32                 // creates and restores in flight: the scanner leaves unknown domids alone meanwhile
	progress atomic.Pointer[sendProgress] // the SendDomain libxc's progress reports go to

	reg registry

	wakeR, wakeW int
	pumpDone     chan struct{}
	sigchld      chan os.Signal
	reapDone     chan struct{}
}

var _ libxl.Hypervisor = (*Hypervisor)(nil)

// New opens libxenlight: one libxl context for the process's life, SIGCHLD delivered to libxl from a goroutine
// (libxl_sigchld_owner_mainloop), domain death events armed for every existing guest, and a goroutine that
// drives libxl's event loop. It fails where there is no Xen (libxl cannot open the hypervisor).
func New(opts Options) (*Hypervisor, error) {
	if opts.EventBuffer <= 0 {
		opts.EventBuffer = DefaultEventBuffer
	}
	if opts.ScanInterval <= 0 {
		opts.ScanInterval = DefaultScanInterval
	}
	h := &Hypervisor{
		opts: opts, events: libxl.NewEventHub(opts.EventBuffer),
		reg: registry{doms: map[libxl.DomID]*watched{}}, wakeR: -1, wakeW: -1,
		pumpDone: make(chan struct{}), reapDone: make(chan struct{}),
	}
	h.logp.Store(&opts.Log)
	h.handle = cgo.NewHandle(h)
	ok := false
	defer func() {
		if !ok {
			h.release()
		}
	}()
	h.minLevel.Store(int32(xtlMinLevel(opts.Log)))
	h.logger = C.vx_logger_new(C.uintptr_t(h.handle), C.int(h.minLevel.Load()))
	if h.logger == nil {
		return nil, fmt.Errorf("open libxenlight: allocate a logger: %w", libxl.ErrNoMemory)
	}
	if rc := C.libxl_ctx_alloc(&h.ctx, C.LIBXL_VERSION, 0, C.vx_logger_base(h.logger)); rc != 0 {
		h.ctx = nil
		return nil, fmt.Errorf("open libxenlight (is this a Xen Domain-0, and are we root?): %w",
			newError("libxl_ctx_alloc", int(rc)))
	}
	// Before anything can fork: libxl leaves SIGCHLD to us, and its domain events come to vxGoEvent.
	C.vx_setup(h.ctx, C.uintptr_t(h.handle))
	h.sigchld = make(chan os.Signal, 1)
	signal.Notify(h.sigchld, syscall.SIGCHLD)
	go h.reapLoop()

	if h.xsh = C.xs_open(0); h.xsh == nil {
		return nil, fmt.Errorf("open libxenlight: connect to xenstore")
	}
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		return nil, fmt.Errorf("open libxenlight: wake pipe: %w", err)
	}
	h.wakeR, h.wakeW = p[0], p[1]
	if err := h.readStatic(); err != nil {
		return nil, err
	}
	// As libvirt does at start: the first free-memory query makes libxl write Domain-0's memory keys.
	var free C.uint64_t
	if rc := C.libxl_get_free_memory(h.ctx, &free); rc != 0 {
		h.log().Info("cannot read the host's free memory", "error", newError("libxl_get_free_memory", int(rc)).Error())
	}
	h.scan(false)
	go h.pumpLoop()
	ok = true
	h.log().V(1).Info("libxenlight opened", "xen", h.static.XenVersion, "autoballoon", h.autoballoon)
	return h, nil
}

// SetLogger replaces the logger of Options.Log, for libxl's messages and the adapter's, from now on.
func (h *Hypervisor) SetLogger(log logr.Logger) {
	h.logp.Store(&log)
	h.life.RLock()
	defer h.life.RUnlock()
	if !h.closed.Load() {
		h.syncLogLevel()
	}
}

// syncLogLevel lets libxl's messages reach Go down to the level the logger enables now: the daemon's log level
// changes at run time (virt-admin, SIGHUP), and the pump calls this at least every ScanInterval. The caller
// keeps Close away.
func (h *Hypervisor) syncLogLevel() {
	m := int32(xtlMinLevel(h.log()))
	if h.logger != nil && h.minLevel.Swap(m) != m {
		C.vx_logger_set_min(h.logger, C.int(m))
	}
}

// log returns the current logger.
func (h *Hypervisor) log() logr.Logger { return *h.logp.Load() }

// Autoballoon reports whether Domain-0 is ballooned down for guests that do not fit in free memory.
func (h *Hypervisor) Autoballoon() bool { return h.autoballoon }

// readStatic reads what HostInfo reports that does not change while the host runs, and resolves autoballoon.
func (h *Hypervisor) readStatic() error {
	vi := C.libxl_get_version_info(h.ctx)
	if vi == nil {
		return fmt.Errorf("open libxenlight: libxl_get_version_info failed")
	}
	cmdline := C.GoString(vi.commandline)
	h.static.XenVersion = xenVersion(int(vi.xen_version_major), int(vi.xen_version_minor), C.GoString(vi.xen_version_extra))
	h.static.Capabilities = C.GoString(vi.capabilities)
	h.pageKiB = max(uint64(vi.pagesize)/1024, 4)
	var pi C.libxl_physinfo
	C.libxl_physinfo_init(&pi)
	defer C.libxl_physinfo_dispose(&pi)
	if rc := C.libxl_get_physinfo(h.ctx, &pi); rc != 0 {
		return fmt.Errorf("open libxenlight: %w", newError("libxl_get_physinfo", int(rc)))
	}
	s := &h.static
	s.CPUs = int(pi.nr_cpus)
	s.Nodes = max(int(pi.nr_nodes), 1)
	s.CoresPer = max(int(pi.cores_per_socket), 1)
	s.ThreadsPer = max(int(pi.threads_per_core), 1)
	s.Sockets = max(s.CPUs/(s.CoresPer*s.ThreadsPer), 1)
	s.CPUMHz = uint32(pi.cpu_khz / 1000)
	s.TotalKiB = uint64(pi.total_pages) * h.pageKiB
	s.HVM = bool(pi.cap_hvm)
	if sched := C.libxl_get_scheduler(h.ctx); sched >= 0 {
		s.Scheduler = C.GoString(C.libxl_scheduler_to_string(C.libxl_scheduler(sched)))
	}
	s.Hostname, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		s.BootID = strings.TrimSpace(string(b))
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		s.CPUModel = cpuModel(f)
		f.Close()
	}
	h.bootTime = hostBootTime()
	if h.opts.Autoballoon != nil {
		h.autoballoon = h.opts.Autoballoon(cmdline)
	}
	return nil
}

// HostInfo describes the host: static facts read at New, free memory now (free pages, as libvirt's
// nodeGetFreeMemory reports them).
func (h *Hypervisor) HostInfo(ctx context.Context) (libxl.HostInfo, error) {
	if err := h.begin(ctx); err != nil {
		return libxl.HostInfo{}, err
	}
	defer h.end()
	var pi C.libxl_physinfo
	C.libxl_physinfo_init(&pi)
	defer C.libxl_physinfo_dispose(&pi)
	if rc := C.libxl_get_physinfo(h.ctx, &pi); rc != 0 {
		return libxl.HostInfo{}, fmt.Errorf("host info: %w", newError("libxl_get_physinfo", int(rc)))
	}
	info := h.static
	info.FreeKiB = uint64(pi.free_pages) * h.pageKiB
	info.NUMA, info.CPUPlaces = h.numaNodes(), h.cpuPlaces()
	return info, nil
}

// numaNodes is libxl_get_numainfo less the nodes without memory (LIBXL_NUMAINFO_INVALID_ENTRY), as
// libxlCapsInitNuma reads it; nil when libxl cannot tell.
func (h *Hypervisor) numaNodes() []libxl.NUMANode {
	var n C.int
	list := C.libxl_get_numainfo(h.ctx, &n)
	if list == nil {
		return nil
	}
	defer C.libxl_numainfo_list_free(list, n)
	var nodes []libxl.NUMANode
	for id, ni := range unsafe.Slice(list, int(n)) {
		if uint64(ni.size) == uint64(C.LIBXL_NUMAINFO_INVALID_ENTRY) {
			continue
		}
		node := libxl.NUMANode{ID: id, MemKiB: uint64(ni.size) / 1024, FreeKiB: uint64(ni.free) / 1024}
		if ni.num_dists > 0 && ni.dists != nil {
			for _, d := range unsafe.Slice(ni.dists, int(ni.num_dists)) {
				node.Distances = append(node.Distances, int(d))
			}
		}
		nodes = append(nodes, node)
	}
	return nodes
}

// cpuPlaces is libxl_get_cpu_topology less the cpus that are not there (LIBXL_CPUTOPOLOGY_INVALID_ENTRY); nil
// when libxl cannot tell.
func (h *Hypervisor) cpuPlaces() []libxl.CPUPlace {
	var n C.int
	list := C.libxl_get_cpu_topology(h.ctx, &n)
	if list == nil {
		return nil
	}
	defer C.libxl_cputopology_list_free(list, n)
	var cpus []libxl.CPUPlace
	for id, t := range unsafe.Slice(list, int(n)) {
		if t.core == C.LIBXL_CPUTOPOLOGY_INVALID_ENTRY || t.node == C.LIBXL_CPUTOPOLOGY_INVALID_ENTRY {
			continue
		}
		cpus = append(cpus, libxl.CPUPlace{CPU: id, Core: int(t.core), Socket: int(t.socket), Node: int(t.node)})
	}
	return cpus
}

// begin enters a call into libxl: it fails once Close has begun, and holds Close off until end.
func (h *Hypervisor) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h.life.RLock()
	if h.closed.Load() {
		h.life.RUnlock()
		return ErrClosed
	}
	return nil
}

func (h *Hypervisor) end() { h.life.RUnlock() }

// Close stops the event loop, waits for the calls in progress, and frees the libxl context. Guests keep running.
func (h *Hypervisor) Close() error {
	if !h.closed.CompareAndSwap(false, true) {
		return nil
	}
	h.wake()
	<-h.pumpDone
	h.life.Lock()
	defer h.life.Unlock()
	h.events.Close()
	h.release()
	return nil
}

// release frees what New acquired, in the reverse order. libxl_ctx_free also disables the death event
// generators; the SIGCHLD goroutine stops only once no call can be waiting for a child.
func (h *Hypervisor) release() {
	if h.sigchld != nil {
		signal.Stop(h.sigchld)
		close(h.sigchld)
		<-h.reapDone
		h.sigchld = nil
	}
	if h.ctx != nil {
		C.libxl_ctx_free(h.ctx)
		h.ctx = nil
	}
	if h.xsh != nil {
		C.xs_close(h.xsh)
		h.xsh = nil
	}
	if h.logger != nil {
		C.vx_logger_free(h.logger)
		h.logger = nil
	}
	for _, fd := range []*int{&h.wakeR, &h.wakeW} {
		if *fd >= 0 {
			syscall.Close(*fd)
			*fd = -1
		}
	}
	h.handle.Delete()
}

// reapLoop keeps the promise of libxl_sigchld_owner_mainloop: on every SIGCHLD, libxl looks at its own children
// (with waitpid on their pids, so the children of os/exec are left to Go).
func (h *Hypervisor) reapLoop() {
	defer close(h.reapDone)
	for range h.sigchld {
		C.libxl_childproc_sigchld_occurred(h.ctx)
	}
}

// cstring returns a C copy of s and the function that frees it.
func cstring(s string) (*C.char, func()) {
	p := C.CString(s)
	return p, func() { C.free(unsafe.Pointer(p)) }
}

// hostBootTime reads the boot time from /proc/stat (Domain-0 boots with the host).
func hostBootTime() time.Time {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			var sec int64
			if _, err := fmt.Sscan(v, &sec); err == nil {
				return time.Unix(sec, 0)
			}
		}
	}
	return time.Time{}
}
