package xlcfg

import (
	"path"
	"regexp"
	"strconv"
	"strings"

	v1alpha1 "github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/config"
)

// vifs is xenParseVifList: the vif list. xm calls a paravirtual NIC of an HVM guest "netfront", xl "vif".
func (p *parser) vifs() error {
	e, ok := p.r.f.Lookup("vif")
	if !ok || e.Value.Kind != config.KindList {
		return nil
	}
	typeName := "vif"
	if p.xm {
		typeName = "netfront"
	}
	for _, s := range stringsOf(e.Value) {
		n, err := parseVif(s, typeName)
		if err != nil {
			return p.r.errorAt(errKind(err), e, "%v", err)
		}
		p.spec.Devices.Interfaces = append(p.spec.Devices.Interfaces, *n)
	}
	return nil
}

// errKind returns the sentinel err matches, ErrInvalid by default.
func errKind(err error) error {
	if ke, ok := err.(*kindError); ok {
		return ke.kind
	}
	return ErrInvalid
}

// parseVif is xenParseVif: comma-separated key=value settings; unknown keys are ignored.
func parseVif(entry, typeName string) (*v1alpha1.Interface, error) {
	var mac, bridge, script, model, typ, vifname, ip, rate *string
	for _, kv := range strings.Split(entry, ",") {
		key := strings.TrimLeft(kv, " \t\n\r\f\v")
		eq := strings.IndexByte(key, '=')
		if eq < 0 {
			return nil, syntaxf("malformed vif entry '%s': '%s' is not key=value", entry, kv)
		}
		val := key[eq+1:]
		for _, k := range []struct {
			name string
			dst  **string
		}{{"mac=", &mac}, {"bridge=", &bridge}, {"script=", &script}, {"model=", &model}, {"type=", &typ},
			{"vifname=", &vifname}, {"ip=", &ip}, {"rate=", &rate}} {
			if strings.HasPrefix(key, k.name) {
				*k.dst = &val
				break
			}
		}
	}
	n := &v1alpha1.Interface{Type: "ethernet"}
	if mac != nil {
		m, ok := canonicalMAC(*mac)
		if !ok {
			return nil, invalidf("malformed mac address '%s'", *mac)
		}
		n.MAC = m
	}
	if bridge != nil || (script != nil && (*script == "vif-bridge" || *script == "vif-vnic")) {
		n.Type = "bridge"
	}
	if n.Type == "bridge" && bridge != nil {
		if err := parseVifBridge(n, *bridge); err != nil {
			return nil, err
		}
	}
	if ip != nil {
		for _, addr := range strings.Split(*ip, " ") {
			fam, ok := ipFamily(addr)
			if !ok {
				return nil, invalidf("Failed to parse IP address '%s'", addr)
			}
			n.IPs = append(n.IPs, v1alpha1.IP{Address: addr, Family: fam})
		}
	}
	if script != nil && *script != "" {
		n.Script = *script
	}
	if model != nil && *model != "" {
		n.Model = *model
	} else if typ != nil && *typ == typeName {
		n.Model = "netfront"
	}
	if vifname != nil && *vifname != "" {
		n.Target = *vifname
	}
	if rate != nil {
		kbps, err := parseVifRate(*rate)
		if err != nil {
			return nil, err
		}
		n.Bandwidth = &v1alpha1.Bandwidth{Outbound: &v1alpha1.BandwidthParams{Average: &kbps}}
	}
	return n, nil
}

// parseVifBridge is xenParseVifBridge: "BRIDGE", "BRIDGE.TAG" or "BRIDGE:TAG:TAG..." (Open vSwitch VLANs).
func parseVifBridge(n *v1alpha1.Interface, bridge string) error {
	tag := func(s string) (uint32, error) {
		v, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return 0, invalidf("invalid vlan tag '%s' in bridge '%s'", s, bridge)
		}
		return uint32(v), nil
	}
	if name, t, ok := strings.Cut(bridge, "."); ok {
		v, err := tag(t)
		if err != nil {
			return err
		}
		n.Source = &v1alpha1.InterfaceSource{Bridge: name}
		n.VLAN = &v1alpha1.VLAN{Tags: []uint32{v}}
		n.VirtualPort = "openvswitch"
		return nil
	}
	if strings.Contains(bridge, ":") {
		parts := strings.Split(bridge, ":")
		n.Source = &v1alpha1.InterfaceSource{Bridge: parts[0]}
		n.VLAN = &v1alpha1.VLAN{Trunk: true, Tags: []uint32{}}
		for _, t := range parts[1:] {
			v, err := tag(t)
			if err != nil {
				return err
			}
			n.VLAN.Tags = append(n.VLAN.Tags, v)
		}
		n.VirtualPort = "openvswitch"
		return nil
	}
	n.Source = &v1alpha1.InterfaceSource{Bridge: bridge}
	return nil
}

var vifRateRE = regexp.MustCompile(`^[0-9]+[GMK]?[Bb]/s$`)

// parseVifRate is xenParseSxprVifRate: "N[GMK]{B,b}/s[@interval]" in KiB/s (b is bits).
func parseVifRate(rate string) (uint64, error) {
	trate, _, _ := strings.Cut(rate, "@")
	if !vifRateRE.MatchString(trate) {
		return 0, invalidf("Invalid rate '%s' specified", rate)
	}
	end := strings.IndexFunc(trate, func(r rune) bool { return r < '0' || r > '9' })
	n, err := strconv.ParseUint(trate[:end], 10, 64)
	if err != nil {
		return 0, invalidf("Failed to parse rate '%s'", rate)
	}
	suffix := trate[end:]
	switch suffix[0] {
	case 'G':
		n *= 1024 * 1024
	case 'M':
		n *= 1024
	}
	if suffix[0] == 'b' || suffix[1] == 'b' {
		n /= 8
	}
	return n, nil
}

// pcis is xenParsePCIList: pci = [ "[DDDD:]BB:SS.F[,permissive=N]", ... ].
func (p *parser) pcis() error {
	items, ok, err := p.r.stringList("pci")
	if err != nil || !ok {
		return err
	}
	for _, s := range items {
		h, err := parsePCI(s)
		if err != nil {
			return p.r.errorKey(errKind(err), "pci", "%v", err)
		}
		p.spec.Devices.Hostdevs = append(p.spec.Devices.Hostdevs, *h)
	}
	return nil
}

// hexField is virStrToLong_i in base 16 on a whole field.
func hexField(s string) (uint32, bool) {
	s = strings.TrimPrefix(strings.TrimPrefix(strings.TrimLeft(s, " \t"), "0x"), "0X")
	v, err := strconv.ParseUint(s, 16, 31)
	return uint32(v), err == nil
}

// parsePCI is xenParsePCI.
func parsePCI(entry string) (*v1alpha1.Hostdev, error) {
	bad := func() (*v1alpha1.Hostdev, error) { return nil, invalidf("Malformed PCI address %s", entry) }
	tokens := strings.SplitN(entry, ":", 3)
	next := 0
	var domain uint32
	if len(tokens) == 3 {
		d, ok := hexField(tokens[0])
		if !ok {
			return bad()
		}
		domain, next = d, 1
	}
	if len(tokens) < 2 {
		return bad()
	}
	bus, ok := hexField(tokens[next])
	if !ok {
		return bad()
	}
	slotStr, rest, found := strings.Cut(tokens[next+1], ".")
	if !found {
		return bad()
	}
	slot, ok := hexField(slotStr)
	if !ok {
		return bad()
	}
	fnStr, opts, hasOpts := strings.Cut(rest, ",")
	fn, ok := hexField(fnStr)
	if !ok {
		return bad()
	}
	h := &v1alpha1.Hostdev{Mode: "subsystem", Type: "pci", Managed: "no",
		PCI: &v1alpha1.Address{Type: "pci", Domain: &domain, Bus: &bus, Slot: &slot, Function: &fn}}
	if hasOpts {
		for _, o := range strings.Split(opts, ",") {
			k, v, ok := strings.Cut(o, "=")
			if !ok {
				return nil, invalidf("Malformed PCI options %s", opts)
			}
			if k != "permissive" {
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, invalidf("Malformed PCI options %s", opts)
			}
			// xl.cfg(5): 0 is false, any other number true.
			h.WriteFiltering = "yes"
			if n != 0 {
				h.WriteFiltering = "no"
			}
		}
	}
	return h, nil
}

// soundModels are libvirt's sound model names (virDomainSoundModel).
var soundModels = map[string]bool{"sb16": true, "es1370": true, "pcspk": true, "ac97": true, "ich6": true,
	"ich9": true, "usb": true, "ich7": true, "virtio": true}

// sounds is xenParseEmulatedDevices: soundhw, a comma-separated list of models, or "all" for the two models
// Xen's old qemu had.
func (p *parser) sounds() error {
	if !p.hvm() {
		return nil
	}
	s, ok, err := p.r.getString("soundhw")
	if err != nil || !ok {
		return err
	}
	if s == "all" {
		p.spec.Devices.Sounds = []v1alpha1.Sound{{Model: "sb16"}, {Model: "es1370"}}
		return nil
	}
	for s != "" {
		model, rest, more := strings.Cut(s, ",")
		if !soundModels[model] {
			return p.r.errorKey(ErrInvalid, "soundhw", "unknown sound model '%s'", model)
		}
		p.spec.Devices.Sounds = append(p.spec.Devices.Sounds, v1alpha1.Sound{Model: model})
		if !more {
			break
		}
		s = rest
	}
	return nil
}

// vfb is xenParseVfb: vnc/sdl keys for HVM, the first vfb entry for PV.
func (p *parser) vfb() error {
	if p.hvm() {
		return p.hvmGraphics()
	}
	items, ok, err := p.r.stringList("vfb")
	if err != nil || !ok || len(items) == 0 {
		return err
	}
	spec := items[0]
	if len(spec) >= 1024 {
		return p.r.errorKey(ErrInvalid, "vfb", "VFB %s too big for destination", spec)
	}
	g := v1alpha1.Graphics{Type: "vnc"}
	if strings.Contains(spec, "type=sdl") {
		g.Type = "sdl"
	}
	autoport, port := false, int32(0)
	for key := spec; key != ""; {
		cur, next, _ := strings.Cut(key, ",")
		if !strings.Contains(cur, "=") {
			break
		}
		if g.Type == "vnc" {
			switch {
			case strings.HasPrefix(cur, "vncunused="):
				if cur[len("vncunused="):] == "1" {
					autoport = true
				}
			case strings.HasPrefix(cur, "vnclisten="):
				g.Listen = cur[len("vnclisten="):]
			case strings.HasPrefix(cur, "vncpasswd="):
				g.Passwd = cur[len("vncpasswd="):]
			case strings.HasPrefix(cur, "keymap="):
				g.Keymap = cur[len("keymap="):]
			case strings.HasPrefix(cur, "vncdisplay="):
				v := cur[len("vncdisplay="):]
				n, err := strconv.ParseInt(v, 10, 32)
				if err != nil {
					return p.r.errorKey(ErrInvalid, "vfb", "invalid vncdisplay value '%s'", v)
				}
				port = int32(n) + 5900
			}
		} else {
			switch {
			case strings.HasPrefix(cur, "display="):
				g.Display = cur[len("display="):]
			case strings.HasPrefix(cur, "xauthority="):
				g.XAuth = cur[len("xauthority="):]
			}
		}
		key = strings.TrimLeft(next, ", \t")
	}
	if g.Type == "vnc" {
		setVNCPort(&g, autoport, port)
	}
	p.spec.Devices.Graphics = []v1alpha1.Graphics{g}
	return nil
}

func setVNCPort(g *v1alpha1.Graphics, autoport bool, port int32) {
	if autoport {
		g.AutoPort = "yes"
		return
	}
	g.AutoPort, g.Port = "no", &port
}

// hvmGraphics reads the VNC or SDL display of an HVM guest.
func (p *parser) hvmGraphics() error {
	vnc, err := p.r.getBool("vnc", 0)
	if err != nil {
		return err
	}
	if vnc == 1 {
		g := v1alpha1.Graphics{Type: "vnc"}
		unused, err := p.r.getBool("vncunused", 1)
		if err != nil {
			return err
		}
		port := int32(0)
		if unused != 1 {
			disp, err := p.r.getULong("vncdisplay", 0)
			if err != nil {
				return err
			}
			port = int32(disp) + 5900
		}
		setVNCPort(&g, unused == 1, port)
		for _, s := range []struct {
			key string
			dst *string
		}{{"vnclisten", &g.Listen}, {"vncpasswd", &g.Passwd}, {"keymap", &g.Keymap}} {
			if *s.dst, _, err = p.r.getString(s.key); err != nil {
				return err
			}
		}
		p.spec.Devices.Graphics = []v1alpha1.Graphics{g}
		return nil
	}
	sdl, err := p.r.getBool("sdl", 0)
	if err != nil || sdl != 1 {
		return err
	}
	g := v1alpha1.Graphics{Type: "sdl"}
	if g.Display, _, err = p.r.getString("display"); err != nil {
		return err
	}
	if g.XAuth, _, err = p.r.getString("xauthority"); err != nil {
		return err
	}
	p.spec.Devices.Graphics = []v1alpha1.Graphics{g}
	return nil
}

// chardevs is xenParseCharDev: parallel and serial for HVM (a list of serial ports in xl), a Xen console for PV.
func (p *parser) chardevs() error {
	devs := &p.spec.Devices
	if !p.hvm() {
		devs.Consoles = []v1alpha1.Chardev{{Type: "pty", Target: &v1alpha1.ChardevTarget{Type: "xen", Port: ptr(uint32(0))}}}
		return nil
	}
	par, _, err := p.r.getString("parallel")
	if err != nil {
		return err
	}
	if par != "" && par != "none" {
		c, err := parseChardev(par)
		if err != nil {
			return p.r.errorKey(errKind(err), "parallel", "%v", err)
		}
		c.Target = &v1alpha1.ChardevTarget{Port: ptr(uint32(0))}
		devs.Parallels = []v1alpha1.Chardev{*c}
	}
	list, ok, err := p.r.stringList("serial")
	if err != nil {
		return err
	}
	if ok {
		if p.xm {
			return p.r.errorKey(ErrUnsupported, "serial", "Multiple serial devices are not supported by xen-xm")
		}
		for port, s := range list {
			if s == "none" {
				continue
			}
			c, err := parseChardev(s)
			if err != nil {
				return p.r.errorKey(errKind(err), "serial", "%v", err)
			}
			c.Target = &v1alpha1.ChardevTarget{Port: ptr(uint32(port))}
			devs.Serials = append(devs.Serials, *c)
		}
		return nil
	}
	ser, _, err := p.r.getString("serial")
	if err != nil {
		return err
	}
	if ser != "" && ser != "none" {
		c, err := parseChardev(ser)
		if err != nil {
			return p.r.errorKey(errKind(err), "serial", "%v", err)
		}
		c.Target = &v1alpha1.ChardevTarget{Port: ptr(uint32(0))}
		devs.Serials = []v1alpha1.Chardev{*c}
	}
	return nil
}

// chardevTypes are libvirt's character device types (virDomainChrType).
var chardevTypes = map[string]bool{"null": true, "vc": true, "pty": true, "dev": true, "file": true, "pipe": true,
	"stdio": true, "udp": true, "tcp": true, "unix": true, "spicevmc": true, "spiceport": true, "nmdm": true,
	"qemu-vdagent": true, "dbus": true}

// parseChardev is xenParseSxprChar: an absolute path is a host device, otherwise "TYPE[:DETAILS]", e.g.
// "tcp:host:port,server,nowait", "udp:host:port@bindhost:bindport", "unix:/path,server".
func parseChardev(s string) (*v1alpha1.Chardev, error) {
	if path.IsAbs(s) {
		return &v1alpha1.Chardev{Type: "dev", Sources: []v1alpha1.ChardevSource{{Path: s}}}, nil
	}
	prefix, value := s, s
	if i := strings.IndexByte(s, ':'); i >= 0 {
		prefix, value = s[:i], s[i+1:]
	}
	c := &v1alpha1.Chardev{}
	switch {
	case strings.HasPrefix(prefix, "telnet"):
		c.Type, c.Protocol = "tcp", "telnet"
	case chardevTypes[prefix]:
		c.Type = prefix
	default:
		return nil, invalidf("unknown chr device type '%s'", prefix)
	}
	malformed := func() (*v1alpha1.Chardev, error) { return nil, invalidf("malformed char device string '%s'", s) }
	switch c.Type {
	case "file", "pipe":
		c.Sources = []v1alpha1.ChardevSource{{Path: value}}
	case "tcp":
		if c.Protocol == "" {
			c.Protocol = "raw"
		}
		host, rest, ok := strings.Cut(value, ":")
		if !ok {
			return malformed()
		}
		service, opts, _ := strings.Cut(rest, ",")
		src := v1alpha1.ChardevSource{Mode: "connect", Host: host, Service: service}
		if strings.Contains(","+opts, ",server") {
			src.Mode = "bind"
		}
		c.Sources = []v1alpha1.ChardevSource{src}
	case "udp":
		host, rest, ok := strings.Cut(value, ":")
		if !ok {
			return malformed()
		}
		conn := v1alpha1.ChardevSource{Mode: "connect", Host: host, Service: rest}
		if svc, bind, ok := strings.Cut(rest, "@"); ok {
			bhost, bsvc, ok := strings.Cut(bind, ":")
			if !ok {
				return malformed()
			}
			conn.Service = svc
			c.Sources = append(c.Sources, v1alpha1.ChardevSource{Mode: "bind", Host: bhost, Service: bsvc})
		}
		c.Sources = append(c.Sources, conn)
	case "unix":
		p, opts, _ := strings.Cut(value, ",")
		src := v1alpha1.ChardevSource{Mode: "connect", Path: p}
		if strings.Contains(","+opts, ",server") {
			src.Mode = "bind"
		}
		c.Sources = []v1alpha1.ChardevSource{src}
	}
	return c, nil
}
