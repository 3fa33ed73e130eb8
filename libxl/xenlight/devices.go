//go:build xenlight

package xenlight

/*
#include "vx.h"
*/
import "C"

import (
	"context"
	"fmt"
	"unsafe"

	"github.com/virtxend/virtxend/libxl"
)

// devices lists the devices of kind domain domid has.
func (h *Hypervisor) devices(domid libxl.DomID, kind int) ([]listedDevice, error) {
	var n C.int
	v := C.vx_device_list(h.ctx, C.uint32_t(domid), C.int(kind), &n)
	defer C.vx_strv_free(v, n)
	out := make([]listedDevice, 0, int(n))
	for _, p := range unsafe.Slice(v, int(n)) {
		if p == nil {
			continue
		}
		l, err := decodeListed(kind, C.GoString(p))
		if err != nil {
			return nil, fmt.Errorf("read the devices of domain %d: %w", domid, err)
		}
		out = append(out, l)
	}
	return out, nil
}

// AttachDevice hot-plugs a device into a running or paused guest (libxl_device_<kind>_add, the device handed
// over as libxl JSON). A disk whose vdev, a nic whose MAC or devid, a PCI function or a USB port the domain
// already has is libxl.ErrDevExists.
func (h *Hypervisor) AttachDevice(ctx context.Context, domid libxl.DomID, dev libxl.Device) error {
	if err := guest("attach", domid); err != nil {
		return err
	}
	kind, js, err := deviceJSON(dev)
	if err != nil {
		return fmt.Errorf("attach: domain %d: %w", domid, err)
	}
	if err := h.begin(ctx); err != nil {
		return err
	}
	defer h.end()
	if _, err := h.live("attach", domid); err != nil {
		return err
	}
	have, err := h.devices(domid, kind)
	if err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	for _, l := range have {
		if sameDevice(dev, l.dev) {
			return fmt.Errorf("attach: domain %d: %s: %w", domid, deviceName(dev), libxl.ErrDevExists)
		}
	}
	cjs, free := cstring(string(js))
	defer free()
	if rc := C.vx_device_op(h.ctx, C.uint32_t(domid), C.int(kind), 1, cjs); rc != 0 {
		return fmt.Errorf("attach: domain %d: %s: %w", domid, deviceName(dev), h.fail(addFn[kind], rc, domid))
	}
	return nil
}

// DetachDevice hot-unplugs a device with the guest's cooperation (libxl_device_<kind>_remove): a disk by vdev, a
// nic by MAC (or devid), PCI by BDF, USB by controller and port (or host bus and address). The device is removed
// as libxl lists it, so that its backend and hotplug script are the ones it was added with.
// libxl.ErrNoDevice when the domain has none such.
func (h *Hypervisor) DetachDevice(ctx context.Context, domid libxl.DomID, dev libxl.Device) error {
	if err := guest("detach", domid); err != nil {
		return err
	}
	kind, _, err := deviceJSON(dev)
	if err == nil && !addressable(dev) {
		err = fmt.Errorf("%s device: detach needs the device's address: %w", dev.Kind, libxl.ErrInvalid)
	}
	if err != nil {
		return fmt.Errorf("detach: domain %d: %w", domid, err)
	}
	if err := h.begin(ctx); err != nil {
		return err
	}
	defer h.end()
	if _, err := h.live("detach", domid); err != nil {
		return err
	}
	have, err := h.devices(domid, kind)
	if err != nil {
		return fmt.Errorf("detach: %w", err)
	}
	for _, l := range have {
		if !sameDevice(dev, l.dev) {
			continue
		}
		cjs, free := cstring(l.JSON)
		defer free()
		if rc := C.vx_device_op(h.ctx, C.uint32_t(domid), C.int(kind), 0, cjs); rc != 0 {
			return fmt.Errorf("detach: domain %d: %s: %w", domid, deviceName(dev), h.fail(removeFn[kind], rc, domid))
		}
		return nil
	}
	return fmt.Errorf("detach: domain %d has no %s: %w", domid, deviceName(dev), libxl.ErrNoDevice)
}

var (
	addFn = map[int]string{devDisk: "libxl_device_disk_add", devNic: "libxl_device_nic_add",
		devPCI: "libxl_device_pci_add", devUSB: "libxl_device_usbdev_add"}
	removeFn = map[int]string{devDisk: "libxl_device_disk_remove", devNic: "libxl_device_nic_remove",
		devPCI: "libxl_device_pci_remove", devUSB: "libxl_device_usbdev_remove"}
)

// The vx device kinds must match devmatch.go's.
var (
	_ = [1]struct{}{}[C.VX_DISK-devDisk]
	_ = [1]struct{}{}[C.VX_NIC-devNic]
	_ = [1]struct{}{}[C.VX_PCI-devPCI]
	_ = [1]struct{}{}[C.VX_USB-devUSB]
)
