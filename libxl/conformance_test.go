package libxl

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virtxend/virtxend/api/domxml"
	"github.com/virtxend/virtxend/test/libvirtsrc"
)

// corpusDir returns the directory of libvirt's libxlxml2domconfig test data (from libvirt's release, see package
// libvirtsrc).
func corpusDir(tb testing.TB) string { return libvirtsrc.Path(tb, "tests/libxlxml2domconfigdata") }

// knownFailures lists the corpus cases that are expected not to match, with the reason. Keep it empty.
var knownFailures = map[string]string{}

// MockHostFacts returns the host libvirt's libxlxml2domconfigtest runs on (tests/libxlmock.c and
// tests/testutilsxen.c): 6 NUMA nodes, a core2duo CPU with vmx, nested_hvm on in libxl.conf, shadow memory always
// 1234 KiB, qemu-xen as the device model, every VNC port from 5900 free (a fresh 5900–6000 allocator).
func MockHostFacts() HostFacts {
	return HostFacts{
		Arch:          "x86_64",
		NUMANodes:     6,
		MaxCPUs:       2,
		HostVMX:       true,
		NestedHVM:     true,
		Firmwares:     []string{DefaultFirmwareDir + "/ovmf.bin", DefaultFirmwareDir + "/hvmloader"},
		ChannelDir:    DefaultChannelDir,
		ShadowMemory:  func(uint64, int) uint64 { return 1234 },
		EmulatorType:  func(string) DeviceModelVersion { return DeviceModelQemuXen },
		CheckEmulator: checkExecutable,
		GraphicsPorts: NewPortRange(VNCPortMin, 6000, nil),
	}
}

// corpusCases returns the libxlxml2domconfigtest cases libvirt runs against a Xen 4.17 libxl: every run of the
// program but those compiled only without LIBXL_HAVE_BUILDINFO_NESTED_HVM.
func corpusCases() []string {
	var cases []string
	for _, r := range libvirtsrc.Runs(libvirtsrc.LibxlXML2DomConfig) {
		if r.Applies() {
			cases = append(cases, r.Case)
		}
	}
	return cases
}

// buildCase runs one corpus case as libvirt's testCompareXMLToDomConfig does: parse the XML with the driver's
// parse-time defaults, build the libxl configuration, print it with libxl's generator.
func buildCase(dir, name string, host HostFacts) ([]byte, error) {
	xml, err := os.ReadFile(filepath.Join(dir, name+".xml"))
	if err != nil {
		return nil, err
	}
	spec, err := domxml.Parse(xml)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if err := domxml.ApplyDefaults(spec, domxml.Defaults{HostArch: "x86_64", Rand: zeroReader{}}); err != nil {
		return nil, fmt.Errorf("defaults: %w", err)
	}
	res, err := Build(spec, host)
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	return res.Config.LibxlJSON()
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestConformanceLibxlXML2DomConfig(t *testing.T) {
	dir := corpusDir(t)
	cases := corpusCases()
	matched := 0
	for _, name := range cases {
		ok := t.Run(name, func(t *testing.T) {
			got, err := buildCase(dir, name, MockHostFacts())
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join(dir, name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			diffs, err := ConfigDiff(want, got)
			if err != nil {
				t.Fatal(err)
			}
			if len(diffs) > 0 {
				t.Fatalf("libxl config differs from %s.json (want → got):\n  %s\nactual:\n%s",
					name, strings.Join(diffs, "\n  "), got)
			}
			// The expected file as libxl 4.17 itself prints it: the output must be the same text.
			if canon, err := os.ReadFile(filepath.Join("testdata", "libxl417", name+".json")); err == nil &&
				!bytes.Equal(canon, got) {
				t.Errorf("same configuration, but the text differs from libxl's own output testdata/libxl417/%s.json", name)
			}
		})
		if ok {
			matched++
		} else if reason, known := knownFailures[name]; known {
			t.Logf("%s: known failure: %s", name, reason)
		}
	}
	fmt.Printf("conformance libxlxml2domconfig: %d/%d match\n", matched, len(cases))
	if len(cases) != 18 {
		t.Errorf("the manifest lists %d cases for Xen 4.17, want 18", len(cases))
	}
}
