package remote

import (
	"context"
	"io"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/google/uuid"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/controllers"
	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// registerMigrationJobs: ABORT_JOB stops a migration before the switch-over; the source keeps running
// (libvirt's libxl driver cannot abort one).
func registerMigrationJobs(f *Facade, p *rpc.Program) {
	abort := func(ctx context.Context, w libvirt.Domain) error {
		d, err := f.lookup(ctx, w)
		if err != nil {
			return err
		}
		job := f.Migration.Migrations.Job(d.UUID)
		if job == nil {
			return rpc.NewError(rpc.CodeOperationInvalid, rpc.DomainLibxl, "no job is active on the domain")
		}
		if !job.Abort() {
			return rpc.NewError(rpc.CodeOperationInvalid, rpc.DomainLibxl, "migration is past the switch-over and cannot be aborted")
		}
		return nil
	}
	rpc.Register(p, rpc.ProcDomainAbortJob, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainAbortJobArgs) (*struct{}, error) {
		return nil, abort(ctx, a.Dom)
	})
	rpc.Register(p, rpc.ProcDomainAbortJobFlags, func(ctx context.Context, _ *rpc.Call, a *libvirt.DomainAbortJobFlagsArgs) (*struct{}, error) {
		if err := noFlags(a.Flags, "libxlDomainAbortJobFlags"); err != nil {
			return nil, err
		}
		return nil, abort(ctx, a.Dom)
	})
}

// migrationAct writes a migration action with the given ID on obj and waits for its outcome, with no deadline
// but the call's own: a migration takes the time its memory needs.
func (f *Facade) migrationAct(ctx context.Context, obj *v1alpha1.XenDomain, id string, verb v1alpha1.ActionVerb, mutate func(*v1alpha1.XenDomain)) error {
	w, err := f.watch(ctx, obj)
	if err != nil {
		return err
	}
	defer w.Stop()
	written, err := f.update(ctx, obj, func(o *v1alpha1.XenDomain) error {
		if mutate != nil {
			mutate(o)
		}
		o.Spec.Action = &v1alpha1.DomainAction{ID: id, Verb: verb}
		return nil
	})
	if err != nil {
		return err
	}
	return f.waitMigrationAction(ctx, w, written, id)
}

// waitMigrationAction waits on w until the reconciler reports action id of obj.
func (f *Facade) waitMigrationAction(ctx context.Context, w watch.Interface, obj *v1alpha1.XenDomain, id string) error {
	done, err := f.waitOn(ctx, w, obj, obj, func(o *v1alpha1.XenDomain) bool {
		return o == nil || (o.Status.LastAction != nil && o.Status.LastAction.ID == id)
	})
	if err != nil {
		return err
	}
	if done == nil {
		return rpc.NewError(rpc.CodeNoDomain, rpc.DomainLibxl, "")
	}
	if done.Status.LastAction.Error != "" {
		return actionErr(done.Status.LastAction)
	}
	return nil
}

// sendTo sends the running domain d to out through the reconciler; the guest stays suspended on success, and
// its job stays registered (the migration is in flight) until confirmLocked or the caller's departure removes
// it. peer and dname are the destination's daemon and the name there, for the journal.
func (f *Facade) sendTo(ctx context.Context, d *dom, obj *v1alpha1.XenDomain, out io.Writer, flags uint32, peer, dname string) (*controllers.MigrationJob, error) {
	job := controllers.NewMigrationJob(d.UUID, d.Name)
	job.Out, job.Live, job.Peer, job.DestName = out, flags&migrateLive != 0, peer, dname
	job.UndefineSource = flags&migrateUndefineSource != 0
	id := uuid.NewString()
	f.Migration.Migrations.Add(id, job)
	defer f.beginJob(d.UUID)()
	start := time.Now()
	err := f.migrationAct(ctx, obj, id, v1alpha1.VerbMigrateOut, nil)
	p := job.Progress()
	f.Log.Info("migration stream sent", "domain", d.Name, "bytes", p.Processed, "rounds", p.Iteration,
		"seconds", time.Since(start).Seconds(), "error", errString(err))
	if err != nil {
		f.Migration.Migrations.Remove(id)
		return nil, err
	}
	return job, nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// migratePerform is libxlDomainMigrationSrcPerform: connect to the destination's tcp://HOST:PORT and send.
func (f *Facade) migratePerform(ctx context.Context, w libvirt.Domain, uri string, flags uint32, peer, dname string) (*controllers.MigrationJob, error) {
	d, obj, unlock, err := f.lockedSaveTarget(ctx, w)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if dname == "" {
		dname = d.Name
	}
	return f.migrateSendTCP(ctx, d, obj, uri, flags, peer, dname)
}

// migrateFinish is libxlDomainMigrationDstFinish: once the stream is in, the domain runs here (or stays paused
// with PAUSED) and with PERSIST_DEST its definition is saved; a cancelled or failed migration drops it.
func (f *Facade) migrateFinish(ctx context.Context, dname string, flags uint32, cancelled bool) (libvirt.Domain, error) {
	if dname == "" {
		return libvirt.Domain{}, rpc.NewError(rpc.CodeNoDomain, rpc.DomainLibxl, "missing domain name")
	}
	in := f.takeIncoming(dname)
	if in == nil {
		if cancelled && f.unsettledIncoming(dname) {
			// Another Finish has it, or this daemon restarted in the middle of it: its own recovery settles it.
			return libvirt.Domain{}, rpc.Errorf(rpc.CodeOperationInvalid, rpc.DomainLibxl,
				"incoming migration of domain '%s' is being finished or rolled back", dname)
		}
		return libvirt.Domain{}, rpc.Errorf(rpc.CodeNoDomain, rpc.DomainLibxl, "no domain with matching name '%s'", dname)
	}
	return f.finishIncoming(ctx, in, flags, cancelled)
}

// finishIncoming finishes (or, cancelled, drops) the incoming migration in, taken from the prepared ones.
func (f *Facade) finishIncoming(ctx context.Context, in *incoming, flags uint32, cancelled bool) (libvirt.Domain, error) {
	dname := in.obj.Spec.Domain.Name
	defer f.Migration.Migrations.Remove(in.actionID)
	spec := in.obj.Spec.Domain
	unlock, err := f.lockDomain(ctx, spec.Name, spec.UUID)
	if err != nil {
		in.close()
		return libvirt.Domain{}, err
	}
	defer unlock()
	if cancelled {
		in.close()
	}
	recvErr := f.waitReceived(ctx, in)
	if recvErr == nil && !cancelled {
		// The switch-over, once asked for, is carried out whatever becomes of the caller: a source that loses
		// its answer asks again (resolveMigration) rather than resume a guest that runs here.
		recvErr = f.migrationAct(context.WithoutCancel(ctx), in.obj, uuid.NewString(), v1alpha1.VerbMigrateFinish,
			func(o *v1alpha1.XenDomain) { o.Spec.Paused = flags&migratePaused != 0 })
	}
	if recvErr != nil || cancelled {
		in.close()
		if err := f.migrationAct(context.WithoutCancel(ctx), in.obj, uuid.NewString(), v1alpha1.VerbMigrateCancel, nil); err != nil && rpc.CodeOf(err) != rpc.CodeNoDomain {
			f.Log.Error(err, "drop the domain of a failed incoming migration", "domain", dname)
		}
		f.forgetIncoming(context.WithoutCancel(ctx), in.obj)
		if recvErr == nil {
			recvErr = rpc.NewError(rpc.CodeOperationFailed, rpc.DomainLibxl, "migration was cancelled")
		}
		return libvirt.Domain{}, recvErr
	}
	if flags&migratePersistDest != 0 {
		if err := f.persistIncoming(ctx, in.obj); err != nil {
			return libvirt.Domain{}, err
		}
	}
	return f.wireOf(ctx, &dom{Name: spec.Name, UUID: spec.UUID})
}

// unsettledIncoming reports whether the journal records an incoming migration of the domain named name that has
// not reached its switch-over: a destination restarted in it drops it, one still in it may yet let it run.
func (f *Facade) unsettledIncoming(name string) bool {
	for _, e := range f.Migration.Migrations.Entries() {
		if e.Name == name && e.Role == controllers.MigrationDestination && e.Phase != controllers.PhaseFinishing {
			return true
		}
	}
	return false
}

// forgetIncoming removes the object of an incoming migration that failed, unless it was a defined domain.
func (f *Facade) forgetIncoming(ctx context.Context, obj *v1alpha1.XenDomain) {
	cur := &v1alpha1.XenDomain{}
	if err := f.Store.Get(ctx, client.ObjectKeyFromObject(obj), cur); err != nil || cur.UID != obj.UID {
		return
	}
	if cur.Labels[v1alpha1.LabelSource] == v1alpha1.SourceKindTransient {
		if err := f.forgetTransient(ctx, cur); err != nil {
			f.Log.Error(err, "remove the domain of a failed incoming migration", "domain", cur.Name)
		}
		return
	}
	if _, err := f.update(ctx, cur, func(o *v1alpha1.XenDomain) error { o.Spec.Paused = false; return nil }); err != nil {
		f.Log.Error(err, "reset the defined domain of a failed incoming migration", "domain", cur.Name)
	}
}

// persistIncoming is PERSIST_DEST: the received domain's definition is saved, as virsh define does.
func (f *Facade) persistIncoming(ctx context.Context, obj *v1alpha1.XenDomain) error {
	cur := &v1alpha1.XenDomain{}
	if err := f.Store.Get(ctx, client.ObjectKeyFromObject(obj), cur); err != nil {
		return internalErr(err)
	}
	spec := cur.Spec.Domain.DeepCopy()
	if err := f.Defines.Save(spec); err != nil {
		return internalErr(err)
	}
	detail := controllers.DetailDefinedAdded
	if cur.Labels[v1alpha1.LabelSource] == v1alpha1.SourceKindDefine {
		detail = controllers.DetailDefinedUpdated
	}
	if _, err := f.update(ctx, cur, func(o *v1alpha1.XenDomain) error {
		paused := o.Spec.Paused
		f.makeDefine(o, spec)
		o.Spec.Paused = paused
		return nil
	}); err != nil {
		return err
	}
	f.publish(libvirt.Domain{Name: spec.Name, UUID: wireUUID(spec.UUID), ID: -1}, controllers.EventDefined, detail)
	return nil
}

// migrateConfirm is libxlDomainMigrationSrcConfirm.
func (f *Facade) migrateConfirm(ctx context.Context, w libvirt.Domain, flags uint32, cancelled bool) error {
	d, unlock, err := f.lockedLookup(ctx, w)
	if err != nil {
		return err
	}
	defer unlock()
	obj, err := managed(d)
	if err != nil {
		return err
	}
	_, err = f.confirmLocked(ctx, d, obj, flags, cancelled)
	return err
}

// confirmLocked ends the source's side: cancelled, the guest resumes; else it is destroyed (STOPPED/MIGRATED)
// and, with UNDEFINE_SOURCE or when transient, forgotten. A cancel of a migration whose stream was complete
// asks the destination first (it may have switched over, its answer lost): migrated reports that the guest
// runs there and the source's side was confirmed instead. When the destination cannot tell, the guest stays
// suspended and the reconciler asks again.
func (f *Facade) confirmLocked(ctx context.Context, d *dom, obj *v1alpha1.XenDomain, flags uint32, cancelled bool) (migrated bool, err error) {
	if job := f.Migration.Migrations.Job(d.UUID); job != nil {
		defer f.Migration.Migrations.RemoveJob(job)
	}
	if cancelled {
		e := f.Migration.Migrations.Entry(d.UUID)
		if e == nil || e.Role != controllers.MigrationSource || e.Phase != controllers.PhaseSent || e.Peer == "" {
			return false, f.migrationAct(ctx, obj, uuid.NewString(), v1alpha1.VerbMigrateCancel, nil)
		}
		rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		out, rerr := f.resolveMigration(rctx, *e)
		cancel()
		switch out {
		case controllers.OutcomeSource:
			return false, f.migrationAct(ctx, obj, uuid.NewString(), v1alpha1.VerbMigrateCancel, nil)
		case controllers.OutcomeUnknown:
			return false, errMigrationFailed("the destination of domain '%s' cannot tell whether it took the domain over (%s): "+
				"the domain stays suspended here until it can", d.Name, errString(rerr))
		}
		f.Log.Info("migration reported failed, but the destination runs the domain: confirming", "domain", d.Name)
		migrated = true
	}
	if err := f.migrationAct(ctx, obj, uuid.NewString(), v1alpha1.VerbMigrateConfirm, nil); err != nil {
		return false, err
	}
	switch {
	case flags&migrateUndefineSource != 0:
		return migrated, f.undefineMigrated(ctx, obj)
	case obj.Labels[v1alpha1.LabelSource] == v1alpha1.SourceKindTransient:
		return migrated, f.forgetTransient(ctx, obj)
	}
	return migrated, nil
}

// undefineMigrated forgets the definition of a domain that migrated away with UNDEFINE_SOURCE: its NAME.xml
// and its object (UNDEFINED/REMOVED), and waits until the object is gone. Only definitions made through libvirt
// are the facade's to remove; a drop-in file's domain stays (stopped, reason migrated), as its file says.
func (f *Facade) undefineMigrated(ctx context.Context, obj *v1alpha1.XenDomain) error {
	if err := f.removeMigratedDefinition(ctx, obj); err != nil || obj.Labels[v1alpha1.LabelSource] != v1alpha1.SourceKindDefine {
		return err
	}
	uid := obj.UID
	_, err := f.waitFor(ctx, obj, func(o *v1alpha1.XenDomain) bool { return o == nil || o.UID != uid })
	return err
}

// removeMigratedDefinition is undefineMigrated without the wait: the reconciler calls it (Migrations.Undefine)
// for a migration it settles from the journal, from inside the object's own reconcile.
func (f *Facade) removeMigratedDefinition(ctx context.Context, obj *v1alpha1.XenDomain) error {
	if obj.Labels[v1alpha1.LabelSource] != v1alpha1.SourceKindDefine {
		return nil
	}
	name := obj.Spec.Domain.Name
	if err := f.Defines.Delete(name); err != nil {
		return internalErr(err)
	}
	uid := obj.UID
	if err := f.Store.Delete(ctx, obj, client.Preconditions{UID: &uid}); err != nil && !apierrors.IsNotFound(err) {
		return internalErr(err)
	}
	f.publish(libvirt.Domain{Name: name, UUID: wireUUID(obj.DomainUUID()), ID: -1}, controllers.EventUndefined, controllers.DetailUndefinedRemoved)
	return nil
}

// errMigrationFailed wraps a peer's failure in libvirt's words.
func errMigrationFailed(format string, args ...any) error {
	return rpc.Errorf(rpc.CodeOperationFailed, rpc.DomainLibxl, format, args...)
}

// waitReceived waits until the reconciler reports the incoming stream received (or failed).
func (f *Facade) waitReceived(ctx context.Context, in *incoming) error {
	done, err := f.waitFor(ctx, in.obj, func(o *v1alpha1.XenDomain) bool {
		return o == nil || o.UID != in.obj.UID || (o.Status.LastAction != nil && o.Status.LastAction.ID == in.actionID)
	})
	switch {
	case err != nil:
		return err
	case done == nil || done.UID != in.obj.UID:
		return rpc.NewError(rpc.CodeNoDomain, rpc.DomainLibxl, "")
	case done.Status.LastAction.Error != "":
		return actionErr(done.Status.LastAction)
	}
	return nil
}
