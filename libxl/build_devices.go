package libxl

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/virtxend/virtxend/api/v1alpha1"
)

// makeDiskList is libxlMakeDiskList.
func (b *builder) makeDiskList() error {
	for i := range b.spec.Devices.Disks {
		d, err := b.makeDisk(&b.spec.Devices.Disks[i])
		if err != nil {
			return err
		}
		b.cfg.Disks = append(b.cfg.Disks, d)
	}
	return nil
}

// makeDisk is libxlMakeDisk. It also applies the libxl driver's parse-time disk defaults: network disks use the
// qemu driver, and a disk without a format is raw.
func (b *builder) makeDisk(d *v1alpha1.Disk) (DeviceDisk, error) {
	x := DeviceDisk{}
	if d.Driver == nil {
		d.Driver = &v1alpha1.DiskDriver{}
	}
	if d.Type == "network" && d.Driver.Name == "" {
		d.Driver.Name = "qemu"
	}
	if d.Driver.Type == "" {
		d.Driver.Type = "raw"
	}
	driver, format := d.Driver.Name, d.Driver.Type

	src := d.Source
	if src == nil {
		src = &v1alpha1.DiskSource{}
	}
	switch d.Type {
	case "network":
		if driver != "qemu" {
			return x, invalidOpf("only the 'qemu' driver can be used with network disks")
		}
		path, err := b.networkDiskSource(src)
		if err != nil {
			return x, err
		}
		x.PdevPath = path
	case "block":
		x.PdevPath = src.Dev
	case "volume":
		path, err := b.volumePath(src)
		if err != nil {
			return x, err
		}
		x.PdevPath = path
	default:
		x.PdevPath = src.File
	}
	x.Vdev = d.Target.Dev

	unsupported := func() error {
		return internalf("libxenlight does not support disk format %s with disk driver %s", format, driver)
	}
	switch driver {
	case "tap", "tap2":
		switch format {
		case "qcow", "qcow2", "qed":
			x.Format, x.Backend = DiskFormat(format), DiskBackendQdisk
		case "vhd", "raw":
			x.Format, x.Backend = DiskFormat(format), DiskBackendTap
		default:
			return x, unsupported()
		}
	case "qemu":
		switch format {
		case "qcow", "qcow2", "qed", "vhd", "raw":
			x.Format, x.Backend = DiskFormat(format), DiskBackendQdisk
		default:
			return x, unsupported()
		}
	case "file":
		if format != "raw" {
			return x, unsupported()
		}
		x.Format, x.Backend = DiskFormatRaw, DiskBackendQdisk
	case "phy":
		if format != "raw" {
			return x, unsupported()
		}
		x.Format, x.Backend = DiskFormatRaw, DiskBackendPhy
	case "":
		// Raw, as xl-disk-configuration.txt says, with the backend left to libxl.
		x.Format, x.Backend = DiskFormatRaw, DiskBackendUnknown
	default:
		return x, internalf("libxenlight does not support disk driver %s", driver)
	}

	// CD-ROMs are always read-only in libvirt.
	readonly := d.ReadOnly || d.Device == "cdrom"
	x.Removable = 1
	if !readonly {
		x.Readwrite = 1
		switch d.Driver.Discard {
		case "unmap":
			x.DiscardEnable = DefboolTrue
		case "ignore":
			x.DiscardEnable = DefboolFalse
		}
	}
	if d.Device == "cdrom" {
		x.IsCdrom = 1
		if x.PdevPath == "" {
			x.Format = DiskFormatEmpty
		}
	}
	if d.Transient {
		return x, internalf("libxenlight does not support transient disks")
	}
	x.BackendDomname = d.BackendDomain
	return x, nil
}

// volumePath resolves a <disk type='volume'> to the path of its volume through the storage driver, as libvirt's
// virDomainDiskTranslateSourcePool does for the drivers that call it (libvirt's libxl driver does not, and starts
// such a disk without a path).
func (b *builder) volumePath(src *v1alpha1.DiskSource) (string, error) {
	if b.host.VolumePath == nil {
		return "", &BuildError{Kind: ErrNoStorageVol,
			Msg: fmt.Sprintf("no storage vol with matching name '%s'", src.Volume)}
	}
	return b.host.VolumePath(src.Pool, src.Volume)
}

// networkDiskSource is libxlMakeNetworkDiskSrcStr: only RBD, as a qemu "rbd:" target with the ceph options.
func (b *builder) networkDiskSource(src *v1alpha1.DiskSource) (string, error) {
	if src.Protocol != "rbd" {
		return "", &BuildError{Kind: ErrUnsupportedConfig,
			Msg: fmt.Sprintf("Unsupported network block protocol '%s'", src.Protocol)}
	}
	pool, image, ok := strings.Cut(src.Name, "/")
	if !ok {
		pool, image = "", src.Name
	}
	if strings.Contains(image, ":") {
		return "", unsupportedf("':' not allowed in RBD source volume name '%s'", image)
	}
	esc := func(s string) string { return strings.ReplaceAll(s, ":", `\:`) }
	var sb strings.Builder
	sb.WriteString("rbd:" + pool + "/" + image)
	if a := src.Auth; a != nil {
		if b.host.CephSecret == nil {
			return "", unsupportedf("cannot look up the ceph secret of disk '%s'", src.Name)
		}
		secret, err := b.host.CephSecret(DiskSecretRef{Username: a.Username, UUID: a.SecretUUID, Usage: a.SecretUsage})
		if err != nil {
			return "", err
		}
		sb.WriteString(":id=" + esc(a.Username))
		sb.WriteString(":key=" + esc(secret) + `:auth_supported=cephx\;none`)
	} else {
		sb.WriteString(":auth_supported=none")
	}
	if len(src.Hosts) > 0 {
		sb.WriteString(":mon_host=")
		for i, h := range src.Hosts {
			if i > 0 {
				sb.WriteString(`\;`)
			}
			if strings.Contains(h.Name, ":") {
				sb.WriteString(esc("[" + h.Name + "]"))
			} else {
				sb.WriteString(h.Name)
			}
			if h.Port != "" && h.Port != "0" {
				sb.WriteString(`\:` + h.Port)
			}
		}
	}
	if src.ConfigFile != "" {
		sb.WriteString(":conf=" + esc(src.ConfigFile))
	}
	return sb.String(), nil
}

// makeNicList is libxlMakeNicList: every interface but the hostdev ones (they are PCI devices), numbered in order.
func (b *builder) makeNicList() error {
	for i := range b.spec.Devices.Interfaces {
		n := &b.spec.Devices.Interfaces[i]
		if n.Type == "hostdev" {
			continue
		}
		x, err := b.makeNic(n)
		if err != nil {
			return err
		}
		x.Devid = len(b.cfg.Nics)
		b.cfg.Nics = append(b.cfg.Nics, x)
	}
	return nil
}

// makeNic is libxlMakeNic for a domain being built (not hot-plugged).
func (b *builder) makeNic(n *v1alpha1.Interface) (DeviceNic, error) {
	x := NewDeviceNic()
	if n.Script != "" && n.Type != "bridge" && n.Type != "ethernet" {
		return x, unsupportedf("specifying a script is only supported with interface types bridge and ethernet")
	}
	x.Mac = strings.ToLower(n.MAC)
	if n.Model != "" {
		if b.kind != DomainTypeHVM && n.Model != "netfront" {
			return x, unsupportedf("only model 'netfront' is supported for Xen PV(H) domains")
		}
		x.Model = n.Model
		if n.Model == "netfront" {
			x.Nictype = NicTypeVif
		} else {
			x.Nictype = NicTypeVifIOEmu
		}
	} else if b.kind == DomainTypeHVM {
		x.Nictype = NicTypeVifIOEmu
	} else {
		x.Nictype = NicTypeVif
	}
	x.Ifname = n.Target

	script := n.Script
	switch n.Type {
	case "bridge", "ethernet":
		if n.Type == "bridge" {
			bridge := ""
			if n.Source != nil {
				bridge = n.Source.Bridge
			}
			if n.VirtualPort == "openvswitch" {
				if script == "" {
					script = "vif-openvswitch"
				}
				if v := n.VLAN; v != nil && len(v.Tags) > 0 {
					if v.Trunk {
						for _, t := range v.Tags {
							bridge += ":" + strconv.FormatUint(uint64(t), 10)
						}
					} else {
						bridge += "." + strconv.FormatUint(uint64(v.Tags[0]), 10)
					}
				}
			}
			x.Bridge = bridge
		}
		x.Script = script
		x.IP = ipList(n.IPs)
	case "network":
		name := ""
		if n.Source != nil {
			name = n.Source.Network
		}
		// The live definition of a running domain names the bridge its network gave it at start (libvirt's
		// actual network device): a rebuild keeps it rather than asking the network driver again.
		br := ""
		if n.Source != nil {
			br = n.Source.Bridge
		}
		if br == "" {
			if b.host.NetworkBridge == nil {
				// No network driver to ask: no network is known, as libvirt's lookup reports it.
				return x, &BuildError{Kind: ErrNoNetwork, Msg: fmt.Sprintf("no network with matching name '%s'", name)}
			}
			var err error
			if br, err = b.host.NetworkBridge(name); err != nil {
				return x, err
			}
			if n.Source == nil {
				n.Source = &v1alpha1.InterfaceSource{Network: name}
			}
			n.Source.Bridge = br // what libvirt's live XML shows: <source network='N' bridge='BR'/>
		}
		x.IP = ipList(n.IPs)
		x.Bridge = br
	default:
		return x, unsupportedf("unsupported interface type %s", n.Type)
	}
	x.BackendDomname = n.BackendDomain

	// libvirt has no rate interval: like xl, a 50 ms interval and the bytes the average allows in it.
	if bw := n.Bandwidth; bw != nil && bw.Outbound != nil && bw.Outbound.Average != nil && *bw.Outbound.Average > 0 {
		bytesPerSec := *bw.Outbound.Average * 1024
		x.RateBytesPerInterval = bytesPerSec * 50000 / 1000000
		x.RateIntervalUsecs = 50000
	}
	return x, nil
}

// ipList is xenMakeIPList: the addresses separated by spaces.
func ipList(ips []v1alpha1.IP) string {
	addrs := make([]string, 0, len(ips))
	for _, ip := range ips {
		addrs = append(addrs, ip.Address)
	}
	return strings.Join(addrs, " ")
}

// graphicsListen returns the address of the first listen of a graphics device (virDomainGraphicsGetListen(def,
// 0)): the first <listen>, else the listen attribute; empty when none is set.
func graphicsListen(g *v1alpha1.Graphics) string {
	if len(g.Listens) > 0 {
		return g.Listens[0].Address
	}
	return g.Listen
}

// setDefaultListen writes libvirt's default listen address back into a graphics device.
func setDefaultListen(g *v1alpha1.Graphics, addr string) {
	if len(g.Listens) == 0 {
		g.Listens = []v1alpha1.GraphicsListen{{Type: "address", Address: addr}}
	} else {
		g.Listens[0].Address = addr
	}
	if g.Listen == "" {
		g.Listen = addr
	}
}

// autoport reports whether libvirt allocates the port of a graphics device: autoport='yes', or no port at all
// (or the legacy -1) without autoport='no'.
func autoport(g *v1alpha1.Graphics) bool {
	switch g.AutoPort {
	case "yes":
		return true
	case "no":
		return false
	}
	return g.Port == nil || *g.Port == -1
}

// makeVfbList is libxlMakeVfbList: a frame buffer and a keyboard for every graphics device.
func (b *builder) makeVfbList() error {
	for i := range b.spec.Devices.Graphics {
		g := &b.spec.Devices.Graphics[i]
		vfb := NewDeviceVfb()
		switch g.Type {
		case "sdl":
			vfb.SDL.Enable, vfb.VNC.Enable, vfb.SDL.OpenGL = DefboolTrue, DefboolFalse, DefboolFalse
			vfb.SDL.Display, vfb.SDL.XAuthority = g.Display, g.XAuth
		case "vnc":
			vfb.VNC.Enable, vfb.SDL.Enable = DefboolTrue, DefboolFalse
			// The driver picks the port itself rather than let the device model look for one.
			vfb.VNC.FindUnused = DefboolFalse
			if autoport(g) {
				p, err := b.acquirePort()
				if err != nil {
					return err
				}
				port := int32(p)
				g.Port = &port
				if g.AutoPort == "" {
					g.AutoPort = "yes"
				}
			}
			if g.Port != nil {
				vfb.VNC.Display = int(*g.Port) - VNCPortMin
			} else {
				vfb.VNC.Display = -VNCPortMin
			}
			if addr := graphicsListen(g); addr != "" {
				vfb.VNC.Listen = addr
			} else {
				setDefaultListen(g, loopbackIPv4)
			}
			vfb.VNC.Passwd, vfb.Keymap = g.Passwd, g.Keymap
		}
		b.cfg.Vfbs = append(b.cfg.Vfbs, vfb)
		b.cfg.Vkbs = append(b.cfg.Vkbs, NewDeviceVkb())
	}
	return nil
}

// loopbackIPv4 is VIR_LOOPBACK_IPV4_ADDR, the default graphics listen address.
const loopbackIPv4 = "127.0.0.1"

// makeBuildInfoVfb is libxlMakeBuildInfoVfb: an HVM guest's display is the first SPICE device, else the first
// frame buffer.
func (b *builder) makeBuildInfoVfb() error {
	if b.kind != DomainTypeHVM || len(b.spec.Devices.Graphics) == 0 {
		return nil
	}
	hvm := b.cfg.BInfo.HVM
	for i := range b.spec.Devices.Graphics {
		g := &b.spec.Devices.Graphics[i]
		if g.Type != "spice" {
			continue
		}
		sp := &hvm.Spice
		sp.Enable = DefboolTrue
		if autoport(g) {
			p, err := b.acquirePort()
			if err != nil {
				return err
			}
			port := int32(p)
			g.Port = &port
			if g.AutoPort == "" {
				g.AutoPort = "yes"
			}
		}
		if g.Port != nil {
			sp.Port = int(*g.Port)
		}
		if addr := graphicsListen(g); addr != "" {
			sp.Host = addr
		} else {
			sp.Host = loopbackIPv4
			setDefaultListen(g, loopbackIPv4)
		}
		hvm.Keymap = g.Keymap
		if g.Passwd != "" {
			sp.Passwd, sp.DisableTicketing = g.Passwd, DefboolFalse
		} else {
			sp.DisableTicketing = DefboolTrue
		}
		switch g.MouseMode {
		case "", "client":
			sp.AgentMouse = DefboolTrue
		case "server":
			sp.AgentMouse = DefboolFalse
		}
		share := NewDefbool(g.CopyPaste == "yes")
		sp.VDAgent, sp.ClipboardSharing = share, share
		return nil
	}
	vfb := b.cfg.Vfbs[0]
	switch {
	case vfb.VNC.Enable.Val(false):
		hvm.VNC.Enable = DefboolTrue
		hvm.VNC.Listen, hvm.VNC.Passwd, hvm.VNC.Display = vfb.VNC.Listen, vfb.VNC.Passwd, vfb.VNC.Display
		hvm.VNC.FindUnused = NewDefbool(vfb.VNC.FindUnused.Val(false))
	case vfb.SDL.Enable.Val(false):
		hvm.SDL.Enable = DefboolTrue
		hvm.SDL.OpenGL = NewDefbool(vfb.SDL.OpenGL.Val(false))
		hvm.SDL.Display, hvm.SDL.XAuthority = vfb.SDL.Display, vfb.SDL.XAuthority
	}
	hvm.Keymap = vfb.Keymap
	return nil
}

// makePCIList is libxlMakePCIList over libvirt's hostdev list, in which the PCI functions of hostdev interfaces come
// first (the parser adds them while reading <interface>), then the <hostdev> elements.
func (b *builder) makePCIList() error {
	for _, n := range b.spec.Devices.Interfaces {
		if n.Type != "hostdev" || n.Source == nil || n.Source.Address == nil {
			continue
		}
		b.cfg.PCIDevs = append(b.cfg.PCIDevs, pciDevice(n.Source.Address, false))
	}
	for _, h := range b.spec.Devices.Hostdevs {
		if h.Type != "pci" || (h.Mode != "" && h.Mode != "subsystem") {
			continue
		}
		if h.PCI == nil {
			return unsupportedf("PCI hostdev without a source address")
		}
		b.cfg.PCIDevs = append(b.cfg.PCIDevs, pciDevice(h.PCI, h.WriteFiltering == "no"))
	}
	return nil
}

func pciDevice(a *v1alpha1.Address, permissive bool) DevicePci {
	u := func(p *uint32) int {
		if p == nil {
			return 0
		}
		return int(*p)
	}
	return DevicePci{Domain: u(a.Domain), Bus: u(a.Bus), Dev: u(a.Slot), Func: u(a.Function), Permissive: permissive}
}
