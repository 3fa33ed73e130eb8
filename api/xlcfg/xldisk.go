package xlcfg

import (
	"fmt"
	"strconv"
	"strings"

	v1alpha1 "github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/config"
)

// xlDisk is the part of libxl_device_disk that libxlutil's xlu_disk_parse fills and libvirt reads.
type xlDisk struct {
	target    *string // pdev_path
	vdev      *string
	format    string // "" (unknown), raw, qcow, qcow2, vhd, empty, qed
	backend   string // "" (unknown), phy, tap, qdisk, standalone
	readwrite bool
	cdrom     bool
	removable bool

	spec          string
	hadDeprPrefix bool
	accessSet     bool
	err           error
}

// fail records the first error, as xlu__disk_err does; the scan goes on unless the caller stops it.
func (d *xlDisk) fail(near *string, msg string) {
	if d.err != nil {
		return
	}
	at := ""
	if near != nil {
		at = ": near `" + *near + "'"
	}
	d.err = syntaxf("config parsing error in disk specification: %s%s in `%s'", msg, at, d.spec)
}

func (d *xlDisk) failNear(near, msg string) { d.fail(&near, msg) }

// saveString is libxlutil's savestring: a string may be given once, or again after being given empty.
func (d *xlDisk) saveString(what string, dst **string, val string) {
	if *dst != nil && **dst != "" {
		d.failNear(val, what+" respecified")
		return
	}
	*dst = &val
}

// setEnum is libxlutil's DSET: an enum may be given again only with the same value.
func (d *xlDisk) setEnum(member string, dst *string, val, text string) {
	if *dst != "" && *dst != val {
		d.failNear(text, member+" respecified")
		return
	}
	*dst = val
}

func (d *xlDisk) setAccess(s string) {
	switch s {
	case "r", "ro":
		d.readwrite = false
	case "rw", "w", "":
		d.readwrite = true
	default:
		d.failNear(s, "unknown value for access")
	}
}

func (d *xlDisk) setFormat(s string) {
	switch s {
	case "":
		d.setEnum("format", &d.format, "raw", s)
	case "raw", "qcow", "qcow2", "vhd", "empty", "qed":
		d.setEnum("format", &d.format, s, s)
	default:
		d.failNear(s, "unknown value for format")
	}
}

func (d *xlDisk) setBackend(s string) {
	switch s {
	case "phy", "tap", "qdisk", "standalone":
		d.setEnum("backend", &d.backend, s, s)
	default:
		d.failNear(s, "unknown value for backendtype")
	}
}

// vdevAndDevtype handles a positional "VDEV:TYPE" (the deprecated ":cdrom" suffix).
func (d *xlDisk) vdevAndDevtype(s string) bool {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return false
	}
	d.saveString("vdev", &d.vdev, s[:i])
	switch s[i+1:] {
	case "cdrom":
		d.cdrom = true
	case "disk":
		d.cdrom = false
	default:
		d.failNear(s[i+1:], "unknown deprecated type")
	}
	return true
}

// positional assigns the next of the positional parameters target, format, vdev, access.
func (d *xlDisk) positional(s string) bool {
	switch {
	case d.err != nil:
	case d.target == nil:
		d.saveString("target", &d.target, s)
	case !d.hadDeprPrefix && d.format == "":
		if *d.target == "" && d.vdevAndDevtype(s) {
			d.format = "empty"
		} else {
			d.setFormat(s)
		}
	case d.vdev == nil:
		if !d.vdevAndDevtype(s) {
			d.saveString("vdev", &d.vdev, s)
		}
	case !d.accessSet:
		d.accessSet = true
		d.setAccess(s)
	default:
		d.failNear(s, "too many positional parameters")
		return false
	}
	return true
}

// diskRule is one rule of libxlutil's flex scanner (libxlu_disk_l.l): match returns the length the rule matches
// at the start of rest, trailing context included (flex picks the longest), and the length it consumes; act
// handles the consumed text and returns false to stop the scan.
type diskRule struct {
	match func(rest string) (total, consumed int)
	act   func(d *xlDisk, text string) bool
}

// lineEnd is the length of rest up to a newline, what ".*" matches.
func lineEnd(rest string) int {
	if i := strings.IndexByte(rest, '\n'); i >= 0 {
		return i
	}
	return len(rest)
}

// word matches a literal with an optional comma after it ("cdrom,?").
func word(w string) func(string) (int, int) {
	return func(rest string) (int, int) {
		if !strings.HasPrefix(rest, w) {
			return -1, 0
		}
		n := len(w)
		if n < len(rest) && rest[n] == ',' {
			n++
		}
		return n, n
	}
}

// keyValue matches "key=[^,]*,?".
func keyValue(key string) func(string) (int, int) {
	return func(rest string) (int, int) {
		if !strings.HasPrefix(rest, key+"=") {
			return -1, 0
		}
		n := len(key) + 1
		if i := strings.IndexByte(rest[n:], ','); i >= 0 {
			return n + i + 1, n + i + 1
		}
		return len(rest), len(rest)
	}
}

// prefix matches a deprecated "word:" prefix; its trailing context "/.*" takes the rest of the line.
func prefix(words ...string) func(string) (int, int) {
	return func(rest string) (int, int) {
		for _, w := range words {
			if strings.HasPrefix(rest, w+":") {
				return max(lineEnd(rest), len(w)+1), len(w) + 1
			}
		}
		return -1, 0
	}
}

// value strips one trailing comma and returns what follows the first '='.
func value(text string) string {
	text = strings.TrimSuffix(text, ",")
	_, v, _ := strings.Cut(text, "=")
	return v
}

func isLowerAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

var ignore = func(*xlDisk, string) bool { return true }

// diskRules are the scanner's rules in their order, which breaks ties between matches of the same length.
var diskRules = []diskRule{
	{keyValue("format"), func(d *xlDisk, t string) bool { d.setFormat(value(t)); return true }},
	{word("cdrom"), func(d *xlDisk, _ string) bool { d.cdrom = true; return true }},
	{word("devtype=cdrom"), func(d *xlDisk, _ string) bool { d.cdrom = true; return true }},
	{word("devtype=disk"), func(d *xlDisk, _ string) bool { d.cdrom = false; return true }},
	{keyValue("devtype"), func(d *xlDisk, t string) bool { d.failNear(t, "unknown value for type"); return true }},
	{keyValue("access"), func(d *xlDisk, t string) bool { d.setAccess(value(t)); return true }},
	{keyValue("backend"), func(d *xlDisk, t string) bool {
		var s *string
		d.saveString("backend", &s, value(t))
		return true
	}},
	{keyValue("backendtype"), func(d *xlDisk, t string) bool { d.setBackend(value(t)); return true }},
	{keyValue("specification"), func(d *xlDisk, t string) bool {
		if v := value(t); v != "xen" && v != "virtio" {
			d.failNear(v, "unknown value for specification")
		}
		return true
	}},
	{keyValue("vdev"), func(d *xlDisk, t string) bool { d.saveString("vdev", &d.vdev, value(t)); return true }},
	{keyValue("script"), ignore},
	{word("direct-io-safe"), ignore},
	{word("discard"), ignore},
	{word("no-discard"), ignore},
	{word("colo"), ignore},
	{word("no-colo"), ignore},
	{keyValue("colo-host"), ignore},
	{keyValue("colo-port"), func(d *xlDisk, t string) bool {
		if n, err := strconv.Atoi(value(t)); err != nil || n == 0 {
			d.failNear(value(t), "unknown value for colo_port")
		}
		return true
	}},
	{keyValue("colo-export"), ignore},
	{keyValue("active-disk"), ignore},
	{keyValue("hidden-disk"), ignore},
	{word("trusted"), ignore},
	{word("untrusted"), ignore},
	{word("grant_usage=1"), ignore},
	{word("grant_usage=0"), ignore},
	{func(rest string) (int, int) {
		if !strings.HasPrefix(rest, "target=") {
			return -1, 0
		}
		return lineEnd(rest), lineEnd(rest)
	}, func(d *xlDisk, t string) bool {
		d.saveString("target", &d.target, value(t))
		return true
	}},
	// An unknown parameter: [a-z][-a-z0-9]*=[^,],?
	{func(rest string) (int, int) {
		if rest == "" || rest[0] < 'a' || rest[0] > 'z' {
			return -1, 0
		}
		i := 1
		for i < len(rest) && (isLowerAlnum(rest[i]) || rest[i] == '-') {
			i++
		}
		if i+1 >= len(rest) || rest[i] != '=' || rest[i+1] == ',' {
			return -1, 0
		}
		i += 2
		if i < len(rest) && rest[i] == ',' {
			i++
		}
		return i, i
	}, func(d *xlDisk, t string) bool { d.failNear(t, "unknown parameter"); return true }},
	{prefix("raw", "qcow", "qcow2", "vhd"), func(d *xlDisk, t string) bool {
		d.hadDeprPrefix = true
		d.setFormat(strings.TrimSuffix(t, ":"))
		return true
	}},
	{prefix("iscsi", "nbd", "enbd", "drbd"), func(d *xlDisk, t string) bool {
		d.hadDeprPrefix = true
		return true
	}},
	{prefix("tapdisk", "tap", "tap2", "aio", "ioemu", "file", "phy"), func(d *xlDisk, _ string) bool {
		d.hadDeprPrefix = true
		return true
	}},
	// An unknown deprecated prefix: [a-z][a-z0-9]*:/([^a-z0-9].*)?
	{func(rest string) (int, int) {
		if rest == "" || rest[0] < 'a' || rest[0] > 'z' {
			return -1, 0
		}
		i := 1
		for i < len(rest) && isLowerAlnum(rest[i]) {
			i++
		}
		if i >= len(rest) || rest[i] != ':' {
			return -1, 0
		}
		i++
		if i < len(rest) && !isLowerAlnum(rest[i]) {
			return max(lineEnd(rest), i), i
		}
		return i, i
	}, func(d *xlDisk, t string) bool { d.failNear(t, "unknown deprecated disk prefix"); return false }},
	// A positional parameter: [^=,]*,|[^=,]+,?
	{func(rest string) (int, int) {
		i := strings.IndexAny(rest, "=,")
		switch {
		case i < 0:
			i = len(rest)
		case rest[i] == ',':
			return i + 1, i + 1
		}
		if i == 0 {
			return -1, 0
		}
		return i, i
	}, func(d *xlDisk, t string) bool { return d.positional(strings.TrimSuffix(t, ",")) }},
}

// parseXLDisk is xlu_disk_parse: one disk specification of xl-disk-configuration(5).
func parseXLDisk(spec string) (*xlDisk, error) {
	d := &xlDisk{spec: spec, readwrite: true}
	for rest := spec; rest != ""; {
		if n := len(rest) - len(strings.TrimLeft(rest, " \t\n")); n > 0 {
			rest = rest[n:]
			continue
		}
		best, bestTotal, bestLen := -1, 0, 0
		for i, r := range diskRules {
			if total, consumed := r.match(rest); total > bestTotal {
				best, bestTotal, bestLen = i, total, consumed
			}
		}
		if best < 0 {
			bad := rest[:lineEnd(rest)]
			d.failNear(bad, "bad disk syntax")
			break
		}
		text := rest[:bestLen]
		rest = rest[bestLen:]
		if !diskRules[best].act(d, text) {
			break
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if d.format == "" {
		d.format = "raw"
	}
	if d.cdrom {
		d.removable = true
		d.readwrite = false
		if d.target == nil || *d.target == "" {
			d.format = "empty"
		}
	}
	if d.vdev == nil {
		d.fail(nil, "no vdev specified")
	} else if d.target == nil && !d.removable {
		d.fail(nil, "no target specified (and device not removable)")
	}
	return d, d.err
}

// specDisk is the disk libvirt's xenParseXLDisk makes of a parsed specification.
func (d *xlDisk) specDisk(hvm bool) (*v1alpha1.Disk, error) {
	disk := &v1alpha1.Disk{Device: "disk", Driver: &v1alpha1.DiskDriver{}, ReadOnly: !d.readwrite}
	path := ""
	if d.target != nil {
		path = *d.target
	}
	if strings.HasPrefix(path, "rbd:") {
		src, err := parseRBD(strings.ReplaceAll(path, `\\`, `\`))
		if err != nil {
			return nil, err
		}
		disk.Type, disk.Source = "network", src
	} else if path != "" {
		disk.Source = &v1alpha1.DiskSource{File: path}
	}
	disk.Target.Dev = *d.vdev
	if d.cdrom {
		if disk.Type == "network" {
			return nil, unsupportedf("network disk %s cannot be a cdrom", path)
		}
		disk.Driver.Name, disk.Type, disk.Device = "qemu", "file", "cdrom"
		if path != "" {
			disk.Driver.Type = "raw"
		}
	} else {
		switch d.format {
		case "raw", "qcow", "qcow2", "vhd", "qed":
			disk.Driver.Type = d.format
		}
		switch d.backend {
		case "", "qdisk":
			disk.Driver.Name = "qemu"
			if disk.Type == "" {
				disk.Type = "file"
			}
		case "tap", "phy":
			if disk.Type == "network" {
				return nil, unsupportedf("network disk %s cannot use backendtype=%s", path, d.backend)
			}
			disk.Driver.Name, disk.Type = d.backend, "file"
			if d.backend == "phy" {
				disk.Type = "block"
				disk.Source = blockSource(disk.Source)
			}
		default:
			return nil, unsupportedf("disk backend not supported: %s", d.backend)
		}
	}
	disk.Target.Bus = diskBus(disk.Target.Dev, hvm)
	return disk, nil
}

// blockSource moves a path from <source file> to <source dev>.
func blockSource(s *v1alpha1.DiskSource) *v1alpha1.DiskSource {
	if s == nil {
		return nil
	}
	return &v1alpha1.DiskSource{Dev: s.File}
}

// diskBus is the bus libvirt gives a disk of a native config: xen for xvd* and every disk of a PV guest, scsi for
// sd*, ide otherwise.
func diskBus(dev string, hvm bool) string {
	switch {
	case strings.HasPrefix(dev, "xvd") || !hvm:
		return "xen"
	case strings.HasPrefix(dev, "sd"):
		return "scsi"
	}
	return "ide"
}

// parseRBD is virStorageSourceParseRBDColonString: "rbd:POOL/IMAGE[@SNAP][:opt=val...]" with the options id
// (the cephx user), mon_host (monitors separated by "\;", "\," or "\ ", ports after "\:") and conf.
func parseRBD(s string) (*v1alpha1.DiskSource, error) {
	s = strings.TrimPrefix(s, "rbd:")
	name, options, hasOptions := strings.Cut(s, ":")
	if img, snap, ok := strings.Cut(name, "@"); ok {
		return nil, unsupportedf("rbd snapshot '%s' of '%s' is not supported", snap, img)
	}
	src := &v1alpha1.DiskSource{Protocol: "rbd", Name: name}
	for p := options; hasOptions && p != ""; {
		e := 0
		for e < len(p) && p[e] != ':' {
			if p[e] == '\\' {
				e++
				if e >= len(p) {
					break
				}
			}
			e++
		}
		opt, next := p[:min(e, len(p))], ""
		if e < len(p) {
			next = p[e+1:]
		}
		switch {
		case strings.HasPrefix(opt, "id="):
			if src.Auth != nil {
				return nil, invalidf("duplicate 'id' found in '%s'", name)
			}
			src.Auth = &v1alpha1.DiskAuth{Username: opt[len("id="):], SecretType: "ceph"}
		case strings.HasPrefix(opt, "mon_host="):
			hosts := opt[len("mon_host="):]
			for hosts != "" {
				h := hosts
				hosts = ""
				for i := 0; i+1 < len(h); i++ {
					if h[i] == '\\' && strings.IndexByte(",; ", h[i+1]) >= 0 {
						h, hosts = h[:i], h[i+2:]
						break
					}
				}
				host, err := rbdHost(h)
				if err != nil {
					return nil, err
				}
				src.Hosts = append(src.Hosts, host)
			}
		case strings.HasPrefix(opt, "conf="):
			src.ConfigFile = opt[len("conf="):]
		}
		p = next
	}
	return src, nil
}

// rbdHost is virStorageSourceRBDAddHost: "NAME[\:PORT]", or "[IPV6]\:PORT" with the colons of the address
// escaped.
func rbdHost(hostport string) (v1alpha1.DiskHost, error) {
	var port string
	if i := strings.IndexByte(hostport, ']'); i >= 0 {
		if rest := hostport[i:]; len(rest) > len(`]\:`) {
			port = rest[len(`]\:`):]
		}
		hostport = strings.TrimPrefix(hostport[:i], "[")
	} else if i := strings.Index(hostport, `\:`); i >= 0 {
		hostport, port = hostport[:i], hostport[i+2:]
	}
	if port != "" {
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return v1alpha1.DiskHost{}, invalidf("failed to parse port number '%s'", port)
		}
	}
	return v1alpha1.DiskHost{Name: strings.ReplaceAll(hostport, `\:`, ":"), Port: port}, nil
}

// String shows a parsed disk for test failures.
func (d *xlDisk) String() string {
	s := func(p *string) string {
		if p == nil {
			return "<nil>"
		}
		return strconv.Quote(*p)
	}
	return fmt.Sprintf("target=%s vdev=%s format=%s backend=%s rw=%v cdrom=%v", s(d.target), s(d.vdev), d.format,
		d.backend, d.readwrite, d.cdrom)
}

// xlDisks is xenParseXLDisk: the disk list, one xl-disk-configuration(5) specification per entry; floppies are
// not part of it.
func (p *parser) xlDisks() error {
	e, ok := p.r.f.Lookup("disk")
	if !ok || e.Value.Kind != config.KindList {
		return nil
	}
	for _, s := range stringsOf(e.Value) {
		d, err := parseXLDisk(s)
		if err != nil {
			return p.r.errorAt(ErrSyntax, e, "%v", err)
		}
		disk, err := d.specDisk(p.hvm())
		if err != nil {
			return p.r.errorAt(errKind(err), e, "%v", err)
		}
		p.spec.Devices.Disks = append(p.spec.Devices.Disks, *disk)
	}
	return nil
}
