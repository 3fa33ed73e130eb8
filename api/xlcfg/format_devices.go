package xlcfg

import (
	"fmt"
	"strconv"
	"strings"

	v1alpha1 "github.com/virtxend/virtxend/api/v1alpha1"
)

// defaultVifScript is the script xl runs for a bridged NIC (DEFAULT_VIF_SCRIPT).
const defaultVifScript = "vif-bridge"

// listenAddress is the address of a display's first listen, as virDomainGraphicsGetListen gives it.
func listenAddress(g *v1alpha1.Graphics) string {
	if len(g.Listens) > 0 {
		return g.Listens[0].Address
	}
	return g.Listen
}

func portNumber(p *int32) int64 {
	if p == nil {
		return 0
	}
	return int64(*p)
}

// vfb is xenFormatVfb: a single VNC or SDL display, as vnc/sdl keys for HVM and a vfb entry for PV. SPICE is
// xl's (xlSpice).
func (f *formatter) vfb() error {
	gs := f.spec.Devices.Graphics
	if len(gs) != 1 || gs[0].Type == "spice" {
		return nil
	}
	g := &gs[0]
	auto := g.AutoPort == "yes"
	if f.hvm() {
		if g.Type == "sdl" {
			f.doc.setInt("sdl", 1)
			f.doc.setInt("vnc", 0)
			if g.Display != "" {
				f.doc.setString("display", g.Display)
			}
			if g.XAuth != "" {
				f.doc.setString("xauthority", g.XAuth)
			}
			return nil
		}
		f.doc.setInt("sdl", 0)
		f.doc.setInt("vnc", 1)
		f.doc.setBool("vncunused", auto)
		if !auto {
			f.doc.setInt("vncdisplay", portNumber(g.Port)-5900)
		}
		for _, kv := range [][2]string{{"vnclisten", listenAddress(g)}, {"vncpasswd", g.Passwd}, {"keymap", g.Keymap}} {
			if kv[1] != "" {
				f.doc.setString(kv[0], kv[1])
			}
		}
		return nil
	}
	var b strings.Builder
	if g.Type == "sdl" {
		b.WriteString("type=sdl")
		for _, kv := range [][2]string{{"display", g.Display}, {"xauthority", g.XAuth}} {
			if kv[1] != "" {
				b.WriteString("," + kv[0] + "=" + kv[1])
			}
		}
	} else {
		b.WriteString("type=vnc")
		fmt.Fprintf(&b, ",vncunused=%d", map[bool]int{false: 0, true: 1}[auto])
		if !auto {
			fmt.Fprintf(&b, ",vncdisplay=%d", portNumber(g.Port)-5900)
		}
		for _, kv := range [][2]string{{"vnclisten", listenAddress(g)}, {"vncpasswd", g.Passwd}, {"keymap", g.Keymap}} {
			if kv[1] != "" {
				b.WriteString("," + kv[0] + "=" + kv[1])
			}
		}
	}
	f.doc.set("vfb", listValue(b.String()))
	return nil
}

// vifs is xenFormatVif: one entry per NIC.
func (f *formatter) vifs() error {
	typeName := "vif"
	if f.xm {
		typeName = "netfront"
	}
	var items []string
	for i := range f.spec.Devices.Interfaces {
		s, err := formatVif(&f.spec.Devices.Interfaces[i], f.hvm(), typeName)
		if err != nil {
			return err
		}
		items = append(items, s)
	}
	if len(items) > 0 {
		f.doc.set("vif", listValue(items...))
	}
	return nil
}

// formatVif is xenFormatNet.
func formatVif(n *v1alpha1.Interface, hvm bool, typeName string) (string, error) {
	var b strings.Builder
	b.WriteString("mac=" + n.MAC)
	ips := func() {
		if len(n.IPs) == 0 {
			return
		}
		addrs := make([]string, len(n.IPs))
		for i, ip := range n.IPs {
			addrs[i] = ip.Address
		}
		b.WriteString(",ip=" + strings.Join(addrs, " "))
	}
	switch n.Type {
	case "bridge":
		bridge := ""
		if n.Source != nil {
			bridge = n.Source.Bridge
		}
		b.WriteString(",bridge=" + bridge)
		script := n.Script
		if n.VirtualPort == "openvswitch" {
			if script == "" {
				script = "vif-openvswitch"
			}
			// libxl takes VLANs in the bridge name: BRIDGE[.VLAN][:TRUNK:TRUNK].
			if v := n.VLAN; v != nil && len(v.Tags) > 0 {
				if v.Trunk {
					for _, t := range v.Tags {
						b.WriteString(":" + strconv.FormatUint(uint64(t), 10))
					}
				} else {
					b.WriteString("." + strconv.FormatUint(uint64(v.Tags[0]), 10))
				}
			}
		}
		ips()
		if script == "" {
			script = defaultVifScript
		}
		b.WriteString(",script=" + script)
	case "ethernet":
		if n.Script != "" {
			b.WriteString(",script=" + n.Script)
		}
		ips()
	case "network":
		network := ""
		if n.Source != nil {
			network = n.Source.Network
		}
		return "", unsupportedf("interface type 'network' (network '%s') needs the network driver to find its bridge; "+
			"use <interface type='bridge'>", network)
	default:
		return "", unsupportedf("Unsupported net type '%s'", n.Type)
	}
	if n.Model != "" {
		if hvm && n.Model == "netfront" {
			b.WriteString(",type=" + typeName)
		} else {
			b.WriteString(",model=" + n.Model)
		}
	}
	if n.Target != "" {
		b.WriteString(",vifname=" + n.Target)
	}
	if bw := n.Bandwidth; bw != nil && bw.Outbound != nil && bw.Outbound.Average != nil && *bw.Outbound.Average != 0 {
		fmt.Fprintf(&b, ",rate=%dKB/s", *bw.Outbound.Average)
	}
	return b.String(), nil
}

// pcis is xenFormatPCI: pci = [ "DDDD:BB:SS.F[,permissive=N]" ].
func (f *formatter) pcis() error {
	var items []string
	for _, h := range f.spec.Devices.Hostdevs {
		if (h.Mode != "" && h.Mode != "subsystem") || h.Type != "pci" {
			continue
		}
		a := h.PCI
		if a == nil {
			a = &v1alpha1.Address{}
		}
		s := fmt.Sprintf("%04x:%02x:%02x.%x", u32val(a.Domain), u32val(a.Bus), u32val(a.Slot), u32val(a.Function))
		switch h.WriteFiltering {
		case "yes":
			s += ",permissive=0"
		case "no":
			s += ",permissive=1"
		}
		items = append(items, s)
	}
	if len(items) > 0 {
		f.doc.set("pci", listValue(items...))
	}
	return nil
}

// chardevs is xenFormatCharDev: parallel and serial for HVM guests, "none" when there are none. Several serial
// ports, or one not on port 0, make a list (xl only).
func (f *formatter) chardevs() error {
	if !f.hvm() {
		return nil
	}
	devs := &f.spec.Devices
	par := "none"
	if len(devs.Parallels) > 0 {
		s, err := formatChardev(&devs.Parallels[0])
		if err != nil {
			return err
		}
		par = s
	}
	f.doc.setString("parallel", par)
	serials := devs.Serials
	portOf := func(c *v1alpha1.Chardev) int {
		if c.Target == nil || c.Target.Port == nil {
			return 0
		}
		return int(*c.Target.Port)
	}
	switch {
	case len(serials) == 0:
		f.doc.setString("serial", "none")
	case len(serials) == 1 && portOf(&serials[0]) == 0:
		s, err := formatChardev(&serials[0])
		if err != nil {
			return err
		}
		f.doc.setString("serial", s)
	default:
		if f.xm {
			return unsupportedf("Multiple serial devices are not supported by xen-xm")
		}
		maxPort := -1
		for i := range serials {
			maxPort = max(maxPort, portOf(&serials[i]))
		}
		var items []string
		for p := 0; p <= maxPort; p++ {
			item := "none"
			for i := range serials {
				if portOf(&serials[i]) == p {
					s, err := formatChardev(&serials[i])
					if err != nil {
						return err
					}
					item = s
					break
				}
			}
			items = append(items, item)
		}
		f.doc.set("serial", listValue(items...))
	}
	return nil
}

// sexprEscape is virBufferEscapeSexpr: a backslash before backslashes and single quotes.
func sexprEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s)
}

// chardevSource returns the chardev source of the given mode ("" for the first one).
func chardevSource(c *v1alpha1.Chardev, mode string) v1alpha1.ChardevSource {
	for _, s := range c.Sources {
		if mode == "" || s.Mode == mode || (mode == "connect" && s.Mode == "") {
			return s
		}
	}
	return v1alpha1.ChardevSource{}
}

// formatChardev is xenFormatSxprChr.
func formatChardev(c *v1alpha1.Chardev) (string, error) {
	switch c.Type {
	case "null", "stdio", "vc", "pty":
		return c.Type, nil
	case "file", "pipe":
		return c.Type + ":" + sexprEscape(chardevSource(c, "").Path), nil
	case "dev":
		return sexprEscape(chardevSource(c, "").Path), nil
	case "tcp":
		s := chardevSource(c, "")
		proto := "tcp"
		if c.Protocol == "telnet" {
			proto = "telnet"
		}
		out := proto + ":" + s.Host + ":" + s.Service
		if s.Mode == "bind" {
			out += ",server,nowait"
		}
		return out, nil
	case "udp":
		conn, bind := chardevSource(c, "connect"), chardevSource(c, "bind")
		return "udp:" + conn.Host + ":" + conn.Service + "@" + bind.Host + ":" + bind.Service, nil
	case "unix":
		s := chardevSource(c, "")
		out := "unix:" + sexprEscape(s.Path)
		if s.Mode == "bind" {
			out += ",server,nowait"
		}
		return out, nil
	}
	return "", unsupportedf("unsupported chr device type '%s'", c.Type)
}

// sounds is xenFormatSound: soundhw, the models of an HVM guest's sound cards.
func (f *formatter) sounds() error {
	if !f.hvm() || len(f.spec.Devices.Sounds) == 0 {
		return nil
	}
	models := make([]string, len(f.spec.Devices.Sounds))
	for i, s := range f.spec.Devices.Sounds {
		models[i] = sexprEscape(s.Model)
	}
	f.doc.setString("soundhw", strings.Join(models, ","))
	return nil
}
