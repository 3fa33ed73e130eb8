package e2e

import (
	"strings"
	"testing"
)

// TestUnusedDevicesKeptByVirsh: a definition with devices the libxl driver does not use (an rng, a watchdog)
// defines and starts as with libvirt, which keeps them in both the persistent and the live XML and ignores them
// at start.
func TestUnusedDevicesKeptByVirsh(t *testing.T) {
	i := startInstance(t)
	xml := strings.Replace(lifecycleXML("rngvm", "5b0d2a7e-31c4-4f39-9a0e-6f1d2c3b4a59"), "  <on_reboot>",
		"  <devices>\n    <rng model='virtio'>\n      <backend model='random'>/dev/urandom</backend>\n    </rng>\n"+
			"    <watchdog model='i6300esb' action='reset'/>\n  </devices>\n  <on_reboot>", 1)
	i.MustVirsh("define", i.xmlFile("rngvm.xml", xml))
	i.MustVirsh("start", "rngvm")
	const rng = "    <rng model='virtio'>\n      <backend model='random'>/dev/urandom</backend>\n    </rng>\n"
	for _, args := range [][]string{{"dumpxml", "rngvm"}, {"dumpxml", "--inactive", "rngvm"}} {
		out := i.MustVirsh(args...)
		if !strings.Contains(out, rng) || !strings.Contains(out, "<watchdog model='i6300esb' action='reset'/>") {
			t.Errorf("virsh %s lacks the rng or the watchdog:\n%s", strings.Join(args, " "), out)
		}
	}
	if out := i.MustVirsh("domstate", "rngvm"); strings.TrimSpace(out) != "running" {
		t.Errorf("domstate: %q", out)
	}
}
