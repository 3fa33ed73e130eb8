package remote

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// The bounds of the remote protocol on vcpu information (REMOTE_VCPUINFO_MAX, REMOTE_CPUMAPS_MAX): the daemon
// refuses larger requests before allocating anything.
const (
	maxVcpuInfo = 16384
	maxCPUMaps  = 8388608
)

// virVcpuState values.
const (
	vcpuOffline = 0
	vcpuRunning = 1
	vcpuBlocked = 2
)

// getVcpus is libxlDomainGetVcpus (virsh vcpuinfo): each vcpu of the running domain with its affinity.
func (f *Facade) getVcpus(ctx context.Context, _ *rpc.Call, a *libvirt.DomainGetVcpusArgs) (*libvirt.DomainGetVcpusRet, error) {
	if err := checkCPUMaps(a.Maxinfo, a.Maplen, "maxinfo"); err != nil {
		return nil, err
	}
	d, err := f.lookup(ctx, a.Dom)
	if err != nil {
		return nil, err
	}
	if err := checkActive(d); err != nil {
		return nil, err
	}
	vcpus, err := f.HV.VcpuInfo(ctx, d.Obs.Info.DomID)
	if err != nil {
		return nil, rpc.Errorf(rpc.CodeInternalError, rpc.DomainLibxl,
			"Failed to list vcpus for domain '%d' with libxenlight", d.ID())
	}
	n := min(len(vcpus), int(a.Maxinfo))
	ret := &libvirt.DomainGetVcpusRet{Info: make([]libvirt.VcpuInfo, n), Cpumaps: make([]byte, int(a.Maxinfo)*int(a.Maplen))}
	for i, v := range vcpus[:n] {
		ret.Info[i] = libvirt.VcpuInfo{Number: uint32(v.ID), State: vcpuState(v), CPUTime: uint64(v.CPUTime.Nanoseconds()), CPU: int32(v.CPU)}
		setCPUMap(ret.Cpumaps[i*int(a.Maplen):(i+1)*int(a.Maplen)], v.Affinity)
	}
	return ret, nil
}

// pinVcpu is libxlDomainPinVcpuFlags (virsh vcpupin DOMAIN VCPU CPULIST): the pin is a <vcpupin> of the spec.
func (f *Facade) pinVcpu(ctx context.Context, w libvirt.Domain, vcpu uint32, cpumap []byte, flags uint32) error {
	if bad := flags &^ (affectLive | affectConfig); bad != 0 {
		return rpc.ErrInvalidFlags(rpc.DomainLibxl, bad, "libxlDomainPinVcpuFlags")
	}
	d, obj, im, unlock, err := f.lockedEdit(ctx, w, flags)
	if err != nil {
		return err
	}
	defer unlock()
	online := vcpuCurrent(&obj.Spec.Domain)
	if im.live {
		online = uint32(f.liveInfo(ctx, d).OnlineVcpus)
	}
	if vcpu >= online {
		return rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainLibxl, "vcpu '%d' is not active", vcpu)
	}
	host, err := f.HV.HostInfo(ctx)
	if err != nil {
		return internalErr(err)
	}
	cpus := cpuMapList(cpumap, host.CPUs)
	if len(cpus) == 0 {
		return rpc.NewError(rpc.CodeInvalidArg, rpc.DomainLibxl, "Empty cpu list for pinning")
	}
	set := formatCPUSet(cpus)
	return f.changeSpec(ctx, obj, d, im, func(s *v1alpha1.DomainSpec) error {
		if s.CPUTune == nil {
			s.CPUTune = &v1alpha1.CPUTune{}
		}
		pins := slices.DeleteFunc(s.CPUTune.VCPUPins, func(p v1alpha1.VCPUPin) bool { return p.VCPU == vcpu })
		pins = append(pins, v1alpha1.VCPUPin{VCPU: vcpu, CPUSet: set})
		slices.SortFunc(pins, func(a, b v1alpha1.VCPUPin) int { return int(a.VCPU) - int(b.VCPU) })
		s.CPUTune.VCPUPins = pins
		return nil
	})
}

// vcpuPinInfo is libxlDomainGetVcpuPinInfo (virsh vcpupin DOMAIN): the affinity of every vcpu, from the
// hypervisor for the running domain, from the spec's pins for its definition.
func (f *Facade) vcpuPinInfo(ctx context.Context, _ *rpc.Call, a *libvirt.DomainGetVcpuPinInfoArgs) (*libvirt.DomainGetVcpuPinInfoRet, error) {
	if err := checkCPUMaps(a.Ncpumaps, a.Maplen, "ncpumaps"); err != nil {
		return nil, err
	}
	if bad := a.Flags &^ (affectLive | affectConfig); bad != 0 {
		return nil, rpc.ErrInvalidFlags(rpc.DomainLibxl, bad, "libxlDomainGetVcpuPinInfo")
	}
	d, err := f.lookup(ctx, a.Dom)
	if err != nil {
		return nil, err
	}
	im, err := modificationImpact(d, a.Flags)
	if err != nil {
		return nil, err
	}
	host, err := f.HV.HostInfo(ctx)
	if err != nil {
		return nil, internalErr(err)
	}
	var rows [][]int
	if im.live || d.Obj == nil {
		vcpus, err := f.HV.VcpuInfo(ctx, d.Obs.Info.DomID)
		if err != nil {
			return nil, rpc.Errorf(rpc.CodeInternalError, rpc.DomainLibxl,
				"Failed to list vcpus for domain '%d' with libxenlight", d.ID())
		}
		for _, v := range vcpus {
			rows = append(rows, v.Affinity)
		}
	} else {
		rows = specAffinity(&d.Obj.Spec.Domain, host.CPUs)
	}
	maplen := int(a.Maplen)
	n := min(len(rows), int(a.Ncpumaps))
	ret := &libvirt.DomainGetVcpuPinInfoRet{Cpumaps: make([]byte, int(a.Ncpumaps)*maplen), Num: int32(n)}
	for i, cpus := range rows[:n] {
		setCPUMap(ret.Cpumaps[i*maplen:(i+1)*maplen], cpus)
	}
	return ret, nil
}

// specAffinity is the cpus each vcpu of a definition may run on: its <vcpupin>, else <vcpu cpuset>, else
// every host cpu (virDomainDefGetVcpuPinInfoHelper).
func specAffinity(s *v1alpha1.DomainSpec, hostCPUs int) [][]int {
	all := make([]int, hostCPUs)
	for i := range all {
		all[i] = i
	}
	def := all
	if s.VCPU != nil && s.VCPU.CPUSet != "" {
		if cpus, err := parseCPUList(s.VCPU.CPUSet); err == nil {
			def = cpus
		}
	}
	rows := make([][]int, vcpuMax(s))
	for i := range rows {
		rows[i] = def
	}
	if s.CPUTune != nil {
		for _, p := range s.CPUTune.VCPUPins {
			if cpus, err := parseCPUList(p.CPUSet); err == nil && int(p.VCPU) < len(rows) {
				rows[p.VCPU] = cpus
			}
		}
	}
	return rows
}

// checkCPUMaps applies the remote protocol's bounds to a request for n cpu maps of maplen bytes.
func checkCPUMaps(n, maplen int32, what string) error {
	switch {
	case n < 0 || maplen < 0:
		return rpc.Errorf(rpc.CodeInternalError, rpc.DomainRPC, "%s and maplen must not be negative", what)
	case n > maxVcpuInfo:
		return rpc.Errorf(rpc.CodeInternalError, rpc.DomainRPC, "%s > REMOTE_VCPUINFO_MAX", what)
	case int64(n)*int64(maplen) > maxCPUMaps:
		return rpc.Errorf(rpc.CodeInternalError, rpc.DomainRPC, "%s * maplen > REMOTE_CPUMAPS_MAX", what)
	}
	return nil
}

// setCPUMap sets the bits of cpus in a libvirt cpu map (cpu i is bit i%8 of byte i/8); cpus beyond the map are
// left out.
func setCPUMap(m []byte, cpus []int) {
	for _, c := range cpus {
		if c >= 0 && c/8 < len(m) {
			m[c/8] |= 1 << (c % 8)
		}
	}
}

// cpuMapList lists the cpus set in a libvirt cpu map, below limit.
func cpuMapList(m []byte, limit int) []int {
	var cpus []int
	for i := 0; i < len(m)*8 && i < limit; i++ {
		if m[i/8]&(1<<(i%8)) != 0 {
			cpus = append(cpus, i)
		}
	}
	return cpus
}

// parseCPUList parses libvirt's cpuset syntax ("0-3,^2,8") into sorted cpus.
func parseCPUList(s string) ([]int, error) {
	in, out := map[int]bool{}, map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		neg := strings.HasPrefix(part, "^")
		part = strings.TrimPrefix(part, "^")
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(hi)
		}
		if err != nil || a < 0 || b < a || b >= 1<<16 {
			return nil, fmt.Errorf("invalid cpuset %q", s)
		}
		for c := a; c <= b; c++ {
			if neg {
				out[c] = true
			} else {
				in[c] = true
			}
		}
	}
	var cpus []int
	for c := range in {
		if !out[c] {
			cpus = append(cpus, c)
		}
	}
	slices.Sort(cpus)
	return cpus, nil
}
