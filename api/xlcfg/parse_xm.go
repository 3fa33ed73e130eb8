package xlcfg

import (
	"strings"

	v1alpha1 "github.com/virtxend/virtxend/api/v1alpha1"
)

// xmOS is xenParseXMOS: for HVM, kernel names the firmware (hvmloader) and boot the boot order; for PV,
// bootloader, kernel, ramdisk and the command line from root and extra.
func (p *parser) xmOS() error {
	o := &p.spec.OS
	if p.hvm() {
		loader, err := p.r.requireString("kernel")
		if err != nil {
			return err
		}
		o.Loader = &v1alpha1.Loader{Path: loader, Format: "raw"}
		return p.bootOrder()
	}
	for _, s := range []struct {
		key string
		dst *string
	}{{"bootloader", &o.Bootloader}, {"bootargs", &o.BootloaderArgs}, {"kernel", &o.Kernel}, {"ramdisk", &o.Initrd}} {
		v, _, err := p.r.getString(s.key)
		if err != nil {
			return err
		}
		*s.dst = v
	}
	cmdline, err := p.cmdline(false)
	o.Cmdline = cmdline
	return err
}

// xmDisks is xenParseXMDiskList: disk = [ "[DRIVER:[TYPE:]]SOURCE,DEV[:cdrom],MODE" ].
func (p *parser) xmDisks() error {
	items, ok, err := p.r.stringList("disk")
	if err != nil || !ok {
		return err
	}
	for _, s := range items {
		disk, err := parseXMDisk(s, p.hvm())
		if err != nil {
			return p.r.errorKey(errKind(err), "disk", "%v", err)
		}
		p.spec.Devices.Disks = append(p.spec.Devices.Disks, *disk)
	}
	return nil
}

// storageFormats are libvirt's image format names (virStorageFileFormat) that a tap:FORMAT: prefix may give.
var storageFormats = map[string]bool{"raw": true, "dir": true, "bochs": true, "cloop": true, "dmg": true,
	"iso": true, "vpc": true, "vdi": true, "fat": true, "vhd": true, "ploop": true, "cow": true, "qcow": true,
	"qcow2": true, "qed": true, "vmdk": true, "luks": true}

// parseXMDisk is xenParseXMDisk. libvirt skips an entry it cannot read; virtxend reports it, so that no disk is
// lost without a word.
func parseXMDisk(entry string, hvm bool) (*v1alpha1.Disk, error) {
	malformed := func() (*v1alpha1.Disk, error) {
		return nil, syntaxf("malformed disk entry '%s': expecting SOURCE,DEVICE,MODE", entry)
	}
	src, rest, ok := strings.Cut(entry, ",")
	if !ok {
		return malformed()
	}
	rest = strings.TrimPrefix(rest, "ioemu:")
	dst, mode, ok := strings.Cut(rest, ",")
	if !ok {
		return malformed()
	}
	disk := &v1alpha1.Disk{Device: "disk", Driver: &v1alpha1.DiskDriver{}}
	if src != "" {
		if drv, path, ok := strings.Cut(src, ":"); ok {
			disk.Driver.Name, src = drv, path
		}
		if drv := disk.Driver.Name; drv == "tap" || drv == "tap2" {
			format, path, ok := strings.Cut(src, ":")
			if !ok {
				return malformed()
			}
			if format == "aio" {
				format = "raw"
			}
			if !storageFormats[format] {
				return nil, invalidf("Unknown driver type %s", src)
			}
			disk.Driver.Type, src = format, path
		}
	}
	if disk.Driver.Name == "" {
		disk.Driver.Name = "phy"
	}
	disk.Type = "file"
	if disk.Driver.Name == "phy" {
		disk.Type = "block"
	}
	if src != "" {
		if disk.Type == "block" {
			disk.Source = &v1alpha1.DiskSource{Dev: src}
		} else {
			disk.Source = &v1alpha1.DiskSource{File: src}
		}
	}
	if i := strings.IndexByte(dst, ':'); i >= 0 {
		if dst[i:] == ":cdrom" {
			disk.Device = "cdrom"
		}
		dst = dst[:i]
	}
	disk.Target = v1alpha1.DiskTarget{Dev: dst, Bus: diskBus(dst, hvm)}
	switch mode {
	case "r", "ro":
		disk.ReadOnly = true
	case "w!", "!":
		disk.Shareable = true
	}
	return disk, nil
}

// xmInputs is xenParseXMInputDevs: usbdevice, a single name, gives an HVM guest a USB tablet, mouse or keyboard.
func (p *parser) xmInputs() error {
	if !p.hvm() {
		return nil
	}
	s, _, err := p.r.getString("usbdevice")
	if typ := usbInputType(s); err == nil && typ != "" {
		p.spec.Devices.Inputs = append(p.spec.Devices.Inputs, v1alpha1.Input{Type: typ, Bus: "usb"})
	}
	return err
}
