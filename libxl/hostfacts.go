package libxl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// HostFacts is what Build needs to know about the host and the driver configuration, the inputs libvirt's
// libxlBuildDomainConfig reads from libxl, the capabilities and libxl.conf. The daemon fills it from the real host
// (DefaultHostFacts, then the hypervisor's HostInfo and libxl.conf); tests pin it to the values of libvirt's mocked
// test host.
type HostFacts struct {
	// Arch is the host architecture in libvirt's spelling ("x86_64"); nested HVM is only considered on x86.
	Arch string
	// NUMANodes is the number of physical NUMA nodes (libxl_physinfo.nr_nodes). A guest with more vNUMA cells than
	// this puts every cell on node 0.
	NUMANodes int
	// MaxCPUs is the width of a physical cpu bitmap (libxl_get_max_cpus); vcpus left out of a <vcpupin> set may
	// run on all of them.
	MaxCPUs int
	// HostVMX and HostSVM say whether the host CPU has Intel VT-x or AMD-V.
	HostVMX, HostSVM bool
	// NestedHVM is libxl.conf's nested_hvm: allow nested virtualization for host-passthrough CPUs.
	NestedHVM bool
	// Firmwares is the driver's firmware list: the first entry is the default UEFI loader used for
	// <os firmware='efi'>.
	Firmwares []string
	// ChannelDir is where Unix sockets of <channel type='unix'> without a path are created.
	ChannelDir string
	// ShadowMemory returns the shadow memory in KiB libxl wants for a guest (libxl_get_required_shadow_memory);
	// nil uses libxl's formula, RequiredShadowMemory.
	ShadowMemory func(maxMemKiB uint64, vcpus int) uint64
	// EmulatorType says which device model an <emulator> binary is (libxlDomainGetEmulatorType); nil assumes
	// qemu-xen.
	EmulatorType func(path string) DeviceModelVersion
	// CheckEmulator fails when an <emulator> is missing or not executable; nil checks the file system.
	CheckEmulator func(path string) error
	// GraphicsPorts hands out VNC and SPICE ports for autoport graphics; nil fails such a domain.
	GraphicsPorts PortAllocator
	// NetworkBridge returns the bridge of a libvirt network (<interface type='network'>), asked of the network
	// driver as libvirt's libxl driver asks it at start; nil rejects such interfaces. Its errors should be
	// *BuildError (ErrNoNetwork, ErrDriverUnavailable, ErrOperationInvalid for an inactive network...).
	NetworkBridge func(network string) (string, error)
	// VolumePath returns the path of a storage volume (<disk type='volume'>), asked of the storage driver; nil
	// rejects such disks. Its errors should be *BuildError (ErrNoStoragePool, ErrNoStorageVol,
	// ErrDriverUnavailable...).
	VolumePath func(pool, volume string) (string, error)
	// FindUSBDevice returns the bus and address of a host USB device given by vendor and product; nil rejects
	// such hostdevs.
	FindUSBDevice func(vendor, product uint16) (bus, addr uint8, err error)
	// FlaskSID resolves a static FLASK security label to a SID (libxl_flask_context_to_sid); nil leaves ssidref
	// unset. As in libvirt, a failure is reported in BuildResult.Warnings and the start goes on.
	FlaskSID func(label string) (uint32, error)
	// CephSecret returns the base64 key of a ceph secret for an RBD disk with <auth>; nil rejects such disks.
	CephSecret func(auth DiskSecretRef) (string, error)
}

// DiskSecretRef identifies the secret of a network disk.
type DiskSecretRef struct {
	Username, UUID, Usage string
}

// PortAllocator hands out TCP ports for graphics (libvirt's virPortAllocatorRange).
type PortAllocator interface {
	// Acquire reserves a free port.
	Acquire() (int, error)
	// Release returns a port acquired before.
	Release(port int)
}

// The VNC port range libvirt's libxl driver allocates from.
const (
	VNCPortMin = 5900
	VNCPortMax = 65535
)

// Defaults of the libxl driver configuration (libxlDriverConfigNew), with Debian's Xen firmware directory.
const (
	DefaultFirmwareDir = "/usr/lib/xen/boot"
	DefaultChannelDir  = "/var/lib/libvirt/libxl/channel/target"
)

// DefaultHostFacts returns the facts of a plain x86_64 host with the libxl driver's default configuration: one NUMA
// node, firmware in DefaultFirmwareDir, emulators probed and checked on the file system, VNC ports 5900–65535
// handed out by this process. Callers override what they measure (NUMA nodes, CPU features, libxl.conf).
func DefaultHostFacts() HostFacts {
	return HostFacts{
		Arch:          "x86_64",
		NUMANodes:     1,
		MaxCPUs:       1,
		Firmwares:     []string{DefaultFirmwareDir + "/ovmf.bin", DefaultFirmwareDir + "/hvmloader"},
		ChannelDir:    DefaultChannelDir,
		EmulatorType:  ProbeEmulatorType,
		GraphicsPorts: NewPortRange(VNCPortMin, VNCPortMax, nil),
	}
}

// RequiredShadowMemory is libxl_get_required_shadow_memory: 256 pages (1 MiB) per vcpu, plus a page per MiB of RAM
// for the P2M map and one to shadow the resident processes, in KiB.
func RequiredShadowMemory(maxMemKiB uint64, vcpus int) uint64 {
	return 4 * (256*uint64(vcpus) + 2*(maxMemKiB/1024))
}

// qemuTraditionalMarker is what qemu-dm (qemu-xen-traditional) prints in its -help.
const qemuTraditionalMarker = "Options specific to the Xen version:"

// ProbeEmulatorType runs "<path> -help" as libvirt does and recognises qemu-xen-traditional by its help text;
// anything else, a failure included, is qemu-xen.
func ProbeEmulatorType(path string) DeviceModelVersion {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "-help").Output()
	if err == nil && bytes.Contains(out, []byte(qemuTraditionalMarker)) {
		return DeviceModelQemuXenTraditional
	}
	return DeviceModelQemuXen
}

// checkExecutable is the default emulator check: the file must exist and be executable by someone.
func checkExecutable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return unsupportedf("emulator '%s' not found", path)
	}
	if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return unsupportedf("emulator '%s' is not executable", path)
	}
	return nil
}

// PortRange is a PortAllocator over [Start, End], safe for concurrent use.
type PortRange struct {
	Start, End int
	// Free reports whether a port is free on the host; nil treats every port not handed out as free.
	Free func(port int) bool

	mu   sync.Mutex
	used map[int]bool
}

// NewPortRange returns an allocator for the ports start..end.
func NewPortRange(start, end int, free func(int) bool) *PortRange {
	return &PortRange{Start: start, End: end, Free: free}
}

// Acquire returns the lowest port of the range that is neither handed out nor busy.
func (r *PortRange) Acquire() (int, error) { return r.AcquireExcept(nil) }

// AcquireExcept is Acquire that also passes over the ports in held: ports the allocator did not hand out but
// that are taken all the same (those of the domains a previous daemon started, which libvirt's
// libxlReconnectDomain marks used).
func (r *PortRange) AcquireExcept(held map[int]bool) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.used == nil {
		r.used = map[int]bool{}
	}
	for p := r.Start; p <= r.End; p++ {
		if r.used[p] || held[p] || (r.Free != nil && !r.Free(p)) {
			continue
		}
		r.used[p] = true
		return p, nil
	}
	return 0, fmt.Errorf("unable to find an unused port in range %d-%d: %w", r.Start, r.End, ErrNoFreePort)
}

// Release makes a port available again.
func (r *PortRange) Release(port int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.used, port)
}

// PortBindable reports whether a TCP port can be bound on the host's IPv4 and IPv6 wildcard addresses, as
// libvirt's port allocator checks before it hands a port out (virPortAllocatorBindToPort): a port another
// program (a device model of a domain this daemon does not know, a VNC server) listens on is passed over. An
// address family the host lacks does not count against the port.
func PortBindable(port int) bool {
	for _, network := range []string{"tcp4", "tcp6"} {
		l, err := net.Listen(network, net.JoinHostPort(map[string]string{"tcp4": "0.0.0.0", "tcp6": "::"}[network], strconv.Itoa(port)))
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				return false
			}
			continue
		}
		l.Close()
	}
	return true
}
