package libxl

import (
	"fmt"
	"slices"

	"github.com/virtxend/virtxend/api/v1alpha1"
)

// makeHVMInfo fills the HVM member of the build info (the hvm branch of libxlMakeDomBuildInfo).
func (b *builder) makeHVMInfo() error {
	s, bi, hvm := b.spec, &b.cfg.BInfo, b.cfg.BInfo.HVM
	f := s.Features
	if f == nil {
		f = &v1alpha1.Features{}
	}
	hvm.PAE = NewDefbool(f.PAE)
	bi.APIC = NewDefbool(f.APIC)
	bi.ACPI = NewDefbool(f.ACPI)
	if err := b.setViridian(f.HyperV); err != nil {
		return err
	}

	for _, t := range s.OS.ACPITables {
		switch t.Type {
		case "slic", "rawset":
			if hvm.ACPIFirmware != "" {
				return unsupportedf("Only a single ACPI table is supported")
			}
			hvm.ACPIFirmware = t.Path
		default:
			return unsupportedf("ACPI table type '%s' is not supported", t.Type)
		}
	}

	if len(s.Devices.Sounds) > 0 {
		model := s.Devices.Sounds[0].Model
		if model == "ich6" {
			model = "hda"
		}
		hvm.SoundHW = model
	}

	boot := make([]byte, 0, len(s.OS.Boot))
	for _, dev := range s.OS.Boot {
		switch dev {
		case "fd":
			boot = append(boot, 'a')
		case "cdrom":
			boot = append(boot, 'd')
		case "network":
			boot = append(boot, 'n')
		default:
			boot = append(boot, 'c')
		}
	}
	if len(boot) == 0 {
		boot = append(boot, 'c')
	}
	hvm.Boot = string(boot)

	bi.Cmdline, bi.Kernel, bi.Ramdisk = s.OS.Cmdline, s.OS.Kernel, s.OS.Initrd

	if err := b.setFirmware(); err != nil {
		return err
	}

	if emu := s.Devices.Emulator; emu != "" {
		check := b.host.CheckEmulator
		if check == nil {
			check = checkExecutable
		}
		if err := check(emu); err != nil {
			return err
		}
		bi.DeviceModel = emu
		bi.DeviceModelVersion = b.dmType
	}

	serials := b.serials()
	switch {
	case len(serials) == 1:
		str, err := chardevString(&serials[0])
		if err != nil {
			return err
		}
		hvm.Serial = str
	case len(serials) > 1:
		for i := range serials {
			str, err := chardevString(&serials[i])
			if err != nil {
				return err
			}
			hvm.SerialList = append(hvm.SerialList, str)
		}
	}
	if len(s.Devices.Parallels) > 0 {
		return unsupportedf("Parallel devices are not supported by libxl")
	}

	// VNC and SDL stay off until a graphics device switches them on.
	hvm.VNC.Enable = DefboolFalse
	hvm.SDL.Enable = DefboolFalse

	for _, in := range s.Devices.Inputs {
		if in.Bus != "usb" {
			continue
		}
		switch in.Type {
		case "mouse", "tablet":
			hvm.USBDeviceList = append(hvm.USBDeviceList, in.Type)
		default:
			return unsupportedf("Unknown input device type")
		}
	}
	return nil
}

// serials are the HVM serial ports. libvirt's parser makes the console of an HVM guest an alias of the first
// serial port, adding that port when only the console is given.
func (b *builder) serials() []v1alpha1.Chardev {
	d := &b.spec.Devices
	if len(d.Serials) > 0 || len(d.Consoles) == 0 {
		return d.Serials
	}
	c := d.Consoles[0]
	if c.Target != nil && c.Target.Type != "" && c.Target.Type != "serial" {
		return nil
	}
	return []v1alpha1.Chardev{c}
}

// setFirmware handles <os firmware='efi'> and old-style UEFI loaders (bios=ovmf with the loader as system
// firmware), and checks the loader format.
func (b *builder) setFirmware() error {
	os, hvm := &b.spec.OS, b.cfg.BInfo.HVM
	if l := os.Loader; (l != nil && l.Secure == "yes") || os.Firmware == "efi-secure" {
		return unsupportedf("Secure boot is not supported on Xen")
	}
	switch {
	case os.Firmware == "efi":
		if os.Loader == nil {
			os.Loader = &v1alpha1.Loader{}
		}
		if os.Loader.Path == "" {
			if len(b.host.Firmwares) == 0 {
				return unsupportedf("no UEFI firmware is configured")
			}
			os.Loader.Path = b.host.Firmwares[0]
		}
		if os.Loader.Type == "" {
			os.Loader.Type = "pflash"
		}
		if os.Loader.Readonly == "" {
			os.Loader.Readonly = "yes"
		}
		hvm.BIOS = BIOSOVMF
		hvm.SystemFirmware = os.Loader.Path
		os.Firmware = ""
	case os.Loader != nil && os.Loader.Type == "pflash":
		hvm.BIOS = BIOSOVMF
		hvm.SystemFirmware = os.Loader.Path
	}
	if os.Loader != nil {
		if os.Loader.Format == "" {
			os.Loader.Format = "raw"
		}
		if os.Loader.Format != "raw" {
			return unsupportedf("Unsupported loader format '%s'", os.Loader.Format)
		}
	}
	return nil
}

// setViridian translates <hyperv>: passthrough enables every enlightenment libxl knows; custom enables the base
// set and crash control plus one group per feature switched on.
func (b *builder) setViridian(h *v1alpha1.HyperV) error {
	if h == nil {
		return nil
	}
	hvm := b.cfg.BInfo.HVM
	switch h.Mode {
	case "passthrough":
		hvm.ViridianEnable = BitmapRange(0, ViridianWidth)
		return nil
	case "custom", "":
	default:
		return unsupportedf("unsupported Hyper-V mode '%s'", h.Mode)
	}
	on := func(s *v1alpha1.FeatureState) bool { return s != nil && s.State == "on" }
	bits := []int{ViridianBase, ViridianCrashCtl}
	if on(h.VAPIC) {
		bits = append(bits, ViridianAPICAssist)
	}
	if on(h.Synic) {
		bits = append(bits, ViridianSynic)
	}
	if on(h.STimer) {
		bits = append(bits, ViridianStimer, ViridianSynic, ViridianTimeRefCount, ViridianReferenceTSC)
	}
	if on(h.Frequencies) {
		bits = append(bits, ViridianFreq)
	}
	if on(h.TLBFlush) {
		bits = append(bits, ViridianHcallRemoteTLBFlush)
	}
	if on(h.IPI) {
		bits = append(bits, ViridianHcallIPI)
	}
	if h.Spinlocks != nil && h.Spinlocks.State == "on" {
		b.warnf("Hyper-V spinlocks are not supported by Xen")
	}
	if h.VendorID != nil && h.VendorID.State == "on" {
		b.warnf("Hyper-V vendor_id is not supported by Xen")
	}
	slices.Sort(bits)
	hvm.ViridianEnable = slices.Compact(bits)
	return nil
}

// chardevSource returns the chardev's source with the given mode ("" for the first).
func chardevSource(c *v1alpha1.Chardev, mode string) v1alpha1.ChardevSource {
	for _, s := range c.Sources {
		if mode == "" || s.Mode == mode || (s.Mode == "" && mode == "connect") {
			return s
		}
	}
	return v1alpha1.ChardevSource{}
}

// chardevString is libxlMakeChrdevStr: the chardev as qemu's -serial syntax.
func chardevString(c *v1alpha1.Chardev) (string, error) {
	src := chardevSource(c, "")
	switch c.Type {
	case "null", "stdio", "vc", "pty":
		return c.Type, nil
	case "file", "pipe":
		return c.Type + ":" + src.Path, nil
	case "dev":
		return src.Path, nil
	case "udp":
		conn, bind := chardevSource(c, "connect"), v1alpha1.ChardevSource{}
		for _, s := range c.Sources {
			if s.Mode == "bind" {
				bind = s
			}
		}
		if bind.Service == "" {
			bind.Service = "0"
		}
		return fmt.Sprintf("udp:%s:%s@%s:%s", conn.Host, conn.Service, bind.Host, bind.Service), nil
	case "tcp":
		prefix := "tcp"
		if c.Protocol == "telnet" {
			prefix = "telnet"
		}
		suffix := ""
		if src.Mode == "bind" {
			suffix = ",server,nowait"
		}
		return fmt.Sprintf("%s:%s:%s%s", prefix, src.Host, src.Service, suffix), nil
	case "unix":
		suffix := ""
		if src.Mode == "bind" {
			suffix = ",server,nowait"
		}
		return "unix:" + src.Path + suffix, nil
	}
	return "", unsupportedf("unsupported chardev '%s'", c.Type)
}
