package domxml

import (
	"net"

	"libvirt.org/go/libvirtxml"

	v1alpha1 "github.com/virtxend/virtxend/api/v1alpha1"
)

func fromDevices(l *libvirtxml.DomainDeviceList) (*v1alpha1.Devices, error) {
	d := &v1alpha1.Devices{Emulator: l.Emulator}
	for i := range l.Disks {
		disk, err := fromDisk(&l.Disks[i])
		if err != nil {
			return nil, err
		}
		d.Disks = append(d.Disks, *disk)
	}
	for _, c := range l.Controllers {
		ctl := v1alpha1.Controller{Type: c.Type, Model: c.Model}
		if c.Index != nil {
			ctl.Index = u32(*c.Index)
		}
		if c.USB != nil && c.USB.Port != nil {
			ctl.Ports = u32(*c.USB.Port)
		}
		if x := c.XenBus; x != nil {
			if x.MaxGrantFrames != 0 {
				ctl.MaxGrantFrames = u32(x.MaxGrantFrames)
			}
			if x.MaxEventChannels != 0 {
				ctl.MaxEventChannels = u32(x.MaxEventChannels)
			}
		}
		d.Controllers = append(d.Controllers, ctl)
	}
	for i := range l.Interfaces {
		nic, err := fromInterface(&l.Interfaces[i])
		if err != nil {
			return nil, err
		}
		d.Interfaces = append(d.Interfaces, *nic)
	}
	for _, in := range l.Inputs {
		d.Inputs = append(d.Inputs, v1alpha1.Input{Type: in.Type, Bus: in.Bus})
	}
	for i := range l.Graphics {
		g, err := fromGraphics(&l.Graphics[i])
		if err != nil {
			return nil, err
		}
		d.Graphics = append(d.Graphics, *g)
	}
	for _, v := range l.Videos {
		vid := v1alpha1.Video{Model: v.Model.Type, Primary: v.Model.Primary}
		if v.Model.VRam != 0 {
			vid.VRAM = u32(v.Model.VRam)
		}
		if v.Model.Heads != 0 {
			vid.Heads = u32(v.Model.Heads)
		}
		d.Videos = append(d.Videos, vid)
	}
	for _, s := range l.Sounds {
		d.Sounds = append(d.Sounds, v1alpha1.Sound{Model: s.Model})
	}
	for _, c := range l.Serials {
		chr, err := fromChardev("serial", c.Source, c.Protocol)
		if err != nil {
			return nil, err
		}
		if t := c.Target; t != nil {
			chr.Target = chardevTarget(t.Type, t.Port)
		}
		d.Serials = append(d.Serials, *chr)
	}
	for _, c := range l.Parallels {
		chr, err := fromChardev("parallel", c.Source, c.Protocol)
		if err != nil {
			return nil, err
		}
		if t := c.Target; t != nil {
			chr.Target = chardevTarget(t.Type, t.Port)
		}
		d.Parallels = append(d.Parallels, *chr)
	}
	for _, c := range l.Consoles {
		chr, err := fromChardev("console", c.Source, c.Protocol)
		if err != nil {
			return nil, err
		}
		if t := c.Target; t != nil {
			chr.Target = chardevTarget(t.Type, t.Port)
		}
		d.Consoles = append(d.Consoles, *chr)
	}
	for _, c := range l.Channels {
		chr, err := fromChardev("channel", c.Source, c.Protocol)
		if err != nil {
			return nil, err
		}
		if t := c.Target; t != nil {
			switch {
			case t.Xen != nil:
				chr.Target = &v1alpha1.ChardevTarget{Type: "xen", Name: t.Xen.Name}
			case t.VirtIO != nil:
				return nil, unsupportedf("channel target type 'virtio' is not supported by the Xen driver")
			case t.GuestFWD != nil:
				return nil, unsupportedf("channel target type 'guestfwd' is not supported by the Xen driver")
			}
		}
		d.Channels = append(d.Channels, *chr)
	}
	for i := range l.Hostdevs {
		h, err := fromHostdev(&l.Hostdevs[i])
		if err != nil {
			return nil, err
		}
		d.Hostdevs = append(d.Hostdevs, *h)
	}
	if b := l.MemBalloon; b != nil {
		d.MemBalloon = &v1alpha1.MemBalloon{Model: b.Model}
	}
	return d, nil
}

func fromDisk(x *libvirtxml.DomainDisk) (*v1alpha1.Disk, error) {
	d := &v1alpha1.Disk{Device: x.Device}
	switch d.Device {
	case "", "disk", "cdrom", "floppy":
	default:
		return nil, unsupportedf("disk device '%s' is not supported by the Xen driver", d.Device)
	}
	src := &v1alpha1.DiskSource{}
	switch s := x.Source; {
	case s == nil || s.File != nil:
		d.Type = "file"
		if s != nil {
			src.File = s.File.File
		}
	case s.Block != nil:
		d.Type = "block"
		src.Dev = s.Block.Dev
	case s.Volume != nil:
		// A storage pool's volume: the daemon resolves it to its path through the storage driver at start.
		d.Type = "volume"
		src.Pool, src.Volume, src.Mode = s.Volume.Pool, s.Volume.Volume, s.Volume.Mode
	case s.Network != nil:
		d.Type = "network"
		n := s.Network
		src.Protocol, src.Name = n.Protocol, n.Name
		for _, h := range n.Hosts {
			src.Hosts = append(src.Hosts, v1alpha1.DiskHost{
				Name: h.Name, Port: h.Port, Transport: h.Transport, Socket: h.Socket,
			})
		}
		if n.Config != nil {
			src.ConfigFile = n.Config.File
		}
		if a := n.Auth; a != nil {
			src.Auth = fromDiskAuth(a)
		}
	default:
		return nil, unsupportedf("disk type '%s' is not supported by the Xen driver", diskType(s))
	}
	if x.Auth != nil && src.Auth == nil {
		src.Auth = fromDiskAuth(x.Auth)
	}
	if src.File != "" || src.Dev != "" || src.Protocol != "" || src.Name != "" || src.ConfigFile != "" ||
		src.Hosts != nil || src.Auth != nil || src.Pool != "" || src.Volume != "" {
		d.Source = src
	}
	if dr := x.Driver; dr != nil {
		d.Driver = &v1alpha1.DiskDriver{Name: dr.Name, Type: dr.Type, Cache: dr.Cache, Discard: dr.Discard}
		// "default" is the unset value of these enums; libvirt does not keep it.
		if d.Driver.Cache == "default" {
			d.Driver.Cache = ""
		}
		if d.Driver.Discard == "default" {
			d.Driver.Discard = ""
		}
	}
	if t := x.Target; t != nil {
		d.Target = v1alpha1.DiskTarget{Dev: t.Dev, Bus: t.Bus}
	}
	d.ReadOnly = x.ReadOnly != nil
	d.Shareable = x.Shareable != nil
	d.Transient = x.Transient != nil
	if x.BackendDomain != nil {
		d.BackendDomain = x.BackendDomain.Name
	}
	if x.Address != nil {
		a, err := fromAddress(x.Address)
		if err != nil {
			return nil, err
		}
		d.Address = a
	}
	return d, nil
}

func diskType(s *libvirtxml.DomainDiskSource) string {
	switch {
	case s.Dir != nil:
		return "dir"
	case s.Volume != nil:
		return "volume"
	case s.NVME != nil:
		return "nvme"
	case s.VHostUser != nil:
		return "vhostuser"
	case s.VHostVDPA != nil:
		return "vhostvdpa"
	}
	return "unknown"
}

func fromDiskAuth(a *libvirtxml.DomainDiskAuth) *v1alpha1.DiskAuth {
	out := &v1alpha1.DiskAuth{Username: a.Username}
	if s := a.Secret; s != nil {
		out.SecretType, out.SecretUUID, out.SecretUsage = s.Type, s.UUID, s.Usage
	}
	return out
}

func fromAddress(a *libvirtxml.DomainAddress) (*v1alpha1.Address, error) {
	switch {
	case a.PCI != nil:
		p := a.PCI
		return &v1alpha1.Address{
			Type: "pci", Domain: u32p(p.Domain), Bus: u32p(p.Bus), Slot: u32p(p.Slot), Function: u32p(p.Function),
		}, nil
	case a.Drive != nil:
		p := a.Drive
		return &v1alpha1.Address{
			Type: "drive", Controller: u32p(p.Controller), Bus: u32p(p.Bus), Target: u32p(p.Target), Unit: u32p(p.Unit),
		}, nil
	}
	return nil, unsupportedf("device address type is not supported by the Xen driver (only pci and drive)")
}

func u32p(v *uint) *uint32 {
	if v == nil {
		return nil
	}
	return u32(*v)
}

func fromInterface(x *libvirtxml.DomainInterface) (*v1alpha1.Interface, error) {
	n := &v1alpha1.Interface{Managed: x.Managed}
	src := &v1alpha1.InterfaceSource{}
	switch s := x.Source; {
	case s.Bridge != nil:
		n.Type = "bridge"
		src.Bridge = s.Bridge.Bridge
	case s.Ethernet != nil:
		n.Type = "ethernet"
	case s.Network != nil:
		n.Type = "network"
		src.Network = s.Network.Network
	case s.Hostdev != nil:
		n.Type = "hostdev"
		if s.Hostdev.PCI != nil && s.Hostdev.PCI.Address != nil {
			p := s.Hostdev.PCI.Address
			src.Address = &v1alpha1.Address{
				Type: "pci", Domain: u32p(p.Domain), Bus: u32p(p.Bus), Slot: u32p(p.Slot), Function: u32p(p.Function),
			}
		} else if s.Hostdev.USB != nil {
			return nil, unsupportedf("interface type 'hostdev' with a USB source is not supported by the Xen driver")
		}
	default:
		return nil, unsupportedf("interface type '%s' is not supported by the Xen driver", interfaceType(s))
	}
	if *src != (v1alpha1.InterfaceSource{}) {
		n.Source = src
	}
	if x.MAC != nil {
		mac, err := canonicalMAC(x.MAC.Address)
		if err != nil {
			return nil, err
		}
		n.MAC = mac
	}
	if x.Script != nil {
		n.Script = x.Script.Path
	}
	if x.Target != nil && !generatedIfname(x.Target.Dev) {
		// libvirt forgets generated names (vif<domid>.<devid>) when it reads a definition.
		n.Target = x.Target.Dev
	}
	if x.Driver != nil {
		n.Driver = x.Driver.Name
	}
	if x.Model != nil {
		n.Model = x.Model.Type
	}
	for _, ip := range x.IP {
		addr := v1alpha1.IP{Address: ip.Address, Family: ip.Family}
		if ip.Prefix != 0 {
			addr.Prefix = u32(ip.Prefix)
		}
		n.IPs = append(n.IPs, addr)
	}
	if vp := x.VirtualPort; vp != nil && vp.Params != nil {
		switch p := vp.Params; {
		case p.OpenVSwitch != nil:
			n.VirtualPort = "openvswitch"
		case p.Any != nil:
			n.VirtualPort = ""
		default:
			return nil, unsupportedf("virtualport type is not supported by the Xen driver (only openvswitch)")
		}
	}
	if v := x.VLan; v != nil {
		n.VLAN = &v1alpha1.VLAN{Trunk: v.Trunk == "yes", Tags: []uint32{}}
		for _, t := range v.Tags {
			n.VLAN.Tags = append(n.VLAN.Tags, uint32(t.ID))
		}
	}
	if b := x.Bandwidth; b != nil {
		n.Bandwidth = &v1alpha1.Bandwidth{Inbound: bandwidth(b.Inbound), Outbound: bandwidth(b.Outbound)}
	}
	if x.BackendDomain != nil {
		n.BackendDomain = x.BackendDomain.Name
	}
	if x.FilterRef != nil {
		return nil, unsupportedf("filterref is not supported in xen")
	}
	return n, nil
}

func interfaceType(s *libvirtxml.DomainInterfaceSource) string {
	switch {
	case s.User != nil:
		return "user"
	case s.VHostUser != nil:
		return "vhostuser"
	case s.Server != nil:
		return "server"
	case s.Client != nil:
		return "client"
	case s.MCast != nil:
		return "mcast"
	case s.Internal != nil:
		return "internal"
	case s.Direct != nil:
		return "direct"
	case s.UDP != nil:
		return "udp"
	case s.VDPA != nil:
		return "vdpa"
	case s.Null != nil:
		return "null"
	case s.VDS != nil:
		return "vds"
	}
	return "unknown"
}

func bandwidth(p *libvirtxml.DomainInterfaceBandwidthParams) *v1alpha1.BandwidthParams {
	if p == nil {
		return nil
	}
	conv := func(v *int) *uint64 {
		if v == nil || *v < 0 {
			return nil
		}
		x := uint64(*v)
		return &x
	}
	return &v1alpha1.BandwidthParams{Average: conv(p.Average), Peak: conv(p.Peak), Burst: conv(p.Burst)}
}

// canonicalMAC checks a MAC address and returns it in libvirt's printed form (lowercase, colon separated).
func canonicalMAC(s string) (string, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return "", invalidf("unable to parse mac address '%s'", s)
	}
	return hw.String(), nil
}

func fromGraphics(x *libvirtxml.DomainGraphic) (*v1alpha1.Graphics, error) {
	g := &v1alpha1.Graphics{}
	switch {
	case x.VNC != nil:
		v := x.VNC
		g.Type = "vnc"
		g.Port = port(v.Port)
		g.AutoPort, g.Listen, g.Passwd, g.Keymap = v.AutoPort, v.Listen, v.Passwd, v.Keymap
		g.Listens = listens(v.Listeners)
	case x.SDL != nil:
		g.Type = "sdl"
		g.Display, g.XAuth, g.FullScreen = x.SDL.Display, x.SDL.XAuth, x.SDL.FullScreen
	case x.Spice != nil:
		s := x.Spice
		g.Type = "spice"
		g.Port, g.TLSPort = port(s.Port), port(s.TLSPort)
		g.AutoPort, g.Listen, g.Passwd, g.Keymap = s.AutoPort, s.Listen, s.Passwd, s.Keymap
		g.Listens = listens(s.Listeners)
		if s.Mouse != nil {
			g.MouseMode = s.Mouse.Mode
		}
		if s.ClipBoard != nil {
			g.CopyPaste = s.ClipBoard.CopyPaste
		}
	default:
		return nil, unsupportedf("graphics type '%s' is not supported by the Xen driver", graphicsType(x))
	}
	return g, nil
}

func graphicsType(x *libvirtxml.DomainGraphic) string {
	switch {
	case x.RDP != nil:
		return "rdp"
	case x.Desktop != nil:
		return "desktop"
	case x.EGLHeadless != nil:
		return "egl-headless"
	case x.DBus != nil:
		return "dbus"
	}
	return "unknown"
}

func port(p int) *int32 {
	if p == 0 {
		return nil
	}
	v := int32(p)
	return &v
}

func listens(ls []libvirtxml.DomainGraphicListener) []v1alpha1.GraphicsListen {
	var out []v1alpha1.GraphicsListen
	for _, l := range ls {
		switch {
		case l.Address != nil:
			out = append(out, v1alpha1.GraphicsListen{Type: "address", Address: l.Address.Address})
		case l.Network != nil:
			out = append(out, v1alpha1.GraphicsListen{Type: "network", Address: l.Network.Address, Network: l.Network.Network})
		case l.Socket != nil:
			out = append(out, v1alpha1.GraphicsListen{Type: "socket", Socket: l.Socket.Socket})
		default:
			out = append(out, v1alpha1.GraphicsListen{Type: "none"})
		}
	}
	return out
}

// fromChardev converts the source and protocol of a serial, parallel, console or channel.
func fromChardev(kind string, s *libvirtxml.DomainChardevSource, p *libvirtxml.DomainChardevProtocol) (*v1alpha1.Chardev, error) {
	c := &v1alpha1.Chardev{}
	path := func(t, path string) {
		c.Type = t
		if path != "" {
			c.Sources = []v1alpha1.ChardevSource{{Path: path}}
		}
	}
	switch {
	case s == nil || s.Pty != nil:
		// A pty's path is the running domain's; libvirt does not keep it in a definition.
		c.Type = "pty"
	case s.Null != nil:
		c.Type = "null"
	case s.VC != nil:
		c.Type = "vc"
	case s.StdIO != nil:
		c.Type = "stdio"
	case s.Dev != nil:
		path("dev", s.Dev.Path)
	case s.File != nil:
		path("file", s.File.Path)
	case s.Pipe != nil:
		path("pipe", s.Pipe.Path)
	case s.UDP != nil:
		c.Type = "udp"
		u := s.UDP
		if u.BindHost != "" || u.BindService != "" {
			c.Sources = append(c.Sources, v1alpha1.ChardevSource{Mode: "bind", Host: u.BindHost, Service: u.BindService})
		}
		if u.ConnectHost != "" || u.ConnectService != "" {
			c.Sources = append(c.Sources, v1alpha1.ChardevSource{Mode: "connect", Host: u.ConnectHost, Service: u.ConnectService})
		}
	case s.TCP != nil:
		c.Type = "tcp"
		t := s.TCP
		if t.Mode != "" || t.Host != "" || t.Service != "" {
			c.Sources = []v1alpha1.ChardevSource{{Mode: t.Mode, Host: t.Host, Service: t.Service}}
		}
	case s.UNIX != nil:
		c.Type = "unix"
		if s.UNIX.Mode != "" || s.UNIX.Path != "" {
			c.Sources = []v1alpha1.ChardevSource{{Mode: s.UNIX.Mode, Path: s.UNIX.Path}}
		}
	default:
		return nil, unsupportedf("%s type is not supported by the Xen driver", kind)
	}
	if p != nil {
		c.Protocol = p.Type
	}
	return c, nil
}

func fromHostdev(x *libvirtxml.DomainHostdev) (*v1alpha1.Hostdev, error) {
	h := &v1alpha1.Hostdev{Mode: "subsystem", Managed: x.Managed}
	switch {
	case x.SubsysPCI != nil:
		h.Type = "pci"
		p := x.SubsysPCI
		if p.Driver != nil {
			h.Driver = p.Driver.Name
		}
		if s := p.Source; s != nil {
			h.WriteFiltering = s.WriteFiltering
			if a := s.Address; a != nil {
				h.PCI = &v1alpha1.Address{
					Type: "pci", Domain: u32p(a.Domain), Bus: u32p(a.Bus), Slot: u32p(a.Slot), Function: u32p(a.Function),
				}
			}
		}
	case x.SubsysUSB != nil:
		h.Type = "usb"
		if s := x.SubsysUSB.Source; s != nil {
			u := &v1alpha1.USBSource{}
			if s.Vendor != nil {
				u.Vendor = s.Vendor.ID
			}
			if s.Product != nil {
				u.Product = s.Product.ID
			}
			if a := s.Address; a != nil {
				u.Bus, u.Device = u32p(a.Bus), u32p(a.Device)
			}
			h.USB = u
		}
	case x.CapsStorage != nil, x.CapsMisc != nil, x.CapsNet != nil:
		return nil, unsupportedf("hostdev mode 'capabilities' is not supported in xen")
	case x.SubsysSCSI != nil:
		return nil, unsupportedf("hostdev type 'scsi' is not supported by the Xen driver")
	case x.SubsysSCSIHost != nil:
		return nil, unsupportedf("hostdev type 'scsi_host' is not supported by the Xen driver")
	case x.SubsysMDev != nil:
		return nil, unsupportedf("hostdev type 'mdev' is not supported by the Xen driver")
	default:
		return nil, unsupportedf("hostdev without a supported type (pci or usb)")
	}
	return h, nil
}

// chardevTarget is the <target type port> of a serial, parallel or console device.
func chardevTarget(typ string, port *uint) *v1alpha1.ChardevTarget {
	t := &v1alpha1.ChardevTarget{Type: typ}
	if port != nil {
		t.Port = u32(*port)
	}
	return t
}
