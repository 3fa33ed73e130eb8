package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"
)

// tuneXML is a PV guest with 512 MiB and 2 of 4 vcpus online.
func tuneXML(name string) string {
	return fmt.Sprintf(`<domain type='xen'>
  <name>%s</name>
  <memory unit='MiB'>512</memory>
  <vcpu current='2'>4</vcpu>
  <os>
    <type>linux</type>
    <kernel>/boot/vmlinuz</kernel>
  </os>
</domain>
`, name)
}

// defineAndStart defines name from tuneXML with virsh and starts it.
func (i *instance) defineAndStart(name string) {
	i.t.Helper()
	i.MustVirsh("define", i.xmlFile(name+".xml", tuneXML(name)))
	i.MustVirsh("start", name)
}

// wantLines fails unless out matches each regular expression, line by line (multi-line mode).
func wantLines(t *testing.T, what, out string, res ...string) {
	t.Helper()
	for _, re := range res {
		if !regexp.MustCompile("(?m)" + re).MatchString(out) {
			t.Errorf("%s lacks /%s/:\n%s", what, re, out)
		}
	}
}

func TestVirshMemoryAndVcpus(t *testing.T) {
	i := startInstance(t)
	i.defineAndStart("vm")

	i.MustVirsh("setmem", "vm", "256M")
	wantLines(t, "dominfo", i.MustVirsh("dominfo", "vm"), `^Max memory: +524288 KiB$`, `^Used memory: +262144 KiB$`)
	i.wantVirshError([]string{"setmem", "vm", "2G"}, "cannot set memory higher than max memory")
	i.MustVirsh("setmaxmem", "vm", "1G")
	wantLines(t, "dominfo", i.MustVirsh("dominfo", "vm"), `^Max memory: +1048576 KiB$`, `^Used memory: +262144 KiB$`)
	// A live change is not written to the persistent definition; --config is.
	xml, _ := os.ReadFile(filepath.Join(i.DefinesDir, "vm.xml"))
	if !strings.Contains(string(xml), "<memory unit='KiB'>524288</memory>") {
		t.Errorf("vm.xml changed by live calls:\n%s", xml)
	}
	i.MustVirsh("setmem", "vm", "384M", "--config")
	xml, _ = os.ReadFile(filepath.Join(i.DefinesDir, "vm.xml"))
	if !strings.Contains(string(xml), "<currentMemory unit='KiB'>393216</currentMemory>") {
		t.Errorf("vm.xml lacks the --config balloon:\n%s", xml)
	}

	i.MustVirsh("setvcpus", "vm", "3")
	wantLines(t, "vcpucount", i.MustVirsh("vcpucount", "vm"), `^maximum +live +4$`, `^current +live +3$`)
	info := i.MustVirsh("vcpuinfo", "vm")
	wantLines(t, "vcpuinfo", info, `^VCPU: +2$`, `^State: +running$`, `^CPU Affinity: +yyyyyyyy$`)
	if strings.Contains(info, "VCPU:           3") {
		t.Errorf("vcpuinfo lists an offline vcpu:\n%s", info)
	}
	i.wantVirshError([]string{"setvcpus", "vm", "5"}, "requested vcpus is greater than max allowable vcpus for the domain: 5 > 4")

	i.MustVirsh("vcpupin", "vm", "0", "1")
	wantLines(t, "vcpupin", i.MustVirsh("vcpupin", "vm"), `^ +0 +1$`, `^ +1 +0-7$`)
	wantLines(t, "vcpuinfo", i.MustVirsh("vcpuinfo", "vm"), `^CPU Affinity: +-y------$`)

	wantLines(t, "schedinfo", i.MustVirsh("schedinfo", "vm"), `^Scheduler +: credit$`, `^weight +: 256$`, `^cap +: 0$`)
	wantLines(t, "schedinfo --set", i.MustVirsh("schedinfo", "vm", "--set", "weight=512"), `^weight +: 512$`)
	wantLines(t, "schedinfo --set cap", i.MustVirsh("schedinfo", "vm", "--set", "cap=50"), `^weight +: 512$`, `^cap +: 50$`)
	i.wantVirshError([]string{"schedinfo", "vm", "--set", "cap=401"}, "cap 401 out of range 0..400 for 4 vcpus")
	ro := i.GoLibvirtRO()
	dom, err := ro.DomainLookupByName("vm")
	if err != nil {
		t.Fatal(err)
	}
	weight := libvirt.TypedParam{Field: "weight", Value: libvirt.TypedParamValue{D: 2, I: uint32(128)}}
	if err := ro.DomainSetSchedulerParameters(dom, []libvirt.TypedParam{weight}); err == nil ||
		!strings.Contains(err.Error(), "read only access prevents virDomainSetSchedulerParameters") {
		t.Errorf("read-only schedinfo --set: %v", err)
	}

	// A domain from the drop-in directory belongs to its file.
	i.WriteSpec("web.yaml", pvSpec("web", 64, "Always"))
	i.Eventually("web running", 10*time.Second, func() bool { return strings.TrimSpace(i.Virsh("domstate", "web").Stdout) == "running" })
	i.wantVirshError([]string{"setmem", "web", "32M"}, filepath.Join(i.DomainsDir, "web.yaml"))
}

func TestVirshDevicesConfig(t *testing.T) {
	i := startInstance(t)
	i.MustVirsh("define", i.xmlFile("vm.xml", tuneXML("vm")))
	disk := i.xmlFile("disk.xml", "<disk type='file' device='disk'>\n  <source file='/var/lib/xen/data.img'/>\n  <target dev='xvdb'/>\n</disk>\n")

	if out := i.MustVirsh("attach-device", "vm", disk, "--config"); !strings.Contains(out, "Device attached successfully") {
		t.Errorf("attach-device: %q", out)
	}
	if dump := i.MustVirsh("dumpxml", "--inactive", "vm"); !strings.Contains(dump, "<target dev='xvdb' bus='xen'/>") {
		t.Errorf("dumpxml lacks the disk:\n%s", dump)
	}
	if xml, _ := os.ReadFile(filepath.Join(i.DefinesDir, "vm.xml")); !strings.Contains(string(xml), "/var/lib/xen/data.img") {
		t.Errorf("vm.xml lacks the disk:\n%s", xml)
	}
	i.wantVirshError([]string{"attach-device", "vm", disk, "--config"}, "target xvdb already exists")
	// Without --config on an inactive domain the change would be live: libvirt refuses it.
	i.wantVirshError([]string{"attach-device", "vm", disk}, "domain is not running")

	i.MustVirsh("start", "vm")
	// Live: the running domain loses the disk; its definition keeps it until detached with --config.
	if out := i.MustVirsh("detach-device", "vm", disk); !strings.Contains(out, "Device detached successfully") {
		t.Errorf("live detach-device: %q", out)
	}
	if dump := i.MustVirsh("dumpxml", "vm"); strings.Contains(dump, "xvdb") {
		t.Errorf("live XML still has the disk:\n%s", dump)
	}
	if out := i.MustVirsh("detach-device", "vm", disk, "--config"); !strings.Contains(out, "Device detached successfully") {
		t.Errorf("detach-device: %q", out)
	}
	if xml, _ := os.ReadFile(filepath.Join(i.DefinesDir, "vm.xml")); strings.Contains(string(xml), "xvdb") {
		t.Errorf("vm.xml still has the disk:\n%s", xml)
	}
	if st := i.domstate("vm"); st != "running" {
		t.Errorf("vm is %s after --config changes", st)
	}
}
