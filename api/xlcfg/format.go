package xlcfg

import (
	"strconv"

	v1alpha1 "github.com/virtxend/virtxend/api/v1alpha1"
)

// FormatXL writes spec as an xl.cfg(5) configuration, as libvirt's xenFormatXL and virConfWriteMem do: the same
// keys in the same order, memory in MiB rounded up. spec should be complete (domxml.ApplyDefaults); what xl.cfg
// cannot express is left out, as libvirt leaves it out, and what it cannot convert is an error.
func FormatXL(spec *v1alpha1.DomainSpec) ([]byte, error) {
	f := &formatter{spec: spec, doc: &confDoc{}}
	steps := []func() error{f.common, f.xlOS, f.xlCPUID, f.xlVNUMA, f.xlXenbusLimits, f.xlDisks, f.xlSpice,
		f.xlInputs, f.xlUSB, f.xlUSBControllers, f.xlChannels, f.xlDeviceModelArgs}
	return f.run(steps)
}

// FormatXM writes spec as a legacy xm configuration, as libvirt's xenFormatXM does.
func FormatXM(spec *v1alpha1.DomainSpec) ([]byte, error) {
	f := &formatter{spec: spec, doc: &confDoc{}, xm: true}
	return f.run([]func() error{f.common, f.xmOS, f.xmDisks, f.xmInputs})
}

// formatter builds one configuration from a spec.
type formatter struct {
	spec *v1alpha1.DomainSpec
	doc  *confDoc
	xm   bool
}

func (f *formatter) hvm() bool { return f.spec.OS.Type == "hvm" }

func (f *formatter) run(steps []func() error) ([]byte, error) {
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return f.doc.bytes(), nil
}

// common is xenFormatConfigCommon.
func (f *formatter) common() error {
	steps := []func() error{f.generalMeta, f.memory, f.vcpus, f.hypervisorFeatures, f.timeOffset, f.lifecycle,
		f.emulator, f.vfb, f.vifs, f.pcis, f.chardevs, f.sounds}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

func (f *formatter) generalMeta() error {
	s := f.spec
	if s.Name == "" {
		return invalidf("missing domain name")
	}
	u, ok := canonicalUUID(s.UUID)
	if !ok {
		return invalidf("domain %s: invalid uuid '%s'", s.Name, s.UUID)
	}
	f.doc.setString("name", s.Name)
	f.doc.setString("uuid", u)
	return nil
}

func (f *formatter) memory() error {
	total := quantityKiB(f.spec.Memory)
	cur := total
	if c := f.spec.CurrentMemory; c != nil {
		cur = quantityKiB(*c)
	}
	f.doc.setInt("maxmem", mibUp(total))
	f.doc.setInt("memory", mibUp(cur))
	return nil
}

// vcpus is xenFormatCPUAllocation.
func (f *formatter) vcpus() error {
	limit, cur := uint32(1), uint32(1)
	cpuset := ""
	if v := f.spec.VCPU; v != nil {
		limit, cur, cpuset = v.Count, v.Count, v.CPUSet
		if v.Current != nil {
			cur = *v.Current
		}
	}
	if cur < limit {
		f.doc.setInt("maxvcpus", int64(limit))
	}
	f.doc.setInt("vcpus", int64(cur))
	if cpuset != "" {
		set, err := canonicalCPUSet(cpuset)
		if err != nil {
			return invalidf("vcpu cpuset: %v", err)
		}
		f.doc.setString("cpus", set)
	}
	return nil
}

// hypervisorFeatures is xenFormatHypervisorFeatures, timers included.
func (f *formatter) hypervisorFeatures() error {
	feat := f.spec.Features
	if feat == nil {
		feat = &v1alpha1.Features{}
	}
	x := feat.Xen
	if f.hvm() {
		f.doc.setBool("pae", feat.PAE)
		f.doc.setBool("acpi", feat.ACPI)
		f.doc.setBool("apic", feat.APIC)
		if feat.HAP != nil && feat.HAP.State == "off" {
			f.doc.setInt("hap", 0)
		}
		f.doc.setBool("viridian", feat.Viridian)
	} else if x != nil && x.E820Host != nil && x.E820Host.State == "on" {
		f.doc.setInt("e820_host", 1)
	}
	if x != nil && x.Passthrough != nil && x.Passthrough.State == "on" {
		switch x.Passthrough.Mode {
		case "sync_pt", "share_pt":
			f.doc.setString("passthrough", x.Passthrough.Mode)
		default:
			f.doc.setString("passthrough", "enabled")
		}
	}
	if f.spec.Clock == nil {
		return nil
	}
	for _, t := range f.spec.Clock.Timers {
		switch t.Name {
		case "tsc":
			mode := map[string]string{"native": "native", "paravirt": "native_paravirt", "emulate": "always_emulate"}[t.Mode]
			if mode == "" {
				mode = "default"
			}
			f.doc.setString("tsc_mode", mode)
		case "hpet":
			if !f.hvm() {
				return unsupportedf("unsupported timer type (name) '%s'", t.Name)
			}
			f.doc.setBool("hpet", t.Present != "no")
		default:
			return unsupportedf("unsupported timer type (name) '%s'", t.Name)
		}
	}
	return nil
}

// timeOffset is xenFormatTimeOffset: rtc_timeoffset and localtime for HVM, localtime for PV.
func (f *formatter) timeOffset() error {
	c := f.spec.Clock
	if c == nil {
		c = &v1alpha1.Clock{Offset: "utc"}
	}
	local := false
	switch {
	case f.hvm():
		off := int64(0)
		switch c.Offset {
		case "variable":
			local = c.Basis == "localtime"
			n, err := strconv.ParseInt(c.Adjustment, 10, 64)
			if err != nil && c.Adjustment != "" {
				return unsupportedf("unsupported clock adjustment='%s'", c.Adjustment)
			}
			off = int64(int32(n))
		case "utc", "", "localtime":
			if c.Adjustment == "reset" {
				return unsupportedf("unsupported clock adjustment='reset'")
			}
			local = c.Offset == "localtime"
		default:
			return unsupportedf("unsupported clock offset='%s'", c.Offset)
		}
		f.doc.setInt("rtc_timeoffset", off)
	default:
		switch c.Offset {
		case "utc", "":
		case "localtime":
			local = true
		default:
			return unsupportedf("unsupported clock offset='%s'", c.Offset)
		}
	}
	f.doc.setBool("localtime", local)
	return nil
}

// lifecycle is xenFormatEventActions; an empty action is libvirt's XML default.
func (f *formatter) lifecycle() error {
	for _, a := range []struct {
		key string
		act v1alpha1.LifecycleAction
		def v1alpha1.LifecycleAction
	}{
		{"on_poweroff", f.spec.OnPoweroff, v1alpha1.ActionDestroy},
		{"on_reboot", f.spec.OnReboot, v1alpha1.ActionRestart},
		{"on_crash", f.spec.OnCrash, v1alpha1.ActionDestroy},
	} {
		act := a.act
		if act == "" {
			act = a.def
		}
		if _, ok := lifecycleActions[string(act)]; !ok {
			return invalidf("unexpected lifecycle action %s", act)
		}
		f.doc.setString(a.key, string(act))
	}
	return nil
}

func (f *formatter) emulator() error {
	if e := f.spec.Devices.Emulator; e != "" {
		f.doc.setString("device_model_override", e)
	}
	return nil
}
