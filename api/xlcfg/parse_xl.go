package xlcfg

import (
	"strconv"
	"strings"

	v1alpha1 "github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/config"
)

// xlOS is xenParseXLOS: firmware, direct kernel boot, boot order and nested HVM for HVM; bootloader and kernel
// for PV and PVH.
func (p *parser) xlOS() error {
	o := &p.spec.OS
	keys := []string{"kernel", "ramdisk"}
	dsts := []*string{&o.Kernel, &o.Initrd}
	if p.hvm() {
		if err := p.xlFirmware(); err != nil {
			return err
		}
	} else {
		keys = append(keys, "bootloader", "bootargs")
		dsts = append(dsts, &o.Bootloader, &o.BootloaderArgs)
	}
	for i, key := range keys {
		v, _, err := p.r.getString(key)
		if err != nil {
			return err
		}
		*dsts[i] = v
	}
	cmdline, err := p.cmdline(true)
	if err != nil {
		return err
	}
	o.Cmdline = cmdline
	if !p.hvm() {
		return nil
	}
	if err := p.bootOrder(); err != nil {
		return err
	}
	nested, err := p.r.getBool("nestedhvm", -1)
	if err != nil || nested == -1 {
		return err
	}
	if p.spec.CPU == nil {
		p.spec.CPU = &v1alpha1.CPU{Mode: "host-passthrough"}
	}
	if nested == 0 {
		feature := "vmx"
		if p.opts.HostSVM {
			feature = "svm"
		}
		return addCPUFeature(p.spec.CPU, feature, "disable")
	}
	return nil
}

// xlFirmware reads the firmware of an HVM guest: hvmloader, or OVMF for bios = "ovmf", and an ACPI table.
func (p *parser) xlFirmware() error {
	o := &p.spec.OS
	bios, _, err := p.r.getString("bios")
	if err != nil {
		return err
	}
	biosPath, hasPath, err := p.r.getString("bios_path_override")
	if err != nil {
		return err
	}
	if bios == "ovmf" {
		o.Loader = &v1alpha1.Loader{Type: "pflash", Readonly: "yes", Format: "raw", Path: p.firmwareDir() + "/ovmf.bin"}
		if hasPath {
			o.Loader.Path = biosPath
		}
	} else {
		o.Loader = &v1alpha1.Loader{Format: "raw", Path: p.firmwareDir() + "/hvmloader"}
	}
	slic, ok, err := p.r.getString("acpi_firmware")
	if ok {
		o.ACPITables = []v1alpha1.ACPITable{{Type: "rawset", Path: slic}}
	}
	return err
}

// cmdline is xenParseCmdline: cmdline wins over root and extra, which combine into "root=ROOT EXTRA". xm has no
// cmdline key.
func (p *parser) cmdline(withKey bool) (string, error) {
	var cmd, root, extra string
	var hasCmd, hasRoot, hasExtra bool
	var err error
	if withKey {
		if cmd, hasCmd, err = p.r.getString("cmdline"); err != nil {
			return "", err
		}
	}
	if root, hasRoot, err = p.r.getString("root"); err != nil {
		return "", err
	}
	if extra, hasExtra, err = p.r.getString("extra"); err != nil {
		return "", err
	}
	switch {
	case hasCmd:
		return cmd, nil
	case hasRoot && hasExtra:
		return "root=" + root + " " + extra, nil
	case hasRoot:
		return "root=" + root, nil
	}
	return extra, nil
}

// bootOrder reads boot: one letter per device, a floppy, c disk, d cdrom, n network; at most four.
func (p *parser) bootOrder() error {
	boot, ok, err := p.r.getString("boot")
	if err != nil {
		return err
	}
	if !ok {
		boot = "c"
	}
	for i := 0; i < len(boot) && i < 4; i++ {
		dev := "hd"
		switch boot[i] {
		case 'a':
			dev = "fd"
		case 'd':
			dev = "cdrom"
		case 'n':
			dev = "network"
		}
		p.spec.OS.Boot = append(p.spec.OS.Boot, dev)
	}
	return nil
}

// addCPUFeature is virCPUDefAddFeature: a feature may be named once.
func addCPUFeature(c *v1alpha1.CPU, name, policy string) error {
	for _, f := range c.Features {
		if f.Name == name {
			return invalidf("CPU feature '%s' specified more than once", name)
		}
	}
	c.Features = append(c.Features, v1alpha1.CPUFeature{Name: name, Policy: policy})
	return nil
}

// cpuidNames maps libvirt's CPU feature names to libxl's cpuid names where they differ (xenTranslateCPUFeature).
var cpuidNames = [][2]string{
	{"cx16", "cmpxchg16"}, {"cid", "cntxid"}, {"ds_cpl", "dscpl"}, {"pclmuldq", "pclmulqdq"}, {"pni", "sse3"},
	{"ht", "htt"}, {"pn", "psn"}, {"clflush", "clfsh"}, {"sep", "sysenter"}, {"cx8", "cmpxchg8"},
	{"nodeid_msr", "nodeid"}, {"cr8legacy", "altmovcr8"}, {"lahf_lm", "lahfsahf"}, {"cmp_legacy", "cmplegacy"},
	{"fxsr_opt", "ffxsr"}, {"pdpe1gb", "page1gb"}, {"spec-ctrl", "ibrsb"},
}

// translateCPUFeature is xenTranslateCPUFeature.
func translateCPUFeature(name string, fromLibxl bool) string {
	from, to := 0, 1
	if fromLibxl {
		from, to = 1, 0
	}
	for _, t := range cpuidNames {
		if t[from] == name {
			return t[to]
		}
	}
	return name
}

// xlCPUID is xenParseXLCPUID: cpuid = "host,FEATURE=POLICY,..." in libxl's format.
func (p *parser) xlCPUID() error {
	s, ok, err := p.r.getString("cpuid")
	if err != nil || !ok {
		return err
	}
	if p.spec.CPU == nil {
		p.spec.CPU = &v1alpha1.CPU{Mode: "host-passthrough"}
	}
	pairs := strings.Split(s, ",")
	if pairs[0] != "host" {
		return p.r.errorKey(ErrSyntax, "cpuid", "cpuid starting with %s is not supported, only libxl format is", pairs[0])
	}
	for _, pair := range pairs[1:] {
		name, val, ok := strings.Cut(pair, "=")
		if !ok {
			return p.r.errorKey(ErrSyntax, "cpuid", "Invalid libxl cpuid key=value element: %s", pair)
		}
		var policy string
		switch val {
		case "1":
			policy = "force"
		case "0":
			policy = "disable"
		case "x", "k", "s":
			policy = "optional"
		default:
			return p.r.errorKey(ErrSyntax, "cpuid", "Invalid libxl cpuid value: %s", pair)
		}
		if err := addCPUFeature(p.spec.CPU, translateCPUFeature(name, true), policy); err != nil {
			return p.r.errorKey(ErrInvalid, "cpuid", "%v", err)
		}
	}
	return nil
}

// xlVNUMA is xenParseXLVnuma: vnuma = [ [ "pnode=N", "size=MiB", "vcpus=SET", "vdistances=D,D,..." ], ... ].
func (p *parser) xlVNUMA() error {
	e, ok := p.r.f.Lookup("vnuma")
	if !ok || e.Value.Kind != config.KindList {
		return nil
	}
	fail := func(kind error, format string, args ...any) error { return p.r.errorAt(kind, e, format, args...) }
	nodes := 0
	for _, v := range e.Value.List {
		if v.Kind != config.KindList {
			break
		}
		nodes++
	}
	var cells []v1alpha1.NUMACell
	vcpus := uint64(0)
	for i, vnode := range e.Value.List {
		pnode, kib := -1, uint64(0)
		cell := v1alpha1.NUMACell{ID: ptr(uint32(i))}
		haveCPUs := false
		for _, item := range vnode.List {
			if item.Kind != config.KindString {
				break
			}
			str := item.Str
			eq := strings.LastIndexByte(str, '=')
			if eq < 0 {
				return fail(ErrInvalid, "vnuma vnode invalid format '%s'", str)
			}
			data := str[eq+1:]
			if data == "" {
				continue
			}
			switch {
			case strings.HasPrefix(str, "pnode"):
				n, err := strconv.ParseUint(data, 10, 32)
				if err != nil || n >= uint64(nodes) {
					return fail(ErrUnsupported, "vnuma vnode %d contains invalid pnode value '%s'", i, data)
				}
				pnode = int(n)
			case strings.HasPrefix(str, "size"):
				n, err := strconv.ParseUint(data, 10, 40)
				if err != nil {
					return fail(ErrInvalid, "vnuma vnode %d: invalid size '%s'", i, data)
				}
				kib = n * 1024
				cell.Memory = kibQuantity(kib)
			case strings.HasPrefix(str, "vcpus"):
				bits, err := parseBitmap(data, 4096)
				if err != nil {
					return fail(ErrInvalid, "vnuma vnode %d: %v", i, err)
				}
				cell.CPUs = formatBitmap(bits)
				vcpus += uint64(len(bits))
				haveCPUs = len(bits) > 0
			case strings.HasPrefix(str, "vdistances"):
				dists := strings.Split(data, ",")
				if len(dists) != nodes {
					return fail(ErrUnsupported, "vnuma pnode %d configured '%s' (count %d) doesn't fit the number of specified vnodes %d",
						pnode, str, len(dists), nodes)
				}
				cell.Distances = nil
				for j, d := range dists {
					n, err := strconv.ParseUint(d, 10, 32)
					if err != nil {
						return fail(ErrInvalid, "vnuma vnode %d: invalid distance '%s'", i, d)
					}
					cell.Distances = append(cell.Distances, v1alpha1.NUMADistance{ID: uint32(j), Value: uint32(n)})
				}
			default:
				return fail(ErrSyntax, "Invalid vnuma configuration for vnode %d", i)
			}
		}
		if pnode < 0 || !haveCPUs || kib == 0 {
			return fail(ErrSyntax, "Incomplete vnuma configuration for vnode %d", i)
		}
		cells = append(cells, cell)
	}
	max := uint64(p.spec.VCPU.Count)
	if max < vcpus {
		return fail(ErrUnsupported, "vnuma configuration contains %d vcpus, which is greater than %d maxvcpus", vcpus, max)
	}
	p.spec.CPU = &v1alpha1.CPU{NUMA: &v1alpha1.NUMA{Cells: cells}}
	return nil
}

// xlXenbusLimits is xenParseXLXenbusLimits: the xenbus controller, with max_event_channels and
// max_grant_frames.
func (p *parser) xlXenbusLimits() error {
	devs := &p.spec.Devices
	idx := -1
	for i, c := range devs.Controllers {
		if c.Type == "xenbus" {
			idx = i
			break
		}
	}
	if idx < 0 {
		devs.Controllers = append(devs.Controllers, v1alpha1.Controller{Type: "xenbus"})
		idx = len(devs.Controllers) - 1
	}
	c := &devs.Controllers[idx]
	for _, l := range []struct {
		key string
		dst **uint32
	}{{"max_event_channels", &c.MaxEventChannels}, {"max_grant_frames", &c.MaxGrantFrames}} {
		v, err := p.r.getULong(l.key, 0)
		if err != nil {
			return err
		}
		if v > 0xffffffff {
			return p.r.errorKey(ErrInvalid, l.key, "config value %s was malformed", l.key)
		}
		if v > 0 {
			*l.dst = ptr(uint32(v))
		}
	}
	return nil
}

// xlSpice is xenParseXLSpice: spice = 1 and the spice* keys give an HVM guest a SPICE display, replacing VNC or
// SDL.
func (p *parser) xlSpice() error {
	if !p.hvm() {
		return nil
	}
	on, err := p.r.getBool("spice", 0)
	if err != nil || on != 1 {
		return err
	}
	g := v1alpha1.Graphics{Type: "spice"}
	if g.Listen, _, err = p.r.getString("spicehost"); err != nil {
		return err
	}
	tls, err := p.r.getULong("spicetls_port", 0)
	if err != nil {
		return err
	}
	port, err := p.r.getULong("spiceport", 0)
	if err != nil {
		return err
	}
	if tls != 0 {
		g.TLSPort = ptr(int32(tls))
	}
	if port != 0 {
		g.Port = ptr(int32(port))
	}
	g.AutoPort = "no"
	if int32(tls) == 0 && int32(port) == 0 {
		g.AutoPort = "yes"
	}
	noTicket, err := p.r.getBool("spicedisable_ticketing", 0)
	if err != nil {
		return err
	}
	if noTicket == 0 {
		if g.Passwd, err = p.r.requireString("spicepasswd"); err != nil {
			return err
		}
	}
	mouse, err := p.r.getBool("spiceagent_mouse", 0)
	if err != nil {
		return err
	}
	g.MouseMode = "server"
	if mouse == 1 {
		g.MouseMode = "client"
	}
	clip, err := p.r.getBool("spice_clipboard_sharing", 0)
	if err != nil {
		return err
	}
	g.CopyPaste = "no"
	if clip == 1 {
		g.CopyPaste = "yes"
	}
	p.spec.Devices.Graphics = []v1alpha1.Graphics{g}
	return nil
}

// xlInputs is xenParseXLInputDevs: usbdevice, one name or a list of them, gives an HVM guest USB tablets, mice and
// keyboards.
func (p *parser) xlInputs() error {
	if !p.hvm() {
		return nil
	}
	v, ok := p.r.value("usbdevice")
	if !ok {
		return nil
	}
	items := []config.Value{v}
	if v.Kind == config.KindList {
		items = v.List
	}
	for _, item := range items {
		if item.Kind != config.KindString {
			return p.r.errorKey(ErrInvalid, "usbdevice", "config value usbdevice was malformed")
		}
		if typ := usbInputType(item.Str); typ != "" {
			p.spec.Devices.Inputs = append(p.spec.Devices.Inputs, v1alpha1.Input{Type: typ, Bus: "usb"})
		}
	}
	return nil
}

// usbInputType maps a usbdevice name to an input type; other USB devices are not inputs.
func usbInputType(s string) string {
	return map[string]string{"tablet": "tablet", "mouse": "mouse", "keyboard": "keyboard"}[s]
}

// keyValues walks "k=v,k=v" the way the xl list parsers of xen_xl.c do, reporting false for an entry libvirt
// skips: one where no '=' follows.
func keyValues(s string, fn func(key, val string)) bool {
	for key := s; key != ""; {
		// libvirt looks for the '=' in the rest of the string, not just in this setting.
		if !strings.Contains(key, "=") {
			return false
		}
		cur, next, _ := strings.Cut(key, ",")
		if k, v, ok := strings.Cut(cur, "="); ok {
			fn(k, v)
		}
		key = strings.TrimLeft(next, ", \t")
	}
	return true
}

// xlUSB is xenParseXLUSB: usbdev = [ "hostbus=B,hostaddr=D" ] (hexadecimal) passes host USB devices through.
// Entries that are not key=value lists are skipped, as libvirt skips them.
func (p *parser) xlUSB() error {
	v, ok := p.r.value("usbdev")
	if !ok || v.Kind != config.KindList {
		return nil
	}
	for _, s := range stringsOf(v) {
		var bus, dev uint32
		var bad error
		if !keyValues(s, func(k, val string) {
			var dst *uint32
			switch k {
			case "hostbus":
				dst = &bus
			case "hostaddr":
				dst = &dev
			default:
				return
			}
			n, err := strconv.ParseInt(val, 16, 32)
			if err != nil || n < 0 {
				bad = p.r.errorKey(ErrInvalid, "usbdev", "invalid %s value '%s'", k, val)
				return
			}
			*dst = uint32(n)
		}) {
			continue
		}
		if bad != nil {
			return bad
		}
		p.spec.Devices.Hostdevs = append(p.spec.Devices.Hostdevs, v1alpha1.Hostdev{
			Mode: "subsystem", Type: "usb", Managed: "no", USB: &v1alpha1.USBSource{Bus: &bus, Device: &dev},
		})
	}
	return nil
}

// xlUSBControllers is xenParseXLUSBController: usbctrl = [ "type=qusb,version=2,ports=8" ].
func (p *parser) xlUSBControllers() error {
	v, ok := p.r.value("usbctrl")
	if !ok || v.Kind != config.KindList {
		return nil
	}
	for _, s := range stringsOf(v) {
		version, ports := int64(2), int64(8)
		skip := false
		var bad error
		if !keyValues(s, func(k, val string) {
			switch k {
			case "type":
				if !strings.HasPrefix(val, "qusb") {
					skip = true
				}
			case "version", "ports":
				n, err := strconv.ParseInt(val, 16, 32)
				if err != nil {
					bad = p.r.errorKey(ErrInvalid, "usbctrl", "invalid %s value '%s'", k, val)
					return
				}
				if k == "version" {
					version = n
				} else {
					ports = n
				}
			}
		}) || skip {
			continue
		}
		if bad != nil {
			return bad
		}
		if ports < 0 {
			return p.r.errorKey(ErrInvalid, "usbctrl", "invalid ports value %d", ports)
		}
		model := "qusb2"
		if version == 1 {
			model = "qusb1"
		}
		p.spec.Devices.Controllers = append(p.spec.Devices.Controllers, v1alpha1.Controller{
			Type: "usb", Model: model, Ports: ptr(uint32(ports)),
		})
	}
	return nil
}

// xlChannels is xenParseXLChannel: channel = [ "connection=pty|socket,path=P,name=N" ].
func (p *parser) xlChannels() error {
	v, ok := p.r.value("channel")
	if !ok || v.Kind != config.KindList {
		return nil
	}
	for _, s := range stringsOf(v) {
		var typ, name, path string
		var hasName, hasPath bool
		if !keyValues(s, func(k, val string) {
			switch {
			case k == "connection":
				typ = val
			case k == "name" && !hasName:
				name, hasName = val, true
			case k == "path" && !hasPath:
				path, hasPath = val, true
			}
		}) {
			continue
		}
		c := v1alpha1.Chardev{Target: &v1alpha1.ChardevTarget{Type: "xen", Name: name}}
		switch {
		case strings.HasPrefix(typ, "socket"):
			c.Type = "unix"
			c.Sources = []v1alpha1.ChardevSource{{Mode: "bind", Path: path}}
		case strings.HasPrefix(typ, "pty"):
			c.Type = "pty"
		default:
			return p.r.errorKey(ErrUnsupported, "channel", "unsupported channel connection '%s'", typ)
		}
		p.spec.Devices.Channels = append(p.spec.Devices.Channels, c)
	}
	return nil
}

// xlDeviceModelArgs is xenParseXLNamespaceData: device_model_args, extra device model arguments
// (<xen:commandline>).
func (p *parser) xlDeviceModelArgs() error {
	if v, ok := p.r.value("device_model_args"); ok && v.Kind == config.KindList {
		p.spec.DeviceModelArgs = stringsOf(v)
	}
	return nil
}
