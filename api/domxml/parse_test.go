package domxml

import (
	"errors"
	"strings"
	"testing"
)

// minimal wraps body in a valid Xen HVM definition.
func minimal(body string) string {
	return "<domain type='xen'>\n  <name>vm</name>\n  <memory>524288</memory>\n  <os>\n    <type>hvm</type>\n  </os>\n" +
		body + "</domain>\n"
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		kind error
		want string
	}{
		{"malformed", "<domain type='xen'>\n  <name>vm</name>\n  <memory>\n</domain>\n", ErrInvalid,
			"domain XML: line 4, column 10: element <memory> closed by </domain>"},
		{"unclosed", "<domain type='xen'>\n  <name>vm</name>\n", ErrInvalid, "line 3, column 1: unexpected end"},
		{"empty", "", ErrInvalid, "document is empty"},
		{"trailing", "<domain type='xen'><name>vm</name></domain>\n<domain/>", ErrInvalid,
			"line 2, column 1: extra content at the end of the document"},
		{"bad entity", "<domain type='xen'><name>a&b</name></domain>", ErrInvalid, "line 1, column 29"},
		{"root", "<network><name>n</name></network>", ErrInvalid, "unexpected root element <network>, expecting <domain>"},
		{"no type", "<domain><name>vm</name></domain>", ErrInvalid, "missing domain type attribute"},
		{"kvm", "<domain type='kvm'><name>vm</name></domain>", ErrUnsupported, "domain type 'kvm' is not supported"},
		{"no name", "<domain type='xen'><memory>1024</memory><os><type>hvm</type></os></domain>", ErrNoName,
			"missing domain name"},
		{"newline in name", "<domain type='xen'><name>a\nb</name><os><type>hvm</type></os></domain>", ErrInvalid,
			"invalid char in name"},
		{"no os type", "<domain type='xen'><name>vm</name></domain>", ErrInvalid, "an os <type> must be specified"},
		{"os type exe", "<domain type='xen'><name>vm</name><os><type>exe</type></os></domain>", ErrUnsupported,
			"os type 'exe'"},
		{"bad uuid", minimal("<uuid>1234</uuid>\n"), ErrInvalid, "malformed uuid element"},
		{"bad mac", minimal("<devices><interface type='bridge'><mac address='zz'/></interface></devices>"),
			ErrInvalid, "unable to parse mac address 'zz'"},
		{"bad memory unit", "<domain type='xen'><name>vm</name><memory unit='parsec'>1</memory><os><type>hvm</type></os></domain>",
			ErrInvalid, "unknown suffix 'parsec'"},
		{"bad number", minimal("<cputune><shares>many</shares></cputune>\n"), ErrInvalid, "domain XML: invalid number 'many'"},
		{"bad vcpu count", minimal("<vcpu>many</vcpu>\n"), ErrInvalid, "maximum vcpus count must be an integer"},
		// rng, watchdog and the other devices the libxl driver ignores are kept: TestUnusedDevicesKept.
		{"filesystem", minimal("  <devices>\n    <filesystem type='mount'><source dir='/srv'/><target dir='srv'/></filesystem>\n  </devices>\n"),
			ErrUnsupported, "unsupported element <devices><filesystem> at line 8 (not supported by the Xen driver)"},
		{"numatune", minimal("<numatune><memory mode='strict' nodeset='0'/></numatune>"), ErrUnsupported,
			"unsupported element <numatune>"},
		{"memtune", minimal("<memtune><hard_limit>1</hard_limit></memtune>"), ErrUnsupported, "<memtune>"},
		{"sysinfo", minimal("<sysinfo type='smbios'><bios><entry name='vendor'>x</entry></bios></sysinfo>"),
			ErrUnsupported, "<sysinfo>"},
		{"filesystem", minimal("<devices><filesystem type='mount'><source dir='/a'/><target dir='b'/></filesystem></devices>"),
			ErrUnsupported, "<devices><filesystem>"},
		{"kvm feature", minimal("<features><kvm><hidden state='on'/></kvm></features>"), ErrUnsupported,
			"unsupported element <features><kvm>"},
		{"disk io", minimal("<devices><disk type='file'><driver name='qemu' io='native'/><source file='/x'/><target dev='xvda'/></disk></devices>"),
			ErrUnsupported, "unsupported attribute <devices><disk><driver io='native'>"},
		{"disk iotune", minimal("<devices><disk type='file'><source file='/x'/><target dev='xvda'/><iotune><total_bytes_sec>1</total_bytes_sec></iotune></disk></devices>"),
			ErrUnsupported, "unsupported element <devices><disk><iotune>"},
		{"unknown element", minimal("<foo/>"), ErrInvalid, "unknown element <foo>"},
		{"unknown device", minimal("<devices><gizmo/></devices>"), ErrInvalid, "unknown element <devices><gizmo>"},
		{"unknown deep element", minimal("<devices><interface type='bridge'><source bridge='b'/><frob/></interface></devices>"),
			ErrUnsupported, "unsupported element <devices><interface><frob>"},
		{"unknown attribute", minimal("<devices><input type='mouse' bus='ps2' speed='9'/></devices>"), ErrUnsupported,
			"unsupported attribute <devices><input speed='9'>"},
		{"foreign namespace", minimal("<qemu:commandline xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'/>"),
			ErrUnsupported, "namespace http://libvirt.org/schemas/domain/qemu/1.0"},
		{"interface user", minimal("<devices><interface type='user'/></devices>"), ErrUnsupported,
			"interface type 'user' is not supported"},
		{"graphics rdp", minimal("<devices><graphics type='rdp'/></devices>"), ErrUnsupported,
			"graphics type 'rdp' is not supported"},
		{"hostdev caps", minimal("<devices><hostdev mode='capabilities' type='storage'><source><block>/dev/sda</block></source></hostdev></devices>"),
			ErrUnsupported, "hostdev mode 'capabilities' is not supported in xen"},
		{"filterref", minimal("<devices><interface type='bridge'><source bridge='b'/><filterref filter='clean-traffic'/></interface></devices>"),
			ErrUnsupported, "filterref is not supported in xen"},
		{"secure boot", "<domain type='xen'><name>vm</name><os><type>hvm</type><loader secure='yes' type='pflash'>/x</loader></os></domain>",
			ErrUnsupported, "secure boot is not supported on Xen"},
		{"disk lun", minimal("<devices><disk type='block' device='lun'><source dev='/dev/sda'/><target dev='sda'/></disk></devices>"),
			ErrUnsupported, "disk device 'lun'"},
		{"channel virtio", minimal("<devices><channel type='pty'><target type='virtio' name='x'/></channel></devices>"),
			ErrUnsupported, "channel target type 'virtio'"},
		{"user alias", minimal("<devices><input type='mouse' bus='ps2'><alias name='ua-m'/></input></devices>"),
			ErrUnsupported, "<devices><input><alias>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			if err == nil {
				t.Fatalf("Parse succeeded, want error %q", tt.want)
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("error %q is not %v", err, tt.kind)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestSyntaxErrorPosition(t *testing.T) {
	_, err := Parse([]byte("<domain type='xen'>\n  <name>vm</name>\n  <memory>\n</domain>\n"))
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("error %v is not a *SyntaxError", err)
	}
	if se.Line != 4 || se.Column != 10 {
		t.Errorf("position %d:%d, want 4:10", se.Line, se.Column)
	}
}

// TestParseAccepts covers what Parse must take although it is not plain: runtime parts of live XML, other
// spellings libvirt accepts, and elements without meaning when empty.
func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		check func(t *testing.T, id int, out string)
	}{
		{"live", `<domain type='xen' id='7'>
  <name>vm</name>
  <uuid>C7A5FDB2CDAF9455926AD65C16DB1809</uuid>
  <memory unit='MiB'>512</memory>
  <bootloader>pygrub</bootloader>
  <os><type>linux</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='default'/>
      <source file='/a.img'/>
      <backingStore/>
      <target dev='xvda' bus='xen'/>
      <alias name='xen-51712-0'/>
    </disk>
    <interface type='bridge'>
      <mac address='00:16:3E:00:00:01'/>
      <source bridge='br0'/>
      <target dev='vif7.0'/>
      <alias name='net0'/>
    </interface>
    <console type='pty' tty='/dev/pts/3'>
      <source path='/dev/pts/3'/>
      <target type='xen' port='0'/>
      <alias name='console0'/>
    </console>
  </devices>
</domain>`, func(t *testing.T, id int, out string) {
			if id != 7 {
				t.Errorf("id %d, want 7", id)
			}
			for _, want := range []string{"<uuid>c7a5fdb2-cdaf-9455-926a-d65c16db1809</uuid>",
				"<memory unit='KiB'>524288</memory>", "<type>linux</type>", "<mac address='00:16:3e:00:00:01'/>",
				"<driver name='qemu' type='raw'/>"} {
				if !strings.Contains(out, want) {
					t.Errorf("missing %s in\n%s", want, out)
				}
			}
			for _, gone := range []string{"alias", "vif7.0", "pts", "tty", "backingStore"} {
				if strings.Contains(out, gone) {
					t.Errorf("%s kept in\n%s", gone, out)
				}
			}
		}},
		{"old auth place and empty elements", `<domain type='xen'>
  <name>vm</name><title></title><description/>
  <memory>524288</memory>
  <os><type>hvm</type></os>
  <features/>
  <devices>
    <disk type='network' device='disk'>
      <auth username='admin'><secret type='ceph' usage='mypassid'/></auth>
      <source protocol='rbd' name='pool/image'><host name='mon1' port='6789'/></source>
      <target dev='xvda'/>
    </disk>
    <interface type='bridge'><source bridge='br0'/><vlan trunk='no'><tag id='4'/></vlan></interface>
    <hostdev mode='subsystem' type='pci'><source><address domain='0' bus='10' slot='16' function='0'/></source></hostdev>
  </devices>
  <metadata><app:x xmlns:app='http://example.org/app'>1</app:x></metadata>
</domain>`, func(t *testing.T, _ int, out string) {
			for _, want := range []string{"<auth username='admin'>", "<address domain='0x0000' bus='0x0a' slot='0x10' function='0x0'/>",
				"<app:x xmlns:app='http://example.org/app'>1</app:x>"} {
				if !strings.Contains(out, want) {
					t.Errorf("missing %s in\n%s", want, out)
				}
			}
		}},
		{"metadata prefix declared on the root", `<domain type='xen' xmlns:app='http://example.org/app'>
  <name>vm</name><memory>1024</memory><os><type>hvm</type></os>
  <metadata><app:info app:level='2'><app:owner>ops</app:owner></app:info></metadata>
  <devices><interface type='bridge'><source bridge='b'/><target dev='vnet3'/></interface></devices>
</domain>`, func(t *testing.T, _ int, out string) {
			want := "<info xmlns='http://example.org/app' xmlns:ns1='http://example.org/app' ns1:level='2'>" +
				"<owner>ops</owner></info>"
			if !strings.Contains(out, want) {
				t.Errorf("missing %s in\n%s", want, out)
			}
			if strings.Contains(out, "vnet3") {
				t.Errorf("generated interface name kept in\n%s", out)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, id, err := ParseLive([]byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			out, err := Format(spec, Inactive)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, id, string(out))
		})
	}
}

func TestFormatLive(t *testing.T) {
	spec, err := Parse([]byte(minimal("")))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Format(spec, FormatOptions{DomID: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "<domain type='xen' id='3'>\n") {
		t.Errorf("live format starts with %q", strings.SplitN(string(out), "\n", 2)[0])
	}
	spec.Name = ""
	if _, err := Format(spec, Inactive); !errors.Is(err, ErrInvalid) {
		t.Errorf("Format without a name: %v, want ErrInvalid", err)
	}
	out, err = Format(spec, FormatOptions{DomID: -1, Name: "obj"})
	if err != nil || !strings.Contains(string(out), "<name>obj</name>") {
		t.Errorf("Format with FormatOptions.Name: %v\n%s", err, out)
	}
}
