package remote

import (
	"context"
	"strings"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// diskCounters reads one disk's counters. Through the hypervisor port every disk has them, whatever backend
// serves it, which lets exporters that ask for each disk (Debian's prometheus-libvirt-exporter) work where
// libvirt's libxl driver refuses every disk but blkback's; without the port, only blkback's are read.
func (f *Facade) diskCounters(ctx context.Context, d *dom, disk *v1alpha1.Disk) (blockCounters, error) {
	if f.Counters == nil {
		return vbdCounters(d, disk)
	}
	s, err := f.Counters.DiskStats(ctx, d.Obs.Info.DomID, disk.Target.Dev)
	if err != nil {
		return blockCounters{}, rpc.Errorf(rpc.CodeOperationFailed, rpc.DomainLibxl, "cannot read statistics of disk %s: %v", disk.Target.Dev, err)
	}
	return blockCounters{rdReq: s.RdReqs, rdBytes: s.RdBytes, wrReq: s.WrReqs, wrBytes: s.WrBytes, flReq: s.FlReqs, errs: s.Errs}, nil
}

// nicCounters reads the counters of a domain's i-th interface as libvirt reports them: rx bytes, packets, errs,
// drop, then tx, from the guest's point of view for every type but "ethernet".
func (f *Facade) nicCounters(ctx context.Context, d *dom, nic v1alpha1.Interface, i int) ([8]int64, error) {
	name := vifName(d, nic, i)
	swap := nic.Type != "ethernet"
	if f.Counters == nil {
		return readNetDev(procNetDev, name, swap)
	}
	ifname := nic.Target
	if strings.HasPrefix(ifname, "vif") {
		ifname = "" // libxl's own name, which the adapter derives
	}
	s, err := f.Counters.NicStats(ctx, d.Obs.Info.DomID, i, ifname)
	if err != nil {
		return [8]int64{}, rpc.Errorf(rpc.CodeInternalError, rpc.DomainNone, "%s: Interface not found: %v", name, err)
	}
	if swap {
		s = s.Swapped()
	}
	return [8]int64{s.RxBytes, s.RxPackets, s.RxErrs, s.RxDrop, s.TxBytes, s.TxPackets, s.TxErrs, s.TxDrop}, nil
}
