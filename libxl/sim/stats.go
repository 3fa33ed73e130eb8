package sim

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/virtxend/virtxend/libxl"
)

var _ libxl.DeviceStats = (*Host)(nil)

// The simulated guest's I/O: every ioTick of guest time (cpu time, so a paused or shut-down guest is idle) it
// reads and writes on each disk and sends and receives on each interface. The counters are derived from the
// guest time rather than stored, so they survive daemon restarts and move exactly as a real guest's would:
// only while it runs.
const (
	ioTick     = 10 * time.Millisecond
	ioSector   = 512
	ioReqBytes = 8 * ioSector
)

// DiskStats counts the simulated guest's requests on the disk vdev.
func (h *Host) DiskStats(ctx context.Context, domid libxl.DomID, vdev string) (libxl.DiskStats, error) {
	ticks, k, err := h.ioTicks(ctx, domid, libxl.KindDisk, vdev)
	if err != nil {
		return libxl.DiskStats{}, err
	}
	rd, wr := 2*ticks*k, ticks*k
	return libxl.DiskStats{
		RdReqs: rd, RdBytes: rd * ioReqBytes, WrReqs: wr, WrBytes: wr * 2 * ioReqBytes, FlReqs: ticks / 10,
		HasTimes: true, RdTime: time.Duration(rd) * 50 * time.Microsecond,
		WrTime: time.Duration(wr) * 120 * time.Microsecond, FlTime: time.Duration(ticks/10) * time.Millisecond,
	}, nil
}

// NicStats counts the simulated guest's traffic on the nic devid, as the host side of its vif sees it.
func (h *Host) NicStats(ctx context.Context, domid libxl.DomID, devid int, _ string) (libxl.NicStats, error) {
	ticks, k, err := h.ioTicks(ctx, domid, libxl.KindNic, strconv.Itoa(devid))
	if err != nil {
		return libxl.NicStats{}, err
	}
	rx, tx := 3*ticks*k, 2*ticks*k // the host receives what the guest sends
	return libxl.NicStats{RxBytes: rx * 600, RxPackets: rx, TxBytes: tx * 1400, TxPackets: tx, TxDrop: ticks / 100}, nil
}

// ioTicks returns the guest time of domid in ioTicks and the 1-based position of its device id among the
// devices of kind, which scales that device's traffic so that two devices do not count alike.
func (h *Host) ioTicks(ctx context.Context, domid libxl.DomID, kind libxl.DeviceKind, id string) (int64, int64, error) {
	if err := h.lockCtx(ctx); err != nil {
		return 0, 0, err
	}
	defer h.mu.Unlock()
	d, err := h.get(domid)
	if err != nil {
		return 0, 0, fmt.Errorf("%s statistics: %w", kind, err)
	}
	var k int64
	for _, dev := range d.devices {
		if dev.Kind != kind {
			continue
		}
		k++
		if dev.ID == id {
			return int64(d.info(h.now()).CPUTime / ioTick), k, nil
		}
	}
	return 0, 0, fmt.Errorf("%s %s of domain %d: %w", kind, id, domid, libxl.ErrNoDevice)
}
