package xlcfg

import (
	"math"
	"strconv"

	"github.com/virtxend/virtxend/api/domxml"
	v1alpha1 "github.com/virtxend/virtxend/api/v1alpha1"
)

// DefaultFirmwareDir is Xen's firmware directory (libxl's LIBXL_FIRMWARE_DIR) as Debian installs it.
const DefaultFirmwareDir = "/usr/lib/xen/boot"

// Options are the host facts a conversion from a native format needs. The zero value describes a plain x86_64
// host with Xen's firmware in DefaultFirmwareDir, and generates missing UUIDs and MAC addresses at random.
type Options struct {
	// FirmwareDir is Xen's firmware directory: an HVM guest gets FirmwareDir/hvmloader as its loader, and
	// bios = "ovmf" without bios_path_override FirmwareDir/ovmf.bin. Empty means DefaultFirmwareDir.
	FirmwareDir string
	// HostSVM says the host CPU has AMD-V and not VT-x, so that nestedhvm = 0 disables svm rather than vmx.
	HostSVM bool
	// Defaults are the host facts of the libxl driver's post-parse defaults, applied to every parsed domain.
	Defaults domxml.Defaults
}

// ParseXL reads an xl.cfg(5) domain configuration as libvirt's xenParseXL does, defaults included, with the
// zero Options.
func ParseXL(data []byte) (*v1alpha1.DomainSpec, error) { return Options{}.ParseXL(data) }

// ParseXM reads a legacy xm domain configuration as libvirt's xenParseXM does, with the zero Options.
func ParseXM(data []byte) (*v1alpha1.DomainSpec, error) { return Options{}.ParseXM(data) }

// ParseXL reads an xl.cfg(5) domain configuration into a spec completed with the libxl driver's defaults
// (domxml.ApplyDefaults): domxml.Format prints what libvirt's domxml-from-native xen-xl prints.
func (o Options) ParseXL(data []byte) (*v1alpha1.DomainSpec, error) {
	r, err := readConf("xl config", data)
	if err != nil {
		return nil, err
	}
	p := &parser{r: r, opts: o, spec: &v1alpha1.DomainSpec{}}
	steps := []func() error{p.common, p.xlOS, p.xlVNUMA, p.xlXenbusLimits, p.xlCPUID, p.xlDisks, p.xlSpice,
		p.xlInputs, p.xlUSB, p.xlUSBControllers, p.xlChannels, p.xlDeviceModelArgs}
	return p.run(steps)
}

// ParseXM reads a legacy xm domain configuration into a spec completed with the libxl driver's defaults.
func (o Options) ParseXM(data []byte) (*v1alpha1.DomainSpec, error) {
	r, err := readConf("xm config", data)
	if err != nil {
		return nil, err
	}
	p := &parser{r: r, opts: o, xm: true, spec: &v1alpha1.DomainSpec{}}
	return p.run([]func() error{p.common, p.xmOS, p.xmDisks, p.xmInputs})
}

// parser turns one configuration into a spec, step by step in libvirt's order.
type parser struct {
	r    *confReader
	opts Options
	xm   bool
	spec *v1alpha1.DomainSpec
}

func (p *parser) hvm() bool { return p.spec.OS.Type == "hvm" }

func (p *parser) firmwareDir() string {
	if p.opts.FirmwareDir != "" {
		return p.opts.FirmwareDir
	}
	return DefaultFirmwareDir
}

func (p *parser) features() *v1alpha1.Features {
	if p.spec.Features == nil {
		p.spec.Features = &v1alpha1.Features{}
	}
	return p.spec.Features
}

func (p *parser) clock() *v1alpha1.Clock {
	if p.spec.Clock == nil {
		p.spec.Clock = &v1alpha1.Clock{}
	}
	return p.spec.Clock
}

// run applies the steps, then libvirt's virDomainDefPostParse with VIR_DOMAIN_DEF_PARSE_ABI_UPDATE.
func (p *parser) run(steps []func() error) (*v1alpha1.DomainSpec, error) {
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	// With ABI updates allowed, the vNUMA cells give the memory size (virDomainDefPostParseMemory).
	if c := p.spec.CPU; c != nil && c.NUMA != nil {
		var kib uint64
		for _, cell := range c.NUMA.Cells {
			kib += quantityKiB(cell.Memory)
		}
		if kib > 0 {
			p.spec.Memory = kibQuantity(kib)
		}
	}
	d := p.opts.Defaults
	if d.HostArch == "" {
		d.HostArch = "x86_64"
	}
	if err := domxml.ApplyDefaults(p.spec, d); err != nil {
		return nil, err
	}
	return p.spec, nil
}

// common is xenParseConfigCommon: what xl and xm share.
func (p *parser) common() error {
	steps := []func() error{p.generalMeta, p.memory, p.lifecycle, p.vcpus, p.hypervisorFeatures, p.timeOffset,
		p.emulator, p.vifs, p.pcis, p.sounds, p.vfb, p.chardevs}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// generalMeta is xenParseGeneralMeta: name, uuid and the guest type.
func (p *parser) generalMeta() error {
	name, err := p.r.requireString("name")
	if err != nil {
		return err
	}
	if name == "" {
		return p.r.errorKey(ErrInvalid, "name", "missing domain name")
	}
	p.spec.Name = name
	if s, ok, err := p.r.getString("uuid"); err != nil {
		return err
	} else if ok {
		u, good := canonicalUUID(s)
		if !good {
			return p.r.errorKey(ErrSyntax, "uuid", "%s not parseable", s)
		}
		p.spec.UUID = u
	}
	p.spec.OS.Type = "xen"
	typ, ok, err := p.r.getString("type")
	if err != nil {
		return err
	}
	if ok {
		switch typ {
		case "pv":
		case "pvh":
			p.spec.OS.Type = "xenpvh"
		case "hvm":
			p.spec.OS.Type = "hvm"
		default:
			return p.r.errorKey(ErrUnsupported, "type", "type %s is not supported", typ)
		}
		return nil
	}
	builder, _, err := p.r.getString("builder")
	if err != nil {
		return err
	}
	if builder == "hvm" {
		p.spec.OS.Type = "hvm"
	}
	return nil
}

// memory is xenParseMem: memory is the balloon target and maxmem the maximum, both in MiB.
func (p *parser) memory() error {
	cur, err := p.r.getULong("memory", 128)
	if err != nil {
		return err
	}
	limit, err := p.r.getULong("maxmem", cur)
	if err != nil {
		return err
	}
	for _, v := range []struct {
		key string
		n   uint64
	}{{"memory", cur}, {"maxmem", limit}} {
		if v.n > math.MaxInt64/(1024*1024) {
			return p.r.errorKey(ErrInvalid, v.key, "memory size %d MiB is too large", v.n)
		}
	}
	p.spec.Memory = kibQuantity(limit * 1024)
	q := kibQuantity(cur * 1024)
	p.spec.CurrentMemory = &q
	return nil
}

// lifecycleActions are libvirt's names for what happens at poweroff, reboot and crash.
var lifecycleActions = map[string]v1alpha1.LifecycleAction{
	"destroy": v1alpha1.ActionDestroy, "restart": v1alpha1.ActionRestart,
	"rename-restart": v1alpha1.ActionRenameRestart, "preserve": v1alpha1.ActionPreserve,
	"coredump-destroy": v1alpha1.ActionCoredumpDestroy, "coredump-restart": v1alpha1.ActionCoredumpRestart,
}

// lifecycle is xenParseEventsActions. Note that on_crash defaults to restart here, not to destroy as in XML.
func (p *parser) lifecycle() error {
	for _, a := range []struct {
		key, def string
		dst      *v1alpha1.LifecycleAction
	}{
		{"on_poweroff", "destroy", &p.spec.OnPoweroff},
		{"on_reboot", "restart", &p.spec.OnReboot},
		{"on_crash", "restart", &p.spec.OnCrash},
	} {
		s, ok, err := p.r.getString(a.key)
		if err != nil {
			return err
		}
		if !ok {
			s = a.def
		}
		act, known := lifecycleActions[s]
		if !known {
			return p.r.errorKey(ErrInvalid, a.key, "unexpected value %s for %s", s, a.key)
		}
		*a.dst = act
	}
	return nil
}

// vcpus is xenParseCPU: vcpus online at start, maxvcpus the maximum, cpus the default pinning.
func (p *parser) vcpus() error {
	count, err := p.r.getULong("vcpus", 1)
	if err != nil {
		return err
	}
	limit := count
	if p.r.has("maxvcpus") {
		if limit, err = p.r.getULong("maxvcpus", 0); err != nil {
			return err
		}
	}
	if limit > math.MaxUint32 {
		return p.r.errorKey(ErrInvalid, "maxvcpus", "invalid number of vcpus: %d", limit)
	}
	// virDomainDefSetVcpusMax drops the vcpus above a lower maximum.
	count = min(count, limit)
	v := &v1alpha1.VCPU{Count: uint32(limit)}
	if count != limit {
		v.Current = ptr(uint32(count))
	}
	cpus, ok, err := p.r.getString("cpus")
	if err != nil {
		return err
	}
	if ok {
		set, err := canonicalCPUSet(cpus)
		if err != nil {
			return p.r.errorKey(ErrInvalid, "cpus", "%v", err)
		}
		v.CPUSet = set
	}
	p.spec.VCPU = v
	return nil
}

// hypervisorFeatures is xenParseHypervisorFeatures: tsc_mode, passthrough, the HVM features and timers, and
// e820_host for PV.
func (p *parser) hypervisorFeatures() error {
	tsc, ok, err := p.r.getString("tsc_mode")
	if err != nil {
		return err
	}
	if ok {
		mode := map[string]string{"always_emulate": "emulate", "native": "native", "native_paravirt": "paravirt"}[tsc]
		if mode == "" {
			mode = "auto"
		}
		c := p.clock()
		c.Timers = append(c.Timers, v1alpha1.Timer{Name: "tsc", Present: "yes", Mode: mode})
	}
	// libvirt records passthrough = "disabled" as a switched-off Xen feature, which prints nothing unless
	// e820_host switches the Xen features on again.
	var passthrough *v1alpha1.XenPassthrough
	xenOn := false
	pt, ok, err := p.r.getString("passthrough")
	if err != nil {
		return err
	}
	if ok {
		switch pt {
		case "disabled":
			passthrough = &v1alpha1.XenPassthrough{State: "off"}
		case "enabled":
			passthrough, xenOn = &v1alpha1.XenPassthrough{State: "on"}, true
		case "sync_pt", "share_pt":
			passthrough, xenOn = &v1alpha1.XenPassthrough{State: "on", Mode: pt}, true
		default:
			return p.r.errorKey(ErrSyntax, "passthrough", "Invalid passthrough mode %s", pt)
		}
	}
	var e820 bool
	if p.hvm() {
		f := p.features()
		for _, b := range []struct {
			key string
			def int
			dst *bool
		}{{"pae", 1, &f.PAE}, {"acpi", 1, &f.ACPI}, {"apic", 1, &f.APIC}, {"viridian", 0, &f.Viridian}} {
			v, err := p.r.getBool(b.key, b.def)
			if err != nil {
				return err
			}
			*b.dst = v == 1
		}
		hap, err := p.r.getBool("hap", 1)
		if err != nil {
			return err
		}
		if hap == 0 {
			f.HAP = &v1alpha1.FeatureState{State: "off"}
		}
		hpet, err := p.r.getBool("hpet", -1)
		if err != nil {
			return err
		}
		if hpet != -1 {
			present := "no"
			if hpet == 1 {
				present = "yes"
			}
			c := p.clock()
			c.Timers = append(c.Timers, v1alpha1.Timer{Name: "hpet", Present: present})
		}
	} else {
		v, err := p.r.getBool("e820_host", 0)
		if err != nil {
			return err
		}
		if v == 1 {
			e820, xenOn = true, true
		}
	}
	if xenOn {
		x := &v1alpha1.XenFeatures{Passthrough: passthrough}
		if e820 {
			x.E820Host = &v1alpha1.FeatureState{State: "on"}
		}
		p.features().Xen = x
	}
	return nil
}

// timeOffset is xenParseTimeOffset: HVM guests have an emulated RTC with an offset, PV guests a fixed clock.
func (p *parser) timeOffset() error {
	local, err := p.r.getBool("localtime", 0)
	if err != nil {
		return err
	}
	c := p.clock()
	if p.hvm() {
		off, err := p.r.getULong("rtc_timeoffset", 0)
		if err != nil {
			return err
		}
		c.Offset = "variable"
		c.Adjustment = strconv.Itoa(int(int32(off)))
		c.Basis = "utc"
		if local == 1 {
			c.Basis = "localtime"
		}
		return nil
	}
	c.Offset = "utc"
	if local == 1 {
		c.Offset = "localtime"
	}
	c.Adjustment = "reset"
	return nil
}

// emulator is device_model_override.
func (p *parser) emulator() error {
	s, _, err := p.r.getString("device_model_override")
	p.spec.Devices.Emulator = s
	return err
}
