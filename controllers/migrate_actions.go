package controllers

import (
	"context"
	"errors"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/libxl"
)

// DetailStartedMigrated is VIR_DOMAIN_EVENT_STARTED_MIGRATED.
const DetailStartedMigrated = 1

// jobFor returns the job the facade registered for action a.
func (r *XenDomainReconciler) jobFor(s *scope, a *v1alpha1.DomainAction) (*MigrationJob, libxl.Migrator, error) {
	m, err := r.migrator()
	if err != nil {
		return nil, nil, err
	}
	job := r.Migrations.byID(a.ID)
	if job == nil {
		// The daemon restarted between the request and this reconcile: the stream is gone with the old process.
		return nil, nil, failf(v1alpha1.FailureMigrationFailed, "migration stream of domain '%s' is gone", domainName(s.obj))
	}
	return job, m, nil
}

// jobContext ends when ctx ends or the job is aborted.
func jobContext(ctx context.Context, job *MigrationJob) (context.Context, func()) {
	c, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(job.ctx, func() { cancel(context.Cause(job.ctx)) })
	return c, func() { stop(); cancel(nil) }
}

// migrateOut sends the running domain to the job's stream (libxlDoMigrateSrcSend). The guest runs until the last
// round and then stays suspended, for migrateConfirm or migrateCancel.
func (r *XenDomainReconciler) migrateOut(ctx context.Context, s *scope, a *v1alpha1.DomainAction) error {
	if s.dom == nil {
		return errNotRunning
	}
	if s.dom.Info.State == libxl.StatePaused {
		return failf(v1alpha1.FailureOperationInvalid, "Domain '%d' has to be running because libxenlight will suspend it", s.dom.Info.DomID)
	}
	job, m, err := r.jobFor(s, a)
	if err != nil {
		return err
	}
	uuid, name := uuidOf(s.obj), domainName(s.obj)
	entry := JournalEntry{UUID: uuid, Name: name, Role: MigrationSource, Phase: PhaseSending, Peer: job.Peer, DestName: job.DestName,
		UndefineSource: job.UndefineSource}
	if err := r.Migrations.Record(entry); err != nil {
		return err
	}
	jctx, done := jobContext(ctx, job)
	defer done()
	r.Migrations.hold(jctx, HoldSend, uuid)
	id := s.dom.Info.DomID
	s.log.Info("migration: sending", "domid", id, "live", job.Live)
	err = m.SendDomain(jctx, id, job.Out, libxl.SendOptions{Live: job.Live, Progress: job.record})
	if err != nil {
		r.Migrations.Clear(uuid)
		if _, rerr := r.refresh(ctx, s); rerr != nil {
			s.log.Error(rerr, "read the domain after a failed migration")
		}
		if errors.Is(context.Cause(jctx), ErrMigrationAborted) {
			return &ActionError{Failure: v1alpha1.FailureAborted, Msg: "migration out job: canceled by client", Err: err}
		}
		return &ActionError{Failure: v1alpha1.FailureHypervisorError, Msg: "Failed to send migration data to destination host", Err: err}
	}
	entry.Phase = PhaseSent
	if err := r.Migrations.Record(entry); err != nil {
		// Without the record a crash would resume a guest the destination may run: give up the migration now.
		r.Migrations.Clear(uuid)
		if rerr := m.ResumeDomain(ctx, id); rerr != nil {
			err = errors.Join(err, rerr)
		}
		if _, rerr := r.refresh(ctx, s); rerr != nil {
			s.log.Error(rerr, "read the domain after a failed migration")
		}
		return &ActionError{Failure: v1alpha1.FailureMigrationFailed, Msg: "cannot record the migration's phase", Err: err}
	}
	if _, err := r.refresh(ctx, s); err != nil {
		s.log.Error(err, "read the domain after sending it")
	}
	r.Migrations.hold(ctx, HoldSent, uuid)
	s.log.Info("migration: sent, the guest is suspended until the destination takes over", "domid", id)
	return nil
}

// migrateIn receives the domain from the job's stream, paused (libxlDoMigrateDstReceive).
func (r *XenDomainReconciler) migrateIn(ctx context.Context, s *scope, a *v1alpha1.DomainAction) error {
	if s.dom != nil {
		return errAlreadyRunning
	}
	if s.cfg == nil {
		return s.cfgErr
	}
	name, uuid := domainName(s.obj), uuidOf(s.obj)
	if other := r.Observer.LookupName(name); other != nil {
		return failf(v1alpha1.FailureNameInUse, "domain '%s' is already active as domain %d", name, other.Info.DomID)
	}
	job, m, err := r.jobFor(s, a)
	if err != nil {
		return err
	}
	if err := r.Migrations.Record(JournalEntry{UUID: uuid, Name: name, Role: MigrationDestination, Phase: PhaseReceiving}); err != nil {
		return err
	}
	jctx, done := jobContext(ctx, job)
	defer done()
	mk := newMarker(s.obj, s.cfg)
	id, err := m.ReceiveDomain(jctx, s.cfg, job.In, libxl.ReceiveOptions{
		CreateOptions: libxl.CreateOptions{Paused: true, Userdata: map[string][]byte{MarkerKey: mk.encode()}},
		StreamVersion: job.StreamVersion,
	})
	if err != nil {
		r.Migrations.Clear(uuid)
		return &ActionError{Failure: v1alpha1.FailureMigrationFailed, Msg: fmt.Sprintf("failed to restore domain '%s' from the migration stream", name), Err: err}
	}
	if err := r.Migrations.Record(JournalEntry{UUID: uuid, Name: name, Role: MigrationDestination, Phase: PhaseReceived}); err != nil {
		s.log.Error(err, "record the migration phase")
	}
	r.Migrations.hold(ctx, HoldReceived, uuid)
	info, err := r.HV.DomainInfo(ctx, id)
	if err != nil {
		return fmt.Errorf("read received domain %q: %w", name, err)
	}
	r.Observer.Record(info, &mk)
	s.dom = &Observed{Info: info, Marker: &mk}
	s.rt.releaseHeld()
	s.rt.release, s.release = s.release, nil
	now := metav1.NewTime(s.now)
	s.obj.Status.StartedAt, s.obj.Status.Stopped, s.started = &now, "", true
	s.orig.State, s.orig.Reason = v1alpha1.StatePaused, "migration"
	s.started = false // keep the paused reason above: it came by migration, not by a boot
	s.log.Info("migration: received, paused until finish", "domid", id)
	if err := r.recordLive(ctx, s); err != nil {
		s.log.Error(err, "the received domain has no live definition on disk", "domid", id)
	}
	return nil
}

// migrateFinish lets the received domain run, unless it is to stay paused (libxlDomainMigrationDstFinish).
func (r *XenDomainReconciler) migrateFinish(ctx context.Context, s *scope) error {
	if s.dom == nil {
		return failf(v1alpha1.FailureMigrationFailed, "Migration failed. Domain is not running on destination host")
	}
	uuid, name := uuidOf(s.obj), domainName(s.obj)
	if err := r.Migrations.Record(JournalEntry{UUID: uuid, Name: name, Role: MigrationDestination, Phase: PhaseFinishing, Paused: s.obj.Spec.Paused}); err != nil {
		return err
	}
	r.Migrations.hold(ctx, HoldFinish, uuid)
	if s.obj.Spec.Paused {
		s.orig.State, s.orig.Reason = v1alpha1.StatePaused, "user"
		r.Events.emit(s, EventSuspended, DetailSuspendedPaused)
	} else {
		if s.dom.Info.State == libxl.StatePaused {
			if err := r.HV.UnpauseDomain(ctx, s.dom.Info.DomID); err != nil {
				return &ActionError{Failure: v1alpha1.FailureMigrationFailed, Msg: "Failed to unpause domain", Err: err}
			}
		}
		s.orig.State, s.orig.Reason = v1alpha1.StateRunning, "migrated"
		r.Events.emit(s, EventResumed, DetailResumedMigrated)
	}
	if _, err := r.refresh(ctx, s); err != nil {
		s.log.Error(err, "read the domain after the switch-over")
	}
	r.Migrations.Clear(uuid)
	s.log.Info("migration: finished, the guest runs here", "paused", s.obj.Spec.Paused)
	return nil
}

// migrateConfirm destroys the source's suspended domain once the destination runs it
// (libxlDomainMigrationSrcConfirm): the domain is stopped here with reason migrated and stays so.
func (r *XenDomainReconciler) migrateConfirm(ctx context.Context, s *scope) error {
	r.Migrations.hold(ctx, HoldConfirm, uuidOf(s.obj))
	if s.dom != nil {
		if err := r.destroy(ctx, s, DetailStoppedMigrated); err != nil {
			return err
		}
	}
	s.obj.Status.Stopped, s.stopReason = stoppedMigrated, "migrated"
	r.Migrations.Clear(uuidOf(s.obj))
	s.log.Info("migration: confirmed, the guest left this host")
	return nil
}

// migrateCancel rolls back: a source resumes its suspended guest, a destination drops what it received.
func (r *XenDomainReconciler) migrateCancel(ctx context.Context, s *scope) error {
	uuid := uuidOf(s.obj)
	e := r.Migrations.Entry(uuid)
	defer r.Migrations.Clear(uuid)
	if e != nil && e.Role == MigrationDestination {
		if s.dom != nil {
			if err := r.destroy(ctx, s, DetailStoppedFailed); err != nil {
				return err
			}
			s.stopReason = "failed"
		}
		return nil
	}
	if s.dom == nil {
		return errNotRunning
	}
	if s.dom.Info.State == libxl.StateShutdown && s.dom.Info.ShutdownReason == libxl.ShutdownSuspend {
		return r.resumeSource(ctx, s)
	}
	return nil // the send failed and resumed the guest already
}

// resumeSource lets the source's suspended guest run again; if it cannot, it is reported paused (migration).
func (r *XenDomainReconciler) resumeSource(ctx context.Context, s *scope) error {
	m, err := r.migrator()
	if err == nil {
		err = m.ResumeDomain(ctx, s.dom.Info.DomID)
	}
	if err != nil {
		s.orig.State, s.orig.Reason = v1alpha1.StatePaused, "migration"
		r.Events.emit(s, EventSuspended, DetailSuspendedMigrate)
		return &ActionError{Failure: v1alpha1.FailureMigrationFailed, Msg: fmt.Sprintf("unable to resume domain '%s' after failed migration", domainName(s.obj)), Err: err}
	}
	s.orig.State, s.orig.Reason = v1alpha1.StateRunning, "migration canceled"
	if _, err := r.refresh(ctx, s); err != nil {
		s.log.Error(err, "read the domain after resuming it")
	}
	s.log.Info("migration: cancelled, the guest runs here again")
	return nil
}
