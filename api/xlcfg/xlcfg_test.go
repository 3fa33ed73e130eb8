package xlcfg

import (
	"bytes"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/virtxend/virtxend/api/domxml"
	v1alpha1 "github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/config"
)

// seeded returns options whose generated UUIDs and MACs are reproducible.
func seeded(seed int64) Options {
	return Options{Defaults: domxml.Defaults{Rand: rand.New(rand.NewSource(seed))}}
}

// TestRoundTrip: every corpus configuration read, written and read again gives the same spec.
func TestRoundTrip(t *testing.T) {
	for _, f := range []struct {
		dir    string
		parse  func(Options, []byte) (*v1alpha1.DomainSpec, error)
		format func(*v1alpha1.DomainSpec) ([]byte, error)
	}{
		{"xlconfigdata", Options.ParseXL, FormatXL},
		{"xmconfigdata", Options.ParseXM, FormatXM},
	} {
		files, _ := filepath.Glob(filepath.Join(corpusDir(t), f.dir, "*.cfg"))
		if len(files) == 0 {
			t.Fatalf("no *.cfg in libvirt's %s", f.dir)
		}
		for _, path := range files {
			t.Run(f.dir+"/"+filepath.Base(path), func(t *testing.T) {
				in, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				spec, err := f.parse(seeded(1), in)
				if err != nil {
					t.Fatal(err)
				}
				out, err := f.format(spec)
				if err != nil {
					t.Fatal(err)
				}
				again, err := f.parse(seeded(1), out)
				if err != nil {
					t.Fatalf("%v\n%s", err, out)
				}
				if !equality.Semantic.DeepEqual(spec, again) {
					a, _ := domxml.Format(spec, domxml.Inactive)
					b, _ := domxml.Format(again, domxml.Inactive)
					t.Errorf("parse(format(parse(x))) != parse(x):\n%s\n%s", diffLines(a, b), out)
				}
				if twice, _ := f.format(again); !bytes.Equal(out, twice) {
					t.Errorf("format is not stable:\n%s", diffLines(out, twice))
				}
			})
		}
	}
}

// TestParseErrors: configurations libvirt refuses fail with an error of the right kind that says what is wrong.
func TestParseErrors(t *testing.T) {
	const base = "name = \"g\"\nuuid = \"c7a5fdb2-cdaf-9455-926a-d65c16db1809\"\n"
	const hvm = base + "builder = \"hvm\"\n"
	tests := []struct {
		name string
		xm   bool
		cfg  string
		kind error
		msg  string
	}{
		{"syntax", false, "name = g\n", ErrSyntax, "strings must be quoted"},
		{"unterminated list", false, base + "vif = [ \"mac=00:16:3e:00:00:01\"\n", ErrSyntax, "not closed"},
		{"no name", false, "memory = 512\n", ErrInvalid, "config value name was missing"},
		{"bad uuid", false, "name = \"g\"\nuuid = \"not-a-uuid\"\n", ErrSyntax, "not-a-uuid not parseable"},
		{"bad type", false, base + "type = \"hvx\"\n", ErrUnsupported, "type hvx is not supported"},
		{"negative memory", false, base + "memory = -1\n", ErrInvalid, "config value memory was malformed"},
		{"string memory", false, base + "memory = \"lots\"\n", ErrInvalid, "config value memory was malformed"},
		{"list name", false, "name = [ \"g\" ]\n", ErrInvalid, "expected a string for 'name' parameter"},
		{"lifecycle", false, base + "on_crash = \"explode\"\n", ErrInvalid, "unexpected value explode for on_crash"},
		{"cpus", false, base + "cpus = \"0-x\"\n", ErrInvalid, "failed to parse bitmap '0-x'"},
		{"passthrough", false, base + "passthrough = \"sometimes\"\n", ErrSyntax, "Invalid passthrough mode sometimes"},
		{"bool", false, hvm + "acpi = [ 1 ]\n", ErrInvalid, "config value acpi was malformed"},
		{"vif key", false, base + "vif = [ \"mac=00:16:3e:00:00:01,xenbr0\" ]\n", ErrSyntax, "'xenbr0' is not key=value"},
		{"vif mac", false, base + "vif = [ \"mac=00:16:3e:00:00:0g\" ]\n", ErrInvalid, "malformed mac address '00:16:3e:00:00:0g'"},
		{"vif ip", false, base + "vif = [ \"ip=10.0.0.300\" ]\n", ErrInvalid, "Failed to parse IP address '10.0.0.300'"},
		{"vif rate", false, base + "vif = [ \"rate=10MiB/s\" ]\n", ErrInvalid, "Invalid rate '10MiB/s' specified"},
		{"vif vlan", false, base + "vif = [ \"bridge=br0.x\" ]\n", ErrInvalid, "invalid vlan tag 'x'"},
		{"pci address", false, hvm + "pci = [ \"00:1b\" ]\n", ErrInvalid, "Malformed PCI address 00:1b"},
		{"pci options", false, hvm + "pci = [ \"00:1b.0,permissive\" ]\n", ErrInvalid, "Malformed PCI options permissive"},
		{"pci list", false, hvm + "pci = [ 1 ]\n", ErrSyntax, "expected a string list for 'pci' parameter"},
		{"sound", false, hvm + "soundhw = \"sb16,theremin\"\n", ErrInvalid, "unknown sound model 'theremin'"},
		{"serial type", false, hvm + "serial = \"modem:/dev/x\"\n", ErrInvalid, "unknown chr device type 'modem'"},
		{"serial tcp", false, hvm + "serial = \"tcp:nohostport\"\n", ErrInvalid, "malformed char device string"},
		{"xm serials", true, hvm + "kernel = \"/l\"\nserial = [ \"pty\", \"pty\" ]\n", ErrUnsupported, "Multiple serial devices are not supported by xen-xm"},
		{"vncdisplay", false, base + "vfb = [ \"type=vnc,vncdisplay=x\" ]\n", ErrInvalid, "invalid vncdisplay value 'x'"},
		{"disk", false, base + "disk = [ \"/img,raw,xvda,rw,more\" ]\n", ErrSyntax, "too many positional parameters"},
		{"disk backend", false, base + "disk = [ \"backendtype=standalone,vdev=xvda,target=/x\" ]\n", ErrUnsupported, "disk backend not supported: standalone"},
		{"cpuid format", false, hvm + "cpuid = \"0:eax=0x1\"\n", ErrSyntax, "cpuid starting with 0:eax=0x1 is not supported"},
		{"cpuid value", false, hvm + "cpuid = \"host,sse3=z\"\n", ErrSyntax, "Invalid libxl cpuid value: sse3=z"},
		{"cpuid twice", false, hvm + "cpuid = \"host,sse3=1,pni=0\"\n", ErrInvalid, "CPU feature 'pni' specified more than once"},
		{"vnuma incomplete", false, hvm + "vnuma = [ [ \"pnode=0\", \"size=512\" ] ]\n", ErrSyntax, "Incomplete vnuma configuration for vnode 0"},
		{"vnuma pnode", false, hvm + "vnuma = [ [ \"pnode=2\", \"size=512\", \"vcpus=0\" ] ]\n", ErrUnsupported, "invalid pnode value '2'"},
		{"vnuma vcpus", false, hvm + "vnuma = [ [ \"pnode=0\", \"size=512\", \"vcpus=0-3\" ] ]\n", ErrUnsupported, "4 vcpus, which is greater than 1 maxvcpus"},
		{"vnuma key", false, hvm + "vnuma = [ [ \"node=0\" ] ]\n", ErrSyntax, "Invalid vnuma configuration for vnode 0"},
		{"spice passwd", false, hvm + "spice = 1\n", ErrInvalid, "config value spicepasswd was missing"},
		{"channel", false, base + "channel = [ \"connection=tcp,name=x\" ]\n", ErrUnsupported, "unsupported channel connection 'tcp'"},
		{"xm hvm kernel", true, hvm, ErrInvalid, "config value kernel was missing"},
		{"xm disk", true, base + "disk = [ \"phy:/dev/sda\" ]\n", ErrSyntax, "malformed disk entry 'phy:/dev/sda'"},
		{"xm tap format", true, base + "disk = [ \"tap:vmdq:/img,xvda,w\" ]\n", ErrInvalid, "Unknown driver type vmdq:/img"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parse := ParseXL
			if tt.xm {
				parse = ParseXM
			}
			_, err := parse([]byte(tt.cfg))
			if err == nil {
				t.Fatalf("no error, want %q", tt.msg)
			}
			if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q (kind ok: %v), want %v with %q", err, errors.Is(err, tt.kind), tt.kind, tt.msg)
			}
		})
	}
	// The final domain checks are domxml's.
	_, err := ParseXL([]byte(base + "vcpus = 0\n"))
	if !errors.Is(err, domxml.ErrInvalid) {
		t.Errorf("vcpus = 0: %v", err)
	}
	// Syntax errors say where they are.
	_, err = ParseXL([]byte("name = \"g\"\nmemory = 5x\n"))
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Line != 2 {
		t.Errorf("syntax error position: %v", err)
	}
}

// TestParseXL covers what the corpus leaves out: defaults, PV graphics, keys libvirt ignores, options.
func TestParseXL(t *testing.T) {
	cfg := `name = "xlguest"
type = "pvh"
memory = 512
maxmem = 1024
vcpus = 4
maxvcpus = 2
kernel = "/boot/vmlinuz"
root = "/dev/xvda1"
extra = "console=hvc0"
vfb = [ "type=vnc,vncunused=0,vncdisplay=3,keymap=de" ]
vif = [ "bridge=xenbr0", "ip=192.0.2.1,script=/etc/xen/scripts/vif-route" ]
disk = [ "/var/lib/xen/xlguest.img,raw,xvda,rw" ]
on_crash = "coredump-restart" # a comment
unknown_key = "ignored, as by libvirt"
`
	spec, err := seeded(3).ParseXL([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"os type", spec.OS.Type, "xenpvh"},
		{"cmdline", spec.OS.Cmdline, "root=/dev/xvda1 console=hvc0"},
		{"memory", spec.Memory.String(), "1Gi"},
		{"current memory", spec.CurrentMemory.String(), "512Mi"},
		{"vcpus", spec.VCPU.Count, uint32(2)},
		{"current vcpus", spec.VCPU.Current == nil, true},
		{"uuid generated", len(spec.UUID), 36},
		{"on_crash", spec.OnCrash, v1alpha1.ActionCoredumpRestart},
		{"vnc port", *spec.Devices.Graphics[0].Port, int32(5903)},
		{"vnc keymap", spec.Devices.Graphics[0].Keymap, "de"},
		{"nic 0", spec.Devices.Interfaces[0].Type + " " + spec.Devices.Interfaces[0].Source.Bridge, "bridge xenbr0"},
		{"nic 1", spec.Devices.Interfaces[1].Type + " " + spec.Devices.Interfaces[1].IPs[0].Family, "ethernet ipv4"},
		{"generated mac", spec.Devices.Interfaces[0].MAC[:9], "00:16:3e:"},
		{"disk", spec.Devices.Disks[0].Driver.Name + " " + spec.Devices.Disks[0].Target.Bus, "qemu xen"},
		{"console", spec.Devices.Consoles[0].Target.Type, "xen"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.what, c.got, c.want)
		}
	}

	hvm := `name = "h"
builder = "hvm"
bios = "ovmf"
nestedhvm = 0
hpet = 0
rtc_timeoffset = 3600
soundhw = "all"
usbdevice = "tablet"
serial = [ "none", "unix:/run/s.sock,server,nowait" ]
`
	o := Options{FirmwareDir: "/opt/xen/boot", HostSVM: true}
	spec, err = o.ParseXL([]byte(hvm))
	if err != nil {
		t.Fatal(err)
	}
	if l := spec.OS.Loader; l.Path != "/opt/xen/boot/ovmf.bin" || l.Type != "pflash" {
		t.Errorf("loader %+v", l)
	}
	if f := spec.CPU.Features; len(f) != 1 || f[0].Name != "svm" || f[0].Policy != "disable" {
		t.Errorf("nestedhvm = 0 on an AMD host: %+v", f)
	}
	if c := spec.Clock; c.Adjustment != "3600" || c.Timers[0].Name != "hpet" || c.Timers[0].Present != "no" {
		t.Errorf("clock %+v", c)
	}
	if s := spec.Devices.Sounds; len(s) != 2 || s[0].Model != "sb16" || s[1].Model != "es1370" {
		t.Errorf("soundhw = all: %+v", s)
	}
	if s := spec.Devices.Serials; len(s) != 1 || *s[0].Target.Port != 1 || s[0].Sources[0].Mode != "bind" {
		t.Errorf("serials %+v", s)
	}
	out, err := FormatXL(spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"hpet = 0\n", "rtc_timeoffset = 3600\n", "serial = [ \"none\", \"unix:/run/s.sock,server,nowait\" ]\n",
		"soundhw = \"sb16,es1370\"\n", "bios = \"ovmf\"\nbios_path_override = \"/opt/xen/boot/ovmf.bin\"\n",
		"nestedhvm = 0\n", "usb = 1\nusbdevice = \"tablet\"\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("FormatXL lacks %q:\n%s", want, out)
		}
	}
}

// TestFormatErrors: what xl.cfg cannot express is refused with a clear error.
func TestFormatErrors(t *testing.T) {
	base := func() *v1alpha1.DomainSpec {
		s, err := ParseXL([]byte("name = \"g\"\nbuilder = \"hvm\"\nvif = [ \"bridge=br0\" ]\ndisk = [ \"/img,raw,hda,rw\" ]\n"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		name   string
		mutate func(s *v1alpha1.DomainSpec)
		xm     bool
		msg    string
	}{
		{"network nic", func(s *v1alpha1.DomainSpec) {
			s.Devices.Interfaces[0] = v1alpha1.Interface{Type: "network", Source: &v1alpha1.InterfaceSource{Network: "default"}}
		}, false, "interface type 'network'"},
		{"hostdev nic", func(s *v1alpha1.DomainSpec) { s.Devices.Interfaces[0].Type = "hostdev" }, false, "Unsupported net type 'hostdev'"},
		{"transient", func(s *v1alpha1.DomainSpec) { s.Devices.Disks[0].Transient = true }, false, "transient disks not supported yet"},
		{"xm transient", func(s *v1alpha1.DomainSpec) { s.Devices.Disks[0].Transient = true }, true, "transient disks not supported yet"},
		{"timer", func(s *v1alpha1.DomainSpec) { s.Clock.Timers = []v1alpha1.Timer{{Name: "rtc"}} }, false, "unsupported timer type (name) 'rtc'"},
		{"reset", func(s *v1alpha1.DomainSpec) { s.Clock = &v1alpha1.Clock{Offset: "utc", Adjustment: "reset"} }, false, "unsupported clock adjustment='reset'"},
		{"offset", func(s *v1alpha1.DomainSpec) { s.Clock = &v1alpha1.Clock{Offset: "timezone"} }, false, "unsupported clock offset='timezone'"},
		{"xm serials", func(s *v1alpha1.DomainSpec) {
			s.Devices.Serials = []v1alpha1.Chardev{{Type: "pty", Target: &v1alpha1.ChardevTarget{Port: ptr(uint32(1))}}}
		}, true, "Multiple serial devices are not supported by xen-xm"},
		{"chardev", func(s *v1alpha1.DomainSpec) { s.Devices.Parallels = []v1alpha1.Chardev{{Type: "spicevmc"}} }, false, "unsupported chr device type 'spicevmc'"},
		{"usb model", func(s *v1alpha1.DomainSpec) {
			s.Devices.Controllers = append(s.Devices.Controllers, v1alpha1.Controller{Type: "usb", Model: "ehci"})
		}, false, "USB controller model 'ehci'"},
		{"nbd", func(s *v1alpha1.DomainSpec) {
			s.Devices.Disks[0] = v1alpha1.Disk{Type: "network", Source: &v1alpha1.DiskSource{Protocol: "nbd"}, Target: v1alpha1.DiskTarget{Dev: "hda"}}
		}, false, "Unsupported network block protocol 'nbd'"},
		{"acpi tables", func(s *v1alpha1.DomainSpec) {
			s.OS.ACPITables = []v1alpha1.ACPITable{{Type: "slic", Path: "/a"}, {Type: "slic", Path: "/b"}}
		}, false, "Only a single ACPI table is supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base()
			tt.mutate(s)
			format := FormatXL
			if tt.xm {
				format = FormatXM
			}
			_, err := format(s)
			if err == nil || !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %v, want an unsupported error with %q", err, tt.msg)
			}
		})
	}
}

// TestWriteValue checks virConf's quoting: no escapes, so the quotes change with the content.
func TestWriteValue(t *testing.T) {
	d := &confDoc{}
	d.setString("a", `plain`)
	d.setString("b", `has "double"`)
	d.setString("c", `has 'single' and "double" quotes`)
	d.setString("d", "two\nlines")
	d.setInt("e", -3)
	d.set("f", listValue())
	d.set("g", confValue{isList: true, list: []confValue{listValue("x", "y"), listValue("z")}})
	d.setString("a", "replaced in place")
	want := `a = "replaced in place"
b = 'has "double"'
c = """has 'single' and "double" quotes"""
d = """two
lines"""
e = -3
f = [  ]
g = [ [ "x", "y" ], [ "z" ] ]
`
	if got := string(d.bytes()); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	// What the writer writes, package config reads back.
	f, err := config.Parse("t", d.bytes())
	if err != nil || len(f.Entries) != 7 || f.Entries[2].Value.Str != `has 'single' and "double" quotes` {
		t.Errorf("read back: %v %+v", err, f)
	}
}
