package domxml

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"strings"

	v1alpha1 "github.com/virtxend/virtxend/api/v1alpha1"
)

// xenMACPrefix is the OUI libvirt's libxl driver generates MAC addresses in.
var xenMACPrefix = [3]byte{0x00, 0x16, 0x3e}

// Defaults are the host facts ApplyDefaults needs.
type Defaults struct {
	// HostArch is the guest architecture when <os><type arch> is not given; empty means x86_64.
	HostArch string
	// Rand is the source of generated UUIDs and MAC addresses; nil means crypto/rand. A seeded reader makes
	// ApplyDefaults deterministic.
	Rand io.Reader
	// QEMUTraditional says the device model is qemu-xen-traditional (libvirt probes `<emulator> -help`): HVM
	// video RAM defaults are halved.
	QEMUTraditional bool
}

// ApplyDefaults completes a parsed definition the way libvirt's libxl driver does when it reads a definition
// (virDomainDefPostParse with the libxl callbacks, libxl_domain.c): the result is what `virsh dumpxml` shows after
// `virsh define`. It generates a UUID and MAC addresses (prefix 00:16:3e) that are missing, fills in the
// os arch and machine, lifecycle actions, vcpu placement, clock offset, boot device, disk bus, format, driver and
// drive address, the implicit controllers, console, inputs, video and memory balloon, and the forced features
// (pae on x86_64 HVM, acpi with vNUMA). Applying it twice changes nothing.
//
// Memory is kept as given, in KiB: libvirt rounds memory up to whole MiB only when it starts a domain
// (libxlBuildDomainConfig), not when it reads a definition.
func ApplyDefaults(spec *v1alpha1.DomainSpec, d Defaults) error {
	r := d.Rand
	if r == nil {
		r = rand.Reader
	}
	if spec.UUID == "" {
		u, err := randomUUID(r)
		if err != nil {
			return err
		}
		spec.UUID = u
	} else {
		u, err := canonicalUUID(spec.UUID)
		if err != nil {
			return err
		}
		spec.UUID = u
	}
	if strings.ContainsRune(spec.Name, '/') {
		return invalidf("name %s cannot contain '/'", spec.Name)
	}
	if err := defaultOS(spec, d); err != nil {
		return err
	}
	hvm := spec.OS.Type == "hvm"
	if err := checkRanges(spec); err != nil {
		return err
	}
	if err := defaultMemory(spec); err != nil {
		return err
	}
	if err := defaultVCPU(spec); err != nil {
		return err
	}
	if err := defaultCPU(spec); err != nil {
		return err
	}
	defaultClock(spec)
	if spec.OnPoweroff == "" {
		spec.OnPoweroff = v1alpha1.ActionDestroy
	}
	if spec.OnReboot == "" {
		spec.OnReboot = v1alpha1.ActionRestart
	}
	if spec.OnCrash == "" {
		spec.OnCrash = v1alpha1.ActionDestroy
	}
	devs := &spec.Devices
	for i := range devs.Interfaces {
		n := &devs.Interfaces[i]
		if n.MAC == "" {
			mac, err := randomMAC(r)
			if err != nil {
				return err
			}
			n.MAC = mac
		} else {
			mac, err := canonicalMAC(n.MAC)
			if err != nil {
				return err
			}
			n.MAC = mac
		}
	}
	for _, chrs := range [][]v1alpha1.Chardev{devs.Serials, devs.Parallels, devs.Consoles, devs.Channels} {
		for i := range chrs {
			if chrs[i].Type == "" {
				chrs[i].Type = "pty"
			}
		}
	}
	for i := range devs.Hostdevs {
		if devs.Hostdevs[i].Mode == "" {
			devs.Hostdevs[i].Mode = "subsystem"
		}
	}
	defaultGraphics(devs)
	defaultControllerIndexes(devs)

	// libxlDomainDefPostParse.
	if !hvm && len(devs.Consoles) == 0 {
		devs.Consoles = append(devs.Consoles, v1alpha1.Chardev{
			Type: "pty", Target: &v1alpha1.ChardevTarget{Type: "xen", Port: u32(0)},
		})
	}
	defaultInputs(spec)
	if hvm && spec.OS.Arch == "x86_64" {
		if spec.Features == nil {
			spec.Features = &v1alpha1.Features{}
		}
		spec.Features.PAE = true
		if spec.CPU != nil && spec.CPU.NUMA != nil && len(spec.CPU.NUMA.Cells) > 0 {
			spec.Features.ACPI = true
		}
	}
	if devs.MemBalloon == nil {
		devs.MemBalloon = &v1alpha1.MemBalloon{Model: "xen"}
	}
	if findController(devs, "xenbus", -1) < 0 {
		devs.Controllers = append(devs.Controllers, v1alpha1.Controller{
			Type: "xenbus", Index: u32(unusedIndex(devs, "xenbus")),
		})
	}

	// Per-device post-parse (libxlDomainDeviceDefPostParse, then the generic one).
	for i := range devs.Consoles {
		c := &devs.Consoles[i]
		if c.Target == nil {
			c.Target = &v1alpha1.ChardevTarget{}
		}
		if c.Target.Type == "" {
			if hvm {
				c.Target.Type = "serial"
			} else {
				c.Target.Type = "xen"
			}
		}
	}
	defaultPorts(devs.Serials)
	defaultPorts(devs.Parallels)
	defaultPorts(devs.Consoles)
	for i := range devs.Disks {
		if err := defaultDisk(&devs.Disks[i]); err != nil {
			return err
		}
	}
	for i := range devs.Videos {
		defaultVideo(spec, &devs.Videos[i], d)
	}

	// virDomainDefPostParseCommon.
	if l := spec.OS.Loader; l != nil && l.Path != "" {
		if l.Type == "" {
			l.Type = "rom"
		}
		if l.Format == "" {
			l.Format = "raw"
		}
	}
	if hvm && len(spec.OS.Boot) == 0 {
		spec.OS.Boot = []string{"hd"}
	}
	consoleCompat(spec)
	for _, disk := range devs.Disks {
		if a := disk.Address; a != nil && a.Type == "drive" && a.Controller != nil && *a.Controller > maxDiskController {
			return invalidf("disk '%s': drive controller %d is out of range (at most %d)", disk.Target.Dev, *a.Controller, maxDiskController)
		}
	}
	for _, t := range []struct{ ctl, bus string }{{"scsi", "scsi"}, {"fdc", "fdc"}, {"ide", "ide"}, {"sata", "sata"}} {
		addDiskControllers(devs, t.ctl, t.bus)
	}
	if len(devs.Graphics) > 0 && len(devs.Videos) == 0 {
		devs.Videos = append(devs.Videos, v1alpha1.Video{})
		defaultVideo(spec, &devs.Videos[0], d)
	}
	if len(devs.Videos) > 0 && devs.Videos[0].Model != "none" {
		devs.Videos[0].Primary = "yes"
	}
	return checkDefinition(spec)
}

// checkDefinition holds the checks libvirt makes on a definition after its defaults, for what the spec can
// express.
func checkDefinition(spec *v1alpha1.DomainSpec) error {
	if c := spec.Clock; c != nil {
		for _, t := range c.Timers {
			if t.Name != "tsc" && t.Mode != "" {
				return unsupportedf("timer %s doesn't support setting of timer mode", t.Name)
			}
		}
	}
	if c := spec.CPU; c != nil && (c.Mode == "" || c.Mode == "custom") && c.Model == nil && c.Check != "" {
		return unsupportedf("check attribute specified for CPU with no model")
	}
	seen := map[string]bool{}
	for _, c := range spec.Devices.Controllers {
		if c.Type == "usb" || c.Index == nil {
			continue
		}
		key := fmt.Sprintf("%s/%d", c.Type, *c.Index)
		if seen[key] {
			return invalidf("multiple '%s' controllers with index '%d'", c.Type, *c.Index)
		}
		seen[key] = true
	}
	for i, c := range spec.Devices.Consoles {
		if i > 0 && c.Target != nil && c.Target.Type == "serial" {
			return unsupportedf("only the first console can be a serial port")
		}
	}
	return nil
}

// RoundMemoryAtStart rounds the memory sizes up to whole MiB, as libvirt's libxl driver does when it starts a
// domain (libxlBuildDomainConfig, "Xen requires the memory sizes to be rounded to 1MiB increments"); libvirt
// writes the rounded sizes into the running domain's definition, not into the persistent one.
func RoundMemoryAtStart(spec *v1alpha1.DomainSpec) {
	up := func(kib uint64) uint64 { return (kib + 1023) / 1024 * 1024 }
	spec.Memory = kibQuantity(up(quantityKiB(spec.Memory)))
	if spec.CurrentMemory != nil {
		q := kibQuantity(up(quantityKiB(*spec.CurrentMemory)))
		spec.CurrentMemory = &q
	}
}

func defaultOS(spec *v1alpha1.DomainSpec, d Defaults) error {
	o := &spec.OS
	switch o.Type {
	case "linux":
		o.Type = "xen"
	case "hvm", "xen", "xenpvh":
	case "":
		return invalidf("an os <type> must be specified")
	default:
		return unsupportedf("os type '%s' is not supported by the Xen driver", o.Type)
	}
	if o.Arch == "" {
		o.Arch = d.HostArch
		if o.Arch == "" {
			o.Arch = "x86_64"
		}
	}
	if o.Machine == "" {
		o.Machine = map[string]string{"hvm": "xenfv", "xen": "xenpv", "xenpvh": "xenpvh"}[o.Type]
	}
	return nil
}

// defaultMemory is virDomainDefPostParseMemory: the vNUMA cells give the size when <memory> is missing, and the
// balloon target is the maximum when missing or larger.
func defaultMemory(spec *v1alpha1.DomainSpec) error {
	if spec.Memory.IsZero() && spec.CPU != nil && spec.CPU.NUMA != nil {
		var kib uint64
		for _, c := range spec.CPU.NUMA.Cells {
			kib += quantityKiB(c.Memory)
		}
		if kib > 0 {
			spec.Memory = kibQuantity(kib)
		}
	}
	total := quantityKiB(spec.Memory)
	if total == 0 {
		return invalidf("memory size must be specified via <memory> or in the <numa> configuration")
	}
	spec.Memory = kibQuantity(total)
	if spec.CurrentMemory == nil || quantityKiB(*spec.CurrentMemory) == 0 || quantityKiB(*spec.CurrentMemory) > total {
		q := kibQuantity(total)
		spec.CurrentMemory = &q
	} else {
		q := kibQuantity(quantityKiB(*spec.CurrentMemory))
		spec.CurrentMemory = &q
	}
	return nil
}

func defaultVCPU(spec *v1alpha1.DomainSpec) error {
	v := spec.VCPU
	if v == nil {
		v = &v1alpha1.VCPU{Count: 1}
		spec.VCPU = v
	}
	if v.Count == 0 {
		return invalidf("invalid number of vcpus: 0")
	}
	if v.Placement == "" {
		v.Placement = "static"
	}
	if v.Current != nil {
		switch {
		case *v.Current > v.Count:
			return invalidf("maximum vcpus count must be greater than or equal to current vcpus count")
		case *v.Current == v.Count:
			v.Current = nil
		}
	}
	// The driver cannot pin offline vcpus: libvirt drops their pinning (virDomainDefRemoveOfflineVcpuPin).
	if t := spec.CPUTune; t != nil && v.Current != nil {
		kept := t.VCPUPins[:0]
		for _, p := range t.VCPUPins {
			if p.VCPU < *v.Current {
				kept = append(kept, p)
			}
		}
		t.VCPUPins = kept
		if len(t.VCPUPins) == 0 {
			t.VCPUPins = nil
		}
	}
	return nil
}

// defaultCPU prints the cpusets the way libvirt does and fills in the topology levels libvirt defaults to 1.
func defaultCPU(spec *v1alpha1.DomainSpec) error {
	canon := func(p *string) error {
		if *p == "" {
			return nil
		}
		c, err := canonicalCPUSet(*p)
		if err != nil {
			return err
		}
		*p = c
		return nil
	}
	if err := canon(&spec.VCPU.CPUSet); err != nil {
		return err
	}
	if t := spec.CPUTune; t != nil {
		for i := range t.VCPUPins {
			if err := canon(&t.VCPUPins[i].CPUSet); err != nil {
				return err
			}
		}
	}
	c := spec.CPU
	if c == nil {
		return nil
	}
	if t := c.Topology; t != nil {
		if t.Dies == 0 {
			t.Dies = 1
		}
		if t.Clusters == 0 {
			t.Clusters = 1
		}
	}
	if c.NUMA != nil {
		for i := range c.NUMA.Cells {
			if err := canon(&c.NUMA.Cells[i].CPUs); err != nil {
				return err
			}
		}
	}
	return nil
}

func defaultClock(spec *v1alpha1.DomainSpec) {
	if spec.Clock == nil {
		spec.Clock = &v1alpha1.Clock{}
	}
	c := spec.Clock
	if c.Offset == "" {
		c.Offset = "utc"
	}
	if c.Offset == "variable" {
		if c.Adjustment == "" {
			c.Adjustment = "0"
		}
		if c.Basis == "" {
			c.Basis = "utc"
		}
	}
}

// randomUUID is virUUIDGenerate: a random (version 4) UUID.
func randomUUID(r io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("generate uuid: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

// randomMAC is virMacAddrGenerate with the Xen prefix 00:16:3e.
func randomMAC(r io.Reader) (string, error) {
	var b [3]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("generate mac address: %w", err)
	}
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x",
		xenMACPrefix[0], xenMACPrefix[1], xenMACPrefix[2], b[0], b[1], b[2]), nil
}

// SeededRand returns a deterministic byte stream (SHA-256 in counter mode over seed) for Defaults.Rand: a
// definition read again and again (a drop-in file, a NAME.xml) gets the same implicit defaults, MAC addresses
// included, every time. Seed it with something stable for the domain, such as its UUID.
func SeededRand(seed string) io.Reader {
	return &seededRand{seed: []byte("virtxend-defaults\x00" + seed)}
}

type seededRand struct {
	seed []byte
	ctr  uint64
	buf  []byte
}

// Read fills p; it never fails.
func (r *seededRand) Read(p []byte) (int, error) {
	for n := 0; n < len(p); {
		if len(r.buf) == 0 {
			h := sha256.New()
			h.Write(r.seed)
			var c [8]byte
			binary.BigEndian.PutUint64(c[:], r.ctr)
			h.Write(c[:])
			r.ctr++
			r.buf = h.Sum(nil)
		}
		c := copy(p[n:], r.buf)
		r.buf = r.buf[c:]
		n += c
	}
	return len(p), nil
}
