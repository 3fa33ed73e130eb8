package e2e

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// virsh sees libvirt's answers where a hostile or unlucky input used to get virtxend's own words or a hang:
// domif-setlink, a live IDE disk on HVM, resume of a running domain, restore from a FIFO, names up to the file
// system's limit.
func TestVirshHostileErrors(t *testing.T) {
	i := startInstance(t)
	xml := strings.Replace(tuneXML("vm"), "</os>", `</os>
  <devices>
    <interface type='bridge'><mac address='00:16:3e:12:34:56'/><source bridge='xenbr0'/></interface>
  </devices>`, 1)
	i.MustVirsh("define", i.xmlFile("vm.xml", xml))
	i.MustVirsh("start", "vm")

	i.wantVirshError([]string{"domif-setlink", "vm", "00:16:3e:12:34:56", "down"},
		"unsupported configuration: device type 'net' cannot be updated")
	i.wantVirshError([]string{"domif-setlink", "vm", "00:16:3e:12:34:56", "down", "--config"},
		"unsupported configuration: persistent update of device is not supported")

	hvm := strings.Replace(strings.Replace(tuneXML("hvm"), "<type>linux</type>", "<type>hvm</type>", 1),
		"<kernel>/boot/vmlinuz</kernel>", "", 1)
	i.MustVirsh("define", i.xmlFile("hvm.xml", hvm))
	i.MustVirsh("start", "hvm")
	i.wantVirshError([]string{"attach-disk", "hvm", "/var/lib/xen/data.img", "hdb"},
		"unsupported configuration: disk bus 'ide' cannot be hotplugged.")

	if out := i.MustVirsh("resume", "vm"); !strings.Contains(out, "Domain 'vm' resumed") {
		t.Errorf("resume of a running domain: %q", out)
	}

	fifo := filepath.Join(i.Dir, "image.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	i.wantVirshError([]string{"restore", fifo}, "Failed to open domain image file '"+fifo+"'")

	long := strings.Repeat("l", 251) // 255 bytes as NAME.xml: the limit of ext4, tmpfs, xfs
	i.MustVirsh("define", i.xmlFile("long.xml", tuneXML(long)))
	if out := i.MustVirsh("domstate", long); strings.TrimSpace(out) != "shut off" {
		t.Errorf("domstate of a 251-byte name: %q", out)
	}
	tooLong := long + "l"
	i.wantVirshError([]string{"define", i.xmlFile("toolong.xml", tuneXML(tooLong))}, "File name too long")
	if strings.Contains(i.Log(), "Reconciler error") {
		t.Errorf("the reconciler failed:\n%s", tail(i.Log(), 30))
	}
}
