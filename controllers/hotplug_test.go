package controllers

import (
	"strings"
	"testing"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/libxl"
)

func TestHotplugDisksAndNics(t *testing.T) {
	e := newEnv(t, "", Options{})
	e.create(pvDomain("hp", v1alpha1.RunStrategyAlways))
	id := libxl.DomID(*e.waitState("hp", v1alpha1.StateRunning).Status.DomID)
	devices := func() string {
		cfg, err := e.host.DomainConfig(id)
		must(t, err)
		var b strings.Builder
		for _, d := range cfg.Disks {
			b.WriteString("disk:" + d.Vdev + " ")
		}
		for _, n := range cfg.Nics {
			b.WriteString("nic:" + n.Mac + " ")
		}
		return b.String()
	}
	e.update("hp", func(d *v1alpha1.XenDomain) {
		d.Spec.Domain.Devices.Disks = append(d.Spec.Domain.Devices.Disks, v1alpha1.Disk{Type: "file",
			Driver: &v1alpha1.DiskDriver{Name: "qemu", Type: "raw"}, Source: &v1alpha1.DiskSource{File: "/x.img"},
			Target: v1alpha1.DiskTarget{Dev: "xvdb", Bus: "xen"}})
		d.Spec.Domain.Devices.Interfaces = append(d.Spec.Domain.Devices.Interfaces, v1alpha1.Interface{Type: "bridge",
			MAC: "00:16:3e:00:00:42", Source: &v1alpha1.InterfaceSource{Bridge: "xenbr0"}})
	})
	e.waitFor("hp", "devices attached", func(*v1alpha1.XenDomain) bool {
		s := devices()
		return strings.Contains(s, "disk:xvdb") && strings.Contains(s, "nic:00:16:3e:00:00:42")
	})
	if d := e.get("hp"); *d.Status.DomID != int32(id) {
		t.Fatal("hot-plug restarted the domain")
	}
	e.update("hp", func(d *v1alpha1.XenDomain) {
		d.Spec.Domain.Devices.Disks = nil
		d.Spec.Domain.Devices.Interfaces = nil
	})
	e.waitFor("hp", "devices detached", func(*v1alpha1.XenDomain) bool { return devices() == "" })
}
