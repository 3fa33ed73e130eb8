package libxl

import (
	"context"
	"errors"
	"time"
)

// DeviceStats is the part of the port that reads a running domain's I/O counters: the facade's domblkstat,
// domifstat and domstats, and the metrics endpoint, call it for every disk and interface they report. Both
// backends implement it; it is a separate interface so that a test double of Hypervisor need not.
type DeviceStats interface {
	// DiskStats returns the counters of the disk whose virtual device is vdev ("xvda", "hdb"), whatever
	// backend serves it. ErrNoDevice when the domain has no such disk, ErrNoStats when its backend keeps none.
	DiskStats(ctx context.Context, domid DomID, vdev string) (DiskStats, error)
	// NicStats returns the counters of the backend interface of the nic devid, as the host sees them (what the
	// guest sends is received by the host). ifname is the backend interface's name when the configuration set
	// one; empty means libxl's "vifDOMID.DEVID".
	NicStats(ctx context.Context, domid DomID, devid int, ifname string) (NicStats, error)
}

// ErrNoStats is returned by DeviceStats when a device's backend keeps no counters.
var ErrNoStats = errors.New("device backend keeps no statistics")

// DiskStats are a virtual disk's counters, since its backend was connected. Byte counts are whole sectors
// of 512 bytes for the kernel's blkback, as libvirt reports them.
type DiskStats struct {
	RdReqs, RdBytes int64
	WrReqs, WrBytes int64
	// FlReqs are flush (barrier) requests; Errs the requests the backend failed (blkback's oo_req).
	FlReqs, Errs int64
	// HasTimes reports whether the backend measures the time spent serving requests (QEMU does, blkback
	// does not); the three times are meaningful only then.
	HasTimes               bool
	RdTime, WrTime, FlTime time.Duration
}

// NicStats are the counters of a nic's backend interface in the host (the kernel's statistics of vifD.N).
type NicStats struct {
	RxBytes, RxPackets, RxErrs, RxDrop int64
	TxBytes, TxPackets, TxErrs, TxDrop int64
}

// Swapped turns the host side's counters to the guest's point of view (the host receives what the guest
// transmits), as libvirt's virNetDevTapInterfaceStats does for every interface type but "ethernet".
func (s NicStats) Swapped() NicStats {
	return NicStats{RxBytes: s.TxBytes, RxPackets: s.TxPackets, RxErrs: s.TxErrs, RxDrop: s.TxDrop,
		TxBytes: s.RxBytes, TxPackets: s.RxPackets, TxErrs: s.RxErrs, TxDrop: s.RxDrop}
}
