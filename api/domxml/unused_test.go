package domxml

import (
	"errors"
	"strings"
	"testing"
)

// TestUnusedDevicesKept: devices libvirt accepts for a Xen domain and its libxl driver does not use (rng,
// watchdog, panic...) are kept as written and printed back, as libvirt keeps them; an element libvirt does not
// know is still refused.
func TestUnusedDevicesKept(t *testing.T) {
	const doc = `<domain type='xen'>
  <name>rngvm</name>
  <memory unit='KiB'>262144</memory>
  <vcpu>1</vcpu>
  <os><type>xen</type><kernel>/boot/vmlinuz</kernel></os>
  <devices>
    <rng model='virtio'>
      <rate bytes='1234' period='2000'/>
      <backend model='random'>/dev/urandom</backend>
    </rng>
    <watchdog model='i6300esb' action='reset'/>
    <panic model='isa'/>
  </devices>
</domain>`
	spec, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("libvirt accepts this definition: %v", err)
	}
	if n := len(spec.Devices.Unused); n != 3 {
		t.Fatalf("%d devices kept, want 3: %+v", n, spec.Devices.Unused)
	}
	out, err := Format(spec, Inactive)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"    <rng model='virtio'>\n      <rate bytes='1234' period='2000'/>\n      <backend model='random'>/dev/urandom</backend>\n    </rng>\n",
		"    <watchdog model='i6300esb' action='reset'/>\n",
		"    <panic model='isa'/>\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("dumpxml lacks\n%s\nin\n%s", want, out)
		}
	}
	// Printed, parsed again: the same devices, so a define of dumpxml's output keeps them.
	again, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Devices.Unused) != 3 {
		t.Errorf("after a round trip: %+v", again.Devices.Unused)
	}

	_, err = Parse([]byte(strings.Replace(doc, "<panic model='isa'/>", "<teleporter/>", 1)))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "unknown element") {
		t.Errorf("an element libvirt does not know: %v", err)
	}
}
