package remote

import (
	"context"
	"fmt"
	"strings"

	"github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/daemon/remote/rpc"
	"github.com/virtxend/virtxend/libxl"
)

// The statistics groups of virConnectGetAllDomainStats (virDomainStatsTypes) virtxend reports; the other
// groups (perf, iothread, memory, dirtyrate, vm) have no source on Xen.
const (
	statsState     = 1 << 0
	statsCPUTotal  = 1 << 1
	statsBalloon   = 1 << 2
	statsVcpu      = 1 << 3
	statsInterface = 1 << 4
	statsBlock     = 1 << 5
	statsSupported = statsState | statsCPUTotal | statsBalloon | statsVcpu | statsInterface | statsBlock
)

// virConnectGetAllDomainStatsFlags: the domain filters (the same bits as virConnectListAllDomains' first eight)
// and the three modifiers.
const (
	statsFilters      = 1<<8 - 1
	statsNoWait       = 1 << 29
	statsBacking      = 1 << 30
	statsEnforceStats = 1 << 31
)

// maxDomainList is REMOTE_DOMAIN_LIST_MAX, the bound on the domains one call names.
const maxDomainList = 16384

// allDomainStats serves virConnectGetAllDomainStats and virDomainListGetStats (virsh domstats, and what
// Prometheus exporters poll): one record of typed parameters per domain, named as libvirt's QEMU driver names
// them ("state.state", "cpu.time", "balloon.current", "vcpu.0.time", "net.count", "block.0.name", ...).
// libvirt's libxl driver does not implement it; virtxend does, from the same sources as the single-domain
// calls.
func (f *Facade) allDomainStats(ctx context.Context, _ *rpc.Call, a *libvirt.ConnectGetAllDomainStatsArgs) (*libvirt.ConnectGetAllDomainStatsRet, error) {
	if len(a.Doms) > maxDomainList {
		return nil, rpc.NewError(rpc.CodeInternalError, rpc.DomainRPC, "too many domains requested")
	}
	if bad := a.Flags &^ (statsFilters | statsNoWait | statsBacking | statsEnforceStats); bad != 0 {
		return nil, rpc.ErrInvalidFlags(rpc.DomainLibxl, bad, "libxlConnectGetAllDomainStats")
	}
	groups := a.Stats
	switch {
	case groups == 0:
		groups = statsSupported
	case a.Flags&statsEnforceStats != 0 && groups&^statsSupported != 0:
		return nil, rpc.Errorf(rpc.CodeArgumentUnsupported, rpc.DomainLibxl,
			"Stats types bits 0x%x are not supported by this daemon", groups&^statsSupported)
	}
	groups &= statsSupported

	all, err := f.domains(ctx)
	if err != nil {
		return nil, err
	}
	var chosen []*dom
	if len(a.Doms) == 0 {
		chosen = all
	} else {
		for _, w := range a.Doms {
			u := uuidString(w.UUID)
			for _, d := range all {
				if strings.EqualFold(d.UUID, u) {
					chosen = append(chosen, d)
					break
				}
			}
		}
	}
	ret := &libvirt.ConnectGetAllDomainStatsRet{RetStats: []libvirt.DomainStatsRecord{}}
	for _, d := range chosen {
		if !f.matchListFlags(d, a.Flags&statsFilters) {
			continue
		}
		ret.RetStats = append(ret.RetStats, libvirt.DomainStatsRecord{Dom: d.Wire(), Params: f.domainStats(ctx, d, groups)})
	}
	return ret, nil
}

// statsList collects typed parameters.
type statsList []libvirt.TypedParam

func (l *statsList) add(typ uint32, v any, format string, args ...any) {
	*l = append(*l, rpc.NewTypedParam(fmt.Sprintf(format, args...), typ, v))
}

// domainStats is the record of one domain. A group whose source cannot be read is left out, as libvirt leaves
// out what it cannot read.
func (f *Facade) domainStats(ctx context.Context, d *dom, groups uint32) []libvirt.TypedParam {
	l := statsList{}
	var info libxl.DomainInfo
	if d.Active() {
		info = f.liveInfo(ctx, d)
	}
	if groups&statsState != 0 {
		st, reason := d.State()
		l.add(rpc.TypedParamInt, st, "state.state")
		l.add(rpc.TypedParamInt, reason, "state.reason")
	}
	if groups&statsCPUTotal != 0 && d.Active() {
		l.add(rpc.TypedParamULLong, uint64(info.CPUTime.Nanoseconds()), "cpu.time")
	}
	if groups&statsBalloon != 0 {
		switch {
		case d.Active() && d.Obj != nil:
			// libvirt: the balloon Xen reports, the maximum of the live definition (vm->def).
			l.add(rpc.TypedParamULLong, info.CurrentKiB, "balloon.current")
			l.add(rpc.TypedParamULLong, kib(f.liveDef(ctx, d).Memory.Value()), "balloon.maximum")
		case d.Active():
			l.add(rpc.TypedParamULLong, info.CurrentKiB, "balloon.current")
			l.add(rpc.TypedParamULLong, max(info.MaxMemKiB, info.CurrentKiB), "balloon.maximum")
		case d.Obj != nil:
			l.add(rpc.TypedParamULLong, currentKiB(&d.Obj.Spec.Domain), "balloon.current")
			l.add(rpc.TypedParamULLong, kib(d.Obj.Spec.Domain.Memory.Value()), "balloon.maximum")
		}
	}
	if groups&statsVcpu != 0 {
		f.vcpuStats(ctx, d, info, &l)
	}
	if groups&statsInterface != 0 && d.Active() {
		nics := domNICs(d)
		l.add(rpc.TypedParamUint, uint32(len(nics)), "net.count")
		for i, nic := range nics {
			name := vifName(d, nic, i)
			l.add(rpc.TypedParamString, name, "net.%d.name", i)
			c, err := f.nicCounters(ctx, d, nic, i)
			if err != nil {
				continue
			}
			for j, key := range []string{"rx.bytes", "rx.pkts", "rx.errs", "rx.drop", "tx.bytes", "tx.pkts", "tx.errs", "tx.drop"} {
				l.add(rpc.TypedParamULLong, uint64(max(c[j], 0)), "net.%d.%s", i, key)
			}
		}
	}
	if groups&statsBlock != 0 && d.Obj != nil {
		disks := d.Obj.Spec.Domain.Devices.Disks
		l.add(rpc.TypedParamUint, uint32(len(disks)), "block.count")
		for i := range disks {
			disk := &disks[i]
			l.add(rpc.TypedParamString, disk.Target.Dev, "block.%d.name", i)
			if s := disk.Source; s != nil && (s.File != "" || s.Dev != "") {
				l.add(rpc.TypedParamString, s.File+s.Dev, "block.%d.path", i)
			}
			if !d.Active() {
				continue
			}
			c, err := f.diskCounters(ctx, d, disk)
			if err != nil {
				continue
			}
			for _, s := range []struct {
				key string
				v   int64
			}{{"rd.reqs", c.rdReq}, {"rd.bytes", c.rdBytes}, {"wr.reqs", c.wrReq}, {"wr.bytes", c.wrBytes},
				{"fl.reqs", c.flReq}, {"errs", c.errs}} {
				l.add(rpc.TypedParamULLong, uint64(max(s.v, 0)), "block.%d.%s", i, s.key)
			}
		}
	}
	return l
}

// vcpuStats adds the vcpu group: the online and maximum counts, and for a running domain each vcpu's state
// and cpu time.
func (f *Facade) vcpuStats(ctx context.Context, d *dom, info libxl.DomainInfo, l *statsList) {
	if !d.Active() {
		if d.Obj != nil {
			l.add(rpc.TypedParamUint, vcpuCurrent(&d.Obj.Spec.Domain), "vcpu.current")
			l.add(rpc.TypedParamUint, vcpuMax(&d.Obj.Spec.Domain), "vcpu.maximum")
		}
		return
	}
	if d.Obj != nil { // libvirt counts the vcpus of the live definition
		live := f.liveDef(ctx, d)
		l.add(rpc.TypedParamUint, vcpuCurrent(live), "vcpu.current")
		l.add(rpc.TypedParamUint, vcpuMax(live), "vcpu.maximum")
	} else {
		l.add(rpc.TypedParamUint, uint32(info.OnlineVcpus), "vcpu.current")
		l.add(rpc.TypedParamUint, uint32(info.MaxVcpus), "vcpu.maximum")
	}
	vcpus, err := f.HV.VcpuInfo(ctx, info.DomID)
	if err != nil {
		return
	}
	for _, v := range vcpus {
		l.add(rpc.TypedParamInt, vcpuState(v), "vcpu.%d.state", v.ID)
		l.add(rpc.TypedParamULLong, uint64(v.CPUTime.Nanoseconds()), "vcpu.%d.time", v.ID)
	}
}
