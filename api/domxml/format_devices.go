package domxml

import (
	"strconv"
	"strings"

	v1alpha1 "github.com/virtxend/virtxend/api/v1alpha1"
)

// formatDevices prints <devices> in libvirt's order: emulator, disks, controllers, interfaces, serials, parallels,
// consoles, channels, inputs, graphics, sounds, videos, hostdevs, memballoon.
func formatDevices(w *writer, d *v1alpha1.Devices) {
	w.container("devices", nil, func(w *writer) {
		w.text("emulator", d.Emulator)
		for i := range d.Disks {
			formatDisk(w, &d.Disks[i])
		}
		for _, c := range d.Controllers {
			w.empty("controller", ak("type", c.Type), au("index", c.Index), a("model", c.Model),
				au("ports", c.Ports), au("maxGrantFrames", c.MaxGrantFrames),
				au("maxEventChannels", c.MaxEventChannels))
		}
		for i := range d.Interfaces {
			formatInterface(w, &d.Interfaces[i])
		}
		for i := range d.Serials {
			formatChardev(w, "serial", &d.Serials[i])
		}
		for i := range d.Parallels {
			formatChardev(w, "parallel", &d.Parallels[i])
		}
		for i := range d.Consoles {
			formatChardev(w, "console", &d.Consoles[i])
		}
		for i := range d.Channels {
			formatChardev(w, "channel", &d.Channels[i])
		}
		for _, in := range d.Inputs {
			w.empty("input", ak("type", in.Type), a("bus", in.Bus))
		}
		for i := range d.Graphics {
			formatGraphics(w, &d.Graphics[i])
		}
		for _, s := range d.Sounds {
			w.empty("sound", ak("model", s.Model))
		}
		for _, v := range d.Videos {
			w.elem("video", nil, func(w *writer) {
				w.empty("model", a("type", v.Model), au("vram", v.VRAM), au("heads", v.Heads), a("primary", v.Primary))
			})
		}
		for i := range d.Hostdevs {
			formatHostdev(w, &d.Hostdevs[i])
		}
		if b := d.MemBalloon; b != nil {
			w.empty("memballoon", ak("model", b.Model))
		}
		for _, u := range d.Unused {
			formatUnused(w, u.XML)
		}
	})
}

// formatUnused prints a kept device indented like the rest; one that does not parse (a hand-edited spec) is
// printed as it is, for the reader to see.
func formatUnused(w *writer, raw string) {
	n, err := parseTree([]byte(raw))
	if err != nil {
		w.pad()
		w.buf.WriteString(strings.TrimSpace(raw))
		w.buf.WriteByte('\n')
		return
	}
	formatNode(w, n)
}

// formatNode prints a generic element tree with the writer's indentation.
func formatNode(w *writer, n *node) {
	attrs := make([]attr, 0, len(n.attrs))
	for _, at := range n.attrs {
		k := at.Name.Local
		if at.Name.Space != "" {
			k = at.Name.Space + ":" + k // kept devices carry no namespaces; keep the name readable if one does
		}
		attrs = append(attrs, ak(k, at.Value))
	}
	if len(n.children) == 0 {
		if n.text != "" {
			w.text(n.name.Local, n.text, attrs...)
		} else {
			w.empty(n.name.Local, attrs...)
		}
		return
	}
	w.elem(n.name.Local, attrs, func(w *writer) {
		for _, c := range n.children {
			formatNode(w, c)
		}
	})
}

func formatDisk(w *writer, d *v1alpha1.Disk) {
	w.elem("disk", []attr{ak("type", d.Type), a("device", d.Device)}, func(w *writer) {
		if dr := d.Driver; dr != nil {
			w.empty("driver", a("name", dr.Name), a("type", dr.Type), a("cache", dr.Cache), a("discard", dr.Discard))
		}
		if s := d.Source; s != nil {
			attrs := []attr{a("file", s.File), a("dev", s.Dev), a("protocol", s.Protocol), a("name", s.Name),
				a("pool", s.Pool), a("volume", s.Volume), a("mode", s.Mode)}
			w.elem("source", attrs, func(w *writer) {
				for _, h := range s.Hosts {
					w.empty("host", a("name", h.Name), a("port", h.Port), a("transport", h.Transport),
						a("socket", h.Socket))
				}
				if s.ConfigFile != "" {
					w.empty("config", ak("file", s.ConfigFile))
				}
				if au := s.Auth; au != nil {
					w.elem("auth", []attr{ak("username", au.Username)}, func(w *writer) {
						if au.SecretType != "" || au.SecretUUID != "" || au.SecretUsage != "" {
							w.empty("secret", a("type", au.SecretType), a("uuid", au.SecretUUID),
								a("usage", au.SecretUsage))
						}
					})
				}
			})
		}
		if d.BackendDomain != "" {
			w.empty("backenddomain", ak("name", d.BackendDomain))
		}
		w.empty("target", ak("dev", d.Target.Dev), a("bus", d.Target.Bus))
		if d.ReadOnly {
			w.empty("readonly")
		}
		if d.Shareable {
			w.empty("shareable")
		}
		if d.Transient {
			w.empty("transient")
		}
		if d.Address != nil {
			formatAddress(w, d.Address, true)
		}
	})
}

// formatAddress prints a device address as libvirt does: PCI components in hexadecimal, drive components in
// decimal. withType is false inside a hostdev <source>, where libvirt prints no type.
func formatAddress(w *writer, ad *v1alpha1.Address, withType bool) {
	t := ""
	if withType {
		t = ad.Type
	}
	switch ad.Type {
	case "pci":
		hx := func(k string, v *uint32, width int) attr {
			if v == nil {
				return attr{}
			}
			return a(k, hex(*v, width))
		}
		fn := attr{}
		if ad.Function != nil {
			fn = a("function", "0x"+strconv.FormatUint(uint64(*ad.Function), 16))
		}
		w.empty("address", a("type", t), hx("domain", ad.Domain, 4), hx("bus", ad.Bus, 2), hx("slot", ad.Slot, 2), fn)
	default:
		w.empty("address", a("type", t), au("controller", ad.Controller), au("bus", ad.Bus),
			au("target", ad.Target), au("unit", ad.Unit), au("domain", ad.Domain), au("slot", ad.Slot),
			au("function", ad.Function))
	}
}

func formatInterface(w *writer, n *v1alpha1.Interface) {
	w.elem("interface", []attr{ak("type", n.Type), a("managed", n.Managed)}, func(w *writer) {
		if n.MAC != "" {
			w.empty("mac", ak("address", n.MAC))
		}
		if s := n.Source; s != nil {
			// libvirt's order: a network interface of a running domain shows the bridge its network gave it last.
			w.elem("source", []attr{a("network", s.Network), a("bridge", s.Bridge)}, func(w *writer) {
				if s.Address != nil {
					formatAddress(w, s.Address, true)
				}
			})
		}
		if v := n.VLAN; v != nil {
			trunk := ""
			if v.Trunk {
				trunk = "yes"
			}
			w.elem("vlan", []attr{a("trunk", trunk)}, func(w *writer) {
				for _, t := range v.Tags {
					w.empty("tag", ak("id", strconv.FormatUint(uint64(t), 10)))
				}
			})
		}
		if n.VirtualPort != "" {
			w.empty("virtualport", ak("type", n.VirtualPort))
		}
		if b := n.Bandwidth; b != nil {
			w.elem("bandwidth", nil, func(w *writer) {
				rate := func(name string, p *v1alpha1.BandwidthParams) {
					if p == nil {
						return
					}
					u := func(k string, v *uint64) attr {
						if v == nil {
							return attr{}
						}
						return a(k, strconv.FormatUint(*v, 10))
					}
					w.empty(name, u("average", p.Average), u("peak", p.Peak), u("burst", p.Burst))
				}
				rate("inbound", b.Inbound)
				rate("outbound", b.Outbound)
			})
		}
		for _, ip := range n.IPs {
			w.empty("ip", ak("address", ip.Address), a("family", ip.Family), au("prefix", ip.Prefix))
		}
		if n.Script != "" {
			w.empty("script", ak("path", n.Script))
		}
		if n.BackendDomain != "" {
			w.empty("backenddomain", ak("name", n.BackendDomain))
		}
		if n.Target != "" {
			w.empty("target", ak("dev", n.Target))
		}
		if n.Model != "" {
			w.empty("model", ak("type", n.Model))
		}
		if n.Driver != "" {
			w.empty("driver", ak("name", n.Driver))
		}
	})
}

func formatChardev(w *writer, kind string, c *v1alpha1.Chardev) {
	attrs := []attr{ak("type", c.Type)}
	if c.Type == "pty" && len(c.Sources) > 0 {
		// Only a running domain's pty has a path (Parse drops it): libvirt repeats it as tty.
		attrs = append(attrs, a("tty", c.Sources[0].Path))
	}
	w.elem(kind, attrs, func(w *writer) {
		for _, s := range c.Sources {
			w.empty("source", a("mode", s.Mode), a("host", s.Host), a("service", s.Service), a("path", s.Path))
		}
		if c.Protocol != "" {
			w.empty("protocol", ak("type", c.Protocol))
		}
		if t := c.Target; t != nil {
			w.empty("target", a("type", t.Type), a("name", t.Name), au("port", t.Port))
		}
	})
}

func formatGraphics(w *writer, g *v1alpha1.Graphics) {
	p := func(k string, v *int32) attr {
		if v == nil {
			return attr{}
		}
		return a(k, strconv.Itoa(int(*v)))
	}
	var attrs []attr
	switch g.Type {
	case "sdl":
		attrs = []attr{a("display", g.Display), a("xauth", g.XAuth), a("fullscreen", g.FullScreen)}
	default:
		attrs = []attr{p("port", g.Port), p("tlsPort", g.TLSPort), a("autoport", g.AutoPort), a("listen", g.Listen),
			a("keymap", g.Keymap), a("passwd", g.Passwd)}
	}
	w.elem("graphics", append([]attr{ak("type", g.Type)}, attrs...), func(w *writer) {
		for _, l := range g.Listens {
			w.empty("listen", ak("type", l.Type), a("address", l.Address), a("network", l.Network),
				a("socket", l.Socket))
		}
		if g.MouseMode != "" {
			w.empty("mouse", ak("mode", g.MouseMode))
		}
		if g.CopyPaste != "" {
			w.empty("clipboard", ak("copypaste", g.CopyPaste))
		}
	})
}

func formatHostdev(w *writer, h *v1alpha1.Hostdev) {
	mode := h.Mode
	if mode == "" {
		mode = "subsystem"
	}
	w.elem("hostdev", []attr{ak("mode", mode), ak("type", h.Type), a("managed", h.Managed)}, func(w *writer) {
		if h.Driver != "" {
			w.empty("driver", ak("name", h.Driver))
		}
		w.elem("source", []attr{a("writeFiltering", h.WriteFiltering)}, func(w *writer) {
			if h.PCI != nil {
				formatAddress(w, h.PCI, false)
			}
			if u := h.USB; u != nil {
				if u.Vendor != "" {
					w.empty("vendor", ak("id", u.Vendor))
				}
				if u.Product != "" {
					w.empty("product", ak("id", u.Product))
				}
				if u.Bus != nil || u.Device != nil {
					w.empty("address", au("bus", u.Bus), au("device", u.Device))
				}
			}
		})
	})
}

// hex formats an address component the way libvirt prints it.
func hex(v uint32, width int) string {
	s := strconv.FormatUint(uint64(v), 16)
	for len(s) < width {
		s = "0" + s
	}
	return "0x" + s
}
