package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// simConfig returns the libxl configuration the simulated host holds for the running domain name: what the
// daemon handed to libxl.
func (i *instance) simConfig(name string) map[string]any {
	i.t.Helper()
	id := strings.TrimSpace(i.MustVirsh("domid", name))
	b, err := os.ReadFile(filepath.Join(i.StateDir, "sim", "domains", id+".json"))
	if err != nil {
		i.t.Fatalf("the simulated host's record of %s: %v", name, err)
	}
	var rec struct {
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		i.t.Fatal(err)
	}
	return rec.Config
}

// simDevice is a device the simulated host holds for a domain: its kind and libxl JSON.
type simDevice struct {
	Kind string          `json:"kind"`
	Spec json.RawMessage `json:"spec"`
}

// simDevices returns the devices the simulated host holds for the running domain name, hot-plugged ones included.
func (i *instance) simDevices(name string) []simDevice {
	i.t.Helper()
	id := strings.TrimSpace(i.MustVirsh("domid", name))
	b, err := os.ReadFile(filepath.Join(i.StateDir, "sim", "domains", id+".json"))
	if err != nil {
		i.t.Fatalf("the simulated host's record of %s: %v", name, err)
	}
	var rec struct {
		Devices []simDevice `json:"devices"`
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		i.t.Fatal(err)
	}
	return rec.Devices
}

// firstField returns field of the first element of the list key of a libxl configuration.
func firstField(cfg map[string]any, key, field string) string {
	list, _ := cfg[key].([]any)
	if len(list) == 0 {
		return ""
	}
	m, _ := list[0].(map[string]any)
	s, _ := m[field].(string)
	return s
}

// TestResolveNetworkAndVolume: an <interface type='network'> starts on its network's bridge and a
// <disk type='volume'> on its volume's path, both asked of a private libvirtd through the secondary drivers;
// domifaddr --source lease reads that libvirtd's DHCP leases.
func TestResolveNetworkAndVolume(t *testing.T) {
	lv := startPrivateLibvirtd(t)
	i := startInstance(t, fmt.Sprintf("secondary_sock_dir = %q", lv.SockDir))

	i.MustVirsh("net-define", i.xmlFile("net.xml", "<network><name>resnet</name><forward mode='bridge'/><bridge name='br-resnet'/></network>\n"))
	i.MustVirsh("net-start", "resnet")
	target := lv.dirFor(t, "respool")
	i.MustVirsh("pool-define-as", "respool", "dir", "--target", target)
	i.MustVirsh("pool-start", "respool")
	i.MustVirsh("vol-create-as", "respool", "disk0", "1M")

	domXML := `<domain type='xen'><name>%s</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type>linux</type><kernel>/boot/vmlinuz</kernel></os>
<devices>
  <disk type='volume' device='disk'><source pool='%s' volume='disk0'/><target dev='xvda' bus='xen'/></disk>
  <interface type='network'><mac address='00:16:3e:5a:00:01'/><source network='%s'/></interface>
</devices></domain>
`
	i.MustVirsh("create", i.xmlFile("res.xml", fmt.Sprintf(domXML, "res1", "respool", "resnet")))
	live := i.MustVirsh("dumpxml", "res1")
	for _, want := range []string{"<source network='resnet' bridge='br-resnet'/>", "<disk type='volume' device='disk'>",
		"<source pool='respool' volume='disk0'/>"} {
		if !strings.Contains(live, want) {
			t.Errorf("live XML lacks %s:\n%s", want, live)
		}
	}
	cfg := i.simConfig("res1")
	if br := firstField(cfg, "nics", "bridge"); br != "br-resnet" {
		t.Errorf("libxl nic bridge %q, want br-resnet", br)
	}
	if p := firstField(cfg, "disks", "pdev_path"); p != filepath.Join(target, "disk0") {
		t.Errorf("libxl disk pdev_path %q, want %s", p, filepath.Join(target, "disk0"))
	}

	t.Run("hot-plug", func(t *testing.T) {
		nic := i.xmlFile("nic2.xml", "<interface type='network'><mac address='00:16:3e:5a:00:02'/><source network='resnet'/></interface>\n")
		i.MustVirsh("attach-device", "res1", nic, "--live")
		if x := i.MustVirsh("dumpxml", "res1"); strings.Count(x, "<source network='resnet' bridge='br-resnet'/>") != 2 {
			t.Errorf("live XML after attaching a second network interface:\n%s", x)
		}
		var bridges []string
		for _, d := range i.simDevices("res1") {
			if d.Kind == "nic" {
				var nic struct{ Bridge string }
				_ = json.Unmarshal(d.Spec, &nic)
				bridges = append(bridges, nic.Bridge)
			}
		}
		if len(bridges) != 2 || bridges[0] != "br-resnet" || bridges[1] != "br-resnet" {
			t.Errorf("the simulated host's nics after the attach are on bridges %q, want br-resnet twice", bridges)
		}
	})

	t.Run("errors", func(t *testing.T) {
		i.wantVirshError([]string{"create", i.xmlFile("nonet.xml", fmt.Sprintf(domXML, "res2", "respool", "nosuchnet"))},
			"error: Network not found: no network with matching name 'nosuchnet'")
		i.wantVirshError([]string{"create", i.xmlFile("nopool.xml", fmt.Sprintf(domXML, "res3", "nosuchpool", "resnet"))},
			"error: Storage pool not found: no storage pool with matching name 'nosuchpool'")
		i.MustVirsh("net-destroy", "resnet")
		i.wantVirshError([]string{"create", i.xmlFile("netdown.xml", fmt.Sprintf(domXML, "res4", "respool", "resnet"))},
			"error: Requested operation is not valid: network 'resnet' is not active")
		i.MustVirsh("net-start", "resnet")
	})

	t.Run("domifaddr lease", func(t *testing.T) {
		// Session-mode libvirtd reads the leases of a network from its dnsmasq state directory (under
		// $XDG_RUNTIME_DIR/libvirt), in the format libvirt's leases helper writes: a forward-bridge network runs no
		// dnsmasq, so the test writes the lease itself.
		dir := filepath.Join(lv.SockDir, "dnsmasq", "lib") // $XDG_RUNTIME_DIR/libvirt/dnsmasq/lib
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		lease := fmt.Sprintf(`[{"ip-address": "192.0.2.10", "mac-address": "00:16:3e:5a:00:01", "hostname": "res1", "expiry-time": %d}]`,
			time.Now().Add(time.Hour).Unix())
		if err := os.WriteFile(filepath.Join(dir, "br-resnet.status"), []byte(lease), 0o644); err != nil {
			t.Fatal(err)
		}
		if out := i.MustVirsh("net-dhcp-leases", "resnet"); !strings.Contains(out, "192.0.2.10") {
			t.Fatalf("the private libvirtd has not the lease:\n%s", out)
		}
		out := i.MustVirsh("domifaddr", "res1", "--source", "lease")
		if !strings.Contains(out, "00:16:3e:5a:00:01") || !strings.Contains(out, "192.0.2.10/") || !strings.Contains(out, "ipv4") {
			t.Errorf("domifaddr --source lease:\n%s", out)
		}
		i.wantVirshError([]string{"domifaddr", "res1", "--source", "agent"}, "Unsupported IP address data source 1")
	})
}

// TestResolveWithoutDrivers: with no network or storage daemon, a start needing one fails at once with
// libvirt's connection error naming the driver's socket.
func TestResolveWithoutDrivers(t *testing.T) {
	empty := t.TempDir()
	i := startInstance(t, fmt.Sprintf("secondary_sock_dir = %q", empty))
	nic := i.xmlFile("nic.xml", `<domain type='xen'><name>nonet</name><memory unit='MiB'>64</memory>
<os><type>linux</type><kernel>/boot/vmlinuz</kernel></os>
<devices><interface type='network'><source network='default'/></interface></devices></domain>
`)
	i.wantVirshError([]string{"create", nic},
		"error: Failed to connect socket to '"+filepath.Join(empty, "virtnetworkd-sock")+"': No such file or directory")
	vol := i.xmlFile("vol.xml", `<domain type='xen'><name>novol</name><memory unit='MiB'>64</memory>
<os><type>linux</type><kernel>/boot/vmlinuz</kernel></os>
<devices><disk type='volume' device='disk'><source pool='default' volume='a'/><target dev='xvda' bus='xen'/></disk></devices></domain>
`)
	i.wantVirshError([]string{"create", vol},
		"error: Failed to connect socket to '"+filepath.Join(empty, "virtstoraged-sock")+"': No such file or directory")
	if out := i.MustVirsh("list", "--all"); strings.Contains(out, "nonet") || strings.Contains(out, "novol") {
		t.Errorf("a failed create left a domain:\n%s", out)
	}
}

// TestGraphicsPorts: autoport VNC graphics get 5900 and up, the live XML and vncdisplay show them, a daemon
// restart keeps them (and does not hand them out again), and a stopped domain's port comes free.
func TestGraphicsPorts(t *testing.T) {
	i := startInstance(t)
	hvm := func(name string) string {
		return i.xmlFile(name+".xml", fmt.Sprintf(`<domain type='xen'><name>%s</name><memory unit='MiB'>64</memory>
<os><type>hvm</type></os><devices><graphics type='vnc' autoport='yes'/></devices></domain>
`, name))
	}
	display := func(name string) string { return strings.TrimSpace(i.MustVirsh("vncdisplay", name)) }
	i.MustVirsh("create", hvm("g1"))
	i.MustVirsh("define", hvm("g2"))
	i.MustVirsh("start", "g2")
	if d1, d2 := display("g1"), display("g2"); d1 != "127.0.0.1:0" || d2 != "127.0.0.1:1" {
		t.Errorf("vncdisplay g1 %q g2 %q, want 127.0.0.1:0 and 127.0.0.1:1", d1, d2)
	}
	if x := i.MustVirsh("dumpxml", "g1"); !strings.Contains(x, "<graphics type='vnc' port='5900' autoport='yes' listen='127.0.0.1'>") {
		t.Errorf("live XML of g1:\n%s", x)
	}
	if x := i.MustVirsh("dumpxml", "--inactive", "g2"); !strings.Contains(x, "<graphics type='vnc' port='-1' autoport='yes'") {
		t.Errorf("persistent XML of g2 should keep port -1:\n%s", x)
	}
	if vfb := i.simConfig("g2")["vfbs"].([]any)[0].(map[string]any)["vnc"].(map[string]any); vfb["display"] != float64(1) {
		t.Errorf("libxl vfb of g2: %v, want display 1", vfb)
	}

	i.Stop()
	i.Start()
	if d1, d2 := display("g1"), display("g2"); d1 != "127.0.0.1:0" || d2 != "127.0.0.1:1" {
		t.Errorf("after a restart: vncdisplay g1 %q g2 %q", d1, d2)
	}
	i.MustVirsh("create", hvm("g3"))
	if d := display("g3"); d != "127.0.0.1:2" {
		t.Errorf("a domain started after a restart got %q, want 127.0.0.1:2 (0 and 1 are taken)", d)
	}
	i.MustVirsh("destroy", "g1")
	i.MustVirsh("create", hvm("g4"))
	if d := display("g4"); d != "127.0.0.1:0" {
		t.Errorf("after g1 stopped, g4 got %q, want its port 127.0.0.1:0", d)
	}
	i.MustVirsh("destroy", "g2")
	i.wantVirshError([]string{"vncdisplay", "g2"}, "Domain is not running")
}

// TestXLConfigDropIn: an xl.cfg file in the drop-in directory is a domain named by its name=, and a broken one is
// reported without disturbing the running domain.
func TestXLConfigDropIn(t *testing.T) {
	i := startInstance(t)
	cfg := `name = "xlweb"
memory = 128
vcpus = 2
kernel = "/boot/vmlinuz"
vif = [ 'mac=00:16:3e:5a:01:01,bridge=xenbr0' ]
`
	i.WriteSpec("xlweb.cfg", cfg)
	i.Eventually("xlweb running", 30*time.Second, func() bool {
		r := i.Virsh("domstate", "xlweb")
		return r.Code == 0 && strings.TrimSpace(r.Stdout) == "running"
	})
	x := i.MustVirsh("dumpxml", "xlweb")
	for _, want := range []string{"<name>xlweb</name>", "<vcpu placement='static'>2</vcpu>", "<mac address='00:16:3e:5a:01:01'/>",
		"<source bridge='xenbr0'/>", "<memory unit='KiB'>131072</memory>"} {
		if !strings.Contains(x, want) {
			t.Errorf("dumpxml lacks %s:\n%s", want, x)
		}
	}
	// Domains from files refuse configuration edits through libvirt, naming the file.
	i.wantVirshError([]string{"setmaxmem", "xlweb", "256M", "--config"}, "xlweb.cfg")

	i.WriteSpec("xlweb.cfg", cfg+"memory = [\n")
	i.Eventually("the parse error logged", 30*time.Second, func() bool {
		return strings.Contains(i.Log(), "xlweb.cfg")
	})
	if s := strings.TrimSpace(i.MustVirsh("domstate", "xlweb")); s != "running" {
		t.Errorf("a broken file disturbed the domain: %s", s)
	}
}
