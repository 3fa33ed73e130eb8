package domxml

import (
	"errors"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"

	v1alpha1 "github.com/virtxend/virtxend/api/v1alpha1"
)

// seeded returns Defaults with a deterministic random source.
func seeded(seed byte) Defaults {
	return Defaults{HostArch: "x86_64", Rand: rand.NewChaCha8([32]byte{seed})}
}

// defaulted parses doc and applies the defaults with a fixed seed.
func defaulted(t *testing.T, doc string, d Defaults) (*v1alpha1.DomainSpec, string) {
	t.Helper()
	spec, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := ApplyDefaults(spec, d); err != nil {
		t.Fatal(err)
	}
	out, err := Format(spec, Inactive)
	if err != nil {
		t.Fatal(err)
	}
	return spec, string(out)
}

func TestApplyDefaults(t *testing.T) {
	pv := "<domain type='xen'><name>pv</name><memory>524288</memory><os><type>linux</type><kernel>/k</kernel></os>%s</domain>"
	hvm := "<domain type='xen'><name>hvm</name><memory>524288</memory><os><type>hvm</type></os>%s</domain>"
	doc := func(f, body string) string { return strings.Replace(f, "%s", body, 1) }
	tests := []struct {
		name    string
		doc     string
		d       Defaults
		want    []string // lines (trimmed) that must appear in order
		notWant []string
	}{
		{"pv", doc(pv, ""), seeded(1), []string{
			"<currentMemory unit='KiB'>524288</currentMemory>",
			"<vcpu placement='static'>1</vcpu>",
			"<type arch='x86_64' machine='xenpv'>linux</type>",
			"<clock offset='utc'/>",
			"<on_poweroff>destroy</on_poweroff>", "<on_reboot>restart</on_reboot>", "<on_crash>destroy</on_crash>",
			"<controller type='xenbus' index='0'/>",
			"<console type='pty'>", "<target type='xen' port='0'/>",
			"<input type='mouse' bus='xen'/>", "<input type='keyboard' bus='xen'/>",
			"<memballoon model='xen'/>",
		}, []string{"<pae/>", "<boot"}},
		{"hvm", doc(hvm, "<devices><disk type='file'><source file='/a'/><target dev='hdc'/></disk>"+
			"<disk type='file' device='cdrom'><source file='/b.iso'/><target dev='sdb'/></disk>"+
			"<graphics type='vnc'/></devices>"), seeded(1), []string{
			"<type arch='x86_64' machine='xenfv'>hvm</type>", "<boot dev='hd'/>",
			"<features>", "<pae/>", "</features>",
			"<disk type='file' device='disk'>", "<driver type='raw'/>", "<target dev='hdc' bus='ide'/>",
			"<address type='drive' controller='0' bus='1' target='0' unit='0'/>",
			"<disk type='file' device='cdrom'>", "<target dev='sdb' bus='scsi'/>", "<readonly/>",
			"<address type='drive' controller='0' bus='0' target='0' unit='1'/>",
			"<controller type='xenbus' index='0'/>", "<controller type='scsi' index='0'/>",
			"<controller type='ide' index='0'/>",
			"<input type='mouse' bus='ps2'/>", "<input type='keyboard' bus='ps2'/>",
			"<graphics type='vnc' port='-1' autoport='yes'>", "<listen type='address'/>",
			"<model type='cirrus' vram='8192' heads='1' primary='yes'/>",
		}, []string{"<console"}},
		{"hvm qemu-traditional video", doc(hvm, "<devices><video><model type='vga'/></video></devices>"),
			Defaults{QEMUTraditional: true}, []string{"<model type='vga' vram='8192' heads='1' primary='yes'/>"}, nil},
		{"pv video", doc(pv, "<devices><graphics type='vnc' listen='0.0.0.0'/></devices>"), seeded(1), []string{
			"<graphics type='vnc' port='-1' autoport='yes' listen='0.0.0.0'>",
			"<listen type='address' address='0.0.0.0'/>",
			"<model type='xen' vram='4096' heads='1' primary='yes'/>"}, nil},
		{"vnuma", "<domain type='xen'><name>n</name><os><type>hvm</type></os><cpu><numa>" +
			"<cell id='0' cpus='0' memory='1' unit='GiB'/><cell id='1' cpus='1' memory='1' unit='GiB'/>" +
			"</numa></cpu></domain>", seeded(1), []string{
			"<memory unit='KiB'>2097152</memory>", "<currentMemory unit='KiB'>2097152</currentMemory>",
			"<acpi/>", "<pae/>"}, nil},
		{"balloon target above maximum", doc(hvm, "<currentMemory>999999999</currentMemory>"), seeded(1),
			[]string{"<currentMemory unit='KiB'>524288</currentMemory>"}, nil},
		{"all vcpus online", doc(hvm, "<vcpu current='2'>2</vcpu>"), seeded(1),
			[]string{"<vcpu placement='static'>2</vcpu>"}, nil},
		{"some vcpus online", doc(hvm, "<vcpu current='2'>4</vcpu>"), seeded(1),
			[]string{"<vcpu placement='static' current='2'>4</vcpu>"}, nil},
		{"variable clock", doc(hvm, "<clock offset='variable'/>"), seeded(1),
			[]string{"<clock offset='variable' adjustment='0' basis='utc'/>"}, nil},
		{"loader", "<domain type='xen'><name>l</name><memory>1024</memory><os><type>hvm</type>" +
			"<loader>/usr/lib/xen/boot/hvmloader</loader></os></domain>", seeded(1),
			[]string{"<loader type='rom' format='raw'>/usr/lib/xen/boot/hvmloader</loader>"}, nil},
		{"hvm serial gets a console", doc(hvm, "<devices><serial type='file'><source path='/tmp/s'/></serial></devices>"),
			seeded(1), []string{"<serial type='file'>", "<source path='/tmp/s'/>", "<target port='0'/>",
				"<console type='file'>", "<source path='/tmp/s'/>", "<target type='serial' port='0'/>"}, nil},
		{"hvm console becomes a serial", doc(hvm, "<devices><console type='pty'/></devices>"), seeded(1),
			[]string{"<serial type='pty'>", "<target port='0'/>", "<console type='pty'>",
				"<target type='serial' port='0'/>"}, nil},
		{"network disk", doc(hvm, "<devices><disk type='network'><source protocol='rbd' name='p/i'/>"+
			"<target dev='xvda'/></disk></devices>"), seeded(1), []string{"<driver name='qemu' type='raw'/>",
			"<target dev='xvda' bus='xen'/>"}, []string{"<address"}},
		{"mac", doc(hvm, "<devices><interface type='bridge'><source bridge='br0'/></interface></devices>"),
			seeded(1), []string{"<mac address='00:16:3e:"}, nil},
		{"usb tablet", doc(hvm, "<devices><input type='tablet'/></devices>"), seeded(1),
			[]string{"<input type='tablet' bus='usb'/>", "<input type='mouse' bus='ps2'/>"}, nil},
		{"cpusets and topology", doc(hvm, "<vcpu cpuset='3,0,1,2,^2,7'>4</vcpu><cputune><vcpupin vcpu='0' cpuset='1,2'/></cputune>"+
			"<cpu><topology sockets='1' cores='2' threads='2'/></cpu>"), seeded(1), []string{
			"<vcpu placement='static' cpuset='0-1,3,7'>4</vcpu>", "<vcpupin vcpu='0' cpuset='1-2'/>",
			"<topology sockets='1' dies='1' clusters='1' cores='2' threads='2'/>"}, nil},
		{"spice without ports", doc(hvm, "<devices><graphics type='spice' autoport='no'/></devices>"), seeded(1),
			[]string{"<graphics type='spice' autoport='no'>", "<listen type='none'/>"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, out := defaulted(t, tt.doc, tt.d)
			rest := out
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("%q missing or out of order in\n%s", w, out)
				}
				rest = rest[i+len(w):]
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("%q present in\n%s", w, out)
				}
			}
			// Applying the defaults again changes nothing, and the result reads back the same.
			again := spec.DeepCopy()
			if err := ApplyDefaults(again, seeded(9)); err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(spec, again) {
				out2, _ := Format(again, Inactive)
				t.Errorf("ApplyDefaults is not idempotent:\n%s", diffLines([]byte(out), out2))
			}
			back, err := Parse([]byte(out))
			if err != nil {
				t.Fatalf("Parse of the defaulted XML: %v\n%s", err, out)
			}
			if !equality.Semantic.DeepEqual(spec, back) {
				t.Errorf("Parse(Format(defaulted)) differs")
			}
		})
	}
}

func TestApplyDefaultsGenerated(t *testing.T) {
	doc := "<domain type='xen'><name>g</name><memory>1024</memory><os><type>hvm</type></os><devices>" +
		"<interface type='bridge'><source bridge='a'/></interface><interface type='bridge'><source bridge='b'/></interface>" +
		"</devices></domain>"
	s1, _ := defaulted(t, doc, seeded(3))
	s2, _ := defaulted(t, doc, seeded(3))
	s3, _ := defaulted(t, doc, seeded(4))
	uuidRE := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	macRE := regexp.MustCompile(`^00:16:3e:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$`)
	if !uuidRE.MatchString(s1.UUID) {
		t.Errorf("uuid %q is not a version 4 UUID", s1.UUID)
	}
	for _, n := range s1.Devices.Interfaces {
		if !macRE.MatchString(n.MAC) {
			t.Errorf("mac %q is not in 00:16:3e", n.MAC)
		}
	}
	if s1.Devices.Interfaces[0].MAC == s1.Devices.Interfaces[1].MAC {
		t.Errorf("two interfaces got the same MAC %s", s1.Devices.Interfaces[0].MAC)
	}
	if s1.UUID != s2.UUID || s1.Devices.Interfaces[0].MAC != s2.Devices.Interfaces[0].MAC {
		t.Errorf("the same seed gave different values")
	}
	if s1.UUID == s3.UUID {
		t.Errorf("different seeds gave the same uuid")
	}
	// crypto/rand by default.
	spec, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := ApplyDefaults(spec, Defaults{}); err != nil || !uuidRE.MatchString(spec.UUID) {
		t.Errorf("ApplyDefaults with crypto/rand: %v, uuid %q", err, spec.UUID)
	}
}

func TestApplyDefaultsErrors(t *testing.T) {
	tests := []struct {
		name string
		spec v1alpha1.DomainSpec
		kind error
		want string
	}{
		{"no memory", v1alpha1.DomainSpec{Name: "a", OS: v1alpha1.OS{Type: "hvm"}}, ErrInvalid,
			"memory size must be specified"},
		{"no os type", v1alpha1.DomainSpec{Name: "a", Memory: kibQuantity(1024)}, ErrInvalid,
			"an os <type> must be specified"},
		{"current above count", v1alpha1.DomainSpec{Name: "a", Memory: kibQuantity(1024), OS: v1alpha1.OS{Type: "hvm"},
			VCPU: &v1alpha1.VCPU{Count: 1, Current: u32(2)}}, ErrInvalid, "maximum vcpus count"},
		{"bad uuid", v1alpha1.DomainSpec{Name: "a", UUID: "x", Memory: kibQuantity(1024), OS: v1alpha1.OS{Type: "hvm"}},
			ErrInvalid, "malformed uuid"},
		{"unknown disk name", v1alpha1.DomainSpec{Name: "a", Memory: kibQuantity(1024), OS: v1alpha1.OS{Type: "hvm"},
			Devices: v1alpha1.Devices{Disks: []v1alpha1.Disk{{Type: "file", Target: v1alpha1.DiskTarget{Dev: "disk0"}}}}},
			ErrInvalid, "unknown disk name 'disk0'"},
		{"bad cpuset", v1alpha1.DomainSpec{Name: "a", Memory: kibQuantity(1024), OS: v1alpha1.OS{Type: "hvm"},
			VCPU: &v1alpha1.VCPU{Count: 1, CPUSet: "0-x"}}, ErrInvalid, "failed to parse bitmap '0-x'"},
		{"slash in name", v1alpha1.DomainSpec{Name: "a/b", Memory: kibQuantity(1024), OS: v1alpha1.OS{Type: "hvm"}},
			ErrInvalid, "cannot contain '/'"},
		{"hpet mode", v1alpha1.DomainSpec{Name: "a", Memory: kibQuantity(1024), OS: v1alpha1.OS{Type: "hvm"},
			Clock: &v1alpha1.Clock{Timers: []v1alpha1.Timer{{Name: "hpet", Mode: "native"}}}}, ErrUnsupported,
			"timer hpet doesn't support setting of timer mode"},
		{"cpu check without model", v1alpha1.DomainSpec{Name: "a", Memory: kibQuantity(1024), OS: v1alpha1.OS{Type: "hvm"},
			CPU: &v1alpha1.CPU{Check: "full"}}, ErrUnsupported, "check attribute specified for CPU with no model"},
		{"duplicate controller", v1alpha1.DomainSpec{Name: "a", Memory: kibQuantity(1024), OS: v1alpha1.OS{Type: "hvm"},
			Devices: v1alpha1.Devices{Controllers: []v1alpha1.Controller{{Type: "xenbus", Index: u32(0)},
				{Type: "xenbus", Index: u32(0)}}}}, ErrInvalid, "multiple 'xenbus' controllers with index '0'"},
		{"second serial console", v1alpha1.DomainSpec{Name: "a", Memory: kibQuantity(1024), OS: v1alpha1.OS{Type: "xen"},
			Devices: v1alpha1.Devices{Consoles: []v1alpha1.Chardev{{Type: "pty"},
				{Type: "pty", Target: &v1alpha1.ChardevTarget{Type: "serial"}}}}}, ErrUnsupported,
			"only the first console can be a serial port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ApplyDefaults(&tt.spec, seeded(1))
			if !errors.Is(err, tt.kind) || err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ApplyDefaults: %v, want %v containing %q", err, tt.kind, tt.want)
			}
		})
	}
}

func TestDiskNameToIndex(t *testing.T) {
	for name, want := range map[string]int{"hda": 0, "hdd": 3, "xvdb": 1, "sdz": 25, "sdaa": 26, "sdab": 27,
		"vdba": 52, "xvda1": 0, "fda": 0, "hd": -1, "disk": -1, "hda1x": -1} {
		if got := diskNameToIndex(name); got != want {
			t.Errorf("diskNameToIndex(%q) = %d, want %d", name, got, want)
		}
	}
}

func TestOfflineVCPUPins(t *testing.T) {
	spec, _ := defaulted(t, "<domain type='xen'><name>p</name><memory>1024</memory><vcpu current='2'>4</vcpu>"+
		"<cputune><vcpupin vcpu='0' cpuset='0'/><vcpupin vcpu='3' cpuset='3'/></cputune><os><type>hvm</type></os></domain>",
		seeded(1))
	if pins := spec.CPUTune.VCPUPins; len(pins) != 1 || pins[0].VCPU != 0 {
		t.Errorf("pins %+v, want only vcpu 0", pins)
	}
}

func TestRoundMemoryAtStart(t *testing.T) {
	spec, _ := defaulted(t, "<domain type='xen'><name>m</name><memory>1000</memory><currentMemory>1025</currentMemory>"+
		"<os><type>hvm</type></os></domain>", seeded(1))
	RoundMemoryAtStart(spec)
	if got := quantityKiB(spec.Memory); got != 1024 {
		t.Errorf("memory %d KiB, want 1024", got)
	}
	if got := quantityKiB(*spec.CurrentMemory); got != 1024 {
		t.Errorf("currentMemory %d KiB, want 1024 (the balloon target is clamped to the maximum first)", got)
	}
}

func TestAbsurdDiskTargetIsRefused(t *testing.T) {
	for _, dev := range []string{"hdzzzzz", "sdzzzzzz"} {
		spec, err := Parse([]byte(`<domain type='xen'><name>x</name><memory>65536</memory>
<os><type>hvm</type></os><devices><disk type='file' device='disk'><source file='/x.img'/>
<target dev='` + dev + `'/></disk></devices></domain>`))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- ApplyDefaults(spec, Defaults{}) }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "out of range") {
				t.Errorf("%s: ApplyDefaults error = %v, want out of range", dev, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: ApplyDefaults does not return", dev)
		}
	}
}
