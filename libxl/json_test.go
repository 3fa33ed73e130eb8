package libxl

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDefboolJSON(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Defbool
	}{
		{`"True"`, DefboolTrue}, {`"False"`, DefboolFalse}, {`"<default>"`, DefboolDefault},
		{`true`, DefboolTrue}, {`false`, DefboolFalse}, {`null`, DefboolDefault},
	} {
		var d Defbool
		if err := json.Unmarshal([]byte(tc.in), &d); err != nil || d != tc.want {
			t.Errorf("unmarshal %s = %v, %v; want %v", tc.in, d, err, tc.want)
		}
	}
	var d Defbool
	if err := json.Unmarshal([]byte(`"maybe"`), &d); err == nil {
		t.Error("unmarshal of a bad defbool succeeded")
	}
	// A defbool at its default is omitted; set ones print as libxl spells them.
	got := mustMarshal(t, DeviceVfb{Devid: DevidDefault, VNC: VncInfo{Enable: DefboolTrue, FindUnused: DefboolFalse}})
	if want := `{"vnc":{"enable":"True","findunused":"False"},"sdl":{}}`; got != want {
		t.Errorf("vfb = %s, want %s", got, want)
	}
}

func TestBitmapJSON(t *testing.T) {
	for _, tc := range []struct {
		b    Bitmap
		want string
	}{
		{Bitmap{3, 1, 2, 1}, `[1,2,3]`},
		{BitmapRange(0, 4), `[0,1,2,3]`},
		{Bitmap{}, ``},
		{nil, ``},
	} {
		got := mustMarshal(t, DomainBuildInfo{AvailVcpus: tc.b})
		want := `"avail_vcpus":` + tc.want
		if tc.want == "" {
			if strings.Contains(got, "avail_vcpus") {
				t.Errorf("%v: empty bitmap printed: %s", tc.b, got)
			}
		} else if !strings.Contains(got, want) {
			t.Errorf("%v: got %s, want it to contain %s", tc.b, got, want)
		}
	}
	if !BitmapRange(0, 64).Has(63) || BitmapRange(0, 64).Has(64) {
		t.Error("BitmapRange(0, 64) is not bits 0-63")
	}
}

func TestBuildInfoUnionJSON(t *testing.T) {
	for _, tc := range []struct {
		name string
		bi   DomainBuildInfo
		want string
	}{
		{"none", DomainBuildInfo{}, `{"sched_params":{},"type.invalid":{},"arch_arm":{},"arch_x86":{}}`},
		{"hvm", DomainBuildInfo{Type: DomainTypeHVM, HVM: &DomainBuildInfoHVM{PAE: DefboolTrue}},
			`{"sched_params":{},"type.hvm":{"pae":"True","vga":{},"vnc":{},"sdl":{},"spice":{},"rdm":{}},"arch_arm":{},"arch_x86":{}}`},
		{"hvm-nil-member", DomainBuildInfo{Type: DomainTypeHVM},
			`{"sched_params":{},"type.hvm":{"vga":{},"vnc":{},"sdl":{},"spice":{},"rdm":{}},"arch_arm":{},"arch_x86":{}}`},
		{"pv", DomainBuildInfo{Type: DomainTypePV, PV: &DomainBuildInfoPV{Bootloader: "pygrub"}},
			`{"sched_params":{},"type.pv":{"bootloader":"pygrub"},"arch_arm":{},"arch_x86":{}}`},
		{"pvh", DomainBuildInfo{Type: DomainTypePVH, PVH: &DomainBuildInfoPVH{}},
			`{"sched_params":{},"type.pvh":{},"arch_arm":{},"arch_x86":{}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mustMarshal(t, tc.bi)
			if got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
			var back DomainBuildInfo
			if err := json.Unmarshal([]byte(got), &back); err != nil {
				t.Fatal(err)
			}
			if again := mustMarshal(t, back); again != got {
				t.Errorf("round trip: %s", again)
			}
		})
	}
	var bi DomainBuildInfo
	if err := json.Unmarshal([]byte(`{"type.pv":{"bootloader":"x"}}`), &bi); err != nil {
		t.Fatal(err)
	}
	if bi.Type != DomainTypePV || bi.PV == nil || bi.PV.Bootloader != "x" {
		t.Errorf("parsed union = %+v", bi)
	}
}

func TestDefaultsOmitted(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    any
		want string
	}{
		{"nic devid 0 is printed", DeviceNic{Devid: 0}, `{"devid":0}`},
		{"devid -1 is the default", NewDeviceNic(), `{}`},
		{"usbdev ctrl -1 is the default", NewDeviceUsbdev(), `{"type.hostdev":{}}`},
		{"channel union", DeviceChannel{Devid: DevidDefault, Name: "n", Connection: ChannelConnPty},
			`{"name":"n","connection.pty":{}}`},
		{"memkb default", DomainBuildInfo{MaxMemkb: MemKBDefault, TargetMemkb: 1024, Type: DomainTypePV},
			`{"target_memkb":1024,"sched_params":{},"type.pv":{},"arch_arm":{},"arch_x86":{}}`},
		{"grant default", DomainBuildInfo{MaxGrantFrames: MaxGrantDefault, MaxGrantVersion: -1, Type: DomainTypePV},
			`{"sched_params":{},"type.pv":{},"arch_arm":{},"arch_x86":{}}`},
		{"sched weight -1", DomainBuildInfo{SchedParams: DomainSchedParams{Weight: -1, Cap: 50}, Type: DomainTypePV},
			`{"sched_params":{"cap":50},"type.pv":{},"arch_arm":{},"arch_x86":{}}`},
		{"enum at its named default", DomainConfig{OnPoweroff: ActionDestroy, OnReboot: ActionRestart},
			`{"c_info":{},"b_info":{"sched_params":{},"type.invalid":{},"arch_arm":{},"arch_x86":{}},"on_reboot":"restart"}`},
		{"pci rdm_policy invalid", DevicePci{Bus: 10, Dev: 16, RDMPolicy: RDMPolicyInvalid, Permissive: true},
			`{"dev":16,"bus":10,"permissive":true}`},
	} {
		if got := mustMarshal(t, tc.v); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
	// yajl escapes only quotes, backslashes and control characters (encoding/json would escape <, > and & too).
	if got, _ := marshalIDL(DeviceDisk{PdevPath: "/a/b\"c\n<d>\x01é"}); string(got) != `{"pdev_path":"/a/b\"c\n<d>\u0001é"}` {
		t.Errorf("string escaping: %s", got)
	}
	var vfb DeviceVfb
	if err := json.Unmarshal([]byte(`{"vnc":{"enable":"True"}}`), &vfb); err != nil || vfb.Devid != DevidDefault {
		t.Errorf("vfb without devid parsed as devid %d (%v), want %d", vfb.Devid, err, DevidDefault)
	}
}

// TestLibxlTextRoundTrip parses what libxl 4.17 printed and prints it again: the text must be the same byte for
// byte (testdata/libxl417 are libvirt's expected files as libxl prints them, libxl417-extra configurations built
// with libxl's C types; see testdata/libxltool).
func TestLibxlTextRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("testdata/libxl417*/*.json")
	if len(files) < 20 {
		t.Fatalf("found %d libxl outputs in testdata, want the 20 corpus cases and the extras", len(files))
	}
	for _, f := range files {
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c DomainConfig
		if err := json.Unmarshal(want, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		got, err := c.LibxlJSON()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: printed differently:\n%s", f, got)
		}
	}
}

func TestCPUIDPolicy(t *testing.T) {
	var p CPUIDPolicy
	for _, kv := range [][2]string{{"sse3", "0"}, {"tsc", "1"}, {"fsgsbase", "1"}, {"nc", "3"}, {"rdcl-no", "1"}} {
		if err := p.Set(kv[0], kv[1]); err != nil {
			t.Fatalf("Set(%s=%s): %v", kv[0], kv[1], err)
		}
	}
	want := `{"cpuid":[{"leaf":1,"ecx":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx0","edx":"xxxxxxxxxxxxxxxxxxxxxxxxxxx1xxxx"},` +
		`{"leaf":7,"subleaf":0,"ebx":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx1"},` +
		`{"leaf":2147483656,"ecx":"xxxxxxxxxxxxxxxxxxxxxxxx00000011"}],` +
		`"msr":[{"index":266,"policy":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx1"}]}`
	if got := mustMarshal(t, p); got != want {
		t.Errorf("policy\n got %s\nwant %s", got, want)
	}
	if err := p.Set("no-such-feature", "1"); !errors.Is(err, ErrUnknownCPUFeature) {
		t.Errorf("unknown feature: %v", err)
	}
	if err := p.Set("tsc", "y"); err == nil {
		t.Error("bad value accepted")
	}
	// Older libxl printed the bare list of leaves; both forms are read.
	var legacy DomainBuildInfo
	if err := json.Unmarshal([]byte(`{"cpuid":[{"leaf":1,"ecx":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx0"}]}`), &legacy); err != nil {
		t.Fatal(err)
	}
	if len(legacy.CPUID.CPUID) != 1 || legacy.CPUID.CPUID[0].ECX != "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx0" {
		t.Errorf("legacy cpuid parsed as %+v", legacy.CPUID)
	}
}

func TestConfigDiff(t *testing.T) {
	base := `{"c_info":{"type":"pv","name":"a"},"b_info":{"max_vcpus":2,"sched_params":{},"type.pv":{}},
		"vfbs":[{"devid":-1,"vnc":{"enable":"True"}}],"pcidevs":[{"bus":1,"rdm_policy":"invalid"}]}`
	same := `{"pcidevs":[{"bus":1}],"vfbs":[{"vnc":{"enable":"True"},"sdl":{}}],
		"b_info":{"type.pv":{},"max_vcpus":2,"arch_x86":{}},"c_info":{"name":"a","type":"pv"},"on_poweroff":"destroy"}`
	if d, err := ConfigDiff([]byte(base), []byte(same)); err != nil || len(d) != 0 {
		t.Errorf("equivalent configurations differ: %v %v", d, err)
	}
	other := `{"c_info":{"type":"pv","name":"b"},"b_info":{"max_vcpus":2,"type.pv":{}},
		"vfbs":[{"vnc":{"enable":"True"}}],"pcidevs":[{"bus":1}],"on_crash":"restart"}`
	d, err := ConfigDiff([]byte(base), []byte(other))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`/c_info/name: "a" → "b"`, `/on_crash: (absent) → "restart"`}
	if strings.Join(d, "\n") != strings.Join(want, "\n") {
		t.Errorf("diff = %q, want %q", d, want)
	}
	if _, err := ConfigDiff([]byte(`{`), []byte(base)); err == nil {
		t.Error("bad JSON accepted")
	}
}
