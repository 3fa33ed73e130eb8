package libxl

import (
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/virtxend/virtxend/api/v1alpha1"
)

// bootloaderPath is libvirt's LIBXL_BOOTLOADER_PATH, the PV bootloader used when neither a bootloader nor a kernel
// is given.
const bootloaderPath = "pygrub"

// quantityKiB returns q in KiB, rounded up.
func quantityKiB(q resource.Quantity) uint64 {
	v := q.Value()
	if v <= 0 {
		return 0
	}
	return (uint64(v) + 1023) / 1024
}

func kibQuantity(kib uint64) resource.Quantity {
	return *resource.NewQuantity(int64(kib)*1024, resource.BinarySI)
}

func roundUp(v, to uint64) uint64 { return (v + to - 1) / to * to }

// makeBuildInfo is libxlMakeDomBuildInfo.
func (b *builder) makeBuildInfo() error {
	s, bi := b.spec, &b.cfg.BInfo
	hvm, pvh := b.kind == DomainTypeHVM, b.kind == DomainTypePVH
	bi.Type = b.kind
	switch b.kind {
	case DomainTypeHVM:
		bi.HVM = &DomainBuildInfoHVM{}
	case DomainTypePV:
		bi.PV = &DomainBuildInfoPV{}
	case DomainTypePVH:
		bi.PVH = &DomainBuildInfoPVH{}
	}

	maxVcpus, curVcpus := 1, 1
	if s.VCPU != nil {
		maxVcpus, curVcpus = int(s.VCPU.Count), int(s.VCPU.Count)
		if s.VCPU.Current != nil && int(*s.VCPU.Current) < maxVcpus {
			curVcpus = int(*s.VCPU.Current)
		}
	}
	bi.MaxVcpus = maxVcpus
	bi.AvailVcpus = BitmapRange(0, curVcpus)
	if err := b.setVcpuAffinities(); err != nil {
		return err
	}
	if err := b.setClock(); err != nil {
		return err
	}
	if s.CPUTune != nil && s.CPUTune.Shares != nil {
		bi.SchedParams.Weight = int(*s.CPUTune.Shares)
	}

	// Xen requires the memory sizes to be rounded to 1 MiB increments.
	maxKiB := roundUp(quantityKiB(s.Memory), 1024)
	curKiB := maxKiB
	if s.CurrentMemory != nil {
		if c := quantityKiB(*s.CurrentMemory); c > 0 && c < maxKiB {
			curKiB = roundUp(c, 1024)
		}
	}
	s.Memory = kibQuantity(maxKiB)
	cur := kibQuantity(curKiB)
	s.CurrentMemory = &cur
	bi.MaxMemkb, bi.TargetMemkb = maxKiB, curKiB

	for _, c := range s.Devices.Controllers {
		if c.Type != "xenbus" {
			continue
		}
		if c.MaxEventChannels != nil && *c.MaxEventChannels > 0 {
			bi.EventChannels = *c.MaxEventChannels
		}
		if c.MaxGrantFrames != nil && *c.MaxGrantFrames > 0 {
			bi.MaxGrantFrames = *c.MaxGrantFrames
		}
	}

	if hvm || pvh {
		if err := b.setCPU(); err != nil {
			return err
		}
	}
	var err error
	switch {
	case hvm:
		err = b.makeHVMInfo()
	case pvh:
		bi.Cmdline, bi.Kernel, bi.Ramdisk = s.OS.Cmdline, s.OS.Kernel, s.OS.Initrd
		bi.Bootloader = s.OS.Bootloader
		if s.OS.BootloaderArgs != "" {
			bi.BootloaderArgs = splitBootloaderArgs(s.OS.BootloaderArgs)
		}
	default:
		b.makePVInfo()
	}
	if err != nil {
		return err
	}

	if mb := s.Devices.MemBalloon; mb != nil {
		switch mb.Model {
		case "xen", "":
		case "none":
			return unsupportedf("balloon device cannot be disabled")
		default:
			return unsupportedf("unsupported balloon device model '%s'", mb.Model)
		}
	}

	shadow := b.host.ShadowMemory
	if shadow == nil {
		shadow = RequiredShadowMemory
	}
	bi.ShadowMemkb = shadow(bi.MaxMemkb, bi.MaxVcpus)
	if len(s.DeviceModelArgs) > 0 {
		bi.Extra = append([]string(nil), s.DeviceModelArgs...)
	}
	return nil
}

// splitBootloaderArgs is libvirt's g_strsplit(args, " \t\n", 0): the separator is that three-character string,
// not any whitespace, so ordinary arguments stay one string, as they do in libvirt.
func splitBootloaderArgs(args string) []string { return strings.Split(args, " \t\n") }

// setVcpuAffinities is libxlSetVcpuAffinities: the <vcpupin> masks up to the highest pinned vcpu, the vcpus in
// between free to run anywhere.
func (b *builder) setVcpuAffinities() error {
	if b.spec.CPUTune == nil || len(b.spec.CPUTune.VCPUPins) == 0 {
		return nil
	}
	bi := &b.cfg.BInfo
	masks := map[int]Bitmap{}
	highest := -1
	for _, p := range b.spec.CPUTune.VCPUPins {
		if int(p.VCPU) >= bi.MaxVcpus {
			continue
		}
		m, err := parseCPUSet(p.CPUSet)
		if err != nil {
			return unsupportedf("%s", err)
		}
		masks[int(p.VCPU)] = m
		highest = max(highest, int(p.VCPU))
	}
	if highest < 0 {
		return nil
	}
	// A libxl cpu bitmap spans the host's cpus rounded up to whole bytes.
	width := (max(b.host.MaxCPUs, 1) + 7) / 8 * 8
	bi.VcpuHardAffinity = make([]Bitmap, highest+1)
	for v := 0; v <= highest; v++ {
		m, ok := masks[v]
		if !ok {
			bi.VcpuHardAffinity[v] = BitmapRange(0, width)
			continue
		}
		var in Bitmap
		for _, c := range m {
			if c < width {
				in = append(in, c)
			}
		}
		bi.VcpuHardAffinity[v] = in
	}
	bi.NUMAPlacement = DefboolFalse
	return nil
}

// setClock translates <clock>: the offset and the timers.
func (b *builder) setClock() error {
	bi, c := &b.cfg.BInfo, b.spec.Clock
	if c == nil {
		return nil
	}
	offset, basis := c.Offset, c.Basis
	// libvirt's parser turns utc/localtime with a numeric adjustment into a variable offset on that basis.
	if (offset == "utc" || offset == "localtime") && c.Adjustment != "" && c.Adjustment != "reset" {
		offset, basis = "variable", offset
	}
	switch offset {
	case "variable":
		if basis == "localtime" {
			bi.Localtime = DefboolTrue
		}
		if c.Adjustment != "" {
			adj, err := strconv.ParseInt(c.Adjustment, 10, 64)
			if err != nil {
				return unsupportedf("invalid clock adjustment '%s'", c.Adjustment)
			}
			bi.RTCTimeoffset = uint32(adj)
		}
	case "localtime":
		bi.Localtime = DefboolTrue
	case "utc", "":
	case "timezone":
		return unsupportedf("unsupported clock offset '%s'", offset)
	default:
		return unsupportedf("unexpected clock offset '%s'", offset)
	}
	for _, t := range c.Timers {
		switch t.Name {
		case "tsc":
			switch t.Mode {
			case "native":
				bi.TSCMode = TSCModeNative
			case "paravirt":
				bi.TSCMode = TSCModeNativeParavirt
			case "emulate":
				bi.TSCMode = TSCModeAlwaysEmulate
			default:
				bi.TSCMode = TSCModeDefault
			}
		case "hpet":
			if b.kind != DomainTypeHVM {
				return unsupportedf("unsupported timer type (name) '%s'", t.Name)
			}
			if t.Present == "yes" {
				bi.HVM.HPET = DefboolTrue
			}
		case "platform", "kvmclock", "hypervclock", "rtc", "pit", "armvtimer":
			return unsupportedf("unsupported timer type (name) '%s'", t.Name)
		}
	}
	return nil
}

// setCPU handles <cpu mode='host-passthrough'> for HVM and PVH: feature policies become cpuid settings, except
// vmx/svm, which switch nested virtualization.
func (b *builder) setCPU() error {
	cpu, bi := b.spec.CPU, &b.cfg.BInfo
	if cpu == nil {
		return nil
	}
	// A <cpu> without a mode is custom in libvirt.
	if cpu.Mode == "custom" || cpu.Mode == "" {
		b.warnf("Ignoring CPU with mode=custom, update your config to mode=host-passthrough to avoid risk of " +
			"changed guest semantics when mode=custom is supported in the future")
	}
	if cpu.Mode != "host-passthrough" {
		return nil
	}
	arch := b.spec.OS.Arch
	if arch == "" {
		arch = b.host.Arch
	}
	var vmx, svm, hasHwVirt bool
	if arch == "x86_64" || arch == "i686" {
		vmx, svm = b.host.HostVMX, b.host.HostSVM
		hasHwVirt = b.host.NestedHVM && (vmx || svm)
	}
	for _, f := range cpu.Features {
		var val string
		switch f.Policy {
		case "disable", "forbid":
			if (vmx && f.Name == "vmx") || (svm && f.Name == "svm") {
				hasHwVirt = false
				continue
			}
			val = "0"
		case "force", "require", "":
			if (vmx && f.Name == "vmx") || (svm && f.Name == "svm") {
				hasHwVirt = true
				continue
			}
			val = "1"
		default:
			continue
		}
		if err := bi.CPUID.Set(translateCPUFeature(f.Name), val); err != nil {
			return unsupportedf("unsupported cpu feature '%s'", f.Name)
		}
	}
	bi.NestedHVM = NewDefbool(hasHwVirt)
	return nil
}

// cpuFeatureNames is libvirt's xenTranslateCPUFeature table: libvirt names whose libxl spelling differs.
var cpuFeatureNames = map[string]string{
	"cx16":       "cmpxchg16",
	"cid":        "cntxid",
	"ds_cpl":     "dscpl",
	"pclmuldq":   "pclmulqdq",
	"pni":        "sse3",
	"ht":         "htt",
	"pn":         "psn",
	"clflush":    "clfsh",
	"sep":        "sysenter",
	"cx8":        "cmpxchg8",
	"nodeid_msr": "nodeid",
	"cr8legacy":  "altmovcr8",
	"lahf_lm":    "lahfsahf",
	"cmp_legacy": "cmplegacy",
	"fxsr_opt":   "ffxsr",
	"pdpe1gb":    "page1gb",
	"spec-ctrl":  "ibrsb",
}

func translateCPUFeature(name string) string {
	if n, ok := cpuFeatureNames[name]; ok {
		return n
	}
	return name
}

// makePVInfo fills the PV member: bootloader (pygrub when there is neither one nor a kernel), kernel, ramdisk,
// command line and e820_host.
func (b *builder) makePVInfo() {
	os, pv := &b.spec.OS, b.cfg.BInfo.PV
	if os.Bootloader != "" {
		pv.Bootloader = os.Bootloader
	} else if os.Kernel == "" {
		pv.Bootloader = bootloaderPath
	}
	if os.BootloaderArgs != "" {
		pv.BootloaderArgs = splitBootloaderArgs(os.BootloaderArgs)
	}
	pv.Cmdline, pv.Kernel, pv.Ramdisk = os.Cmdline, os.Kernel, os.Initrd
	if f := b.spec.Features; f != nil && f.Xen != nil && f.Xen.E820Host != nil {
		switch f.Xen.E820Host.State {
		case "on", "":
			pv.E820Host = DefboolTrue
		case "off":
			pv.E820Host = DefboolFalse
		}
	}
}

// makeVnumaList is libxlMakeVnumaList: one vnode per <cell>, on physical node i (or 0 for all when the guest has
// more cells than the host has nodes).
func (b *builder) makeVnumaList() error {
	cpu := b.spec.CPU
	if cpu == nil || cpu.NUMA == nil || len(cpu.NUMA.Cells) == 0 {
		return nil
	}
	cells := cpu.NUMA.Cells
	simulate := len(cells) > b.host.NUMANodes
	if simulate {
		b.warnf("Number of configured numa cells %d exceeds available physical nodes %d. All cells will use "+
			"physical node 0", len(cells), b.host.NUMANodes)
	}
	nodes := make([]VnodeInfo, len(cells))
	for i, c := range cells {
		n := &nodes[i]
		if !simulate {
			n.Pnode = uint32(i)
		}
		n.Memkb = quantityKiB(c.Memory)
		vcpus, err := parseCPUSet(c.CPUs)
		if err != nil || len(vcpus) == 0 {
			return internalf("vnuma sibling %d missing vcpus set", i)
		}
		n.Vcpus = vcpus
		n.Distances = make([]uint32, len(cells))
		for j := range cells {
			n.Distances[j] = numaDistance(cells, i, j)
		}
	}
	b.cfg.BInfo.VnumaNodes = nodes
	return nil
}

// numaDistance is the distance from cell i to cell j: as given, else as given the other way round, else libvirt's
// defaults (10 to itself, 20 to another cell).
func numaDistance(cells []v1alpha1.NUMACell, i, j int) uint32 {
	id := func(k int) uint32 {
		if cells[k].ID != nil {
			return *cells[k].ID
		}
		return uint32(k)
	}
	for _, d := range cells[i].Distances {
		if d.ID == id(j) && d.Value != 0 {
			return d.Value
		}
	}
	for _, d := range cells[j].Distances {
		if d.ID == id(i) && d.Value != 0 {
			return d.Value
		}
	}
	if i == j {
		return 10
	}
	return 20
}
