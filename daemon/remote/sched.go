package remote

import (
	"context"
	"math"
	"strconv"

	"github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/daemon/remote/rpc"
	"github.com/virtxend/virtxend/libxl"
)

// The credit scheduler's parameters (VIR_DOMAIN_SCHEDULER_WEIGHT, VIR_DOMAIN_SCHEDULER_CAP) and their number
// (XEN_SCHED_CREDIT_NPARAM).
const (
	schedWeight  = "weight"
	schedCap     = "cap"
	schedNParams = 2
)

// The NUMA parameters libxl reports (VIR_DOMAIN_NUMA_MODE, VIR_DOMAIN_NUMA_NODESET); Xen's placement is close
// to numactl's interleave policy (VIR_DOMAIN_NUMATUNE_MEM_INTERLEAVE).
const (
	numaMode       = "numa_mode"
	numaNodeset    = "numa_nodeset"
	numaNParams    = 2
	numaInterleave = 2
)

// maxTypedParams bounds the parameters a call asks for (REMOTE_DOMAIN_SCHEDULER_PARAMETERS_MAX and
// REMOTE_DOMAIN_NUMA_PARAMETERS_MAX).
const maxTypedParams = 16

// registerScheduler: virsh schedinfo and numatune. The scheduler is the host's (Xen 4.17 defaults to credit2);
// as in libvirt, credit and credit2 have a weight and a cap, the others no parameters. The weight and cap shown
// are the running domain's, read from the hypervisor. A domain's weight is <cputune><shares> of its spec: setting it
// changes the spec, and the reconciler applies it to the running domain (libxl_domain_sched_params_set).
func registerScheduler(f *Facade, p *rpc.Program) {
	rpc.Register(p, rpc.ProcDomainGetSchedulerType, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainGetSchedulerTypeArgs) (*libvirt.DomainGetSchedulerTypeRet, error) {
		d, err := f.activeDom(ctx, a.Dom)
		if err != nil {
			return nil, err
		}
		info, err := f.hostInfo(ctx)
		if err != nil {
			return nil, err
		}
		switch {
		case schedHasParams(info.Scheduler):
			return &libvirt.DomainGetSchedulerTypeRet{Type: info.Scheduler, Nparams: schedNParams}, nil
		case info.Scheduler == "sedf", info.Scheduler == "arinc653":
			return &libvirt.DomainGetSchedulerTypeRet{Type: info.Scheduler}, nil
		}
		return nil, rpc.Errorf(rpc.CodeInternalError, rpc.DomainLibxl,
			"Failed to get scheduler id for domain '%d' with libxenlight", d.ID())
	})
	rpc.Register(p, rpc.ProcDomainGetSchedulerParameters, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainGetSchedulerParametersArgs) (*libvirt.DomainGetSchedulerParametersRet, error) {
		params, err := f.schedParams(ctx, a.Dom, a.Nparams, 0)
		return &libvirt.DomainGetSchedulerParametersRet{Params: params}, err
	})
	rpc.Register(p, rpc.ProcDomainGetSchedulerParametersFlags, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainGetSchedulerParametersFlagsArgs) (*libvirt.DomainGetSchedulerParametersFlagsRet, error) {
		params, err := f.schedParams(ctx, a.Dom, a.Nparams, a.Flags)
		return &libvirt.DomainGetSchedulerParametersFlagsRet{Params: params}, err
	})
	rpc.Register(p, rpc.ProcDomainSetSchedulerParameters, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainSetSchedulerParametersArgs) (*struct{}, error) {
		return nil, f.setSchedParams(ctx, a.Dom, a.Params, 0)
	}, rpc.ReadOnlyOK(false)) // the ACL column reads domain:read, but virDomainSetSchedulerParameters refuses read-only connections
	rpc.Register(p, rpc.ProcDomainSetSchedulerParametersFlags, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainSetSchedulerParametersFlagsArgs) (*struct{}, error) {
		return nil, f.setSchedParams(ctx, a.Dom, a.Params, a.Flags)
	})
	rpc.Register(p, rpc.ProcDomainGetNumaParameters, f.numaParams)
}

// schedHasParams reports whether libvirt's libxl driver offers a weight and a cap under the scheduler.
func schedHasParams(scheduler string) bool { return scheduler == "credit" || scheduler == "credit2" }

// creditScheduler refuses, as libvirt does, the scheduler parameters of a host whose scheduler has none.
func (f *Facade) creditScheduler(ctx context.Context) error {
	info, err := f.hostInfo(ctx)
	if err != nil {
		return err
	}
	if !schedHasParams(info.Scheduler) {
		return rpc.NewError(rpc.CodeInternalError, rpc.DomainLibxl, "Only 'credit' and 'credit2' schedulers are supported")
	}
	return nil
}

// activeDom looks up a domain that must be running.
func (f *Facade) activeDom(ctx context.Context, w libvirt.Domain) (*dom, error) {
	d, err := f.lookup(ctx, w)
	if err != nil {
		return nil, err
	}
	if err := checkActive(d); err != nil {
		return nil, err
	}
	return d, nil
}

// schedParams is libxlDomainGetSchedulerParametersFlags: the weight and cap of a running domain.
func (f *Facade) schedParams(ctx context.Context, w libvirt.Domain, nparams int32, flags uint32) ([]libvirt.TypedParam, error) {
	if bad := flags &^ typedParamStringOK; bad != 0 {
		return nil, rpc.ErrInvalidFlags(rpc.DomainLibxl, bad, "libxlDomainGetSchedulerParametersFlags")
	}
	if nparams > maxTypedParams {
		return nil, rpc.NewError(rpc.CodeInternalError, rpc.DomainRPC, "nparams too large")
	}
	d, err := f.activeDom(ctx, w)
	if err != nil {
		return nil, err
	}
	if err := f.creditScheduler(ctx); err != nil {
		return nil, err
	}
	sp, err := f.HV.SchedParams(ctx, d.Obs.Info.DomID)
	if err != nil {
		return nil, rpc.Errorf(rpc.CodeInternalError, rpc.DomainLibxl,
			"Failed to get scheduler parameters for domain '%d' with libxenlight", d.ID())
	}
	params := []libvirt.TypedParam{
		rpc.NewTypedParam(schedWeight, rpc.TypedParamUint, uint32(sp.Weight)),
		rpc.NewTypedParam(schedCap, rpc.TypedParamUint, uint32(sp.Cap)),
	}
	return params[:max(0, min(int(nparams), schedNParams))], nil
}

// setSchedParams is libxlDomainSetSchedulerParametersFlags: the weight and the cap are set on the running domain
// only (a SetLive action), as libvirt does: neither definition records them, and they last until the domain
// stops.
func (f *Facade) setSchedParams(ctx context.Context, w libvirt.Domain, params []libvirt.TypedParam, flags uint32) error {
	if flags != 0 {
		return rpc.ErrInvalidFlags(rpc.DomainLibxl, flags, "libxlDomainSetSchedulerParametersFlags")
	}
	if err := validateTypedParams(params, map[string]uint32{schedWeight: rpc.TypedParamUint, schedCap: rpc.TypedParamUint}); err != nil {
		return err
	}
	d, unlock, err := f.lockedLookup(ctx, w)
	if err != nil {
		return err
	}
	defer unlock()
	obj, err := f.changeableObj(d)
	if err != nil {
		return err
	}
	if err := checkActive(d); err != nil {
		return err
	}
	if err := f.creditScheduler(ctx); err != nil {
		return err
	}
	set := &v1alpha1.SchedSettings{}
	for _, p := range params {
		v, _ := p.Value.I.(uint32)
		switch {
		case p.Field == schedCap && v > math.MaxUint16:
			return rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainLibxl, "scheduler cap %d is out of range [0, %d]", v, math.MaxUint16)
		case p.Field == schedCap:
			set.Cap = ptr(v)
		case p.Field == schedWeight && (v == 0 || v > libxl.MaxSchedWeight):
			return rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainLibxl, "scheduler weight %d is out of range [1, %d]", v, libxl.MaxSchedWeight)
		case p.Field == schedWeight:
			set.Weight = v
		}
	}
	return f.changeLive(ctx, obj, d, nil, set)
}

// validateTypedParams is virTypedParamsValidate: every parameter must be one of keys, of its type, once.
func validateTypedParams(params []libvirt.TypedParam, keys map[string]uint32) error {
	seen := map[string]bool{}
	for _, p := range params {
		typ, ok := keys[p.Field]
		if !ok {
			return rpc.Errorf(rpc.CodeArgumentUnsupported, rpc.DomainNone, "parameter '%s' not supported", p.Field)
		}
		if p.Value.D != typ {
			return rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainNone, "invalid type '%s' for parameter '%s', expected '%s'",
				typedParamTypeName(p.Value.D), p.Field, typedParamTypeName(typ))
		}
		if seen[p.Field] {
			return rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainNone, "parameter '%s' occurs multiple times", p.Field)
		}
		seen[p.Field] = true
	}
	return nil
}

// typedParamTypeName is virTypedParameterTypeToString.
func typedParamTypeName(t uint32) string {
	names := []string{"", "int", "uint", "llong", "ullong", "double", "boolean", "string"}
	if int(t) < len(names) {
		return names[t]
	}
	return ""
}

// numaParams is libxlDomainGetNumaParameters (virsh numatune): Xen's interleave-like placement over the
// host's nodes.
func (f *Facade) numaParams(ctx context.Context, _ *rpc.Call, a *libvirt.DomainGetNumaParametersArgs) (*libvirt.DomainGetNumaParametersRet, error) {
	if bad := a.Flags &^ (affectLive | typedParamStringOK); bad != 0 {
		return nil, rpc.ErrInvalidFlags(rpc.DomainLibxl, bad, "libxlDomainGetNumaParameters")
	}
	if a.Nparams > maxTypedParams {
		return nil, rpc.NewError(rpc.CodeInternalError, rpc.DomainRPC, "nparams too large")
	}
	if _, err := f.activeDom(ctx, a.Dom); err != nil {
		return nil, err
	}
	if a.Nparams <= 0 {
		return &libvirt.DomainGetNumaParametersRet{Params: []libvirt.TypedParam{}, Nparams: numaNParams}, nil
	}
	host, err := f.HV.HostInfo(ctx)
	if err != nil {
		return nil, internalErr(err)
	}
	nodes := "0"
	if host.Nodes > 1 {
		nodes = "0-" + strconv.Itoa(host.Nodes-1)
	}
	params := []libvirt.TypedParam{rpc.NewTypedParam(numaMode, rpc.TypedParamInt, numaInterleave)}
	if a.Flags&typedParamStringOK != 0 {
		params = append(params, rpc.NewTypedParam(numaNodeset, rpc.TypedParamString, nodes))
	}
	return &libvirt.DomainGetNumaParametersRet{Params: params[:min(len(params), int(a.Nparams))]}, nil
}
