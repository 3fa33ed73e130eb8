package remote

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/controllers"
	"github.com/virtxend/virtxend/daemon/remote/rpc"
	"github.com/virtxend/virtxend/libxl"
)

// virDomainMemoryStatTags the libxl driver reports, and the bound of the remote protocol on them.
const (
	memStatAvailable     = 5
	memStatActualBalloon = 6
	maxMemoryStats       = 1024 // REMOTE_DOMAIN_MEMORY_STATS_MAX
)

// The bounds of the remote protocol on domain cpu statistics (REMOTE_NODE_CPU_STATS_MAX,
// REMOTE_DOMAIN_GET_CPU_STATS_NCPUS_MAX).
const (
	maxCPUStatParams = 16
	maxCPUStatCPUs   = 128
)

// virDomainJobType values and the job statistics the libxl driver reports.
const (
	jobNone        = 0
	jobUnbounded   = 2
	jobTimeElapsed = "time_elapsed"
)

// registerStats: dommemstat, domblkstat, domifstat, cpu-stats, domstats, domjobinfo.
func registerStats(f *Facade, p *rpc.Program) {
	rpc.Register(p, rpc.ProcDomainMemoryStats, f.domainMemoryStats)
	rpc.Register(p, rpc.ProcDomainBlockStats, f.blockStats)
	rpc.Register(p, rpc.ProcDomainBlockStatsFlags, f.blockStatsFlags)
	rpc.Register(p, rpc.ProcDomainInterfaceStats, f.interfaceStats)
	rpc.Register(p, rpc.ProcDomainGetCPUStats, f.domainCPUStats)
	rpc.Register(p, rpc.ProcConnectGetAllDomainStats, f.allDomainStats)
	rpc.Register(p, rpc.ProcDomainGetJobInfo, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainGetJobInfoArgs) (*libvirt.DomainGetJobInfoRet, error) {
		d, err := f.lookup(ctx, a.Dom)
		if err != nil {
			return nil, err
		}
		if job := f.Migration.Migrations.Job(d.UUID); job != nil {
			p, elapsed := job.Progress(), time.Since(job.Started)
			return &libvirt.DomainGetJobInfoRet{Type: jobUnbounded, TimeElapsed: uint64(elapsed.Milliseconds()),
				DataTotal: p.Total, DataProcessed: p.Processed, DataRemaining: p.Remaining,
				MemTotal: p.Total, MemProcessed: p.Processed, MemRemaining: p.Remaining}, nil
		}
		elapsed, ok := f.jobElapsed(d)
		if !ok {
			return &libvirt.DomainGetJobInfoRet{Type: jobNone}, nil
		}
		return &libvirt.DomainGetJobInfoRet{Type: jobUnbounded, TimeElapsed: uint64(elapsed.Milliseconds())}, nil
	})
	rpc.Register(p, rpc.ProcDomainGetJobStats, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainGetJobStatsArgs) (*libvirt.DomainGetJobStatsRet, error) {
		if a.Flags != 0 {
			return nil, rpc.ErrInvalidFlags(rpc.DomainLibxl, uint32(a.Flags), "libxlDomainGetJobStats")
		}
		d, err := f.lookup(ctx, a.Dom)
		if err != nil {
			return nil, err
		}
		if job := f.Migration.Migrations.Job(d.UUID); job != nil {
			return &libvirt.DomainGetJobStatsRet{Type: jobUnbounded, Params: migrationJobStats(job)}, nil
		}
		elapsed, ok := f.jobElapsed(d)
		if !ok {
			return &libvirt.DomainGetJobStatsRet{Type: jobNone, Params: []libvirt.TypedParam{}}, nil
		}
		return &libvirt.DomainGetJobStatsRet{Type: jobUnbounded, Params: []libvirt.TypedParam{
			rpc.NewTypedParam(jobTimeElapsed, rpc.TypedParamULLong, uint64(elapsed.Milliseconds())),
		}}, nil
	})
}

// virDomainJobOperation values of a migration.
const (
	jobOperationMigrationIn  = 4 // VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN
	jobOperationMigrationOut = 5 // VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT
)

// migrationJobStats are the statistics of a migration in flight, in the names of libvirt's VIR_DOMAIN_JOB_*
// (libvirt's libxl driver reports only the elapsed time): the bytes sent so far, what is left of the current
// pre-copy round, the guest's memory, the round, and the rate. The destination knows only the elapsed time.
func migrationJobStats(job *controllers.MigrationJob) []libvirt.TypedParam {
	elapsed := time.Since(job.Started)
	op := jobOperationMigrationIn
	if job.Out != nil {
		op = jobOperationMigrationOut
	}
	params := []libvirt.TypedParam{
		rpc.NewTypedParam("operation", rpc.TypedParamInt, int32(op)),
		rpc.NewTypedParam(jobTimeElapsed, rpc.TypedParamULLong, uint64(elapsed.Milliseconds())),
	}
	if job.Out == nil {
		return params
	}
	p := job.Progress()
	var bps uint64
	if s := elapsed.Seconds(); s > 0 {
		bps = uint64(float64(p.Processed) / s)
	}
	for _, kv := range []struct {
		name string
		v    uint64
	}{
		{"data_total", p.Total}, {"data_processed", p.Processed}, {"data_remaining", p.Remaining},
		{"memory_total", p.Total}, {"memory_processed", p.Processed}, {"memory_remaining", p.Remaining},
		{"memory_iteration", uint64(p.Iteration)}, {"memory_bps", bps},
	} {
		params = append(params, rpc.NewTypedParam(kv.name, rpc.TypedParamULLong, kv.v))
	}
	return params
}

// domainMemoryStats is libxlDomainMemoryStats (virsh dommemstat): the balloon and the memory ceiling, in KiB.
func (f *Facade) domainMemoryStats(ctx context.Context, _ *rpc.Call, a *libvirt.DomainMemoryStatsArgs) (*libvirt.DomainMemoryStatsRet, error) {
	if a.MaxStats > maxMemoryStats {
		return nil, rpc.NewError(rpc.CodeInternalError, rpc.DomainRPC, "maxStats > REMOTE_DOMAIN_MEMORY_STATS_MAX")
	}
	if a.Flags != 0 {
		return nil, rpc.ErrInvalidFlags(rpc.DomainLibxl, a.Flags, "libxlDomainMemoryStats")
	}
	d, err := f.activeDom(ctx, a.Dom)
	if err != nil {
		return nil, err
	}
	i := f.liveInfo(ctx, d)
	stats := []libvirt.DomainMemoryStat{{Tag: memStatActualBalloon, Val: i.CurrentKiB}, {Tag: memStatAvailable, Val: i.MaxMemKiB}}
	return &libvirt.DomainMemoryStatsRet{Stats: stats[:min(len(stats), int(a.MaxStats))]}, nil
}

// domainCPUStats is libxlDomainGetCPUStats (virsh cpu-stats): the domain's cpu time, or that of each vcpu
// from startCPU (libxl counts per vcpu, not per host cpu).
func (f *Facade) domainCPUStats(ctx context.Context, _ *rpc.Call, a *libvirt.DomainGetCPUStatsArgs) (*libvirt.DomainGetCPUStatsRet, error) {
	if a.Nparams > maxCPUStatParams {
		return nil, rpc.NewError(rpc.CodeInternalError, rpc.DomainRPC, "nparams too large")
	}
	if a.Ncpus > maxCPUStatCPUs {
		return nil, rpc.NewError(rpc.CodeInternalError, rpc.DomainRPC, "ncpus too large")
	}
	if bad := uint32(a.Flags) &^ typedParamStringOK; bad != 0 {
		return nil, rpc.ErrInvalidFlags(rpc.DomainLibxl, bad, "libxlDomainGetCPUStats")
	}
	d, err := f.activeDom(ctx, a.Dom)
	if err != nil {
		return nil, err
	}
	ret := &libvirt.DomainGetCPUStatsRet{Params: []libvirt.TypedParam{}, Nparams: 1}
	if a.StartCPU == -1 {
		if a.Nparams > 0 {
			ret.Params = append(ret.Params, rpc.NewTypedParam("cpu_time", rpc.TypedParamULLong, uint64(f.liveInfo(ctx, d).CPUTime.Nanoseconds())))
		}
		return ret, nil
	}
	if a.StartCPU < 0 {
		return nil, rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainLibxl, "start_cpu %d out of range", a.StartCPU)
	}
	if a.Nparams == 0 {
		if a.Ncpus == 0 {
			ret.Nparams = int32(f.liveInfo(ctx, d).MaxVcpus)
		}
		return ret, nil
	}
	vcpus, err := f.HV.VcpuInfo(ctx, d.Obs.Info.DomID)
	if err != nil {
		return nil, rpc.Errorf(rpc.CodeInternalError, rpc.DomainLibxl, "Failed to list vcpus for domain '%d' with libxenlight", d.ID())
	}
	for i := int(a.StartCPU); i < len(vcpus) && i-int(a.StartCPU) < int(a.Ncpus); i++ {
		ret.Params = append(ret.Params, rpc.NewTypedParam("cpu_time", rpc.TypedParamULLong, uint64(vcpus[i].CPUTime.Nanoseconds())))
	}
	return ret, nil
}

// interfaceStats is libxlDomainInterfaceStats (virsh domifstat): the counters of the host side of a vif, read
// from /proc/net/dev and turned to the guest's point of view.
func (f *Facade) interfaceStats(ctx context.Context, _ *rpc.Call, a *libvirt.DomainInterfaceStatsArgs) (*libvirt.DomainInterfaceStatsRet, error) {
	d, err := f.activeDom(ctx, a.Dom)
	if err != nil {
		return nil, err
	}
	for i, nic := range domNICs(d) {
		name := vifName(d, nic, i)
		if a.Device != name && !strings.EqualFold(a.Device, nic.MAC) {
			continue
		}
		c, err := f.nicCounters(ctx, d, nic, i)
		if err != nil {
			return nil, err
		}
		return &libvirt.DomainInterfaceStatsRet{RxBytes: c[0], RxPackets: c[1], RxErrs: c[2], RxDrop: c[3],
			TxBytes: c[4], TxPackets: c[5], TxErrs: c[6], TxDrop: c[7]}, nil
	}
	return nil, rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainDomain, "'%s' is not a known interface", a.Device)
}

// procNetDev is where the host's interface counters are read (a variable for tests).
var procNetDev = "/proc/net/dev"

// readNetDev returns rx bytes, packets, errs, drop and tx bytes, packets, errs, drop of ifname. swap turns the
// host side of a backend interface to the guest's side (virNetDevTapInterfaceStats).
func readNetDev(path, ifname string, swap bool) ([8]int64, error) {
	var c [8]int64
	data, err := os.ReadFile(path)
	if err != nil {
		return c, rpc.Errorf(rpc.CodeSystemError, rpc.DomainNone, "Could not open %s: %v", path, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) != ifname {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) < 12 {
			break
		}
		var v [16]int64
		for i := range min(len(fields), 16) {
			v[i], _ = strconv.ParseInt(fields[i], 10, 64)
		}
		rx := [4]int64{v[0], v[1], v[2], v[3]}
		tx := [4]int64{v[8], v[9], v[10], v[11]}
		if swap {
			rx, tx = tx, rx
		}
		copy(c[:4], rx[:])
		copy(c[4:], tx[:])
		return c, nil
	}
	return c, rpc.Errorf(rpc.CodeInternalError, rpc.DomainNone, "%s: Interface not found", path)
}

// domNICs are the interfaces of a domain's definition (none for Domain-0 and foreign domains).
func domNICs(d *dom) []v1alpha1.Interface {
	if d.Obj == nil {
		return nil
	}
	return d.Obj.Spec.Domain.Devices.Interfaces
}

// vifName is the host-side name of a domain's i-th interface: its <target dev>, else libxl's vifDOMID.DEVID.
func vifName(d *dom, nic v1alpha1.Interface, i int) string {
	if nic.Target != "" {
		return nic.Target
	}
	return fmt.Sprintf("vif%d.%d", d.ID(), i)
}

// blockCounters are a disk's counters as the Xen block backend reports them.
type blockCounters struct{ rdReq, rdBytes, wrReq, wrBytes, flReq, errs int64 }

// blockStats is libxlDomainBlockStats (virsh domblkstat).
func (f *Facade) blockStats(ctx context.Context, _ *rpc.Call, a *libvirt.DomainBlockStatsArgs) (*libvirt.DomainBlockStatsRet, error) {
	d, err := f.activeDom(ctx, a.Dom)
	if err != nil {
		return nil, err
	}
	c, err := f.gatherBlockStats(ctx, d, a.Path)
	if err != nil {
		return nil, err
	}
	return &libvirt.DomainBlockStatsRet{RdReq: c.rdReq, RdBytes: c.rdBytes, WrReq: c.wrReq, WrBytes: c.wrBytes, Errs: c.errs}, nil
}

// blockStatsFlags is libxlDomainBlockStatsFlags (virsh domblkstat with typed parameters).
func (f *Facade) blockStatsFlags(ctx context.Context, _ *rpc.Call, a *libvirt.DomainBlockStatsFlagsArgs) (*libvirt.DomainBlockStatsFlagsRet, error) {
	if bad := a.Flags &^ typedParamStringOK; bad != 0 {
		return nil, rpc.ErrInvalidFlags(rpc.DomainLibxl, bad, "libxlDomainBlockStatsFlags")
	}
	if a.Nparams > maxTypedParams {
		return nil, rpc.NewError(rpc.CodeInternalError, rpc.DomainRPC, "nparams too large")
	}
	d, err := f.activeDom(ctx, a.Dom)
	if err != nil {
		return nil, err
	}
	if a.Nparams <= 0 {
		return &libvirt.DomainBlockStatsFlagsRet{Params: []libvirt.TypedParam{}, Nparams: 6}, nil
	}
	c, err := f.gatherBlockStats(ctx, d, a.Path)
	if err != nil {
		return nil, err
	}
	params := []libvirt.TypedParam{
		rpc.NewTypedParam("wr_bytes", rpc.TypedParamLLong, c.wrBytes),
		rpc.NewTypedParam("wr_operations", rpc.TypedParamLLong, c.wrReq),
		rpc.NewTypedParam("rd_bytes", rpc.TypedParamLLong, c.rdBytes),
		rpc.NewTypedParam("rd_operations", rpc.TypedParamLLong, c.rdReq),
		rpc.NewTypedParam("flush_operations", rpc.TypedParamLLong, c.flReq),
		rpc.NewTypedParam("errs", rpc.TypedParamLLong, c.errs),
	}
	return &libvirt.DomainBlockStatsFlagsRet{Params: params[:min(len(params), int(a.Nparams))]}, nil
}

// gatherBlockStats is libxlDomainBlockStatsGather: the counters of the disk named by path (target or source),
// or the sum over every disk when path is empty. Every disk has counters when the facade reads them
// through the hypervisor port; otherwise only those of the kernel's block backend (driver phy, format raw), as in
// libvirt.
func (f *Facade) gatherBlockStats(ctx context.Context, d *dom, path string) (blockCounters, error) {
	var sum blockCounters
	var disks []v1alpha1.Disk
	if d.Obj != nil {
		disks = d.Obj.Spec.Domain.Devices.Disks
	}
	one := func(disk *v1alpha1.Disk) error {
		c, err := f.diskCounters(ctx, d, disk)
		if err != nil {
			return err
		}
		sum.rdReq += c.rdReq
		sum.rdBytes += c.rdBytes
		sum.wrReq += c.wrReq
		sum.wrBytes += c.wrBytes
		sum.flReq += c.flReq
		sum.errs += c.errs
		return nil
	}
	if path == "" {
		for i := range disks {
			if err := one(&disks[i]); err != nil {
				return sum, err
			}
		}
		return sum, nil
	}
	for i := range disks {
		if disks[i].Target.Dev == path || (disks[i].Source != nil && (disks[i].Source.File == path || disks[i].Source.Dev == path)) {
			return sum, one(&disks[i])
		}
	}
	return sum, rpc.Errorf(rpc.CodeOperationInvalid, rpc.DomainLibxl, "invalid path: %s", path)
}

// xenBackendDir is where the kernel's Xen backends publish their devices (a variable for tests).
var xenBackendDir = "/sys/bus/xen-backend/devices"

// vbdSectorSize is the unit of the backend's sector counters (libvirt's default when xenstore says nothing).
const vbdSectorSize = 512

// vbdCounters reads one disk's counters from its block backend (libxlDomainBlockStatsVBD).
func vbdCounters(d *dom, disk *v1alpha1.Disk) (blockCounters, error) {
	var c blockCounters
	drv, format := "qemu", "none"
	if disk.Driver != nil {
		if disk.Driver.Name != "" {
			drv = disk.Driver.Name
		}
		if disk.Driver.Type != "" {
			format = disk.Driver.Type
		}
	}
	if drv != "phy" {
		return c, rpc.Errorf(rpc.CodeOperationUnsupported, rpc.DomainLibxl, "unsupported disk driver %s", drv)
	}
	if format != "raw" {
		return c, rpc.Errorf(rpc.CodeOperationUnsupported, rpc.DomainLibxl, "unsupported format %s", format)
	}
	devno := libxl.DiskDevNumber(disk.Target.Dev)
	if devno < 0 {
		return c, rpc.NewError(rpc.CodeOperationInvalid, rpc.DomainLibxl, "cannot find device number")
	}
	dir := filepath.Join(xenBackendDir, fmt.Sprintf("vbd-%d-%d", d.ID(), devno), "statistics")
	if _, err := os.Stat(dir); err != nil {
		return c, rpc.NewError(rpc.CodeOperationFailed, rpc.DomainLibxl, "cannot open bus path")
	}
	for _, s := range []struct {
		name string
		to   *int64
		mul  int64
	}{{"f_req", &c.flReq, 1}, {"wr_req", &c.wrReq, 1}, {"rd_req", &c.rdReq, 1},
		{"wr_sect", &c.wrBytes, vbdSectorSize}, {"rd_sect", &c.rdBytes, vbdSectorSize}, {"oo_req", &c.errs, 1}} {
		name := filepath.Join(dir, s.name)
		data, err := os.ReadFile(name)
		v, perr := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		if err != nil || perr != nil {
			return c, rpc.Errorf(rpc.CodeOperationFailed, rpc.DomainLibxl, "cannot read %s", name)
		}
		*s.to = v * s.mul
	}
	return c, nil
}

// jobKey names one domain of one facade in the job table.
// beginJob records that the facade began a long-running change (save, restore, dump) of the domain with UUID
// uuid, so that domjobinfo can report it while it runs; the returned function ends it.
func (f *Facade) beginJob(uuid string) (end func()) {
	k := strings.ToLower(uuid)
	f.jobStarts.Store(k, time.Now())
	return func() { f.jobStarts.Delete(k) }
}

// jobElapsed reports whether a job runs on d, and for how long: a job this facade began, or a lifecycle action
// the reconciler has not finished.
func (f *Facade) jobElapsed(d *dom) (time.Duration, bool) {
	if v, ok := f.jobStarts.Load(strings.ToLower(d.UUID)); ok {
		return time.Since(v.(time.Time)), true
	}
	if o := d.Obj; o != nil && o.Spec.Action != nil && (o.Status.LastAction == nil || o.Status.LastAction.ID != o.Spec.Action.ID) {
		return 0, true
	}
	return 0, false
}

// vcpuState is the virVcpuState of one vcpu as the hypervisor reports it.
func vcpuState(v libxl.VcpuInfo) int32 {
	switch {
	case v.Running:
		return vcpuRunning
	case v.Blocked:
		return vcpuBlocked
	}
	return vcpuOffline
}
