package remote

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/digitalocean/go-libvirt"
)

const (
	txDiskXML  = "<?xml version='1.0'?>\n<disk type='file' device='disk'>\n  <source file='/var/lib/xen/data.img'/>\n  <target dev='xvdb'/>\n</disk>\n"
	txCDROMXML = "<disk type='file' device='cdrom'><source file='/iso/a.iso'/><target dev='hdc' bus='ide'/></disk>"
	txNICXML   = "<interface type='bridge'><source bridge='xenbr0'/></interface>"
)

func TestDevicesConfig(t *testing.T) {
	e := newTxEnv(t)
	off := e.add("off", "define", false)
	web := e.add("web", "define", true)

	if err := e.L.DomainAttachDeviceFlags(off, txDiskXML, 0); err != nil {
		t.Fatal(err)
	}
	disks := e.get("off").Spec.Domain.Devices.Disks
	if len(disks) != 1 || disks[0].Target.Dev != "xvdb" || disks[0].Target.Bus != "xen" || disks[0].Driver == nil || disks[0].Driver.Type != "raw" {
		t.Fatalf("disks %+v", disks)
	}
	if xml, _ := os.ReadFile(e.Defines.Path("off")); !strings.Contains(string(xml), "<target dev='xvdb' bus='xen'/>") {
		t.Errorf("off.xml:\n%s", xml)
	}
	txWantErr(t, e.L.DomainAttachDeviceFlags(off, txDiskXML, affectConfig), libvirt.ErrInvalidArg, "target xvdb already exists.")

	// An interface gets one generated MAC address, in the store and in NAME.xml alike.
	if err := e.L.DomainAttachDeviceFlags(off, txNICXML, affectConfig); err != nil {
		t.Fatal(err)
	}
	nics := e.get("off").Spec.Domain.Devices.Interfaces
	if len(nics) != 1 || !strings.HasPrefix(nics[0].MAC, "00:16:3e:") {
		t.Fatalf("interfaces %+v", nics)
	}
	if xml, _ := os.ReadFile(e.Defines.Path("off")); !strings.Contains(string(xml), "<mac address='"+nics[0].MAC+"'/>") {
		t.Errorf("off.xml lacks %s:\n%s", nics[0].MAC, xml)
	}
	if err := e.L.DomainDetachDeviceFlags(off, "<interface type='bridge'><mac address='"+strings.ToUpper(nics[0].MAC)+"'/></interface>", affectConfig); err != nil {
		t.Fatal(err)
	}
	if err := e.L.DomainDetachDeviceFlags(off, txDiskXML, affectConfig); err != nil {
		t.Fatal(err)
	}
	if d := e.get("off").Spec.Domain.Devices; len(d.Disks) != 0 || len(d.Interfaces) != 0 {
		t.Errorf("devices left %+v", d)
	}
	if xml, _ := os.ReadFile(e.Defines.Path("off")); strings.Contains(string(xml), "xvdb") {
		t.Errorf("off.xml still has the disk:\n%s", xml)
	}
	txWantErr(t, e.L.DomainDetachDeviceFlags(off, txDiskXML, affectConfig), libvirt.ErrInvalidArg, "no target device xvdb")

	// A cdrom's medium is updated in the definition.
	if err := e.L.DomainAttachDeviceFlags(off, txCDROMXML, affectConfig); err != nil {
		t.Fatal(err)
	}
	if err := e.L.DomainUpdateDeviceFlags(off, strings.Replace(txCDROMXML, "a.iso", "b.iso", 1), libvirt.DomainDeviceModifyConfig); err != nil {
		t.Fatal(err)
	}
	if d := e.get("off").Spec.Domain.Devices.Disks; len(d) != 1 || d[0].Source.File != "/iso/b.iso" || !d[0].ReadOnly {
		t.Errorf("cdrom %+v", d)
	}

	// A running define: --config changes the definition only; --live hot-plugs through the reconciler.
	if err := e.L.DomainAttachDeviceFlags(web, txDiskXML, affectConfig); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := e.L.DomainGetState(web, 0); st != stateRunning {
		t.Errorf("web state %d", st)
	}
	for _, tc := range []struct {
		name string
		err  error
		code libvirt.ErrorNumber
		msg  string
	}{
		// xvdb went to the definition only: the running domain has none to detach.
		{"detach current", e.L.DomainDetachDeviceFlags(web, txDiskXML, 0), libvirt.ErrInvalidArg, "no target device xvdb"},
		{"update live", e.L.DomainUpdateDeviceFlags(web, txNICXML, libvirt.DomainDeviceModifyLive), libvirt.ErrConfigUnsupported, "device type 'net' cannot be updated"},
		{"attach inactive live", e.L.DomainAttachDevice(off, txNICXML), libvirt.ErrOperationInvalid, "domain is not running"},
		{"flags", e.L.DomainAttachDeviceFlags(off, txNICXML, 4), libvirt.ErrInvalidArg, "unsupported flags (0x4) in function libxlDomainAttachDeviceFlags"},
		{"update disk", e.L.DomainUpdateDeviceFlags(web, txDiskXML, libvirt.DomainDeviceModifyConfig), libvirt.ErrInvalidArg, "this disk doesn't support update"},
		{"update nic", e.L.DomainUpdateDeviceFlags(off, txNICXML, libvirt.DomainDeviceModifyConfig), libvirt.ErrConfigUnsupported, "persistent update of device is not supported"},
		{"input", e.L.DomainAttachDeviceFlags(off, "<input type='tablet' bus='usb'/>", affectConfig), libvirt.ErrConfigUnsupported, "persistent attach of device is not supported"},
		{"two devices", e.L.DomainAttachDeviceFlags(off, txNICXML+txNICXML, affectConfig), libvirt.ErrXMLError, "exactly one device"},
		{"bad xml", e.L.DomainAttachDeviceFlags(off, "<disk type='file'", affectConfig), libvirt.ErrXMLDetail, ""},
		{"unknown element", e.L.DomainAttachDeviceFlags(off, "<disk type='file'><target dev='xvdc'/><bogus/></disk>", affectConfig), libvirt.ErrConfigUnsupported, "bogus"},
		{"detach nic", e.L.DomainDetachDeviceFlags(off, "<interface type='bridge'><mac address='00:16:3e:aa:bb:cc'/></interface>", affectConfig), libvirt.ErrDeviceMissing, "no device matching MAC address 00:16:3e:aa:bb:cc found"},
	} {
		t.Run(tc.name, func(t *testing.T) { txWantErr(t, tc.err, tc.code, tc.msg) })
	}
}

func TestDevicesLive(t *testing.T) {
	e := newTxEnv(t)
	web := e.add("web", "define", true)
	nics := func() int {
		cfg, err := e.HV.DomainConfig(e.info("web").DomID)
		if err != nil {
			t.Fatal(err)
		}
		return len(cfg.Nics)
	}
	before := nics()
	if err := e.L.DomainAttachDevice(web, txNICXML); err != nil {
		t.Fatal(err)
	}
	if nics() != before+1 {
		t.Fatalf("attach-device did not reach the running domain: %d nics, had %d", nics(), before)
	}
	if xml, _ := os.ReadFile(e.Defines.Path("web")); strings.Contains(string(xml), "<interface") && before == 0 {
		t.Errorf("a live-only attach reached NAME.xml:\n%s", xml)
	}
	if n := len(e.get("web").Spec.Domain.Devices.Interfaces); n != before {
		t.Errorf("a live-only attach reached the persistent definition: %d interfaces, had %d", n, before)
	}
	cfg, err := e.HV.DomainConfig(e.info("web").DomID)
	if err != nil {
		t.Fatal(err)
	}
	mac := cfg.Nics[before].Mac
	if err := e.L.DomainDetachDevice(web, "<interface type='bridge'><mac address='"+mac+"'/></interface>"); err != nil {
		t.Fatal(err)
	}
	if nics() != before {
		t.Fatalf("detach-device did not reach the running domain: %d nics", nics())
	}
	txWantErr(t, e.L.DomainAttachDevice(web, "<disk type='file' device='cdrom'><source file='/x.iso'/><target dev='hdc' bus='ide'/></disk>"),
		libvirt.ErrConfigUnsupported, "cannot be hotplugged")
}

func TestDevicesOwnership(t *testing.T) {
	e := newTxEnv(t)
	tmp := e.add("tmp", "transient", true)
	file := e.add("file", "file", false)
	txWantErr(t, e.L.DomainAttachDeviceFlags(tmp, txDiskXML, affectConfig), libvirt.ErrOperationInvalid,
		"transient domains do not have any persistent config")
	txWantErr(t, e.L.DomainAttachDeviceFlags(file, txDiskXML, affectConfig), libvirt.ErrOperationInvalid,
		"/etc/virtxend/domains.d/file.yaml")
}

// TestDevicesConfigConcurrent attaches many disks to one define's persistent definition at once, from separate
// connections: each call edits NAME.xml under the domain's job lock, so none of the edits is lost, in the store or
// in the file.
func TestDevicesConfigConcurrent(t *testing.T) {
	e := newTxEnv(t)
	off := e.add("off", "define", false)
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		l := e.dial()
		go func() {
			dev := fmt.Sprintf("xvd%c", 'b'+i)
			errs <- l.DomainAttachDeviceFlags(off, "<disk type='file' device='disk'><source file='/var/lib/xen/"+dev+".img'/><target dev='"+dev+"'/></disk>", affectConfig)
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if disks := e.get("off").Spec.Domain.Devices.Disks; len(disks) != n {
		t.Errorf("the store has %d disks, want %d: %+v", len(disks), n, disks)
	}
	xml, err := os.ReadFile(e.Defines.Path("off"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(xml), "<disk "); got != n {
		t.Errorf("off.xml has %d disks, want %d:\n%s", got, n, xml)
	}
}
