package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/test/libvirtsrc"
	"github.com/virtxend/virtxend/test/testenv"
)

// The simulated host of every instance: 16 GiB, Domain-0 holding 2 GiB, 8 cpus on one node (libxl/sim defaults).
const (
	simTotalKiB = 16 << 20
	simFreeKiB  = 14 << 20
	simCPUs     = 8
)

// TestHostVirshVersion: virsh version shows the Xen driver and Xen 4.17 (micro version dropped, as libvirt does);
// --daemon shows the libvirt release virtxend emulates.
func TestHostVirshVersion(t *testing.T) {
	i := startInstance(t)
	out := i.MustVirsh("version", "--daemon")
	for _, re := range []string{
		`(?m)^Using API: Xen \d+\.\d+\.\d+$`,
		`(?m)^Running hypervisor: Xen 4\.17\.0$`,
		`(?m)^Running against daemon: 11\.3\.0$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("virsh version lacks %s:\n%s", re, out)
		}
	}
}

// TestHostVirshURIAndHostname: uri is the client's own URI (no RPC); hostname is the host's name.
func TestHostVirshURIAndHostname(t *testing.T) {
	i := startInstance(t)
	if out := strings.TrimSpace(i.MustVirsh("uri")); out != i.URI() {
		t.Errorf("virsh uri = %q, want %q", out, i.URI())
	}
	host, _ := os.Hostname()
	if out := strings.TrimSpace(i.MustVirsh("hostname")); out == "" || !strings.HasPrefix(out, strings.Split(host, ".")[0]) {
		t.Errorf("virsh hostname = %q, want the host %q (canonicalized)", out, host)
	}
}

// TestHostVirshNodeinfo: the shape libvirt prints, with libvirt's "one socket" for Xen.
func TestHostVirshNodeinfo(t *testing.T) {
	i := startInstance(t)
	out := i.MustVirsh("nodeinfo")
	for _, re := range []string{
		`(?m)^CPU model:\s+x86_64$`,
		`(?m)^CPU\(s\):\s+8$`,
		`(?m)^CPU frequency:\s+\d+ MHz$`,
		`(?m)^CPU socket\(s\):\s+1$`,
		`(?m)^Core\(s\) per socket:\s+8$`,
		`(?m)^Thread\(s\) per core:\s+1$`,
		`(?m)^NUMA cell\(s\):\s+1$`,
		`(?m)^Memory size:\s+16777216 KiB$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("virsh nodeinfo lacks %s:\n%s", re, out)
		}
	}
}

// TestHostVirshCapabilities: the capabilities XML is libvirt's libxl shape and validates against libvirt's schema
// (with the two elements libvirt's libxl driver emits and its schema lacks).
func TestHostVirshCapabilities(t *testing.T) {
	i := startInstance(t)
	out := i.MustVirsh("capabilities")
	for _, want := range []string{
		"<arch>x86_64</arch>", "<netprefix>vif</netprefix>", "<cells num='1'>",
		"<memory unit='KiB'>16777216</memory>", "<cpus num='8'>",
		"<os_type>xen</os_type>", "<os_type>hvm</os_type>", "<os_type>xenpvh</os_type>",
		"<machine>xenpv</machine>", "<machine>xenfv</machine>", "<machine>xenpvh</machine>",
		"<loader>/usr/lib/xen/boot/hvmloader</loader>", "<emulator>/usr/lib/xen/bin/qemu-system-i386</emulator>",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("virsh capabilities lacks %q", want)
		}
	}
	hostXMLValid(t, "capability.rng", out, func(rng string) string {
		rng = strings.Replace(rng, "<value>hvm</value> <!-- unmodified OS -->",
			"<value>hvm</value>\n        <value>xenpvh</value>", 1)
		return strings.Replace(rng, "<ref name=\"migration\"/>\n      </optional>",
			"<ref name=\"migration\"/>\n      </optional>\n      <optional><element name=\"netprefix\"><text/></element></optional>", 1)
	})
}

// TestHostVirshDomcapabilities: xenpv by default, xenfv with --machine; both validate against domaincaps.rng.
func TestHostVirshDomcapabilities(t *testing.T) {
	i := startInstance(t)
	pv := i.MustVirsh("domcapabilities")
	fv := i.MustVirsh("domcapabilities", "--machine", "xenfv")
	for _, c := range []struct{ out, machine, vcpus, loader string }{
		{pv, "xenpv", "512", "<loader supported='no'/>"},
		{fv, "xenfv", "128", "<value>/usr/lib/xen/boot/hvmloader</value>"},
	} {
		for _, want := range []string{"<path>/usr/bin/qemu-system-x86_64</path>", "<domain>xen</domain>",
			"<machine>" + c.machine + "</machine>", "<vcpu max='" + c.vcpus + "'/>", c.loader} {
			if !strings.Contains(c.out, want) {
				t.Errorf("virsh domcapabilities (%s) lacks %q:\n%s", c.machine, want, c.out)
			}
		}
		hostXMLValid(t, "domaincaps.rng", c.out, nil)
	}
	r := i.Virsh("domcapabilities", "--machine", "pc")
	if r.Code == 0 || !strings.Contains(r.Stderr, "Xen only supports 'xenpv', 'xenpvh' and 'xenfv' machines") {
		t.Errorf("domcapabilities --machine pc: %+v", r)
	}
	// Read-only connections may not ask (libvirt: it could run an arbitrary emulator).
	needTool(t, "/usr/bin/virsh")
	ro := run(t, "/usr/bin/virsh", "-r", "-c", i.RO(), "domcapabilities")
	if ro.Code == 0 || !strings.Contains(ro.Stderr, "read only access prevents virConnectGetDomainCapabilities") {
		t.Errorf("read-only domcapabilities: %+v", ro)
	}
}

// TestHostVirshMaxvcpus: virsh asks the domain capabilities (512 for xenpv); a read-only client falls back to
// virConnectGetMaxVcpus, the host's cpus.
func TestHostVirshMaxvcpus(t *testing.T) {
	i := startInstance(t)
	for _, args := range [][]string{{"maxvcpus"}, {"maxvcpus", "--type", "xen"}} {
		if out := strings.TrimSpace(i.MustVirsh(args...)); out != "512" {
			t.Errorf("virsh %s = %q, want 512", strings.Join(args, " "), out)
		}
	}
	needTool(t, "/usr/bin/virsh")
	ro := run(t, "/usr/bin/virsh", "-r", "-c", i.RO(), "maxvcpus")
	if ro.Code != 0 || strings.TrimSpace(ro.Stdout) != strconv.Itoa(simCPUs) {
		t.Errorf("read-only maxvcpus: %+v", ro)
	}
}

// TestHostVirshSysinfo: SMBIOS data from /sys/class/dmi/id, or libvirt's error where the machine has none.
func TestHostVirshSysinfo(t *testing.T) {
	i := startInstance(t)
	if !hostHasSMBIOS() {
		r := i.Virsh("sysinfo")
		if r.Code == 0 || !strings.Contains(r.Stderr, "unsupported configuration: Host SMBIOS information is not available") {
			t.Errorf("virsh sysinfo without DMI data: exit %d, %q %q", r.Code, r.Stdout, r.Stderr)
		}
		return
	}
	out := strings.TrimSpace(i.MustVirsh("sysinfo"))
	if !strings.HasPrefix(out, "<sysinfo type='smbios'>") || !strings.Contains(out, "<entry name='vendor'>") {
		t.Errorf("virsh sysinfo lacks the BIOS vendor:\n%s", out)
	}
}

// hostHasSMBIOS reports whether the kernel publishes the machine's SMBIOS strings (a VM may have none).
func hostHasSMBIOS() bool {
	vendor, err := os.ReadFile("/sys/class/dmi/id/bios_vendor")
	return err == nil && len(strings.TrimSpace(string(vendor))) > 0
}

// TestHostVirshFreecell: the total, one cell, and every cell of the capabilities' topology.
func TestHostVirshFreecell(t *testing.T) {
	i := startInstance(t)
	if out := strings.TrimSpace(i.MustVirsh("freecell")); out != "Total: "+strconv.Itoa(simFreeKiB)+" KiB" {
		t.Errorf("virsh freecell = %q", out)
	}
	if out := strings.TrimSpace(i.MustVirsh("freecell", "0")); out != "0: "+strconv.Itoa(simFreeKiB)+" KiB" {
		t.Errorf("virsh freecell 0 = %q", out)
	}
	all := i.MustVirsh("freecell", "--all")
	for _, re := range []string{`(?m)^\s+0:\s+14680064 KiB$`, `(?m)^-+$`, `(?m)^Total:\s+14680064 KiB$`} {
		if !regexp.MustCompile(re).MatchString(all) {
			t.Errorf("virsh freecell --all lacks %s:\n%s", re, all)
		}
	}
	r := i.Virsh("freecell", "1")
	if r.Code == 0 || !strings.Contains(r.Stderr, "start cell 1 out of range (0-0)") {
		t.Errorf("virsh freecell 1: %+v", r)
	}
}

// TestHostVirshNodeStats: nodememstats (the hypervisor's total and free) and nodecpustats (Domain-0's /proc/stat).
func TestHostVirshNodeStats(t *testing.T) {
	i := startInstance(t)
	mem := i.MustVirsh("nodememstats")
	for _, re := range []string{`(?m)^total\s+:\s+16777216 KiB$`, `(?m)^free\s+:\s+14680064 KiB$`} {
		if !regexp.MustCompile(re).MatchString(mem) {
			t.Errorf("virsh nodememstats lacks %s:\n%s", re, mem)
		}
	}
	cpu := i.MustVirsh("nodecpustats")
	for _, field := range []string{"user", "system", "idle", "iowait"} {
		if !regexp.MustCompile(`(?m)^` + field + `:\s+\d+$`).MatchString(cpu) {
			t.Errorf("virsh nodecpustats lacks %s:\n%s", field, cpu)
		}
	}
	if out := i.MustVirsh("nodecpustats", "0"); !strings.Contains(out, "idle:") {
		t.Errorf("virsh nodecpustats 0:\n%s", out)
	}
	pct := i.MustVirsh("nodecpustats", "--percent")
	if !regexp.MustCompile(`(?m)^idle:\s+[\d.]+%$`).MatchString(pct) {
		t.Errorf("virsh nodecpustats --percent:\n%s", pct)
	}
}

// TestHostGoLibvirt drives the host procedures with go-libvirt, on both sockets.
func TestHostGoLibvirt(t *testing.T) {
	i := startInstance(t)
	l := i.GoLibvirt()
	check := func(what string, ok bool, got ...any) {
		t.Helper()
		if !ok {
			t.Errorf("%s: %v", what, got)
		}
	}
	typ, err := l.ConnectGetType()
	check("ConnectGetType", err == nil && typ == "Xen", typ, err)
	ver, err := l.ConnectGetVersion()
	check("ConnectGetVersion", err == nil && ver == 4017000, ver, err)
	lib, err := l.ConnectGetLibVersion()
	check("ConnectGetLibVersion", err == nil && lib == 11003000, lib, err)
	uri, err := l.ConnectGetUri()
	check("ConnectGetUri", err == nil && uri == "xen:///system", uri, err)
	secure, err := l.ConnectIsSecure()
	check("ConnectIsSecure", err == nil && secure == 1, secure, err)
	n, err := l.ConnectGetMaxVcpus(libvirt.OptString{"xen"})
	check("ConnectGetMaxVcpus", err == nil && n == simCPUs, n, err)
	_, mem, cpus, _, nodes, sockets, _, _, err := l.NodeGetInfo()
	check("NodeGetInfo", err == nil && mem == simTotalKiB && cpus == simCPUs && nodes == 1 && sockets == 1, mem, cpus, nodes, sockets, err)
	free, err := l.NodeGetFreeMemory()
	check("NodeGetFreeMemory", err == nil && free == simFreeKiB*1024, free, err)
	cells, err := l.NodeGetCellsFreeMemory(0, 4)
	check("NodeGetCellsFreeMemory", err == nil && len(cells) == 1 && cells[0] == simFreeKiB*1024, cells, err)
	cpumap, online, ncpus, err := l.NodeGetCPUMap(1, 1, 0)
	check("NodeGetCPUMap", err == nil && ncpus == simCPUs && online == simCPUs && len(cpumap) == 1 && cpumap[0] == 0xff, cpumap, online, ncpus, err)
	_, nstats, err := l.NodeGetCPUStats(-1, 0, 0)
	check("NodeGetCPUStats", err == nil && nstats == 4, nstats, err)
	_, nstats, err = l.NodeGetMemoryStats(0, -1, 0)
	check("NodeGetMemoryStats", err == nil && nstats == 4, nstats, err) // total, free, buffers, cached
	caps, err := l.ConnectGetCapabilities()
	check("ConnectGetCapabilities", err == nil && strings.HasPrefix(caps, "<capabilities>\n\n  <host>\n"), err)
	dc, err := l.ConnectGetDomainCapabilities(nil, libvirt.OptString{"x86_64"}, libvirt.OptString{"xenpvh"}, libvirt.OptString{"xen"}, 0)
	check("ConnectGetDomainCapabilities", err == nil && strings.Contains(dc, "<machine>xenpvh</machine>"), err)
	_, err = l.ConnectGetDomainCapabilities(nil, nil, nil, libvirt.OptString{"kvm"}, 0)
	var le libvirt.Error
	check("ConnectGetDomainCapabilities(kvm)", errors.As(err, &le) && le.Code == uint32(libvirt.ErrInvalidArg) &&
		le.Message == "invalid argument: unknown virttype: kvm", err)

	ro := i.GoLibvirtRO()
	h, err := ro.ConnectGetHostname()
	check("read-only ConnectGetHostname", err == nil && h != "", h, err)
	info, err := ro.ConnectGetSysinfo(0)
	check("read-only ConnectGetSysinfo", (err == nil) == hostHasSMBIOS(), info, err)
}

// hostXMLValid validates doc against one of libvirt's schemas with xmllint, patching the schema first if asked.
func hostXMLValid(t *testing.T, schema, doc string, patch func(string) string) {
	t.Helper()
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		testenv.Missing(t, "xmllint (Debian package libxml2-utils)", "make test-deps")
	}
	src := libvirtsrc.Path(t, "src/conf/schemas")
	rngs, _ := filepath.Glob(filepath.Join(src, "*.rng"))
	if len(rngs) == 0 {
		t.Fatalf("no schema in %s", src)
	}
	dir := t.TempDir()
	for _, f := range rngs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(f) == schema && patch != nil {
			b = []byte(patch(string(b)))
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "doc.xml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(xmllint, "--noout", "--relaxng", filepath.Join(dir, schema), path).CombinedOutput(); err != nil {
		t.Errorf("does not validate against %s: %v\n%s\n%s", schema, err, out, doc)
	}
}
