package remote

import (
	"context"
	"errors"

	"github.com/digitalocean/go-libvirt"
	"github.com/google/uuid"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// libvirt's virDomainCreateFlags the libxl driver accepts.
const (
	startPaused   = 1 << 0 // VIR_DOMAIN_START_PAUSED
	startValidate = 1 << 4 // VIR_DOMAIN_START_VALIDATE
)

// libvirt's virDomainShutdownFlagValues and virDomainRebootFlagValues the libxl driver accepts.
const (
	shutdownACPIPowerBtn = 1 << 0 // VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN
	shutdownParavirt     = 1 << 4 // VIR_DOMAIN_SHUTDOWN_PARAVIRT, also VIR_DOMAIN_REBOOT_PARAVIRT
)

// registerLifecycle: starting, stopping, pausing and resuming domains.
func registerLifecycle(f *Facade, p *rpc.Program) {
	rpc.Register(p, rpc.ProcDomainCreate, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainCreateArgs) (*struct{}, error) {
		_, err := f.create(ctx, a.Dom, 0, "libxlDomainCreateWithFlags")
		return nil, err
	})
	rpc.Register(p, rpc.ProcDomainCreateWithFlags, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainCreateWithFlagsArgs) (*libvirt.DomainCreateWithFlagsRet, error) {
		d, err := f.create(ctx, a.Dom, a.Flags, "libxlDomainCreateWithFlags")
		if err != nil {
			return nil, err
		}
		return &libvirt.DomainCreateWithFlagsRet{Dom: d}, nil
	})
	rpc.Register(p, rpc.ProcDomainCreateXML, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainCreateXMLArgs) (*libvirt.DomainCreateXMLRet, error) {
		d, err := f.createXML(ctx, a.XMLDesc, uint32(a.Flags))
		if err != nil {
			return nil, err
		}
		return &libvirt.DomainCreateXMLRet{Dom: d}, nil
	})
	rpc.Register(p, rpc.ProcDomainShutdown, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainShutdownArgs) (*struct{}, error) {
		return nil, f.shutdown(ctx, a.Dom, 0, "libxlDomainShutdownFlags")
	})
	rpc.Register(p, rpc.ProcDomainShutdownFlags, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainShutdownFlagsArgs) (*struct{}, error) {
		return nil, f.shutdown(ctx, a.Dom, uint32(a.Flags), "libxlDomainShutdownFlags")
	})
	rpc.Register(p, rpc.ProcDomainReboot, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainRebootArgs) (*struct{}, error) {
		return nil, f.reboot(ctx, a.Dom, uint32(a.Flags))
	})
	rpc.Register(p, rpc.ProcDomainReset, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainResetArgs) (*struct{}, error) {
		if err := noFlags(a.Flags, "libxlDomainReset"); err != nil {
			return nil, err
		}
		return nil, f.stop(ctx, a.Dom, v1alpha1.VerbReset)
	})
	rpc.Register(p, rpc.ProcDomainDestroy, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainDestroyArgs) (*struct{}, error) {
		return nil, f.stop(ctx, a.Dom, v1alpha1.VerbDestroy)
	})
	rpc.Register(p, rpc.ProcDomainDestroyFlags, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainDestroyFlagsArgs) (*struct{}, error) {
		if err := noFlags(uint32(a.Flags), "libxlDomainDestroyFlags"); err != nil {
			return nil, err
		}
		return nil, f.stop(ctx, a.Dom, v1alpha1.VerbDestroy)
	})
	rpc.Register(p, rpc.ProcDomainSuspend, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainSuspendArgs) (*struct{}, error) {
		return nil, f.setPaused(ctx, a.Dom, true)
	})
	rpc.Register(p, rpc.ProcDomainResume, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainResumeArgs) (*struct{}, error) {
		return nil, f.setPaused(ctx, a.Dom, false)
	})
}

// create is virDomainCreateWithFlags: start an inactive domain, from its managed save image if it has one, and
// return once it runs (or paused, with START_PAUSED).
func (f *Facade) create(ctx context.Context, w libvirt.Domain, flags uint32, api string) (libvirt.Domain, error) {
	if err := noFlags(flags&^startPaused, api); err != nil {
		return libvirt.Domain{}, err
	}
	d, unlock, err := f.lockedLookup(ctx, w)
	if err != nil {
		return libvirt.Domain{}, err
	}
	defer unlock()
	return f.createLocked(ctx, d, flags)
}

// createLocked is create for the domain d, whose lock the caller holds.
func (f *Facade) createLocked(ctx context.Context, d *dom, flags uint32) (libvirt.Domain, error) {
	if d.Active() {
		return libvirt.Domain{}, rpc.NewError(rpc.CodeOperationInvalid, rpc.DomainLibxl, "Domain is already running")
	}
	obj, err := managed(d)
	if err != nil {
		return libvirt.Domain{}, err
	}
	if obj.Labels[v1alpha1.LabelSource] == v1alpha1.SourceKindFile && obj.Spec.RunStrategy == v1alpha1.RunStrategyHalted {
		return libvirt.Domain{}, rpc.Errorf(rpc.CodeOperationInvalid, rpc.DomainLibxl,
			"domain '%s' is defined by %s with runStrategy Halted: edit that file instead", d.Name, f.sourceFile(obj))
	}
	paused := flags&startPaused != 0
	// A managed save image is restored instead of booting (libxlDomainStartNew restores the image and deletes it).
	if restored, err := f.restoreManagedSave(ctx, d, paused); err != nil {
		return libvirt.Domain{}, err
	} else if restored {
		return f.wireOf(ctx, d)
	}
	// A define starts from its persistent definition, which --config changes made while it last ran.
	var persisted *v1alpha1.DomainSpec
	if obj.Labels[v1alpha1.LabelSource] == v1alpha1.SourceKindDefine && f.Defines != nil {
		persisted = f.persistentSpec(obj)
	}
	if _, err := f.act(ctx, obj, v1alpha1.VerbStart, func(o *v1alpha1.XenDomain) {
		o.Spec.Paused = paused
		if persisted != nil {
			o.Spec.Domain = *persisted.DeepCopy()
		}
	}); err != nil {
		return libvirt.Domain{}, err
	}
	return f.wireOf(ctx, d)
}

// createXML is virDomainCreateXML: a transient domain, started at once and forgotten when it stops. The object
// is created with its start action, so that it never exists as a domain that should not run.
func (f *Facade) createXML(ctx context.Context, xml string, flags uint32) (libvirt.Domain, error) {
	if err := noFlags(flags&^(startPaused|startValidate), "libxlDomainCreateXML"); err != nil {
		return libvirt.Domain{}, err
	}
	if err := f.fleetNew(); err != nil {
		return libvirt.Domain{}, err
	}
	spec, err := f.parseDefinition(xml)
	if err != nil {
		return libvirt.Domain{}, err
	}
	paused := flags&startPaused != 0
	unlock, err := f.lockDomain(ctx, spec.Name, spec.UUID)
	if err != nil {
		return libvirt.Domain{}, err
	}
	defer unlock()
	existing, err := f.checkIdentity(ctx, spec, true)
	if err != nil {
		return libvirt.Domain{}, err
	}
	if existing != nil {
		// An inactive persistent domain of that name and UUID: libvirt runs it once with the given definition.
		// virtxend keeps one definition per domain, so it runs it only when the definitions agree.
		if !sameDefinition(&existing.Obj.Spec.Domain, spec) {
			return libvirt.Domain{}, rpc.Errorf(rpc.CodeOperationInvalid, rpc.DomainLibxl,
				"domain '%s' is persistent and its definition differs: define the new definition, then start it", spec.Name)
		}
		return f.createLocked(ctx, existing, flags&startPaused)
	}
	id := uuid.NewString()
	obj := &v1alpha1.XenDomain{
		TypeMeta: metav1.TypeMeta{Kind: "XenDomain", APIVersion: v1alpha1.GroupVersion.String()},
		ObjectMeta: metav1.ObjectMeta{
			Name:      spec.Name,
			Namespace: v1alpha1.LocalNamespace,
			UID:       types.UID(spec.UUID),
			Labels:    map[string]string{v1alpha1.LabelSource: v1alpha1.SourceKindTransient},
		},
		Spec: v1alpha1.XenDomainSpec{
			Domain:      *spec,
			RunStrategy: v1alpha1.RunStrategyManual,
			DriftPolicy: v1alpha1.DriftPolicyEnforce,
			Paused:      paused,
			Action:      &v1alpha1.DomainAction{ID: id, Verb: v1alpha1.VerbStart},
		},
	}
	if err := f.createObject(ctx, obj); err != nil {
		if apierrors.IsAlreadyExists(err) {
			// A domain of that name the identity check did not see (a drop-in file loaded meanwhile).
			return libvirt.Domain{}, rpc.Errorf(rpc.CodeOperationFailed, rpc.DomainDomain,
				"domain '%s' already exists", spec.Name)
		}
		return libvirt.Domain{}, internalErr(err)
	}
	done, err := f.waitOutcome(ctx, obj, func(o *v1alpha1.XenDomain) bool {
		return o == nil || (o.Status.LastAction != nil && o.Status.LastAction.ID == id)
	})
	switch {
	case err == nil && done == nil:
		err = rpc.Errorf(rpc.CodeOperationFailed, rpc.DomainLibxl, "domain '%s' was removed while it started", spec.Name)
	case err == nil && done.Status.LastAction.Error != "":
		err = actionErr(done.Status.LastAction)
	}
	if err != nil {
		// A transient domain that failed to start is gone before the call returns, as in libvirt.
		if derr := f.forgetTransient(context.WithoutCancel(ctx), obj); derr != nil {
			f.Log.Error(derr, "remove transient domain after a failed start", "domain", spec.Name)
		}
		return libvirt.Domain{}, err
	}
	return f.wireOf(ctx, &dom{Name: spec.Name, UUID: spec.UUID})
}

// shutdown is virDomainShutdownFlags: it asks the guest to power off and returns once the request is delivered.
func (f *Facade) shutdown(ctx context.Context, w libvirt.Domain, flags uint32, api string) error {
	if err := noFlags(flags&^(shutdownACPIPowerBtn|shutdownParavirt), api); err != nil {
		return err
	}
	return f.stop(ctx, w, v1alpha1.VerbShutdown)
}

// reboot is virDomainReboot: it asks the guest to reboot and returns once the request is delivered. When the
// domain comes back, callbacks registered for VIR_DOMAIN_EVENT_ID_REBOOT hear of it.
func (f *Facade) reboot(ctx context.Context, w libvirt.Domain, flags uint32) error {
	if err := noFlags(flags&^shutdownParavirt, "libxlDomainReboot"); err != nil {
		return err
	}
	d, err := f.lookup(ctx, w)
	if err != nil {
		return err
	}
	watch := f.watchReboot(d)
	if err := f.stop(ctx, w, v1alpha1.VerbReboot); err != nil {
		watch(false)
		return err
	}
	watch(true)
	return nil
}

// stop requests one of the actions on a running domain: shutdown, reboot, reset or destroy.
func (f *Facade) stop(ctx context.Context, w libvirt.Domain, verb v1alpha1.ActionVerb) error {
	d, unlock, err := f.lockedLookup(ctx, w)
	if err != nil {
		return err
	}
	defer unlock()
	if err := notDom0(d); err != nil {
		return err
	}
	// While another action is in progress the domain may be down for a moment (a reset): the reconciler, in
	// turn, decides whether this one finds it running, as libvirt checks once it holds the job.
	if d.Obj == nil || !pendingAction(d.Obj) {
		if err := checkActive(d); err != nil {
			return err
		}
	}
	obj, err := managed(d)
	if err != nil {
		return err
	}
	_, err = f.act(ctx, obj, verb, nil)
	var re *rpc.Error
	if err != nil && errors.As(err, &re) && re.Code == rpc.CodeNoDomain && !d.Persistent() && verb != v1alpha1.VerbReboot {
		// A stopped transient domain is removed with its object, before its action is reported.
		return nil
	}
	if err == nil && verb == v1alpha1.VerbDestroy && !d.Persistent() {
		// libvirt's destroy removes a transient domain before it returns: a create of the same name may follow.
		return f.forgetTransient(ctx, obj)
	}
	return err
}

// setPaused is virDomainSuspend and virDomainResume: it sets spec.paused and waits until the domain is in that
// state. A domain already in it is left alone, as libvirt does.
func (f *Facade) setPaused(ctx context.Context, w libvirt.Domain, paused bool) error {
	d, unlock, err := f.lockedLookup(ctx, w)
	if err != nil {
		return err
	}
	defer unlock()
	if err := notDom0(d); err != nil {
		return err
	}
	if err := checkActive(d); err != nil {
		return err
	}
	obj, err := managed(d)
	if err != nil {
		return err
	}
	if st, _ := d.State(); (st == statePaused) == paused && obj.Spec.Paused == paused {
		return nil
	}
	written, err := f.update(ctx, obj, func(o *v1alpha1.XenDomain) error {
		o.Spec.Paused = paused
		return nil
	})
	if err != nil {
		return err
	}
	want := v1alpha1.StateRunning
	if paused {
		want = v1alpha1.StatePaused
	}
	var failure error
	_, err = f.waitOutcome(ctx, written, func(o *v1alpha1.XenDomain) bool {
		switch {
		case o == nil:
			failure = rpc.NewError(rpc.CodeNoDomain, rpc.DomainLibxl, "")
		case o.Status.ObservedGeneration < written.Generation:
			return false
		case o.Status.State == want || (!paused && o.Status.State == v1alpha1.StateBlocked):
			return true
		case o.Status.DomID == nil:
			failure = rpc.NewError(rpc.CodeOperationInvalid, rpc.DomainDomain, "domain is not running")
		case o.Status.LastError != "":
			failure = rpc.Errorf(rpc.CodeInternalError, rpc.DomainLibxl, "Failed to %s domain '%d' with libxenlight: %s",
				map[bool]string{true: "suspend", false: "resume"}[paused], *o.Status.DomID, o.Status.LastError)
		default:
			return false
		}
		return true
	})
	if err != nil {
		return err
	}
	return failure
}

// wireOf returns the domain as the protocol carries it after a change: looked up again by UUID, so that a
// started domain carries its new domid.
func (f *Facade) wireOf(ctx context.Context, d *dom) (libvirt.Domain, error) {
	now, err := f.find(ctx, func(o *dom) bool { return o.UUID == d.UUID })
	if err != nil {
		return libvirt.Domain{Name: d.Name, UUID: wireUUID(d.UUID), ID: -1}, nil
	}
	return now.Wire(), nil
}
