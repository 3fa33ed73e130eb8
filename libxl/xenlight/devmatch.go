//go:build xenlight

package xenlight

import (
	"fmt"
	"strings"

	"github.com/virtxend/virtxend/libxl"
)

// Device kinds as vx.h numbers them.
const (
	devDisk = 1
	devNic  = 2
	devPCI  = 3
	devUSB  = 4
)

// deviceJSON checks that exactly the pointer of dev.Kind is set and returns the vx kind and the device's libxl
// JSON.
func deviceJSON(dev libxl.Device) (kind int, js []byte, err error) {
	set := 0
	for _, p := range []bool{dev.Disk != nil, dev.Nic != nil, dev.PCI != nil, dev.USB != nil} {
		if p {
			set++
		}
	}
	bad := func(why string) (int, []byte, error) {
		return 0, nil, fmt.Errorf("%s device: %s: %w", dev.Kind, why, libxl.ErrInvalid)
	}
	if set != 1 {
		return bad("exactly one of Disk, Nic, PCI, USB must be set")
	}
	switch {
	case dev.Kind == libxl.KindDisk && dev.Disk != nil:
		if dev.Disk.Vdev == "" {
			return bad("no vdev")
		}
		kind = devDisk
		js, err = dev.Disk.MarshalJSON()
	case dev.Kind == libxl.KindNic && dev.Nic != nil:
		kind = devNic
		js, err = dev.Nic.MarshalJSON()
	case dev.Kind == libxl.KindPCI && dev.PCI != nil:
		kind = devPCI
		js, err = dev.PCI.MarshalJSON()
	case dev.Kind == libxl.KindUSB && dev.USB != nil:
		kind = devUSB
		js, err = dev.USB.MarshalJSON()
	default:
		return bad("kind does not match the device given")
	}
	if err != nil {
		return bad("encode: " + err.Error())
	}
	return kind, js, nil
}

// listedDevice is one device a domain has, as libxl_device_*_list and *_to_json give it.
type listedDevice struct {
	JSON string
	dev  libxl.Device
}

// decodeListed reads the JSON of a listed device of kind.
func decodeListed(kind int, js string) (listedDevice, error) {
	l := listedDevice{JSON: js}
	var err error
	switch kind {
	case devDisk:
		l.dev = libxl.Device{Kind: libxl.KindDisk, Disk: &libxl.DeviceDisk{}}
		err = l.dev.Disk.UnmarshalJSON([]byte(js))
	case devNic:
		n := libxl.NewDeviceNic()
		l.dev = libxl.Device{Kind: libxl.KindNic, Nic: &n}
		err = l.dev.Nic.UnmarshalJSON([]byte(js))
	case devPCI:
		l.dev = libxl.Device{Kind: libxl.KindPCI, PCI: &libxl.DevicePci{}}
		err = l.dev.PCI.UnmarshalJSON([]byte(js))
	case devUSB:
		u := libxl.NewDeviceUsbdev()
		l.dev = libxl.Device{Kind: libxl.KindUSB, USB: &u}
		err = l.dev.USB.UnmarshalJSON([]byte(js))
	default:
		err = fmt.Errorf("unknown device kind %d", kind)
	}
	return l, err
}

// sameDevice reports whether have (a device the domain has) is the one want names: a disk by vdev, a nic by MAC
// or devid, PCI by BDF, USB by controller and port or by host bus and address. An attach of a device that is the
// same as one the domain has is a clash; a detach removes it.
func sameDevice(want, have libxl.Device) bool {
	switch want.Kind {
	case libxl.KindDisk:
		return want.Disk.Vdev == have.Disk.Vdev
	case libxl.KindNic:
		if want.Nic.Mac != "" && strings.EqualFold(want.Nic.Mac, have.Nic.Mac) {
			return true
		}
		return want.Nic.Devid >= 0 && want.Nic.Devid == have.Nic.Devid
	case libxl.KindPCI:
		w, o := want.PCI, have.PCI
		return w.Domain == o.Domain && w.Bus == o.Bus && w.Dev == o.Dev && w.Func == o.Func
	case libxl.KindUSB:
		w, o := want.USB, have.USB
		if w.Ctrl >= 0 && w.Port > 0 && w.Ctrl == o.Ctrl && w.Port == o.Port {
			return true
		}
		return w.Hostdev != nil && o.Hostdev != nil && *w.Hostdev == *o.Hostdev
	}
	return false
}

// addressable reports whether want names a device precisely enough to detach it.
func addressable(want libxl.Device) bool {
	switch want.Kind {
	case libxl.KindNic:
		return want.Nic.Mac != "" || want.Nic.Devid >= 0
	case libxl.KindUSB:
		return (want.USB.Ctrl >= 0 && want.USB.Port > 0) || want.USB.Hostdev != nil
	}
	return true
}

// deviceName describes a device in errors.
func deviceName(d libxl.Device) string {
	switch d.Kind {
	case libxl.KindDisk:
		return "disk " + d.Disk.Vdev
	case libxl.KindNic:
		if d.Nic.Mac != "" {
			return "nic with mac " + d.Nic.Mac
		}
		return fmt.Sprintf("nic %d", d.Nic.Devid)
	case libxl.KindPCI:
		p := d.PCI
		return fmt.Sprintf("pci %04x:%02x:%02x.%d", p.Domain, p.Bus, p.Dev, p.Func)
	case libxl.KindUSB:
		u := d.USB
		if u.Ctrl >= 0 && u.Port > 0 {
			return fmt.Sprintf("usb %d.%d", u.Ctrl, u.Port)
		}
		if u.Hostdev != nil {
			return fmt.Sprintf("usb host %d.%d", u.Hostdev.HostBus, u.Hostdev.HostAddr)
		}
	}
	return string(d.Kind) + " device"
}
