package remote

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/daemon/remote/rpc"
	"github.com/virtxend/virtxend/libxl"
)

// Paths libvirt's libxl driver compiles in (LIBXL_EXECBIN_DIR, LIBXL_FIRMWARE_DIR, libxl_capabilities.h) and the
// emulator virConnectGetDomainCapabilities assumes when the caller names none.
const (
	xenExecBinDir          = "/usr/lib/xen/bin"
	capsEmulator           = xenExecBinDir + "/qemu-system-i386"
	capsHVMLoader          = libxl.DefaultFirmwareDir + "/hvmloader"
	domCapsDefaultEmulator = "/usr/bin/qemu-system-x86_64"
)

// Maximum vcpus per guest type, as libxlMakeDomainCapabilities reports them (Xen has no interface for them).
const (
	hvmMaxVcpus = 128 // HVM_MAX_VCPUS, xen/include/public/hvm/hvm_info_table.h
	pvMaxVcpus  = 512 // PV_MAX_VCPUS, libvirt's own choice
)

// registerCapabilities: the host's capabilities XML and the domain capabilities XML.
func registerCapabilities(f *Facade, p *rpc.Program) {
	rpc.Register(p, rpc.ProcConnectGetCapabilities, func(ctx context.Context, _ *rpc.Call, _ *struct{}) (*libvirt.ConnectGetCapabilitiesRet, error) {
		info, err := f.hostInfo(ctx)
		if err != nil {
			return nil, err
		}
		return &libvirt.ConnectGetCapabilitiesRet{Capabilities: formatCapabilities(f.hostArch(), info)}, nil
	})
	rpc.Register(p, rpc.ProcConnectGetDomainCapabilities, func(_ context.Context, _ *rpc.Call, a *libvirt.ConnectGetDomainCapabilitiesArgs) (*libvirt.ConnectGetDomainCapabilitiesRet, error) {
		if err := checkHostFlags(uint32(a.Flags), 0, "libxlConnectGetDomainCapabilities"); err != nil {
			return nil, err
		}
		in := domCapsInput{
			Emulator:  capsOptString(a.Emulatorbin),
			Arch:      capsOptString(a.Arch),
			Machine:   capsOptString(a.Machine),
			VirtType:  capsOptString(a.Virttype),
			Firmwares: f.Facts.Firmwares,
		}
		if in.Arch == "" {
			in.Arch = f.hostArch()
		}
		xml, err := formatDomainCapabilities(in)
		if err != nil {
			return nil, err
		}
		return &libvirt.ConnectGetDomainCapabilitiesRet{Capabilities: xml}, nil
	})
}

// formatCapabilities renders the capabilities XML of a host as libvirt's libxl driver builds it
// (libxlMakeCapabilities) and formats it (virCapabilitiesFormatXML): the host CPU with its topology, no power
// management, live migration, the "vif" interface prefix, the NUMA cells, and one guest per architecture and
// guest type Xen's capabilities string offers, each HVM type with a PVH twin.
//
// The host CPU carries no model, vendor or feature list: libvirt decodes those from CPUID words with its CPU
// map, which virtxend does not ship. Two elements libvirt emits, <netprefix> and <os_type>xenpvh</os_type>,
// are missing from libvirt's own capability.rng.
func formatCapabilities(arch string, info libxl.HostInfo) string {
	w := &capsWriter{}
	w.line(0, "<capabilities>")
	w.line(0, "")
	w.line(1, "<host>")
	w.line(2, "<cpu>")
	w.line(3, "<arch>%s</arch>", arch)
	if isX86(arch) {
		// libxlCapsInitCPU: PAE from hw_cap; every CPU Xen 4.x runs on has it.
		w.line(3, "<features>")
		w.line(4, "<pae/>")
		w.line(3, "</features>")
		if cores, threads := max(info.CoresPer, 1), max(info.ThreadsPer, 1); info.CPUs >= cores*threads {
			w.line(3, "<topology sockets='%d' dies='1' clusters='1' cores='%d' threads='%d'/>",
				info.CPUs/(cores*threads), cores, threads)
		}
	}
	w.line(2, "</cpu>")
	w.line(2, "<power_management/>")
	w.line(2, "<iommu support='no'/>")
	w.line(2, "<migration_features>")
	w.line(3, "<live/>")
	w.line(2, "</migration_features>")
	w.line(2, "<netprefix>vif</netprefix>")
	topo := topologyOf(info)
	w.line(2, "<topology>")
	w.line(3, "<cells num='%d'>", len(topo.Nodes))
	for _, n := range topo.Nodes {
		w.line(4, "<cell id='%d'>", n.ID)
		if n.MemKiB > 0 {
			w.line(5, "<memory unit='KiB'>%d</memory>", n.MemKiB)
		}
		w.line(5, "<distances>")
		for j, d := range n.Distances {
			w.line(6, "<sibling id='%d' value='%d'/>", j, d)
		}
		w.line(5, "</distances>")
		if len(n.CPUs) == 0 {
			w.line(5, "<cpus num='0'/>")
		} else {
			w.line(5, "<cpus num='%d'>", len(n.CPUs))
			for _, c := range n.CPUs {
				w.line(6, "<cpu id='%d' socket_id='%d' die_id='0' cluster_id='0' core_id='%d' siblings='%s'/>",
					c.ID, c.Socket, c.Core, formatCPUSet(c.Siblings))
			}
			w.line(5, "</cpus>")
		}
		w.line(4, "</cell>")
	}
	w.line(3, "</cells>")
	w.line(2, "</topology>")
	w.line(1, "</host>")
	w.line(0, "")
	for _, g := range capsGuests(info.Capabilities) {
		w.line(1, "<guest>")
		w.line(2, "<os_type>%s</os_type>", g.OSType)
		w.line(2, "<arch name='%s'>", g.Arch)
		w.line(3, "<wordsize>%d</wordsize>", wordSize(g.Arch))
		w.line(3, "<emulator>%s</emulator>", capsEmulator)
		if g.OSType == "hvm" {
			w.line(3, "<loader>%s</loader>", capsHVMLoader)
		}
		w.line(3, "<machine>%s</machine>", g.Machine())
		w.line(3, "<domain type='xen'/>")
		w.line(2, "</arch>")
		if feats := g.features(); len(feats) > 0 {
			w.line(2, "<features>")
			for _, ft := range feats {
				w.line(3, "%s", ft)
			}
			w.line(2, "</features>")
		}
		w.line(1, "</guest>")
		w.line(0, "")
	}
	w.line(0, "</capabilities>")
	return w.String()
}

// capsGuest is one guest architecture and type of the capabilities XML (libxl_capabilities.c's guest_arch).
type capsGuest struct {
	Arch                string
	HVM, PVH            bool
	PAE, NonPAE, IA64BE bool
	// OSType is hvm, xen (PV) or xenpvh.
	OSType string
}

// Machine is the guest type's only machine.
func (g capsGuest) Machine() string {
	switch {
	case g.HVM:
		return "xenfv"
	case g.PVH:
		return "xenpvh"
	}
	return "xenpv"
}

// features are the guest's <features> children in virCapsGuestFeatureType order.
func (g capsGuest) features() []string {
	var out []string
	if g.PAE {
		out = append(out, "<pae/>")
	}
	if g.NonPAE {
		out = append(out, "<nonpae/>")
	}
	if g.IA64BE {
		out = append(out, "<ia64_be/>")
	}
	if g.HVM {
		out = append(out, "<acpi default='on' toggle='yes'/>", "<apic default='on' toggle='no'/>")
	}
	if g.HVM || g.PVH {
		out = append(out, "<hap default='on' toggle='yes'/>")
	}
	return out
}

// xenCapRegexp is libvirt's XEN_CAP_REGEX: one token of Xen's capabilities string, such as hvm-3.0-x86_32p.
var xenCapRegexp = regexp.MustCompile(`(xen|hvm)-[0-9]+\.[0-9]+-(aarch64|armv7l|x86_32|x86_64|ia64|powerpc64)(p|be)?`)

// capsGuests parses Xen's capabilities string as libxlCapsInitGuests does: tokens of one architecture and mode
// merge (x86_32 and x86_32p give one i686 guest with both pae and nonpae), and each new HVM guest gets a PVH twin
// right after it (Xen 4.10 and later).
func capsGuests(xenCaps string) []capsGuest {
	var out []capsGuest
	for _, tok := range strings.Fields(xenCaps) {
		m := xenCapRegexp.FindStringSubmatch(tok)
		if m == nil {
			continue
		}
		hvm := m[1] == "hvm"
		var g capsGuest
		switch m[2] {
		case "x86_32":
			g.Arch = "i686"
			g.PAE, g.NonPAE = m[3] == "p", m[3] != "p"
		case "x86_64":
			g.Arch = "x86_64"
		case "ia64":
			g.Arch = "ia64"
			g.IA64BE = m[3] == "be"
		case "powerpc64":
			g.Arch = "ppc64"
		case "armv7l", "aarch64":
			g.Arch = m[2]
		}
		// As libvirt does, a PVH twin (HVM false) matches later PV tokens of its architecture.
		i := 0
		for i < len(out) && (out[i].Arch != g.Arch || out[i].HVM != hvm) {
			i++
		}
		if i == len(out) {
			out = append(out, capsGuest{Arch: g.Arch, HVM: hvm})
		}
		cur := &out[i]
		cur.PAE = cur.PAE || g.PAE
		cur.NonPAE = cur.NonPAE || g.NonPAE
		cur.IA64BE = cur.IA64BE || g.IA64BE
		if hvm && i == len(out)-1 {
			out = append(out, capsGuest{Arch: g.Arch, PVH: true})
		}
	}
	for i := range out {
		switch g := &out[i]; {
		case g.HVM:
			g.OSType = "hvm"
		case g.PVH:
			g.OSType = "xenpvh"
		default:
			g.OSType = "xen"
		}
	}
	return out
}

// domCapsInput are the arguments of virConnectGetDomainCapabilities, after the defaults the caller's omissions
// get, plus the driver's firmware list (libxl.conf's nvram and the built-in hvmloader).
type domCapsInput struct {
	// Emulator is the device model path; empty means /usr/bin/qemu-system-x86_64.
	Emulator string
	// Arch is the guest architecture in libvirt's spelling; it must be one libvirt knows.
	Arch string
	// Machine is xenpv (the default when empty), xenpvh or xenfv.
	Machine string
	// VirtType must be xen when set.
	VirtType string
	// Firmwares are the loaders an HVM guest may use.
	Firmwares []string
}

// formatDomainCapabilities is libxlConnectGetDomainCapabilities: it checks the arguments as libvirt does, then
// renders what libxlMakeDomainCapabilities fills in, formatted by virDomainCapsFormat.
func formatDomainCapabilities(in domCapsInput) (string, error) {
	if in.VirtType != "" && in.VirtType != "xen" {
		return "", rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainLibxl, "unknown virttype: %s", in.VirtType)
	}
	if !knownArch(in.Arch) {
		return "", rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainLibxl, "unknown architecture: %s", in.Arch)
	}
	if in.Emulator == "" {
		in.Emulator = domCapsDefaultEmulator
	}
	switch in.Machine {
	case "":
		in.Machine = "xenpv"
	case "xenpv", "xenpvh", "xenfv":
	default:
		return "", rpc.NewError(rpc.CodeInvalidArg, rpc.DomainLibxl, "Xen only supports 'xenpv', 'xenpvh' and 'xenfv' machines")
	}
	maxVcpus := pvMaxVcpus
	if in.Machine == "xenfv" {
		maxVcpus = hvmMaxVcpus
	}
	w := &capsWriter{}
	w.line(0, "<domainCapabilities>")
	w.line(1, "<path>%s</path>", capsEscape(in.Emulator))
	w.line(1, "<domain>xen</domain>")
	w.line(1, "<machine>%s</machine>", in.Machine)
	w.line(1, "<arch>%s</arch>", in.Arch)
	w.line(1, "<vcpu max='%d'/>", maxVcpus)
	w.line(1, "<iothreads supported='no'/>")
	w.line(1, "<os supported='yes'>")
	if in.Machine == "xenfv" {
		w.line(2, "<loader supported='yes'>")
		for _, fw := range in.Firmwares {
			w.line(3, "<value>%s</value>", capsEscape(fw))
		}
		w.enum(3, "type", "rom", "pflash")
		w.enum(3, "readonly", "yes")
		w.line(2, "</loader>")
	} else {
		w.line(2, "<loader supported='no'/>")
	}
	w.line(1, "</os>")
	w.line(1, "<cpu>")
	for _, mode := range []string{"host-passthrough", "maximum", "host-model", "custom"} {
		w.line(2, "<mode name='%s' supported='no'/>", mode)
	}
	w.line(1, "</cpu>")
	w.line(1, "<devices>")
	w.line(2, "<disk supported='yes'>")
	w.enum(3, "diskDevice", "disk", "cdrom")
	w.enum(3, "bus", "ide", "scsi", "xen")
	w.enum(3, "model")
	w.line(2, "</disk>")
	w.line(2, "<graphics supported='yes'>")
	w.enum(3, "type", "sdl", "vnc", "spice")
	w.line(2, "</graphics>")
	w.line(2, "<video supported='yes'>")
	w.enum(3, "modelType", "vga", "cirrus", "xen")
	w.line(2, "</video>")
	if in.Machine != "xenpvh" {
		w.line(2, "<hostdev supported='yes'>")
		w.enum(3, "mode", "subsystem")
		w.enum(3, "startupPolicy", "default", "mandatory", "requisite", "optional")
		w.enum(3, "subsysType", "usb", "pci")
		w.enum(3, "capsType")
		w.enum(3, "pciBackend", "xen")
		w.line(2, "</hostdev>")
	}
	w.line(1, "</devices>")
	w.line(1, "<features>")
	for _, feat := range []string{"gic", "vmcoreinfo", "genid", "sev", "sgx"} {
		w.line(2, "<%s supported='no'/>", feat)
	}
	w.line(1, "</features>")
	w.line(0, "</domainCapabilities>")
	return w.String(), nil
}

// libvirtArches are libvirt's architecture names (virArch), which virArchFromString accepts.
var libvirtArches = map[string]bool{
	"alpha": true, "armv6l": true, "armv7l": true, "armv7b": true, "aarch64": true, "cris": true, "i686": true,
	"ia64": true, "lm32": true, "loongarch64": true, "m68k": true, "microblaze": true, "microblazeel": true,
	"mips": true, "mipsel": true, "mips64": true, "mips64el": true, "openrisc": true, "parisc": true,
	"parisc64": true, "ppc": true, "ppcle": true, "ppc64": true, "ppc64le": true, "ppcemb": true, "riscv32": true,
	"riscv64": true, "s390": true, "s390x": true, "sh4": true, "sh4eb": true, "sparc": true, "sparc64": true,
	"unicore32": true, "x86_64": true, "xtensa": true, "xtensaeb": true,
}

func knownArch(arch string) bool { return libvirtArches[arch] }

func isX86(arch string) bool { return arch == "x86_64" || arch == "i686" }

// wordSize is virArchGetWordSize for the architectures Xen guests come in.
func wordSize(arch string) int {
	switch arch {
	case "i686", "armv7l":
		return 32
	}
	return 64
}

// capsWriter writes libvirt-style XML: two spaces of indentation per level, one element per line.
type capsWriter struct{ strings.Builder }

func (w *capsWriter) line(depth int, format string, args ...any) {
	if format != "" {
		w.WriteString(strings.Repeat("  ", depth))
		fmt.Fprintf(w, format, args...)
	}
	w.WriteByte('\n')
}

// enum writes a domain capabilities <enum>, empty when it has no values.
func (w *capsWriter) enum(depth int, name string, values ...string) {
	if len(values) == 0 {
		w.line(depth, "<enum name='%s'/>", name)
		return
	}
	w.line(depth, "<enum name='%s'>", name)
	for _, v := range values {
		w.line(depth+1, "<value>%s</value>", v)
	}
	w.line(depth, "</enum>")
}

// capsEscape is virBufferEscapeString's escaping for text and attribute values.
func capsEscape(s string) string {
	return capsEscaper.Replace(s)
}

var capsEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "'", "&apos;", `"`, "&quot;")

func capsOptString(s libvirt.OptString) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
