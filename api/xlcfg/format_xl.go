package xlcfg

import (
	"fmt"
	"strconv"
	"strings"

	v1alpha1 "github.com/virtxend/virtxend/api/v1alpha1"
)

// bootLetters are xl's boot device letters.
var bootLetters = map[string]byte{"fd": 'a', "cdrom": 'd', "network": 'n', "hd": 'c'}

// bootString is the boot key: one letter per boot device, "c" when none is given.
func bootString(devs []string) string {
	var b []byte
	for i, d := range devs {
		if i == 4 {
			break
		}
		c, ok := bootLetters[d]
		if !ok {
			c = 'c'
		}
		b = append(b, c)
	}
	if len(b) == 0 {
		return "c"
	}
	return string(b)
}

// xlOS is xenFormatXLOS.
func (f *formatter) xlOS() error {
	o := &f.spec.OS
	if !f.hvm() {
		if o.Type == "xenpvh" {
			f.doc.setString("type", "pvh")
		}
		f.setStrings([][2]string{{"bootloader", o.Bootloader}, {"bootargs", o.BootloaderArgs},
			{"kernel", o.Kernel}, {"ramdisk", o.Initrd}, {"cmdline", o.Cmdline}}...)
		return nil
	}
	f.doc.setString("builder", "hvm")
	// An old-style UEFI loader (a pflash <loader>), or <os firmware='efi'>, is OVMF.
	if l := o.Loader; (l != nil && l.Type == "pflash") || o.Firmware == "efi" {
		f.doc.setString("bios", "ovmf")
		if l != nil && l.Path != "" {
			f.doc.setString("bios_path_override", l.Path)
		}
	}
	switch len(o.ACPITables) {
	case 0:
	case 1:
		t := o.ACPITables[0]
		if t.Type != "rawset" && t.Type != "slic" {
			return unsupportedf("ACPI table type '%s' is not supported", t.Type)
		}
		f.doc.setString("acpi_firmware", t.Path)
	default:
		return unsupportedf("Only a single ACPI table is supported")
	}
	f.setStrings([][2]string{{"kernel", o.Kernel}, {"ramdisk", o.Initrd}, {"cmdline", o.Cmdline}}...)
	f.doc.setString("boot", bootString(o.Boot))
	if c := f.spec.CPU; c != nil && c.Mode == "host-passthrough" {
		hwVirt := true
		for _, ft := range c.Features {
			if (ft.Policy == "disable" || ft.Policy == "forbid") && (ft.Name == "vmx" || ft.Name == "svm") {
				hwVirt = false
			}
		}
		f.doc.setBool("nestedhvm", hwVirt)
	}
	return nil
}

// setStrings sets the keys whose values are not empty.
func (f *formatter) setStrings(kvs ...[2]string) {
	for _, kv := range kvs {
		if kv[1] != "" {
			f.doc.setString(kv[0], kv[1])
		}
	}
}

// xlCPUID is xenFormatXLCPUID: the features of a host-passthrough CPU in libxl's cpuid format; vmx and svm are
// nestedhvm's business.
func (f *formatter) xlCPUID() error {
	c := f.spec.CPU
	if c == nil || c.Mode != "host-passthrough" {
		// libvirt warns and ignores any other CPU mode.
		return nil
	}
	pairs := []string{"host"}
	for _, ft := range c.Features {
		name := translateCPUFeature(ft.Name, false)
		if name == "vmx" || name == "svm" {
			continue
		}
		policy := "1"
		switch ft.Policy {
		case "optional":
			policy = "x"
		case "disable", "forbid":
			policy = "0"
		}
		pairs = append(pairs, name+"="+policy)
	}
	if len(pairs) > 1 {
		f.doc.setString("cpuid", strings.Join(pairs, ","))
	}
	return nil
}

// numaDistance is virDomainNumaGetNodeDistance after libvirt's XML parser completed the matrix: the distance
// given, else the one given the other way round, else 10 to itself and 20 to the others.
func numaDistance(cells []v1alpha1.NUMACell, i, j int) uint32 {
	find := func(c v1alpha1.NUMACell, id int) uint32 {
		for _, d := range c.Distances {
			if int(d.ID) == id {
				return d.Value
			}
		}
		return 0
	}
	if v := find(cells[i], j); v != 0 {
		return v
	}
	if v := find(cells[j], i); v != 0 {
		return v
	}
	if i == j {
		return 10
	}
	return 20
}

// xlVNUMA is xenFormatXLDomainVnuma: one list per guest NUMA cell, placed on the physical node of the same
// number.
func (f *formatter) xlVNUMA() error {
	c := f.spec.CPU
	if c == nil || c.NUMA == nil || len(c.NUMA.Cells) == 0 {
		return nil
	}
	cells := c.NUMA.Cells
	v := confValue{isList: true}
	for i, cell := range cells {
		cpus, err := canonicalCPUSet(cell.CPUs)
		if err != nil {
			return invalidf("NUMA cell %d: %v", i, err)
		}
		dists := make([]string, len(cells))
		for j := range cells {
			dists[j] = strconv.FormatUint(uint64(numaDistance(cells, i, j)), 10)
		}
		v.list = append(v.list, listValue(
			fmt.Sprintf("pnode=%d", i),
			fmt.Sprintf("size=%d", quantityKiB(cell.Memory)/1024),
			"vcpus="+cpus,
			"vdistances="+strings.Join(dists, ","),
		))
	}
	f.doc.set("vnuma", v)
	return nil
}

// xlXenbusLimits is xenFormatXLXenbusLimits.
func (f *formatter) xlXenbusLimits() error {
	for _, c := range f.spec.Devices.Controllers {
		if c.Type != "xenbus" {
			continue
		}
		if n := u32val(c.MaxEventChannels); n > 0 {
			f.doc.setInt("max_event_channels", int64(n))
		}
		if n := u32val(c.MaxGrantFrames); n > 0 {
			f.doc.setInt("max_grant_frames", int64(n))
		}
	}
	return nil
}

// xlSpice is xenFormatXLSpice: the SPICE display of an HVM guest.
func (f *formatter) xlSpice() error {
	gs := f.spec.Devices.Graphics
	if !f.hvm() || len(gs) == 0 || gs[0].Type != "spice" {
		return nil
	}
	g := &gs[0]
	f.doc.setInt("sdl", 0)
	f.doc.setInt("vnc", 0)
	f.doc.setInt("spice", 1)
	if addr := listenAddress(g); addr != "" {
		f.doc.setString("spicehost", addr)
	}
	f.doc.setInt("spiceport", portNumber(g.Port))
	f.doc.setInt("spicetls_port", portNumber(g.TLSPort))
	if g.Passwd != "" {
		f.doc.setInt("spicedisable_ticketing", 0)
		f.doc.setString("spicepasswd", g.Passwd)
	} else {
		f.doc.setInt("spicedisable_ticketing", 1)
	}
	switch g.MouseMode {
	case "server":
		f.doc.setInt("spiceagent_mouse", 0)
	case "client":
		f.doc.setInt("spiceagent_mouse", 1)
		// The client mouse mode needs the vdagent.
		f.doc.setInt("spicevdagent", 1)
	}
	if g.CopyPaste == "yes" {
		f.doc.setInt("spice_clipboard_sharing", 1)
		f.doc.setInt("spicevdagent", 1)
	}
	return nil
}

// xlInputs is xenFormatXLInputDevs: USB inputs of an HVM guest; one is written as a string, for Xen <= 4.2.
func (f *formatter) xlInputs() error {
	if !f.hvm() {
		return nil
	}
	var devs []string
	for _, in := range f.spec.Devices.Inputs {
		if in.Bus != "usb" {
			continue
		}
		f.doc.setInt("usb", 1)
		if typ := usbInputType(in.Type); typ != "" {
			devs = append(devs, typ)
		}
	}
	switch len(devs) {
	case 0:
	case 1:
		f.doc.setString("usbdevice", devs[0])
	default:
		f.doc.set("usbdevice", listValue(devs...))
	}
	return nil
}

// xlUSB is xenFormatXLUSB: host USB devices as usbdev = [ "hostbus=B,hostaddr=D" ] (hexadecimal).
func (f *formatter) xlUSB() error {
	var items []string
	for _, h := range f.spec.Devices.Hostdevs {
		if (h.Mode != "" && h.Mode != "subsystem") || h.Type != "usb" {
			continue
		}
		var bus, dev uint32
		if h.USB != nil {
			bus, dev = u32val(h.USB.Bus), u32val(h.USB.Device)
		}
		items = append(items, fmt.Sprintf("hostbus=%x,hostaddr=%x", bus, dev))
	}
	if len(items) > 0 {
		f.doc.set("usbdev", listValue(items...))
	}
	return nil
}

// xlUSBControllers is xenFormatXLUSBController: usbctrl = [ "type=qusb,version=V,ports=N" ] (ports in hex).
func (f *formatter) xlUSBControllers() error {
	var items []string
	for _, c := range f.spec.Devices.Controllers {
		if c.Type != "usb" {
			continue
		}
		var b strings.Builder
		switch c.Model {
		case "":
		case "qusb1":
			b.WriteString("type=qusb,version=1,")
		case "qusb2":
			b.WriteString("type=qusb,version=2,")
		default:
			return unsupportedf("USB controller model '%s' is not supported by xl, only qusb1 and qusb2", c.Model)
		}
		if c.Ports != nil {
			fmt.Fprintf(&b, "ports=%x", *c.Ports)
		}
		items = append(items, b.String())
	}
	if len(items) > 0 {
		f.doc.set("usbctrl", listValue(items...))
	}
	return nil
}

// xlChannels is xenFormatXLDomainChannels: the Xen channels, pty or listening Unix socket.
func (f *formatter) xlChannels() error {
	var items []string
	for i := range f.spec.Devices.Channels {
		c := &f.spec.Devices.Channels[i]
		if c.Target == nil || c.Target.Type != "xen" {
			continue
		}
		var b strings.Builder
		switch c.Type {
		case "pty":
			b.WriteString("connection=pty,")
		case "unix":
			b.WriteString("connection=socket,")
			if p := chardevSource(c, "").Path; p != "" {
				b.WriteString("path=" + p + ",")
			}
		default:
			return unsupportedf("channel type '%s' is not supported by xl, only pty and unix", c.Type)
		}
		b.WriteString("name=" + c.Target.Name)
		items = append(items, b.String())
	}
	if len(items) > 0 {
		f.doc.set("channel", listValue(items...))
	}
	return nil
}

// xlDeviceModelArgs is xenFormatXLDomainNamespaceData.
func (f *formatter) xlDeviceModelArgs() error {
	if len(f.spec.DeviceModelArgs) > 0 {
		f.doc.set("device_model_args", listValue(f.spec.DeviceModelArgs...))
	}
	return nil
}
