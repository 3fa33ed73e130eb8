package remote

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/daemon/remote/rpc"
	"github.com/virtxend/virtxend/libxl"
	"github.com/virtxend/virtxend/test/libvirtsrc"
	"github.com/virtxend/virtxend/test/testenv"
)

// readHostCorpus reads a file of libvirt's release (see package libvirtsrc), such as
// "tests/domaincapsdata/libxl-xenpv.xml".
func readHostCorpus(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(libvirtsrc.Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDomainCapabilitiesConformance reproduces libvirt's domaincapstest for the libxl driver: virDomainCapsNew
// with /usr/bin/qemu-system-x86_64, x86_64 and VIR_DOMAIN_VIRT_XEN, then libxlMakeDomainCapabilities with the
// firmwares hvmloader and ovmf.bin, must give domaincapsdata/libxl-*.xml byte for byte.
func TestDomainCapabilitiesConformance(t *testing.T) {
	for _, machine := range []string{"xenpv", "xenfv"} {
		t.Run(machine, func(t *testing.T) {
			want := string(readHostCorpus(t, "tests/domaincapsdata/libxl-"+machine+".xml"))
			got, err := formatDomainCapabilities(domCapsInput{
				Emulator: "/usr/bin/qemu-system-x86_64", Arch: "x86_64", Machine: machine, VirtType: "xen",
				Firmwares: []string{"/usr/lib/xen/boot/hvmloader", "/usr/lib/xen/boot/ovmf.bin"},
			})
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("libxl-%s.xml differs:\n--- got\n%s--- want\n%s", machine, got, want)
			}
		})
	}
}

func TestDomainCapabilitiesDefaults(t *testing.T) {
	fw := []string{"/fw/ovmf.bin"}
	def, err := formatDomainCapabilities(domCapsInput{Arch: "x86_64", Firmwares: fw})
	if err != nil {
		t.Fatal(err)
	}
	pv, _ := formatDomainCapabilities(domCapsInput{Arch: "x86_64", Machine: "xenpv", VirtType: "xen",
		Emulator: "/usr/bin/qemu-system-x86_64", Firmwares: fw})
	if def != pv {
		t.Errorf("defaults are not xenpv with qemu-system-x86_64:\n%s", def)
	}
	pvh, err := formatDomainCapabilities(domCapsInput{Arch: "x86_64", Machine: "xenpvh", Emulator: "/opt/q&a", Firmwares: fw})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<path>/opt/q&amp;a</path>", "<machine>xenpvh</machine>", "<vcpu max='512'/>", "<loader supported='no'/>"} {
		if !strings.Contains(pvh, want) {
			t.Errorf("xenpvh lacks %q", want)
		}
	}
	if strings.Contains(pvh, "<hostdev") {
		t.Errorf("xenpvh has a hostdev block (libxl leaves it out):\n%s", pvh)
	}
	validateHostXML(t, "domaincaps.rng", nil, def, pvh)
}

func TestDomainCapabilitiesErrors(t *testing.T) {
	for _, tc := range []struct {
		in   domCapsInput
		code rpc.Code
		msg  string
	}{
		{domCapsInput{Arch: "x86_64", VirtType: "kvm"}, rpc.CodeInvalidArg, "invalid argument: unknown virttype: kvm"},
		{domCapsInput{Arch: "x86_64", VirtType: "bogus"}, rpc.CodeInvalidArg, "invalid argument: unknown virttype: bogus"},
		{domCapsInput{Arch: "z80"}, rpc.CodeInvalidArg, "invalid argument: unknown architecture: z80"},
		{domCapsInput{Arch: "x86_64", Machine: "pc"}, rpc.CodeInvalidArg,
			"invalid argument: Xen only supports 'xenpv', 'xenpvh' and 'xenfv' machines"},
	} {
		_, err := formatDomainCapabilities(tc.in)
		e := rpc.AsError(err, rpc.DomainNone)
		if err == nil || e.Code != tc.code || e.Domain != rpc.DomainLibxl || e.Message != tc.msg {
			t.Errorf("%+v: got %v, want %d %q", tc.in, err, tc.code, tc.msg)
		}
	}
}

func TestCapabilitiesGuests(t *testing.T) {
	g := func(os, arch string, hvm, pvh, pae, nonpae bool) capsGuest {
		return capsGuest{OSType: os, Arch: arch, HVM: hvm, PVH: pvh, PAE: pae, NonPAE: nonpae}
	}
	for _, tc := range []struct {
		caps string
		want []capsGuest
	}{
		{"xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64", []capsGuest{
			g("xen", "x86_64", false, false, false, false),
			g("hvm", "i686", true, false, true, true),
			g("xenpvh", "i686", false, true, false, false),
			g("hvm", "x86_64", true, false, false, false),
			g("xenpvh", "x86_64", false, true, false, false),
		}},
		{"xen-3.0-x86_64 xen-3.0-x86_32p", []capsGuest{
			g("xen", "x86_64", false, false, false, false),
			g("xen", "i686", false, false, true, false),
		}},
		{"xen-3.0-aarch64 xen-3.0-armv7l bogus hvm-x-x86_64", []capsGuest{
			g("xen", "aarch64", false, false, false, false),
			g("xen", "armv7l", false, false, false, false),
		}},
		{"", nil},
	} {
		if got := capsGuests(tc.caps); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("capsGuests(%q) =\n%+v\nwant\n%+v", tc.caps, got, tc.want)
		}
	}
}

// hostSmall is a two-node host of 4 cpus, each socket one core of two threads.
var hostSmall = libxl.HostInfo{
	Hostname: "h", XenVersion: libxl.Version{Major: 4, Minor: 17},
	Capabilities: "xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64",
	CPUMHz:       2000, Nodes: 2, Sockets: 2, CoresPer: 1, ThreadsPer: 2, CPUs: 4,
	TotalKiB: 8388609, FreeKiB: 4194304, HVM: true,
}

const hostSmallCaps = `<capabilities>

  <host>
    <cpu>
      <arch>x86_64</arch>
      <features>
        <pae/>
      </features>
      <topology sockets='2' dies='1' clusters='1' cores='1' threads='2'/>
    </cpu>
    <power_management/>
    <iommu support='no'/>
    <migration_features>
      <live/>
    </migration_features>
    <netprefix>vif</netprefix>
    <topology>
      <cells num='2'>
        <cell id='0'>
          <memory unit='KiB'>4194305</memory>
          <distances>
            <sibling id='0' value='10'/>
            <sibling id='1' value='20'/>
          </distances>
          <cpus num='2'>
            <cpu id='0' socket_id='0' die_id='0' cluster_id='0' core_id='0' siblings='0-1'/>
            <cpu id='1' socket_id='0' die_id='0' cluster_id='0' core_id='0' siblings='0-1'/>
          </cpus>
        </cell>
        <cell id='1'>
          <memory unit='KiB'>4194304</memory>
          <distances>
            <sibling id='0' value='20'/>
            <sibling id='1' value='10'/>
          </distances>
          <cpus num='2'>
            <cpu id='2' socket_id='1' die_id='0' cluster_id='0' core_id='0' siblings='2-3'/>
            <cpu id='3' socket_id='1' die_id='0' cluster_id='0' core_id='0' siblings='2-3'/>
          </cpus>
        </cell>
      </cells>
    </topology>
  </host>

  <guest>
    <os_type>xen</os_type>
    <arch name='x86_64'>
      <wordsize>64</wordsize>
      <emulator>/usr/lib/xen/bin/qemu-system-i386</emulator>
      <machine>xenpv</machine>
      <domain type='xen'/>
    </arch>
  </guest>

  <guest>
    <os_type>hvm</os_type>
    <arch name='i686'>
      <wordsize>32</wordsize>
      <emulator>/usr/lib/xen/bin/qemu-system-i386</emulator>
      <loader>/usr/lib/xen/boot/hvmloader</loader>
      <machine>xenfv</machine>
      <domain type='xen'/>
    </arch>
    <features>
      <pae/>
      <nonpae/>
      <acpi default='on' toggle='yes'/>
      <apic default='on' toggle='no'/>
      <hap default='on' toggle='yes'/>
    </features>
  </guest>

  <guest>
    <os_type>xenpvh</os_type>
    <arch name='i686'>
      <wordsize>32</wordsize>
      <emulator>/usr/lib/xen/bin/qemu-system-i386</emulator>
      <machine>xenpvh</machine>
      <domain type='xen'/>
    </arch>
    <features>
      <hap default='on' toggle='yes'/>
    </features>
  </guest>

  <guest>
    <os_type>hvm</os_type>
    <arch name='x86_64'>
      <wordsize>64</wordsize>
      <emulator>/usr/lib/xen/bin/qemu-system-i386</emulator>
      <loader>/usr/lib/xen/boot/hvmloader</loader>
      <machine>xenfv</machine>
      <domain type='xen'/>
    </arch>
    <features>
      <acpi default='on' toggle='yes'/>
      <apic default='on' toggle='no'/>
      <hap default='on' toggle='yes'/>
    </features>
  </guest>

  <guest>
    <os_type>xenpvh</os_type>
    <arch name='x86_64'>
      <wordsize>64</wordsize>
      <emulator>/usr/lib/xen/bin/qemu-system-i386</emulator>
      <machine>xenpvh</machine>
      <domain type='xen'/>
    </arch>
    <features>
      <hap default='on' toggle='yes'/>
    </features>
  </guest>

</capabilities>
`

func TestCapabilitiesXML(t *testing.T) {
	got := formatCapabilities("x86_64", hostSmall)
	if got != hostSmallCaps {
		t.Errorf("capabilities:\n%s\nwant:\n%s", got, hostSmallCaps)
	}
	arm := formatCapabilities("aarch64", libxl.HostInfo{CPUs: 2, Nodes: 1, CoresPer: 2, ThreadsPer: 1,
		TotalKiB: 1 << 20, Capabilities: "xen-3.0-aarch64"})
	if !strings.Contains(arm, "    <cpu>\n      <arch>aarch64</arch>\n    </cpu>\n") {
		t.Errorf("an ARM host CPU has neither features nor topology (hw_cap is zero there):\n%s", arm)
	}
	validateHostXML(t, "capability.rng", patchCapabilitySchema, got, arm)
}

// patchCapabilitySchema adds to libvirt's capability.rng the two elements its own libxl driver emits and the
// schema lacks: <netprefix> (virCapabilitiesFormatHostXML) and the xenpvh guest type.
func patchCapabilitySchema(t *testing.T, rng string) string {
	t.Helper()
	for _, r := range []struct{ old, new string }{
		{"<value>hvm</value> <!-- unmodified OS -->", "<value>hvm</value> <!-- unmodified OS -->\n        <value>xenpvh</value>"},
		{"<ref name=\"migration\"/>\n      </optional>", "<ref name=\"migration\"/>\n      </optional>\n" +
			"      <optional>\n        <element name=\"netprefix\"><text/></element>\n      </optional>"},
	} {
		if !strings.Contains(rng, r.old) {
			t.Fatalf("capability.rng changed: %q not found", r.old)
		}
		rng = strings.Replace(rng, r.old, r.new, 1)
	}
	return rng
}

// validateHostXML checks documents against one of libvirt's schemas with xmllint, optionally patching the schema.
func validateHostXML(t *testing.T, schema string, patch func(*testing.T, string) string, docs ...string) {
	t.Helper()
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		testenv.Missing(t, "xmllint (Debian package libxml2-utils)", "make test-deps")
	}
	src := libvirtsrc.Path(t, "src/conf/schemas")
	if _, err := os.Stat(filepath.Join(src, schema)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rngs, _ := filepath.Glob(filepath.Join(src, "*.rng"))
	for _, f := range rngs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(f) == schema && patch != nil {
			b = []byte(patch(t, string(b)))
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, doc := range docs {
		path := filepath.Join(dir, "doc.xml")
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(xmllint, "--noout", "--relaxng", filepath.Join(dir, schema), path).CombinedOutput(); err != nil {
			t.Errorf("document %d does not validate against %s: %v\n%s\n%s", i, schema, err, out, doc)
		}
	}
}

func TestCapabilitiesOverRPC(t *testing.T) {
	e := startHostEnv(t, hostSimOptions(t))
	l := e.dial(e.Sock)
	caps, err := l.ConnectGetCapabilities()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<arch>x86_64</arch>", "<topology sockets='2' dies='1' clusters='1' cores='4' threads='1'/>",
		"<cells num='2'>", "<memory unit='KiB'>8388608</memory>", "<os_type>xenpvh</os_type>"} {
		if !strings.Contains(caps, want) {
			t.Errorf("capabilities lack %q:\n%s", want, caps)
		}
	}
	validateHostXML(t, "capability.rng", patchCapabilitySchema, caps)

	xenfv, err := l.ConnectGetDomainCapabilities(nil, nil, libvirt.OptString{"xenfv"}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(xenfv, "<value>/usr/lib/xen/boot/ovmf.bin</value>\n      <value>/usr/lib/xen/boot/hvmloader</value>") {
		t.Errorf("xenfv loaders are not the driver's firmwares:\n%s", xenfv)
	}
	_, err = l.ConnectGetDomainCapabilities(nil, nil, libvirt.OptString{"pc"}, nil, 0)
	wantHostErr(t, err, libvirt.ErrInvalidArg, "invalid argument: Xen only supports 'xenpv', 'xenpvh' and 'xenfv' machines")
	_, err = l.ConnectGetDomainCapabilities(nil, nil, nil, nil, 1)
	wantHostErr(t, err, libvirt.ErrInvalidArg, "invalid argument: unsupported flags (0x1) in function libxlConnectGetDomainCapabilities")
}
