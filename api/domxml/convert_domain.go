package domxml

import (
	"fmt"
	"strings"

	"libvirt.org/go/libvirtxml"

	v1alpha1 "github.com/virtxend/virtxend/api/v1alpha1"
)

// fromDomain converts what libvirtxml read into the spec. Whatever it does not carry over is found afterwards by
// the strictness check; the errors here are for things the spec could hold but the Xen driver rejects.
func fromDomain(d *libvirtxml.Domain) (*v1alpha1.DomainSpec, error) {
	s := &v1alpha1.DomainSpec{
		Name:        d.Name,
		Title:       d.Title,
		Description: d.Description,
	}
	if d.UUID != "" {
		u, err := canonicalUUID(d.UUID)
		if err != nil {
			return nil, err
		}
		s.UUID = u
	}
	if d.Metadata != nil {
		s.Metadata = strings.TrimSpace(d.Metadata.XML)
	}
	if m := d.Memory; m != nil {
		kib, err := toKiB(uint64(m.Value), m.Unit)
		if err != nil {
			return nil, invalidf("<memory>: %v", err)
		}
		s.Memory = kibQuantity(kib)
	}
	if m := d.CurrentMemory; m != nil {
		kib, err := toKiB(uint64(m.Value), m.Unit)
		if err != nil {
			return nil, invalidf("<currentMemory>: %v", err)
		}
		q := kibQuantity(kib)
		s.CurrentMemory = &q
	}
	if v := d.VCPU; v != nil {
		s.VCPU = &v1alpha1.VCPU{Count: uint32(v.Value), Placement: v.Placement, CPUSet: v.CPUSet}
		if v.Current != 0 {
			s.VCPU.Current = u32(v.Current)
		}
	}
	if t := d.CPUTune; t != nil {
		s.CPUTune = &v1alpha1.CPUTune{}
		if t.Shares != nil {
			s.CPUTune.Shares = u32(t.Shares.Value)
		}
		for _, p := range t.VCPUPin {
			s.CPUTune.VCPUPins = append(s.CPUTune.VCPUPins, v1alpha1.VCPUPin{VCPU: uint32(p.VCPU), CPUSet: p.CPUSet})
		}
	}
	if c := d.CPU; c != nil {
		cpu, err := fromCPU(c)
		if err != nil {
			return nil, err
		}
		s.CPU = cpu
	}
	if err := fromOS(d, s); err != nil {
		return nil, err
	}
	if f := d.Features; f != nil {
		s.Features = fromFeatures(f)
	}
	if c := d.Clock; c != nil {
		s.Clock = &v1alpha1.Clock{Offset: c.Offset, Basis: c.Basis, Adjustment: c.Adjustment}
		for _, t := range c.Timer {
			s.Clock.Timers = append(s.Clock.Timers, v1alpha1.Timer{
				Name: t.Name, Present: t.Present, Mode: t.Mode, TickPolicy: t.TickPolicy,
			})
		}
	}
	s.OnPoweroff = v1alpha1.LifecycleAction(d.OnPoweroff)
	s.OnReboot = v1alpha1.LifecycleAction(d.OnReboot)
	s.OnCrash = v1alpha1.LifecycleAction(d.OnCrash)
	if d.Devices != nil {
		devs, err := fromDevices(d.Devices)
		if err != nil {
			return nil, err
		}
		s.Devices = *devs
	}
	for _, l := range d.SecLabel {
		s.SecLabels = append(s.SecLabels, v1alpha1.SecLabel{
			Type: l.Type, Model: l.Model, Relabel: l.Relabel,
			Label: l.Label, ImageLabel: l.ImageLabel, BaseLabel: l.BaseLabel,
		})
	}
	if x := d.XenCommandline; x != nil {
		for _, a := range x.Args {
			s.DeviceModelArgs = append(s.DeviceModelArgs, a.Value)
		}
	}
	return s, nil
}

func fromCPU(c *libvirtxml.DomainCPU) (*v1alpha1.CPU, error) {
	cpu := &v1alpha1.CPU{Mode: c.Mode, Match: c.Match, Check: c.Check, Migratable: c.Migratable, Vendor: c.Vendor}
	if m := c.Model; m != nil {
		cpu.Model = &v1alpha1.CPUModel{Fallback: m.Fallback, Name: m.Value}
	}
	if t := c.Topology; t != nil {
		cpu.Topology = &v1alpha1.CPUTopology{
			Sockets: uint32(t.Sockets), Dies: uint32(t.Dies), Clusters: uint32(t.Clusters), Cores: uint32(t.Cores),
			Threads: uint32(t.Threads),
		}
	}
	for _, f := range c.Features {
		cpu.Features = append(cpu.Features, v1alpha1.CPUFeature{Name: f.Name, Policy: f.Policy})
	}
	if n := c.Numa; n != nil {
		cpu.NUMA = &v1alpha1.NUMA{Cells: []v1alpha1.NUMACell{}}
		for i, cell := range n.Cell {
			kib, err := toKiB(uint64(cell.Memory), cell.Unit)
			if err != nil {
				return nil, invalidf("<cpu><numa><cell> %d: %v", i, err)
			}
			nc := v1alpha1.NUMACell{CPUs: cell.CPUs, Memory: kibQuantity(kib), MemAccess: cell.MemAccess}
			if cell.ID != nil {
				nc.ID = u32(*cell.ID)
			}
			if cell.Distances != nil {
				for _, sib := range cell.Distances.Siblings {
					nc.Distances = append(nc.Distances, v1alpha1.NUMADistance{ID: uint32(sib.ID), Value: uint32(sib.Value)})
				}
			}
			cpu.NUMA.Cells = append(cpu.NUMA.Cells, nc)
		}
	}
	return cpu, nil
}

func fromOS(d *libvirtxml.Domain, s *v1alpha1.DomainSpec) error {
	s.OS.Bootloader = d.Bootloader
	s.OS.BootloaderArgs = d.BootloaderArgs
	o := d.OS
	if o == nil {
		o = &libvirtxml.DomainOS{}
	}
	if t := o.Type; t != nil {
		s.OS.Type = t.Type
		s.OS.Arch = t.Arch
		s.OS.Machine = t.Machine
	}
	if s.OS.Type == "" && s.OS.Bootloader != "" {
		// A bootloader implies a PV guest (virDomainDefParseCaps).
		s.OS.Type = "xen"
	}
	switch s.OS.Type {
	case "linux":
		// libvirt reads the old PV name as xen (and prints xen as linux again).
		s.OS.Type = "xen"
	case "hvm", "xen", "xenpvh":
	case "":
		return invalidf("an os <type> must be specified")
	default:
		return unsupportedf("os type '%s' is not supported by the Xen driver: could not find capabilities for "+
			"os type '%s'", s.OS.Type, s.OS.Type)
	}
	s.OS.Firmware = o.Firmware
	if l := o.Loader; l != nil {
		if l.Secure == "yes" {
			return unsupportedf("secure boot is not supported on Xen")
		}
		s.OS.Loader = &v1alpha1.Loader{
			Path: l.Path, Readonly: l.Readonly, Secure: l.Secure, Type: l.Type, Format: l.Format,
		}
	}
	s.OS.Kernel = o.Kernel
	s.OS.Initrd = o.Initrd
	s.OS.Cmdline = o.Cmdline
	if o.ACPI != nil {
		for _, t := range o.ACPI.Tables {
			s.OS.ACPITables = append(s.OS.ACPITables, v1alpha1.ACPITable{Type: t.Type, Path: t.Path})
		}
	}
	for _, b := range o.BootDevices {
		s.OS.Boot = append(s.OS.Boot, b.Dev)
	}
	if m := o.BootMenu; m != nil {
		s.OS.BootMenu = &v1alpha1.BootMenu{Enable: m.Enable, Timeout: m.Timeout}
	}
	return nil
}

func fromFeatures(f *libvirtxml.DomainFeatureList) *v1alpha1.Features {
	out := &v1alpha1.Features{
		PAE:      f.PAE != nil,
		ACPI:     f.ACPI != nil,
		APIC:     f.APIC != nil,
		Viridian: f.Viridian != nil,
		PrivNet:  f.PrivNet != nil,
	}
	if f.HAP != nil {
		out.HAP = &v1alpha1.FeatureState{State: f.HAP.State}
		if out.HAP.State == "on" {
			// libvirt keeps a switched-on feature as present and prints it without state.
			out.HAP.State = ""
		}
	}
	if h := f.HyperV; h != nil {
		hv := &v1alpha1.HyperV{
			Mode:        h.Mode,
			Relaxed:     state(h.Relaxed),
			VAPIC:       state(h.VAPIC),
			VPIndex:     state(h.VPIndex),
			Synic:       state(h.Synic),
			Frequencies: state(h.Frequencies),
			IPI:         state(h.IPI),
		}
		if h.Spinlocks != nil {
			hv.Spinlocks = &v1alpha1.HyperVSpinlocks{State: h.Spinlocks.State}
			if h.Spinlocks.Retries != 0 {
				hv.Spinlocks.Retries = u32(h.Spinlocks.Retries)
			}
		}
		if h.STimer != nil {
			hv.STimer = &v1alpha1.FeatureState{State: h.STimer.State}
		}
		if h.TLBFlush != nil {
			hv.TLBFlush = &v1alpha1.FeatureState{State: h.TLBFlush.State}
		}
		if h.VendorId != nil {
			hv.VendorID = &v1alpha1.HyperVVendorID{State: h.VendorId.State, Value: h.VendorId.Value}
		}
		out.HyperV = hv
	}
	if x := f.Xen; x != nil {
		out.Xen = &v1alpha1.XenFeatures{}
		if x.E820Host != nil {
			out.Xen.E820Host = &v1alpha1.FeatureState{State: x.E820Host.State}
		}
		if x.Passthrough != nil {
			out.Xen.Passthrough = &v1alpha1.XenPassthrough{State: x.Passthrough.State, Mode: x.Passthrough.Mode}
		}
	}
	if *out == (v1alpha1.Features{}) {
		return nil
	}
	return out
}

func state(s *libvirtxml.DomainFeatureState) *v1alpha1.FeatureState {
	if s == nil {
		return nil
	}
	return &v1alpha1.FeatureState{State: s.State}
}

func u32(v uint) *uint32 {
	x := uint32(v)
	return &x
}

// canonicalUUID accepts a UUID as libvirt does (32 hex digits, dashes anywhere) and returns the lowercase dashed
// form libvirt prints.
func canonicalUUID(s string) (string, error) {
	var hex []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '-' || c == ' ':
			continue
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
			hex = append(hex, c)
		case c >= 'A' && c <= 'F':
			hex = append(hex, c+'a'-'A')
		default:
			return "", invalidf("malformed uuid element %q", s)
		}
	}
	if len(hex) != 32 {
		return "", invalidf("malformed uuid element %q", s)
	}
	h := string(hex)
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[0:8], h[8:12], h[12:16], h[16:20], h[20:32]), nil
}
