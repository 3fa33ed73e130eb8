package remote

import (
	"context"
	"strings"

	"github.com/digitalocean/go-libvirt"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/virtxend/virtxend/api/deffile"
	"github.com/virtxend/virtxend/api/domxml"
	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/daemon/remote/rpc"
	"github.com/virtxend/virtxend/libxl"
)

// Where a change applies (virDomainModificationImpact, with the same values as VIR_DOMAIN_MEM_*,
// VIR_DOMAIN_VCPU_* and VIR_DOMAIN_DEVICE_MODIFY_*), and the extra bits of the memory and vcpu calls.
const (
	affectLive   = 1 << 0
	affectConfig = 1 << 1
	memMaximum   = 1 << 2 // VIR_DOMAIN_MEM_MAXIMUM
	vcpuMaximum  = 1 << 2 // VIR_DOMAIN_VCPU_MAXIMUM
	// typedParamStringOK is VIR_TYPED_PARAM_STRING_OKAY: the caller accepts string parameters.
	typedParamStringOK = 1 << 2
)

// registerTuning: memory and vcpus (setmem, setmaxmem, setvcpus, vcpuinfo, vcpupin), the scheduler
// (schedinfo) and NUMA parameters (numatune).
//
// Two definitions, as libvirt has them: a --config change edits the persistent definition (the spec, and the
// NAME.xml of a define), which the running domain does not see until its next start; a --live change is a
// SetLive action: the reconciler applies it to the running domain and records it in the domain's live
// definition (kept under state_dir), and the persistent definition does not change.
func registerTuning(f *Facade, p *rpc.Program) {
	rpc.Register(p, rpc.ProcDomainSetMemoryFlags, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainSetMemoryFlagsArgs) (*struct{}, error) {
		return nil, f.setMemory(ctx, a.Dom, a.Memory, a.Flags)
	})
	rpc.Register(p, rpc.ProcDomainSetMemory, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainSetMemoryArgs) (*struct{}, error) {
		return nil, f.setMemory(ctx, a.Dom, a.Memory, affectLive)
	})
	rpc.Register(p, rpc.ProcDomainSetMaxMemory, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainSetMaxMemoryArgs) (*struct{}, error) {
		return nil, f.setMemory(ctx, a.Dom, a.Memory, memMaximum)
	})
	rpc.Register(p, rpc.ProcDomainSetVcpusFlags, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainSetVcpusFlagsArgs) (*struct{}, error) {
		return nil, f.setVcpus(ctx, a.Dom, a.Nvcpus, a.Flags)
	})
	rpc.Register(p, rpc.ProcDomainSetVcpus, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainSetVcpusArgs) (*struct{}, error) {
		return nil, f.setVcpus(ctx, a.Dom, a.Nvcpus, affectLive)
	})
	rpc.Register(p, rpc.ProcDomainGetVcpusFlags, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainGetVcpusFlagsArgs) (*libvirt.DomainGetVcpusFlagsRet, error) {
		n, err := f.vcpuCount(ctx, a.Dom, a.Flags)
		return &libvirt.DomainGetVcpusFlagsRet{Num: n}, err
	})
	rpc.Register(p, rpc.ProcDomainGetMaxVcpus, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainGetMaxVcpusArgs) (*libvirt.DomainGetMaxVcpusRet, error) {
		n, err := f.vcpuCount(ctx, a.Dom, affectLive|vcpuMaximum)
		return &libvirt.DomainGetMaxVcpusRet{Num: n}, err
	})
	rpc.Register(p, rpc.ProcDomainGetVcpus, f.getVcpus)
	rpc.Register(p, rpc.ProcDomainPinVcpuFlags, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainPinVcpuFlagsArgs) (*struct{}, error) {
		return nil, f.pinVcpu(ctx, a.Dom, a.Vcpu, a.Cpumap, a.Flags)
	})
	rpc.Register(p, rpc.ProcDomainPinVcpu, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainPinVcpuArgs) (*struct{}, error) {
		return nil, f.pinVcpu(ctx, a.Dom, a.Vcpu, a.Cpumap, affectLive)
	})
	rpc.Register(p, rpc.ProcDomainGetVcpuPinInfo, f.vcpuPinInfo)
	registerScheduler(f, p)
}

// impact is where a change applies.
type impact struct{ live, config bool }

// modificationImpact is virDomainObjUpdateModificationImpact: neither flag means the running domain when it
// runs, else its definition; a live change needs a running domain and a config change a persistent one.
func modificationImpact(d *dom, flags uint32) (impact, error) {
	im := impact{live: flags&affectLive != 0, config: flags&affectConfig != 0}
	if !im.live && !im.config {
		im.live, im.config = d.Active(), !d.Active()
	}
	if im.live && !d.Active() {
		return im, rpc.NewError(rpc.CodeOperationInvalid, rpc.DomainDomain, "domain is not running")
	}
	if im.config && !d.Persistent() {
		return im, rpc.NewError(rpc.CodeOperationInvalid, rpc.DomainDomain, "transient domains do not have any persistent config")
	}
	return im, nil
}

// changeableObj returns the object of a domain whose definition may be changed over RPC. Domain-0 and foreign
// domains have none, and a domain from the drop-in directory belongs to its file.
func (f *Facade) changeableObj(d *dom) (*v1alpha1.XenDomain, error) {
	obj, err := managed(d)
	if err != nil {
		return nil, err
	}
	if err := f.editRefusal(d, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// lockedEdit takes the job lock of the domain w names for a change of its definitions with flags, and returns the
// domain, its object (changeableObj) and where the change applies (modificationImpact). unlock lets the lock go.
func (f *Facade) lockedEdit(ctx context.Context, w libvirt.Domain, flags uint32) (*dom, *v1alpha1.XenDomain, impact, func(), error) {
	d, unlock, err := f.lockedLookup(ctx, w)
	if err != nil {
		return nil, nil, impact{}, nil, err
	}
	obj, err := f.changeableObj(d)
	if err == nil {
		var im impact
		if im, err = modificationImpact(d, flags); err == nil {
			return d, obj, im, unlock, nil
		}
	}
	unlock()
	return nil, nil, impact{}, nil, err
}

// changeSpec applies edit where im says: to the live definition of the running domain (a SetLive action, which
// returns once the reconciler applied it), then to the persistent definition: the spec in the store and, for a
// define, its NAME.xml, written first. The file's definition is edited from what the file holds. The store's edit
// runs on the latest version of the spec, again after a conflicting write. The caller holds the domain's job lock
// (lockedLookup), so that two edits of one NAME.xml never interleave.
func (f *Facade) changeSpec(ctx context.Context, obj *v1alpha1.XenDomain, d *dom, im impact, edit func(*v1alpha1.DomainSpec) error) error {
	if im.config {
		if err := edit(obj.Spec.Domain.DeepCopy()); err != nil {
			return err
		}
	}
	if im.live {
		if err := f.changeLive(ctx, obj, d, edit, nil); err != nil {
			return err
		}
	}
	if !im.config {
		return nil
	}
	if obj.Labels[v1alpha1.LabelSource] == v1alpha1.SourceKindDefine && f.Defines != nil {
		persisted := f.persistentSpec(obj)
		if err := edit(persisted); err != nil {
			return err
		}
		if err := f.Defines.Save(persisted); err != nil {
			return internalErr(err) // a file that cannot be written is libvirt's system error
		}
	}
	_, err := f.update(ctx, obj, func(o *v1alpha1.XenDomain) error {
		return edit(&o.Spec.Domain)
	})
	return err
}

// changeLive asks the reconciler to bring the running domain and its live definition to what edit makes of the
// live definition, and to set sched, and waits for the outcome. edit runs once to check it, then again on the
// live definition current when the action is written (after an action in progress ended).
func (f *Facade) changeLive(ctx context.Context, obj *v1alpha1.XenDomain, d *dom, edit func(*v1alpha1.DomainSpec) error, sched *v1alpha1.SchedSettings) error {
	if edit != nil {
		if err := edit(f.liveDef(ctx, d)); err != nil {
			return err
		}
	}
	var editErr error
	_, err := f.act(ctx, obj, v1alpha1.VerbSetLive, func(o *v1alpha1.XenDomain) {
		o.Spec.Action.Sched = sched.DeepCopy()
		if edit == nil {
			return
		}
		def := f.liveDef(ctx, d)
		if editErr = edit(def); editErr == nil {
			o.Spec.Action.Definition = def
		}
	})
	if err != nil {
		return err
	}
	return editErr
}

// liveDef returns a copy of the live definition of the running domain d: the one the reconciler keeps, or for a
// domain it keeps none of yet, the definition rebuilt from the spec with what Xen reports now.
func (f *Facade) liveDef(ctx context.Context, d *dom) *v1alpha1.DomainSpec {
	if f.Live != nil && d.Obs != nil {
		if l := f.Live.Live(d.UUID); l != nil && l.DomID == d.Obs.Info.DomID {
			return &l.Domain
		}
	}
	var spec *v1alpha1.DomainSpec
	if d.Obj != nil {
		spec = d.Obj.Spec.Domain.DeepCopy()
	} else {
		spec = &v1alpha1.DomainSpec{}
	}
	if spec.Name == "" {
		spec.Name = d.Name
	}
	if spec.UUID == "" {
		spec.UUID = d.UUID
	}
	return f.liveSpec(ctx, d, spec)
}

// persistentSpec is the definition in the NAME.xml of the define o, completed as the defines store completes
// it; the spec of o when the file does not hold the definition of that domain.
func (f *Facade) persistentSpec(o *v1alpha1.XenDomain) *v1alpha1.DomainSpec {
	name := o.DomainName()
	if data, err := deffile.ReadFile(f.Defines.Path(name)); err == nil {
		spec, err := domxml.Parse(data)
		if err == nil {
			err = domxml.ApplyDefaults(spec, domxml.Defaults{HostArch: f.Facts.Arch})
		}
		if err == nil && spec.Name == name && strings.EqualFold(spec.UUID, o.DomainUUID()) {
			return spec
		}
	}
	spec := o.Spec.Domain.DeepCopy()
	if spec.Name == "" {
		spec.Name = name
	}
	return spec
}

// liveInfo is what the hypervisor says of a running domain now, or as last observed.
func (f *Facade) liveInfo(ctx context.Context, d *dom) libxl.DomainInfo {
	i := d.Obs.Info
	if fresh, err := f.HV.DomainInfo(ctx, i.DomID); err == nil {
		i = fresh
	}
	return i
}

// setMemory is libxlDomainSetMemoryFlags: the balloon target, or with memMaximum the memory ceiling.
func (f *Facade) setMemory(ctx context.Context, w libvirt.Domain, newKiB uint64, flags uint32) error {
	if bad := flags &^ (affectLive | affectConfig | memMaximum); bad != 0 {
		return rpc.ErrInvalidFlags(rpc.DomainLibxl, bad, "libxlDomainSetMemoryFlags")
	}
	if newKiB == 0 {
		return rpc.NewError(rpc.CodeInvalidArg, rpc.DomainLibxl, "memory must not be zero")
	}
	d, obj, im, unlock, err := f.lockedEdit(ctx, w, flags)
	if err != nil {
		return err
	}
	defer unlock()
	var live libxl.DomainInfo
	var liveMax uint64
	if im.live {
		live = f.liveInfo(ctx, d)
		liveMax = kib(f.liveDef(ctx, d).Memory.Value())
	}
	if flags&memMaximum != 0 {
		if im.live && newKiB < live.TargetKiB {
			return rpc.Errorf(rpc.CodeInternalError, rpc.DomainLibxl,
				"Failed to set maximum memory for domain '%d' with libxenlight: the memory target %d KiB is above it",
				live.DomID, live.TargetKiB)
		}
		return f.changeSpec(ctx, obj, d, im, func(s *v1alpha1.DomainSpec) error {
			cur := currentKiB(s)
			s.Memory = kibQuantity(newKiB)
			s.CurrentMemory = ptr(kibQuantity(min(cur, newKiB)))
			return nil
		})
	}
	if im.live && newKiB > liveMax {
		return rpc.NewError(rpc.CodeInvalidArg, rpc.DomainLibxl, "cannot set memory higher than max memory")
	}
	return f.changeSpec(ctx, obj, d, im, func(s *v1alpha1.DomainSpec) error {
		if newKiB > kib(s.Memory.Value()) {
			return rpc.NewError(rpc.CodeInvalidArg, rpc.DomainLibxl, "cannot set memory higher than max memory")
		}
		s.CurrentMemory = ptr(kibQuantity(newKiB))
		return nil
	})
}

// setVcpus is libxlDomainSetVcpusFlags: the online vcpus, or with vcpuMaximum (config only) the vcpu count.
func (f *Facade) setVcpus(ctx context.Context, w libvirt.Domain, n, flags uint32) error {
	if bad := flags &^ (affectLive | affectConfig | vcpuMaximum); bad != 0 {
		return rpc.ErrInvalidFlags(rpc.DomainLibxl, bad, "libxlDomainSetVcpusFlags")
	}
	if flags&(affectLive|affectConfig) == 0 || flags&(vcpuMaximum|affectLive) == vcpuMaximum|affectLive {
		return rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainLibxl, "invalid flag combination: (0x%x)", flags)
	}
	if n == 0 {
		return rpc.NewError(rpc.CodeInvalidArg, rpc.DomainLibxl, "nvcpus is zero")
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
	im := impact{live: flags&affectLive != 0, config: flags&affectConfig != 0}
	if im.live && !d.Active() {
		return rpc.NewError(rpc.CodeOperationInvalid, rpc.DomainLibxl, "cannot set vcpus on an inactive domain")
	}
	if im.config && !d.Persistent() {
		return rpc.NewError(rpc.CodeOperationInvalid, rpc.DomainLibxl, "cannot change persistent config of a transient domain")
	}
	host, err := f.HV.HostInfo(ctx)
	if err != nil || host.CPUs <= 0 {
		return rpc.NewError(rpc.CodeInternalError, rpc.DomainLibxl, "could not determine max vcpus for the domain")
	}
	limit := uint32(host.CPUs)
	if flags&vcpuMaximum == 0 {
		defMax := vcpuMax(&obj.Spec.Domain)
		if d.Active() {
			defMax = vcpuMax(f.liveDef(ctx, d)) // libvirt checks against vm->def, the live definition
		}
		limit = min(limit, defMax)
	}
	if n > limit {
		return rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainLibxl,
			"requested vcpus is greater than max allowable vcpus for the domain: %d > %d", n, limit)
	}
	return f.changeSpec(ctx, obj, d, im, func(s *v1alpha1.DomainSpec) error {
		if flags&vcpuMaximum != 0 {
			cur := min(vcpuCurrent(s), n)
			if s.VCPU == nil {
				s.VCPU = &v1alpha1.VCPU{}
			}
			s.VCPU.Count = n
			setVcpuCurrent(s, cur)
			return nil
		}
		if count := vcpuMax(s); n > count {
			return rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainLibxl,
				"requested vcpus is greater than max allowable vcpus for the domain: %d > %d", n, count)
		}
		setVcpuCurrent(s, n)
		return nil
	})
}

// vcpuCount is libxlDomainGetVcpusFlags.
func (f *Facade) vcpuCount(ctx context.Context, w libvirt.Domain, flags uint32) (int32, error) {
	if bad := flags &^ (affectLive | affectConfig | vcpuMaximum); bad != 0 {
		return 0, rpc.ErrInvalidFlags(rpc.DomainLibxl, bad, "libxlDomainGetVcpusFlags")
	}
	d, err := f.lookup(ctx, w)
	if err != nil {
		return 0, err
	}
	if flags&(affectLive|affectConfig) == 0 {
		if d.Active() {
			flags |= affectLive
		} else {
			flags |= affectConfig
		}
	}
	if flags&affectLive != 0 && flags&affectConfig != 0 {
		return 0, rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainLibxl, "invalid flag combination: (0x%x)", flags)
	}
	if flags&affectLive != 0 || d.Obj == nil {
		if !d.Active() {
			return 0, rpc.NewError(rpc.CodeOperationInvalid, rpc.DomainLibxl, "Domain is not running")
		}
		if d.Obj == nil {
			i := f.liveInfo(ctx, d)
			if flags&vcpuMaximum != 0 {
				return int32(i.MaxVcpus), nil
			}
			return int32(i.OnlineVcpus), nil
		}
		live := f.liveDef(ctx, d) // libvirt answers from vm->def
		if flags&vcpuMaximum != 0 {
			return int32(vcpuMax(live)), nil
		}
		return int32(vcpuCurrent(live)), nil
	}
	if !d.Persistent() {
		return 0, rpc.NewError(rpc.CodeOperationInvalid, rpc.DomainLibxl, "domain is transient")
	}
	if flags&vcpuMaximum != 0 {
		return int32(vcpuMax(&d.Obj.Spec.Domain)), nil
	}
	return int32(vcpuCurrent(&d.Obj.Spec.Domain)), nil
}

// kibQuantity is a quantity of kib KiB, as domxml writes memory sizes.
func kibQuantity(kib uint64) resource.Quantity {
	return *resource.NewQuantity(int64(kib)*1024, resource.BinarySI)
}

// currentKiB is the balloon target a spec asks for.
func currentKiB(s *v1alpha1.DomainSpec) uint64 {
	if s.CurrentMemory != nil && !s.CurrentMemory.IsZero() {
		return min(kib(s.CurrentMemory.Value()), kib(s.Memory.Value()))
	}
	return kib(s.Memory.Value())
}

// vcpuMax is the vcpu count of a spec.
func vcpuMax(s *v1alpha1.DomainSpec) uint32 {
	if s.VCPU == nil || s.VCPU.Count == 0 {
		return 1
	}
	return s.VCPU.Count
}

// vcpuCurrent is the number of vcpus a spec brings online.
func vcpuCurrent(s *v1alpha1.DomainSpec) uint32 {
	if s.VCPU != nil && s.VCPU.Current != nil && *s.VCPU.Current < vcpuMax(s) {
		return *s.VCPU.Current
	}
	return vcpuMax(s)
}

// setVcpuCurrent sets the vcpus a spec brings online, in the form ApplyDefaults gives (none when all are), and
// drops the pins of vcpus that no longer exist.
func setVcpuCurrent(s *v1alpha1.DomainSpec, n uint32) {
	if s.VCPU == nil {
		s.VCPU = &v1alpha1.VCPU{Count: 1}
	}
	if n >= s.VCPU.Count {
		s.VCPU.Current = nil
	} else {
		s.VCPU.Current = ptr(n)
	}
	if t := s.CPUTune; t != nil {
		kept := t.VCPUPins[:0]
		for _, p := range t.VCPUPins {
			if p.VCPU < s.VCPU.Count {
				kept = append(kept, p)
			}
		}
		t.VCPUPins = kept
		if len(kept) == 0 {
			t.VCPUPins = nil
		}
	}
}

func ptr[T any](v T) *T { return &v }
