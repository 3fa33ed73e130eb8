package remote

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/digitalocean/go-libvirt"
	"github.com/google/uuid"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtxend/virtxend/api/domxml"
	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/controllers"
	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// virDomainSaveRestoreFlags and virDomainCoreDumpFlags the libxl driver knows, and the raw dump format.
const (
	savePaused = 1 << 2 // VIR_DOMAIN_SAVE_PAUSED
	dumpCrash  = 1 << 0 // VIR_DUMP_CRASH
	dumpLive   = 1 << 1 // VIR_DUMP_LIVE
	dumpRaw    = 0      // VIR_DOMAIN_CORE_DUMP_FORMAT_RAW
)

// registerSave: save, restore, managedsave, dump. The reconciler writes and reads the images (libvirt's libxl
// format: a header, the domain XML, the hypervisor's stream) as one-shot actions; a saved domain stays off under
// every run strategy until it is restored.
func registerSave(f *Facade, p *rpc.Program) {
	rpc.Register(p, rpc.ProcDomainSave, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainSaveArgs) (*struct{}, error) {
		return nil, f.save(ctx, a.Dom, a.To, nil, 0)
	})
	rpc.Register(p, rpc.ProcDomainSaveFlags, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainSaveFlagsArgs) (*struct{}, error) {
		return nil, f.save(ctx, a.Dom, a.To, a.Dxml, a.Flags)
	})
	rpc.Register(p, rpc.ProcDomainRestore, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainRestoreArgs) (*struct{}, error) {
		return nil, f.restore(ctx, a.From, nil, 0)
	})
	rpc.Register(p, rpc.ProcDomainRestoreFlags, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainRestoreFlagsArgs) (*struct{}, error) {
		return nil, f.restore(ctx, a.From, a.Dxml, a.Flags)
	})
	rpc.Register(p, rpc.ProcDomainManagedSave, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainManagedSaveArgs) (*struct{}, error) {
		return nil, f.managedSave(ctx, a.Dom, a.Flags)
	})
	rpc.Register(p, rpc.ProcDomainHasManagedSaveImage, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainHasManagedSaveImageArgs) (*libvirt.DomainHasManagedSaveImageRet, error) {
		if err := noFlags(a.Flags, "libxlDomainHasManagedSaveImage"); err != nil {
			return nil, err
		}
		d, err := f.lookup(ctx, a.Dom)
		if err != nil {
			return nil, err
		}
		return &libvirt.DomainHasManagedSaveImageRet{Result: boolInt(f.hasManagedSaveImage(d))}, nil
	})
	rpc.Register(p, rpc.ProcDomainManagedSaveRemove, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainManagedSaveRemoveArgs) (*struct{}, error) {
		if err := noFlags(a.Flags, "libxlDomainManagedSaveRemove"); err != nil {
			return nil, err
		}
		d, err := f.lookup(ctx, a.Dom)
		if err != nil {
			return nil, err
		}
		if !f.hasManagedSaveImage(d) {
			return nil, nil
		}
		path := f.managedSavePath(d.Name)
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, rpc.Errorf(rpc.CodeSystemError, rpc.DomainLibxl, "Failed to remove managed save file '%s'", path)
		}
		return nil, nil
	})
	rpc.Register(p, rpc.ProcDomainCoreDump, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainCoreDumpArgs) (*struct{}, error) {
		return nil, f.coreDump(ctx, a.Dom, a.To, dumpRaw, uint32(a.Flags))
	})
	rpc.Register(p, rpc.ProcDomainCoreDumpWithFormat, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainCoreDumpWithFormatArgs) (*struct{}, error) {
		return nil, f.coreDump(ctx, a.Dom, a.To, a.Dumpformat, uint32(a.Flags))
	})
}

// lockedSaveTarget takes the job lock of the domain w names, looks it up under it and checks it with saveTarget:
// the prologue of save, managed save, core dump and the migration's send. unlock lets the lock go.
func (f *Facade) lockedSaveTarget(ctx context.Context, w libvirt.Domain) (*dom, *v1alpha1.XenDomain, func(), error) {
	d, unlock, err := f.lockedLookup(ctx, w)
	if err != nil {
		return nil, nil, nil, err
	}
	obj, err := saveTarget(d)
	if err != nil {
		unlock()
		return nil, nil, nil, err
	}
	return d, obj, unlock, nil
}

// saveTarget checks that d is a running domain virtxend manages that libxl can suspend, and returns its object.
func saveTarget(d *dom) (*v1alpha1.XenDomain, error) {
	if err := notDom0(d); err != nil {
		return nil, err
	}
	obj, err := managed(d)
	if err != nil {
		return nil, err
	}
	if err := checkActive(d); err != nil {
		return nil, err
	}
	return obj, nil
}

// save is libxlDomainSaveFlags (virsh save).
func (f *Facade) save(ctx context.Context, w libvirt.Domain, to string, dxml libvirt.OptString, flags uint32) error {
	if err := noFlags(flags, "libxlDomainSaveFlags"); err != nil {
		return err
	}
	if len(dxml) > 0 {
		return rpc.NewError(rpc.CodeArgumentUnsupported, rpc.DomainLibxl, "xml modification unsupported")
	}
	d, obj, unlock, err := f.lockedSaveTarget(ctx, w)
	if err != nil {
		return err
	}
	defer unlock()
	return f.saveTo(ctx, d, obj, to)
}

// saveTo writes the running domain d to the image at path; libxl suspends the guest, so it must not be paused.
func (f *Facade) saveTo(ctx context.Context, d *dom, obj *v1alpha1.XenDomain, path string) error {
	if st, _ := d.State(); st == statePaused {
		return rpc.Errorf(rpc.CodeOperationInvalid, rpc.DomainLibxl,
			"Domain '%d' has to be running because libxenlight will suspend it", d.ID())
	}
	defer f.beginJob(d.UUID)()
	_, err := f.imageAction(ctx, obj, v1alpha1.DomainAction{Verb: v1alpha1.VerbSave, Path: path}, nil)
	err = transientGone(err, d, func() bool {
		fh, err := controllers.OpenSaveImage(path)
		if err != nil {
			return false
		}
		defer fh.Close()
		_, err = controllers.ReadSaveHeader(fh)
		return err == nil
	})
	if err == nil && !d.Persistent() {
		return f.forgetTransient(ctx, obj) // a saved transient domain is gone, as in libvirt
	}
	return err
}

// transientGone turns the disappearance of a transient domain during an action that stops it into the
// success it is when done reports the action's result is there: the reconciler forgets a stopped transient
// domain, and the report of the action may go with the object.
func transientGone(err error, d *dom, done func() bool) error {
	if rpc.CodeOf(err) == rpc.CodeNoDomain && !d.Persistent() && done() {
		return nil
	}
	return err
}

// managedSave is libxlDomainManagedSave (virsh managedsave): a save to the image the next start restores.
func (f *Facade) managedSave(ctx context.Context, w libvirt.Domain, flags uint32) error {
	if err := noFlags(flags, "libxlDomainManagedSave"); err != nil {
		return err
	}
	d, obj, unlock, err := f.lockedSaveTarget(ctx, w)
	if err != nil {
		return err
	}
	defer unlock()
	if !d.Persistent() {
		return rpc.NewError(rpc.CodeOperationInvalid, rpc.DomainLibxl, "cannot do managed save for transient domain")
	}
	path := f.managedSavePath(d.Name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return rpc.Errorf(rpc.CodeSystemError, rpc.DomainLibxl, "cannot create directory '%s': %v", filepath.Dir(path), err)
	}
	return f.saveTo(ctx, d, obj, path)
}

// managedSavePath is where the managed save image of the domain named name lives (libvirt's
// /var/lib/libvirt/libxl/save/NAME.save, under state_dir here).
func (f *Facade) managedSavePath(name string) string {
	return filepath.Join(f.StateDir, "save", name+".save")
}

// hasManagedSaveImage reports whether d, a persistent domain virtxend manages, has a managed save image.
func (f *Facade) hasManagedSaveImage(d *dom) bool {
	if d.Obj == nil || !d.Persistent() {
		return false
	}
	fi, err := os.Stat(f.managedSavePath(d.Name))
	return err == nil && fi.Mode().IsRegular()
}

// restoreManagedSave restores the inactive domain d from its managed save image, as libvirt's virDomainCreate
// does when an image exists (libxlDomainStartNew), paused if asked, and removes the image once the domain runs.
// It reports handled=false, doing nothing, when d has no image or is not an inactive domain virtxend manages:
// the caller then boots the domain. DOMAIN_CREATE and DOMAIN_CREATE_WITH_FLAGS call it first.
func (f *Facade) restoreManagedSave(ctx context.Context, d *dom, paused bool) (handled bool, err error) {
	if d.Obj == nil || d.Active() || !f.hasManagedSaveImage(d) {
		return false, nil
	}
	path := f.managedSavePath(d.Name)
	spec, err := f.readSaveImage(path)
	if err != nil {
		return true, err
	}
	if spec.Name != d.Name || !strings.EqualFold(spec.UUID, d.UUID) {
		return true, rpc.Errorf(rpc.CodeOperationFailed, rpc.DomainLibxl,
			"cannot restore domain '%s' uuid %s from a file which belongs to domain '%s' uuid %s", d.Name, d.UUID, spec.Name, spec.UUID)
	}
	defer f.beginJob(d.UUID)()
	if _, err := f.imageAction(ctx, d.Obj, v1alpha1.DomainAction{Verb: v1alpha1.VerbRestore, Path: path},
		func(o *v1alpha1.XenDomain) { o.Spec.Paused = paused }); err != nil {
		return true, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		f.Log.Error(err, "remove the managed save image of a restored domain", "domain", d.Name, "path", path)
	}
	return true, nil
}

// restore is libxlDomainRestoreFlags (virsh restore): the domain the image's XML names is restored, the
// existing one with that UUID and name if there is one, else a new transient domain.
func (f *Facade) restore(ctx context.Context, from string, dxml libvirt.OptString, flags uint32) error {
	if bad := flags &^ savePaused; bad != 0 {
		return rpc.ErrInvalidFlags(rpc.DomainLibxl, bad, "libxlDomainRestoreFlags")
	}
	if len(dxml) > 0 {
		return rpc.NewError(rpc.CodeArgumentUnsupported, rpc.DomainLibxl, "xml modification unsupported")
	}
	if err := f.fleetNew(); err != nil {
		return err // restoring an image of a fleet domain would need its object's action; not done here
	}
	spec, err := f.readSaveImage(from)
	if err != nil {
		return err
	}
	paused := flags&savePaused != 0
	unlock, err := f.lockDomain(ctx, spec.Name, spec.UUID)
	if err != nil {
		return err
	}
	defer unlock()
	target, err := f.checkIdentity(ctx, spec, true)
	if err != nil {
		return err
	}
	if target == nil {
		return f.restoreTransient(ctx, spec, from, paused)
	}
	defer f.beginJob(target.UUID)()
	_, err = f.imageAction(ctx, target.Obj, v1alpha1.DomainAction{Verb: v1alpha1.VerbRestore, Path: from},
		func(o *v1alpha1.XenDomain) { o.Spec.Paused = paused })
	return err
}

// restoreTransient creates a transient domain from an image's definition, restoring it as its first action;
// the object goes away again when the restore fails, as libvirt forgets the domain.
func (f *Facade) restoreTransient(ctx context.Context, spec *v1alpha1.DomainSpec, from string, paused bool) error {
	defer f.beginJob(spec.UUID)()
	obj := &v1alpha1.XenDomain{
		TypeMeta: metav1.TypeMeta{Kind: "XenDomain", APIVersion: v1alpha1.GroupVersion.String()},
		ObjectMeta: metav1.ObjectMeta{
			Name: spec.Name, Namespace: v1alpha1.LocalNamespace, UID: types.UID(spec.UUID),
			Labels: map[string]string{v1alpha1.LabelSource: v1alpha1.SourceKindTransient},
		},
		Spec: v1alpha1.XenDomainSpec{
			Domain: *spec, RunStrategy: v1alpha1.RunStrategyManual, DriftPolicy: v1alpha1.DriftPolicyEnforce, Paused: paused,
			Action: &v1alpha1.DomainAction{ID: uuid.NewString(), Verb: v1alpha1.VerbRestore, Path: from},
		},
	}
	if err := f.createObject(ctx, obj); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return rpc.Errorf(rpc.CodeOperationFailed, rpc.DomainDomain, "domain '%s' already exists", spec.Name)
		}
		return internalErr(err)
	}
	_, err := f.waitAction(ctx, obj, obj.Spec.Action.ID)
	if err != nil {
		uid := obj.UID
		if derr := f.Store.Delete(context.WithoutCancel(ctx), obj, client.Preconditions{UID: &uid}); derr != nil && !apierrors.IsNotFound(derr) {
			f.Log.Error(derr, "remove the transient domain of a failed restore", "domain", spec.Name)
		}
	}
	return err
}

// readSaveImage reads the definition in the header of a save image (libxlDomainSaveImageOpen), with the
// defaults libvirt applies when it parses it.
func (f *Facade) readSaveImage(path string) (*v1alpha1.DomainSpec, error) {
	fh, err := controllers.OpenSaveImage(path) // a FIFO is refused, never waited on
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, rpc.SystemError(rpc.DomainLibxl, err, "Failed to open domain image file '%s'", path)
	}
	defer fh.Close()
	xml, err := controllers.ReadSaveHeader(fh)
	if err != nil {
		return nil, saveHeaderErr(err)
	}
	spec, _, err := domxml.ParseLive(xml)
	if err == nil {
		err = domxml.ApplyDefaults(spec, domxml.Defaults{HostArch: f.Facts.Arch})
	}
	if err != nil {
		return nil, xmlErr(err)
	}
	return spec, nil
}

// coreDump is libxlDomainCoreDump (virsh dump): a raw dump of the domain's memory; without dumpLive the domain
// is paused while it is dumped, with dumpCrash it is destroyed afterwards.
func (f *Facade) coreDump(ctx context.Context, w libvirt.Domain, to string, format, flags uint32) error {
	if bad := flags &^ (dumpLive | dumpCrash); bad != 0 {
		return rpc.ErrInvalidFlags(rpc.DomainLibxl, bad, "libxlDomainCoreDump")
	}
	if format != dumpRaw {
		return rpc.Errorf(rpc.CodeOperationUnsupported, rpc.DomainLibxl, "unsupported dumpformat '%d': Xen dumps are raw", format)
	}
	d, obj, unlock, err := f.lockedSaveTarget(ctx, w)
	if err != nil {
		return err
	}
	defer unlock()
	defer f.beginJob(d.UUID)()
	_, err = f.imageAction(ctx, obj, v1alpha1.DomainAction{
		Verb: v1alpha1.VerbCoreDump, Path: to, Live: flags&dumpLive != 0, Crash: flags&dumpCrash != 0,
	}, nil)
	err = transientGone(err, d, func() bool {
		_, err := os.Stat(to)
		return flags&dumpCrash != 0 && err == nil
	})
	if err == nil && flags&dumpCrash != 0 && !d.Persistent() {
		return f.forgetTransient(ctx, obj)
	}
	return err
}

// imageAction is act for the actions that carry a path (Save, Restore, CoreDump): it writes action, with a new
// ID, after mutate, and waits for the reconciler's outcome.
func (f *Facade) imageAction(ctx context.Context, obj *v1alpha1.XenDomain, action v1alpha1.DomainAction, mutate func(*v1alpha1.XenDomain)) (*v1alpha1.XenDomain, error) {
	action.ID = uuid.NewString()
	written, err := f.update(ctx, obj, func(o *v1alpha1.XenDomain) error {
		if mutate != nil {
			mutate(o)
		}
		a := action
		o.Spec.Action = &a
		return nil
	})
	if err != nil {
		return nil, err
	}
	return f.waitAction(ctx, written, action.ID)
}

// waitAction waits until the reconciler reports the action with ID id, and maps its error.
func (f *Facade) waitAction(ctx context.Context, obj *v1alpha1.XenDomain, id string) (*v1alpha1.XenDomain, error) {
	done, err := f.waitOutcome(ctx, obj, func(o *v1alpha1.XenDomain) bool {
		return o == nil || (o.Status.LastAction != nil && o.Status.LastAction.ID == id)
	})
	if err != nil {
		return nil, err
	}
	if done == nil {
		return nil, rpc.NewError(rpc.CodeNoDomain, rpc.DomainLibxl, "")
	}
	if done.Status.LastAction.Error != "" {
		return done, actionErr(done.Status.LastAction)
	}
	return done, nil
}

// saveHeaderErr is libvirt's error for an image whose header does not read (libxlDomainSaveImageOpen): a wrong
// magic is an invalid argument, every other problem a failed operation.
func saveHeaderErr(err error) error {
	var he *controllers.SaveHeaderError
	if !errors.As(err, &he) {
		return rpc.NewError(rpc.CodeOperationFailed, rpc.DomainLibxl, "failed to read libxl header")
	}
	if he.Problem == controllers.HeaderBadMagic {
		return rpc.NewError(rpc.CodeInvalidArg, rpc.DomainLibxl, he.Msg)
	}
	return rpc.NewError(rpc.CodeOperationFailed, rpc.DomainLibxl, he.Msg)
}
