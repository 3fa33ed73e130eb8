package controllers

import (
	"context"
	"fmt"
	"slices"

	"github.com/virtxend/virtxend/libxl"
)

// hotplug brings the disks and NICs of a running domain to cfg, built from its new live definition: what the spec gained since the marker's
// record is attached, what it lost is detached (libvirt's libxl driver hot-plugs these two kinds live).
// A marker without a device record (written by an older virtxend) leaves the devices alone.
func (r *XenDomainReconciler) hotplug(ctx context.Context, s *scope, cfg *libxl.DomainConfig) error {
	m := s.dom.Marker
	if m == nil || (m.Disks == nil && m.Nics == nil) {
		return nil
	}
	id := s.dom.Info.DomID
	for i := range cfg.Disks {
		d := &cfg.Disks[i]
		if !slices.Contains(m.Disks, d.Vdev) {
			if err := r.HV.AttachDevice(ctx, id, libxl.Device{Kind: libxl.KindDisk, Disk: d}); err != nil {
				return fmt.Errorf("libxenlight failed to attach disk '%s': %w", d.Vdev, err)
			}
			s.log.Info("disk attached", "vdev", d.Vdev)
		}
	}
	for _, vdev := range m.Disks {
		if !slices.ContainsFunc(cfg.Disks, func(d libxl.DeviceDisk) bool { return d.Vdev == vdev }) {
			if err := r.HV.DetachDevice(ctx, id, libxl.Device{Kind: libxl.KindDisk, Disk: &libxl.DeviceDisk{Vdev: vdev}}); err != nil {
				return fmt.Errorf("libxenlight failed to detach disk '%s': %w", vdev, err)
			}
			s.log.Info("disk detached", "vdev", vdev)
		}
	}
	for i := range cfg.Nics {
		n := cfg.Nics[i]
		if !slices.Contains(m.Nics, n.Mac) {
			n.Devid = libxl.DevidDefault // the builder numbers NICs by position: let libxl pick a free id
			if err := r.HV.AttachDevice(ctx, id, libxl.Device{Kind: libxl.KindNic, Nic: &n}); err != nil {
				return fmt.Errorf("libxenlight failed to attach network device: %w", err)
			}
			s.log.Info("network device attached", "mac", n.Mac)
		}
	}
	for _, mac := range m.Nics {
		if !slices.ContainsFunc(cfg.Nics, func(n libxl.DeviceNic) bool { return n.Mac == mac }) {
			nic := libxl.NewDeviceNic()
			nic.Mac = mac
			if err := r.HV.DetachDevice(ctx, id, libxl.Device{Kind: libxl.KindNic, Nic: &nic}); err != nil {
				return fmt.Errorf("libxenlight failed to detach network device '%s': %w", mac, err)
			}
			s.log.Info("network device detached", "mac", mac)
		}
	}
	return nil
}
