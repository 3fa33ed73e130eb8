package xlcfg

import (
	"fmt"
	"strconv"
	"strings"

	v1alpha1 "github.com/virtxend/virtxend/api/v1alpha1"
)

// diskPath is a local disk's source path; empty when it has none (an empty cdrom).
func diskPath(d *v1alpha1.Disk) string {
	if d.Source == nil {
		return ""
	}
	if d.Type == "block" {
		return d.Source.Dev
	}
	return d.Source.File
}

func driverOf(d *v1alpha1.Disk) (name, format string) {
	if d.Driver == nil {
		return "", ""
	}
	return d.Driver.Name, d.Driver.Type
}

// xlDisks is xenFormatXLDomainDisks: every disk but floppies, in xl-disk-configuration(5) syntax.
func (f *formatter) xlDisks() error {
	var items []string
	for i := range f.spec.Devices.Disks {
		d := &f.spec.Devices.Disks[i]
		if d.Device == "floppy" {
			continue
		}
		s, err := formatXLDisk(d)
		if err != nil {
			return err
		}
		items = append(items, s)
	}
	if len(items) > 0 {
		f.doc.set("disk", listValue(items...))
	}
	return nil
}

// formatXLDisk is xenFormatXLDisk: "format=F,vdev=V,access=A[,backendtype=B][,devtype=cdrom][,target=T]"; target
// comes last because it takes the rest of the specification.
func formatXLDisk(d *v1alpha1.Disk) (string, error) {
	var b strings.Builder
	driver, format := driverOf(d)
	switch format {
	case "vhd":
		format = "xvhd"
	case "raw", "qcow", "qcow2", "qed":
	default:
		format = "raw"
	}
	b.WriteString("format=" + format + ",vdev=" + d.Target.Dev + ",access=")
	switch {
	case d.ReadOnly:
		b.WriteString("ro")
	case d.Shareable:
		b.WriteString("!")
	default:
		b.WriteString("rw")
	}
	if d.Transient {
		return "", unsupportedf("transient disks not supported yet")
	}
	if driver != "" {
		// libvirt writes the key even for a driver xl has no backend for.
		b.WriteString(",backendtype=" + map[string]string{"qemu": "qdisk", "file": "qdisk", "tap": "tap", "phy": "phy"}[driver])
	}
	if d.Device == "cdrom" {
		b.WriteString(",devtype=cdrom")
	}
	var target string
	switch d.Type {
	case "", "file", "block", "dir":
		target = diskPath(d)
	case "network":
		t, err := formatRBD(d.Source)
		if err != nil {
			return "", err
		}
		target = t
	default:
		return "", unsupportedf("unsupported storage type '%s' for disk %s", d.Type, d.Target.Dev)
	}
	if target != "" {
		b.WriteString(",target=" + target)
	}
	return b.String(), nil
}

// formatRBD is xenFormatXLDiskSrcNet: an RBD image as qemu's "rbd:POOL/IMAGE:auth_supported=none:mon_host=..."
// string, with xl's doubled escapes.
func formatRBD(s *v1alpha1.DiskSource) (string, error) {
	if s == nil || s.Protocol != "rbd" {
		proto := ""
		if s != nil {
			proto = s.Protocol
		}
		return "", unsupportedf("Unsupported network block protocol '%s'", proto)
	}
	_, image, _ := strings.Cut(s.Name, "/")
	if strings.ContainsRune(image, ':') {
		return "", unsupportedf("':' not allowed in RBD source volume name '%s'", image)
	}
	var b strings.Builder
	b.WriteString("rbd:" + s.Name + ":auth_supported=none")
	if len(s.Hosts) > 0 {
		b.WriteString(":mon_host=")
		for i, h := range s.Hosts {
			if i > 0 {
				b.WriteString(`\\;`)
			}
			if strings.ContainsRune(h.Name, ':') {
				b.WriteString("[" + strings.ReplaceAll(h.Name, ":", `\:`) + "]")
			} else {
				b.WriteString(h.Name)
			}
			if p, err := strconv.ParseUint(h.Port, 10, 16); err == nil && p != 0 {
				fmt.Fprintf(&b, `\\:%d`, p)
			}
		}
	}
	return b.String(), nil
}

// xmOS is xenFormatXMOS.
func (f *formatter) xmOS() error {
	o := &f.spec.OS
	if f.hvm() {
		f.doc.setString("builder", "hvm")
		if o.Loader != nil && o.Loader.Path != "" {
			f.doc.setString("kernel", o.Loader.Path)
		}
		f.doc.setString("boot", bootString(o.Boot))
		return nil
	}
	f.setStrings([][2]string{{"bootloader", o.Bootloader}, {"bootargs", o.BootloaderArgs}, {"kernel", o.Kernel},
		{"ramdisk", o.Initrd}, {"extra", o.Cmdline}}...)
	return nil
}

// xmDisks is xenFormatXMDisks: "[DRIVER:[TYPE:]]SOURCE,DEV[:cdrom],MODE" for every disk but floppies.
func (f *formatter) xmDisks() error {
	var items []string
	for i := range f.spec.Devices.Disks {
		d := &f.spec.Devices.Disks[i]
		if d.Device == "floppy" {
			continue
		}
		var b strings.Builder
		if src := diskPath(d); src != "" {
			driver, format := driverOf(d)
			switch {
			case format != "":
				if format == "raw" {
					format = "aio"
				}
				if driver != "" {
					b.WriteString(driver + ":")
					if driver == "tap" || driver == "tap2" {
						b.WriteString(format + ":")
					}
				}
			case d.Type == "file":
				b.WriteString("file:")
			case d.Type == "block":
				b.WriteString("phy:")
			default:
				return unsupportedf("unsupported disk type %s", d.Type)
			}
			b.WriteString(src)
		} else if d.Type == "network" {
			return unsupportedf("unsupported disk type %s", d.Type)
		}
		b.WriteString("," + d.Target.Dev)
		if d.Device == "cdrom" {
			b.WriteString(":cdrom")
		}
		switch {
		case d.ReadOnly:
			b.WriteString(",r")
		case d.Shareable:
			b.WriteString(",!")
		default:
			b.WriteString(",w")
		}
		if d.Transient {
			return unsupportedf("transient disks not supported yet")
		}
		items = append(items, b.String())
	}
	if len(items) > 0 {
		f.doc.set("disk", listValue(items...))
	}
	return nil
}

// xmInputs is xenFormatXMInputDevs: the first USB input of an HVM guest.
func (f *formatter) xmInputs() error {
	if !f.hvm() {
		return nil
	}
	for _, in := range f.spec.Devices.Inputs {
		if in.Bus != "usb" {
			continue
		}
		f.doc.setInt("usb", 1)
		if typ := usbInputType(in.Type); typ != "" {
			f.doc.setString("usbdevice", typ)
			break
		}
	}
	return nil
}
