package sim

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/virtxend/virtxend/libxl"
)

func nicDev(devid int, mac string) libxl.Device {
	return libxl.Device{Kind: libxl.KindNic, Nic: &libxl.DeviceNic{Devid: devid, Mac: mac}}
}

func pciDev(bus, dev, fn int) libxl.Device {
	return libxl.Device{Kind: libxl.KindPCI, PCI: &libxl.DevicePci{Bus: bus, Dev: dev, Func: fn}}
}

func usbDev(ctrl, port int) libxl.Device {
	return libxl.Device{Kind: libxl.KindUSB, USB: &libxl.DeviceUsbdev{Ctrl: ctrl, Port: port}}
}

func TestDevices(t *testing.T) {
	h := newHost(t)
	ctx := context.Background()
	a := mustCreate(t, h, cfg("a", 1024, 1), libxl.CreateOptions{})
	b := mustCreate(t, h, cfg("b", 1024, 1), libxl.CreateOptions{Paused: true})
	down := mustCreate(t, h, cfg("down", 1024, 1), libxl.CreateOptions{})
	if err := h.InjectCrash(down); err != nil {
		t.Fatal(err)
	}
	attach := func(id libxl.DomID, d libxl.Device) func() error {
		return func() error { return h.AttachDevice(ctx, id, d) }
	}
	detach := func(id libxl.DomID, d libxl.Device) func() error {
		return func() error { return h.DetachDevice(ctx, id, d) }
	}
	for _, tc := range []struct {
		name string
		op   func() error
		want error
	}{
		{"disk", attach(a, diskDev("xvdb")), nil},
		{"same vdev", attach(a, diskDev("xvdb")), libxl.ErrDevExists},
		{"same vdev other domain", attach(b, diskDev("xvdb")), nil},
		{"disk without vdev", attach(a, diskDev("")), libxl.ErrInvalid},
		{"nic", attach(a, nicDev(0, "00:16:3e:00:00:01")), nil},
		{"same devid", attach(a, nicDev(0, "00:16:3e:00:00:02")), libxl.ErrDevExists},
		{"same mac", attach(a, nicDev(1, "00:16:3E:00:00:01")), libxl.ErrDevExists},
		{"auto devid", attach(a, nicDev(-1, "00:16:3e:00:00:03")), nil},
		{"pci", attach(a, pciDev(3, 0, 1)), nil},
		{"same pci", attach(a, pciDev(3, 0, 1)), libxl.ErrDevExists},
		{"pci owned by another domain", attach(b, pciDev(3, 0, 1)), libxl.ErrDevExists},
		{"usb", attach(a, usbDev(0, 1)), nil},
		{"same usb port", attach(a, usbDev(0, 1)), libxl.ErrDevExists},
		{"kind mismatch", attach(a, libxl.Device{Kind: libxl.KindDisk, Nic: &libxl.DeviceNic{}}), libxl.ErrInvalid},
		{"two devices", attach(a, libxl.Device{Kind: libxl.KindDisk, Disk: &libxl.DeviceDisk{Vdev: "x"}, Nic: &libxl.DeviceNic{}}), libxl.ErrInvalid},
		{"unknown kind", attach(a, libxl.Device{Kind: "tpm", Disk: &libxl.DeviceDisk{Vdev: "x"}}), libxl.ErrInvalid},
		{"attach to shut down", attach(down, diskDev("xvdc")), libxl.ErrBadState},
		{"detach from shut down", detach(down, diskDev("xvdc")), libxl.ErrBadState},
		{"detach missing disk", detach(a, diskDev("xvdz")), libxl.ErrNoDevice},
		{"detach disk", detach(a, diskDev("xvdb")), nil},
		{"detach disk twice", detach(a, diskDev("xvdb")), libxl.ErrNoDevice},
		{"detach nic by mac", detach(a, nicDev(-1, "00:16:3E:00:00:03")), nil},
		{"detach nic by devid", detach(a, nicDev(0, "")), nil},
		{"detach missing nic", detach(a, nicDev(5, "")), libxl.ErrNoDevice},
		{"detach pci", detach(a, pciDev(3, 0, 1)), nil},
		{"pci free again", attach(b, pciDev(3, 0, 1)), nil},
		{"detach usb", detach(a, usbDev(0, 1)), nil},
		{"detach missing usb", detach(a, usbDev(0, 1)), libxl.ErrNoDevice},
		{"usb on any port", attach(a, usbDev(-1, 0)), nil},
		{"usb on the next port", attach(a, usbDev(-1, 0)), nil},
		{"usb auto took port 1", attach(a, usbDev(0, 1)), libxl.ErrDevExists},
		{"detach auto usb 2", detach(a, usbDev(0, 2)), nil},
		{"detach usb without address", detach(a, usbDev(-1, 0)), libxl.ErrInvalid},
		{"detach nic without address", detach(a, nicDev(-1, "")), libxl.ErrInvalid},
	} {
		err := tc.op()
		if tc.want == nil && err != nil || tc.want != nil && !errorsIs(err, tc.want) {
			t.Fatalf("%s: error %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestDevicesFromConfig: the devices a domain is built with count, and DomainConfig reports hot-plugged ones.
func TestDevicesFromConfig(t *testing.T) {
	h := newHost(t)
	ctx := context.Background()
	raw := `{"c_info":{"type":"pv","name":"cfgdev"},"b_info":{"max_memkb":1024},
		"disks":[{"pdev_path":"/img/a","vdev":"xvda"}],"nics":[{"devid":0,"mac":"00:16:3e:aa:bb:cc"}]}`
	devs, err := devicesFromConfig(json.RawMessage(raw))
	if err != nil || len(devs) != 2 {
		t.Fatalf("devicesFromConfig = %+v, %v", devs, err)
	}
	_, err = devicesFromConfig(json.RawMessage(`{"disks":[{"vdev":"xvda"},{"vdev":"xvda"}]}`))
	wantErr(t, err, libxl.ErrDevExists)

	id := mustCreate(t, h, cfg("hot", 1024, 1), libxl.CreateOptions{})
	h.mu.Lock()
	h.doms[id].devices = devs // as if built with them
	h.mu.Unlock()
	wantErr(t, h.AttachDevice(ctx, id, diskDev("xvda")), libxl.ErrDevExists)
	wantErr(t, h.AttachDevice(ctx, id, nicDev(-1, "00:16:3e:aa:bb:cc")), libxl.ErrDevExists)
	if err := h.AttachDevice(ctx, id, nicDev(-1, "00:16:3e:aa:bb:cd")); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	merged, err := h.configJSON(id)
	h.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	s := string(merged)
	if !strings.Contains(s, `"vdev":"xvda"`) || !strings.Contains(s, `"devid":1`) || !strings.Contains(s, `"name":"hot"`) {
		t.Fatalf("merged config %s", s)
	}
	got, err := h.DomainConfig(id)
	if err != nil || got.CInfo.Name != "hot" || got.BInfo.MaxMemkb != 1024 {
		t.Fatalf("DomainConfig = %+v, %v", got, err)
	}
}
