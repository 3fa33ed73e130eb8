//go:build xenlight

package xenlight

import (
	"errors"
	"testing"

	"github.com/virtxend/virtxend/libxl"
)

func TestDeviceJSON(t *testing.T) {
	nic := libxl.NewDeviceNic()
	nic.Mac = "00:16:3e:00:00:01"
	usb := libxl.NewDeviceUsbdev()
	usb.Type, usb.Hostdev = libxl.UsbdevTypeHostdev, &libxl.UsbdevHostdev{HostBus: 1, HostAddr: 3}
	tests := []struct {
		name string
		dev  libxl.Device
		kind int
		json string // "" for an invalid device
	}{
		{"disk", libxl.Device{Kind: libxl.KindDisk, Disk: &libxl.DeviceDisk{Vdev: "xvdb", PdevPath: "/x"}}, devDisk,
			`{"pdev_path":"/x","vdev":"xvdb"}`},
		{"nic", libxl.Device{Kind: libxl.KindNic, Nic: &nic}, devNic, `{"mac":"00:16:3e:00:00:01"}`},
		{"pci", libxl.Device{Kind: libxl.KindPCI, PCI: &libxl.DevicePci{Bus: 3, Dev: 1}}, devPCI, `{"dev":1,"bus":3}`},
		{"usb", libxl.Device{Kind: libxl.KindUSB, USB: &usb}, devUSB, `{"type.hostdev":{"hostbus":1,"hostaddr":3}}`},
		{"disk without vdev", libxl.Device{Kind: libxl.KindDisk, Disk: &libxl.DeviceDisk{}}, 0, ""},
		{"nothing set", libxl.Device{Kind: libxl.KindDisk}, 0, ""},
		{"two set", libxl.Device{Kind: libxl.KindNic, Nic: &nic, PCI: &libxl.DevicePci{}}, 0, ""},
		{"kind mismatch", libxl.Device{Kind: libxl.KindPCI, Nic: &nic}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, js, err := deviceJSON(tt.dev)
			if tt.json == "" {
				if !errors.Is(err, libxl.ErrInvalid) {
					t.Errorf("err = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil || kind != tt.kind || string(js) != tt.json {
				t.Errorf("deviceJSON = %d, %s, %v; want %d, %s", kind, js, err, tt.kind, tt.json)
			}
		})
	}
}

// Listed devices are what libxl_device_<kind>_to_json prints for the devices a domain has.
func TestSameDevice(t *testing.T) {
	listed := map[int][]string{
		devDisk: {`{"backend_domid": 0, "pdev_path": "/img/a", "vdev": "xvda", "backend": "qdisk", "format": "raw", "readwrite": 1}`},
		devNic:  {`{"backend_domid": 0, "devid": 0, "mac": "00:16:3e:1a:2b:01", "bridge": "xenbr0", "script": "vif-bridge", "nictype": "vif"}`},
		devPCI:  {`{"func": 1, "dev": 2, "bus": 3, "domain": 0, "vdevfn": 40}`},
		devUSB:  {`{"ctrl": 0, "port": 1, "type.hostdev": {"hostbus": 1, "hostaddr": 3}}`},
	}
	have := map[int]libxl.Device{}
	for kind, js := range listed {
		l, err := decodeListed(kind, js[0])
		if err != nil {
			t.Fatalf("decode %d: %v", kind, err)
		}
		have[kind] = l.dev
	}
	nic := func(mac string, devid int) libxl.Device {
		n := libxl.NewDeviceNic()
		n.Mac, n.Devid = mac, devid
		return libxl.Device{Kind: libxl.KindNic, Nic: &n}
	}
	usb := func(ctrl, port int, host *libxl.UsbdevHostdev) libxl.Device {
		u := libxl.NewDeviceUsbdev()
		u.Ctrl, u.Port, u.Hostdev = ctrl, port, host
		return libxl.Device{Kind: libxl.KindUSB, USB: &u}
	}
	tests := []struct {
		name        string
		kind        int
		want        libxl.Device
		same, addrd bool
	}{
		{"disk by vdev", devDisk, libxl.Device{Kind: libxl.KindDisk, Disk: &libxl.DeviceDisk{Vdev: "xvda"}}, true, true},
		{"other disk", devDisk, libxl.Device{Kind: libxl.KindDisk, Disk: &libxl.DeviceDisk{Vdev: "xvdb"}}, false, true},
		{"nic by mac, any case", devNic, nic("00:16:3E:1A:2B:01", -1), true, true},
		{"nic by devid", devNic, nic("", 0), true, true},
		{"other nic", devNic, nic("00:16:3e:00:00:09", 1), false, true},
		{"nic without address", devNic, nic("", -1), false, false},
		{"pci by bdf", devPCI, libxl.Device{Kind: libxl.KindPCI, PCI: &libxl.DevicePci{Bus: 3, Dev: 2, Func: 1}}, true, true},
		{"other pci", devPCI, libxl.Device{Kind: libxl.KindPCI, PCI: &libxl.DevicePci{Bus: 3, Dev: 2}}, false, true},
		{"usb by port", devUSB, usb(0, 1, nil), true, true},
		{"usb by host address", devUSB, usb(-1, 0, &libxl.UsbdevHostdev{HostBus: 1, HostAddr: 3}), true, true},
		{"other usb", devUSB, usb(0, 2, nil), false, true},
		{"usb without address", devUSB, usb(-1, 0, nil), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sameDevice(tt.want, have[tt.kind]); got != tt.same {
				t.Errorf("sameDevice = %v, want %v", got, tt.same)
			}
			if got := addressable(tt.want); got != tt.addrd {
				t.Errorf("addressable = %v, want %v", got, tt.addrd)
			}
			if deviceName(tt.want) == "" {
				t.Error("empty device name")
			}
		})
	}
}
