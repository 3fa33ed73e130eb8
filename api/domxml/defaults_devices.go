package domxml

import (
	"strings"

	v1alpha1 "github.com/virtxend/virtxend/api/v1alpha1"
)

// defaultGraphics applies the port conventions of libvirt's graphics parser: port -1 means autoport, and an
// inactive definition keeps no allocated port.
func defaultGraphics(devs *v1alpha1.Devices) {
	for i := range devs.Graphics {
		g := &devs.Graphics[i]
		switch g.Type {
		case "vnc":
			if g.Port == nil || *g.Port == -1 {
				g.AutoPort = "yes"
			}
			if g.AutoPort == "yes" {
				p := int32(-1)
				g.Port = &p
			} else if g.AutoPort == "" {
				g.AutoPort = "no"
			}
		case "spice":
			if g.Port != nil && *g.Port == -1 && g.TLSPort != nil && *g.TLSPort == -1 {
				g.AutoPort = "yes"
			}
			if g.AutoPort == "yes" {
				g.Port, g.TLSPort = nil, nil
			} else if g.AutoPort == "" {
				g.AutoPort = "no"
			}
		default:
			continue
		}
		// The listen attribute and the first <listen> are one setting; without either, libvirt records an
		// address listen without address (the driver's default address).
		if len(g.Listens) == 0 {
			g.Listens = []v1alpha1.GraphicsListen{{Type: "address", Address: g.Listen}}
		} else if l := g.Listens[0]; g.Listen == "" && l.Type == "address" {
			g.Listen = l.Address
		}
		// virDomainDefPostParseGraphics: SPICE without ports nor autoport listens nowhere.
		if g.Type == "spice" && g.AutoPort == "no" && (g.Port == nil || *g.Port == 0) &&
			(g.TLSPort == nil || *g.TLSPort == 0) && g.Listens[0].Type == "address" {
			g.Listens[0] = v1alpha1.GraphicsListen{Type: "none"}
			g.Listen = ""
		}
	}
}

// defaultInputs sets the default bus of inputs and adds the implicit mouse and keyboard
// (xenDomainDefAddImplicitInputDevice): on ps2 for HVM, on the Xen PV bus otherwise.
func defaultInputs(spec *v1alpha1.DomainSpec) {
	hvm := spec.OS.Type == "hvm"
	bus := "xen"
	if hvm {
		bus = "ps2"
	}
	devs := &spec.Devices
	for i := range devs.Inputs {
		in := &devs.Inputs[i]
		if in.Bus != "" {
			continue
		}
		switch {
		case !hvm:
			in.Bus = "xen"
		case in.Type == "mouse" || in.Type == "keyboard":
			in.Bus = "ps2"
		default:
			in.Bus = "usb"
		}
	}
	for _, typ := range []string{"mouse", "keyboard"} {
		found := false
		for _, in := range devs.Inputs {
			if in.Type == typ && in.Bus == bus {
				found = true
				break
			}
		}
		if !found {
			devs.Inputs = append(devs.Inputs, v1alpha1.Input{Type: typ, Bus: bus})
		}
	}
}

// defaultPorts gives chardevs without a target port the next port after the highest used one.
func defaultPorts(chrs []v1alpha1.Chardev) {
	for i := range chrs {
		c := &chrs[i]
		if c.Target != nil && c.Target.Port != nil {
			continue
		}
		next := uint32(0)
		for j := range chrs {
			if t := chrs[j].Target; t != nil && t.Port != nil && *t.Port+1 > next {
				next = *t.Port + 1
			}
		}
		if c.Target == nil {
			c.Target = &v1alpha1.ChardevTarget{}
		}
		c.Target.Port = u32(uint(next))
	}
}

// consoleCompat is virDomainDefAddConsoleCompat: on HVM the first console is the first serial port, so a console
// without a serial port becomes one, and a serial port gets its console alias.
func consoleCompat(spec *v1alpha1.DomainSpec) {
	if spec.OS.Type != "hvm" {
		return
	}
	devs := &spec.Devices
	if len(devs.Consoles) > 0 && devs.Consoles[0].Target != nil && devs.Consoles[0].Target.Type == "serial" {
		if len(devs.Serials) == 0 {
			s := *devs.Consoles[0].DeepCopy()
			s.Target = &v1alpha1.ChardevTarget{Port: u32(0)}
			devs.Serials = append(devs.Serials, s)
		}
		c := *devs.Serials[0].DeepCopy()
		c.Target = &v1alpha1.ChardevTarget{Type: "serial", Port: u32(0)}
		if devs.Serials[0].Target != nil && devs.Serials[0].Target.Port != nil {
			c.Target.Port = u32(uint(*devs.Serials[0].Target.Port))
		}
		devs.Consoles[0] = c
		return
	}
	if len(devs.Serials) > 0 && (devs.Serials[0].Target == nil || devs.Serials[0].Target.Type == "" ||
		devs.Serials[0].Target.Type == "isa-serial") {
		c := *devs.Serials[0].DeepCopy()
		c.Target = &v1alpha1.ChardevTarget{Type: "serial", Port: u32(0)}
		if devs.Serials[0].Target != nil && devs.Serials[0].Target.Port != nil {
			c.Target.Port = u32(uint(*devs.Serials[0].Target.Port))
		}
		devs.Consoles = append([]v1alpha1.Chardev{c}, devs.Consoles...)
	}
}

func defaultDisk(disk *v1alpha1.Disk) error {
	if disk.Type == "" {
		disk.Type = "file"
	}
	if disk.Device == "" {
		disk.Device = "disk"
	}
	disk.Target.Dev = strings.TrimPrefix(disk.Target.Dev, "ioemu:")
	if disk.Device == "cdrom" {
		disk.ReadOnly = true
	}
	if disk.Type == "network" && (disk.Driver == nil || disk.Driver.Name == "") {
		if disk.Driver == nil {
			disk.Driver = &v1alpha1.DiskDriver{}
		}
		disk.Driver.Name = "qemu"
	}
	if disk.Driver == nil {
		disk.Driver = &v1alpha1.DiskDriver{}
	}
	if disk.Driver.Type == "" {
		// xl's default format (xl-disk-configuration(5)).
		disk.Driver.Type = "raw"
	}
	dst := disk.Target.Dev
	if disk.Target.Bus == "" {
		switch {
		case disk.Device == "floppy":
			disk.Target.Bus = "fdc"
		case strings.HasPrefix(dst, "sd"):
			disk.Target.Bus = "scsi"
		case strings.HasPrefix(dst, "vd"):
			disk.Target.Bus = "virtio"
		case strings.HasPrefix(dst, "xvd"):
			disk.Target.Bus = "xen"
		case strings.HasPrefix(dst, "ubd"):
			disk.Target.Bus = "uml"
		case strings.HasPrefix(dst, "nvme"):
			disk.Target.Bus = "nvme"
		default:
			disk.Target.Bus = "ide"
		}
	}
	if disk.Address != nil || dst == "" {
		return nil
	}
	idx := diskNameToIndex(dst)
	if idx < 0 {
		return invalidf("unknown disk name '%s' and no address specified", dst)
	}
	if idx > (maxDiskController+1)*2 {
		return invalidf("disk '%s': drive controller is out of range (at most %d)", dst, maxDiskController)
	}
	drive := func(controller, bus, unit int) {
		disk.Address = &v1alpha1.Address{
			Type: "drive", Controller: u32(uint(controller)), Bus: u32(uint(bus)),
			Target: u32(0), Unit: u32(uint(unit)),
		}
	}
	switch disk.Target.Bus {
	case "scsi":
		drive(idx/7, 0, idx%7)
	case "ide":
		drive(idx/4, (idx%4)/2, idx%2)
	case "sata":
		drive(idx/6, 0, idx%6)
	case "fdc":
		drive(idx/2, 0, idx%2)
	}
	return nil
}

// diskNameToIndex is virDiskNameToIndex: "hda" is 0, "xvdb" 1, "sdaa" 26; a trailing partition number is
// allowed. It returns -1 for a name it does not know.
func diskNameToIndex(name string) int {
	var rest string
	for _, p := range []string{"fd", "hd", "vd", "sd", "xvd", "ubd"} {
		if strings.HasPrefix(name, p) {
			rest = name[len(p):]
			break
		}
	}
	if rest == "" {
		return -1
	}
	idx, i := 0, 0
	for ; i < len(rest) && rest[i] >= 'a' && rest[i] <= 'z'; i++ {
		if i > 0 {
			idx++
		}
		idx = idx*26 + int(rest[i]-'a')
	}
	if i == 0 {
		return -1
	}
	for _, c := range rest[i:] {
		if c < '0' || c > '9' {
			return -1
		}
	}
	return idx
}

func defaultVideo(spec *v1alpha1.DomainSpec, v *v1alpha1.Video, d Defaults) {
	if v.Model == "" {
		switch {
		case spec.OS.Type == "xen":
			v.Model = "xen"
		case strings.HasPrefix(spec.OS.Arch, "ppc64"):
			v.Model = "vga"
		default:
			v.Model = "cirrus"
		}
	}
	if v.Model == "none" {
		return
	}
	if v.Heads == nil {
		v.Heads = u32(1)
	}
	if v.VRAM == nil || *v.VRAM == 0 {
		var kib uint32
		if spec.OS.Type == "hvm" {
			switch v.Model {
			case "vga", "xen":
				kib = 16 * 1024
				if d.QEMUTraditional {
					kib = 8 * 1024
				}
			case "cirrus":
				kib = 8 * 1024
				if d.QEMUTraditional {
					kib = 4 * 1024
				}
			case "qxl":
				kib = 128 * 1024
			}
		}
		if kib == 0 {
			// virDomainVideoDefaultRAM
			switch v.Model {
			case "vga", "cirrus", "vmvga", "bochs":
				kib = 16 * 1024
			case "xen":
				kib = 4 * 1024
			case "qxl":
				kib = 64 * 1024
			}
		}
		if kib != 0 {
			v.VRAM = &kib
		}
	}
	if v.VRAM != nil {
		p := uint32(1)
		for p < *v.VRAM && p != 0 {
			p <<= 1
		}
		if p != 0 {
			*v.VRAM = p
		}
	}
}

// defaultControllerIndexes is virDomainAssignControllerIndexes: a controller without an index gets the lowest
// index unused by its type.
func defaultControllerIndexes(devs *v1alpha1.Devices) {
	for i := range devs.Controllers {
		c := &devs.Controllers[i]
		if c.Index == nil {
			c.Index = u32(unusedIndex(devs, c.Type))
		}
	}
}

func unusedIndex(devs *v1alpha1.Devices, typ string) uint {
	for idx := 0; ; idx++ {
		if findController(devs, typ, idx) < 0 {
			return uint(idx)
		}
	}
}

// findController returns the position of the controller of type typ with index idx (any index when idx < 0),
// or -1.
func findController(devs *v1alpha1.Devices, typ string, idx int) int {
	for i, c := range devs.Controllers {
		if c.Type != typ {
			continue
		}
		if idx < 0 || (c.Index != nil && int(*c.Index) == idx) {
			return i
		}
	}
	return -1
}

// maxDiskController bounds the disk controller a drive address may name: every controller up to it is added to
// the definition, so an absurd target name (hdzzzzz) must not make that list absurd.
const maxDiskController = 255

// addDiskControllers adds the controllers of type ctl that the drive addresses of disks on bus refer to.
func addDiskControllers(devs *v1alpha1.Devices, ctl, bus string) {
	maxController := -1
	for _, disk := range devs.Disks {
		if disk.Target.Bus != bus || disk.Address == nil || disk.Address.Type != "drive" {
			continue
		}
		if c := disk.Address.Controller; c != nil && int(*c) > maxController {
			maxController = int(*c)
		}
	}
	for i := 0; i <= maxController; i++ {
		if findController(devs, ctl, i) < 0 {
			devs.Controllers = append(devs.Controllers, v1alpha1.Controller{Type: ctl, Index: u32(uint(i))})
		}
	}
}
