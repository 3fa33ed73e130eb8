package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/libxl"
)

// Values of status.stopped.
const (
	stoppedPoweroff  = "poweroff"
	stoppedDestroyed = "destroyed"
	stoppedCrashed   = "crashed"
	stoppedSaved     = "saved"
	stoppedVanished  = "vanished" // destroyed behind the daemon's back (xl destroy)
)

// finalizerPatch sets the finalizers of the object read to those of obj, and nothing else: an API server's node
// isolation lets a node write its finalizer, not the rest of the object, which a full update would send back.
// It is the merge patch client.MergeFrom with an optimistic lock computes, written directly: computing it
// marshals the object twice and diffs the documents, most of the cost of a reconcile that adds the finalizer.
func finalizerPatch(obj *v1alpha1.XenDomain) client.Patch {
	var p struct {
		Metadata struct {
			Finalizers      []string `json:"finalizers"`
			ResourceVersion string   `json:"resourceVersion"`
		} `json:"metadata"`
	}
	p.Metadata.Finalizers = obj.Finalizers
	if len(obj.Finalizers) == 0 {
		p.Metadata.Finalizers = nil // null: the merge patch removes the list
	}
	p.Metadata.ResourceVersion = obj.ResourceVersion
	data, _ := json.Marshal(p) // strings only: it cannot fail
	return client.RawPatch(types.MergePatchType, data)
}

func hasFinalizer(obj *v1alpha1.XenDomain) bool {
	return controllerutil.ContainsFinalizer(obj, Finalizer)
}

func (r *XenDomainReconciler) reconcileFinalizer(ctx context.Context, s *scope) error {
	if hasFinalizer(s.obj) || r.fleetHold() && s.dom == nil { // fleet mode: added by claim, before a start
		return nil
	}
	status := s.obj.Status
	controllerutil.AddFinalizer(s.obj, Finalizer)
	if err := r.Client.Patch(ctx, s.obj, finalizerPatch(s.obj)); err != nil {
		return fmt.Errorf("add finalizer: %w", err)
	}
	s.obj.Status = status // Update returns the stored object, whose status this reconcile is rewriting
	return nil
}

// reconcileConfig builds the libxl config. An invalid spec is terminal: retrying cannot fix it, a new
// generation can. It is recorded rather than returned, so that a pending action is still answered (a start fails
// at once with the reason, a destroy needs no config); reconcileConfigErr ends the reconcile with it.
func (r *XenDomainReconciler) reconcileConfig(_ context.Context, s *scope) error {
	spec := s.obj.Spec.Domain.DeepCopy()
	spec.Name, spec.UUID = s.obj.DomainName(), s.obj.DomainUUID()
	s.spec = spec
	b, err := r.Build(spec, true)
	if err != nil {
		s.cfgErr = reconcile.TerminalError(fmt.Errorf("invalid domain definition: %w", err))
		return nil
	}
	s.cfg, s.release, s.built = b.Config, b.Release, b.Spec
	return nil
}

// reconcileConfigErr ends the reconcile with the terminal error of a spec that does not build.
func (r *XenDomainReconciler) reconcileConfigErr(_ context.Context, s *scope) error { return s.cfgErr }

// reconcileShutdown handles a guest that shut itself down, rebooted or crashed: libxl leaves such a domain in
// place and the toolstack applies on_poweroff, on_reboot or on_crash.
func (r *XenDomainReconciler) reconcileShutdown(ctx context.Context, s *scope) error {
	if s.dom == nil || (s.dom.Info.State != libxl.StateShutdown && s.dom.Info.State != libxl.StateCrashed) {
		return nil
	}
	d := &s.obj.Spec.Domain
	reason := s.dom.Info.ShutdownReason
	action, detail, stopped := d.OnPoweroff, DetailStoppedShutdown, stoppedPoweroff
	switch reason {
	case libxl.ShutdownReboot:
		action, stopped = orDefault(d.OnReboot, v1alpha1.ActionRestart), ""
	case libxl.ShutdownCrash, libxl.ShutdownWatchdog:
		action, detail, stopped = orDefault(d.OnCrash, v1alpha1.ActionDestroy), DetailStoppedCrashed, stoppedCrashed
	case libxl.ShutdownSuspend:
		action = v1alpha1.ActionDestroy // a save in progress leaves a suspended domain behind
	default:
		action = orDefault(action, v1alpha1.ActionDestroy)
	}
	if s.rt.shutdownSent.IsZero() && action == v1alpha1.ActionPreserve {
		s.done = true // kept as it is, shut down or crashed, for inspection
		return nil
	}
	s.log.Info("guest stopped", "reason", reason.String(), "action", action)
	if action == v1alpha1.ActionCoredumpDestroy || action == v1alpha1.ActionCoredumpRestart {
		r.coreDump(ctx, s)
	}
	if err := r.destroy(ctx, s, detail); err != nil {
		return err
	}
	s.obj.Status.Stopped = stopped
	s.stopReason = map[string]string{stoppedCrashed: "crashed"}[stopped]
	if s.stopReason == "" {
		s.stopReason = "shutdown"
	}
	if !s.rt.shutdownSent.IsZero() {
		return nil // we asked for this stop: do not restart
	}
	switch action {
	case v1alpha1.ActionRestart, v1alpha1.ActionRenameRestart, v1alpha1.ActionCoredumpRestart:
		if reason == libxl.ShutdownReboot {
			return r.start(ctx, s, DetailStartedBooted) // a reboot is not a failure: no backoff
		}
		return r.restartWithBackoff(ctx, s)
	}
	return nil
}

func (r *XenDomainReconciler) coreDump(ctx context.Context, s *scope) {
	if r.Opts.DumpDir == "" {
		return
	}
	path := filepath.Join(r.Opts.DumpDir, fmt.Sprintf("%s-%s", s.obj.DomainName(), s.now.UTC().Format("2006-01-02-15:04:05")))
	if err := r.HV.CoreDump(ctx, s.dom.Info.DomID, path); err != nil {
		s.log.Error(err, "core dump before lifecycle action failed", "path", path)
	}
}

// reconcileAction carries out a pending one-shot action once and reports it in status.lastAction.
func (r *XenDomainReconciler) reconcileAction(ctx context.Context, s *scope) error {
	a := s.obj.Spec.Action
	if a == nil || (s.obj.Status.LastAction != nil && s.obj.Status.LastAction.ID == a.ID) {
		return nil
	}
	running := s.dom != nil
	var err error
	switch a.Verb {
	case v1alpha1.VerbStart:
		if running {
			err = errAlreadyRunning
		} else {
			s.obj.Status.RestartCount, s.obj.Status.BackoffUntil = 0, nil
			err = r.start(ctx, s, DetailStartedBooted)
		}
	case v1alpha1.VerbRestore:
		if running {
			err = errAlreadyRunning
		} else {
			err = r.restore(ctx, s, a.Path)
		}
	case v1alpha1.VerbSetLive:
		if !running {
			err = errNotRunning
		} else {
			err = r.setLive(ctx, s, a)
		}
	case v1alpha1.VerbSave, v1alpha1.VerbCoreDump:
		if !running {
			err = errNotRunning
		} else if a.Verb == v1alpha1.VerbSave {
			err = r.save(ctx, s, a.Path)
		} else {
			err = r.dump(ctx, s, a)
		}
	case v1alpha1.VerbShutdown, v1alpha1.VerbReboot, v1alpha1.VerbDestroy, v1alpha1.VerbReset:
		if !running {
			err = errNotRunning
			break
		}
		switch a.Verb {
		case v1alpha1.VerbShutdown:
			err = r.HV.ShutdownDomain(ctx, s.dom.Info.DomID)
			s.done = true // the guest acts in its own time; its events drive the next reconcile
		case v1alpha1.VerbReboot:
			err = r.HV.RebootDomain(ctx, s.dom.Info.DomID)
			s.done = true
		case v1alpha1.VerbDestroy:
			if err = r.destroy(ctx, s, DetailStoppedDestroyed); err == nil {
				s.obj.Status.Stopped, s.stopReason = stoppedDestroyed, "destroyed"
			}
		case v1alpha1.VerbReset:
			if err = r.destroy(ctx, s, DetailStoppedDestroyed); err == nil {
				err = r.start(ctx, s, DetailStartedBooted)
			}
		}
	default:
		err = fmt.Errorf("unknown action %q", a.Verb)
	}
	res := &v1alpha1.ActionResult{ID: a.ID, Verb: a.Verb, Time: metav1.NewTime(s.now)}
	if err != nil {
		res.Reason, res.Error = classify(err)
		s.log.Info("action failed", "action", a.Verb, "reason", res.Reason, "error", err.Error())
	}
	s.obj.Status.LastAction = res
	return nil // a one-shot action is reported, never retried
}

// wantRunning says whether the run strategy asks for the domain to run now.
func (r *XenDomainReconciler) wantRunning(s *scope) bool {
	switch s.obj.Spec.RunStrategy {
	case v1alpha1.RunStrategyHalted:
		return false
	case v1alpha1.RunStrategyManual:
		return s.rt.autostart.Load()
	}
	if s.obj.Status.Stopped == stoppedSaved {
		return false // its image is meant to be restored, not replaced by a fresh boot
	}
	switch s.obj.Spec.RunStrategy {
	case v1alpha1.RunStrategyRerunOnFailure:
		return s.obj.Status.Stopped != stoppedPoweroff && s.obj.Status.Stopped != stoppedDestroyed
	}
	return true // Always, and the default
}

func (r *XenDomainReconciler) reconcileRunState(ctx context.Context, s *scope) error {
	if s.dom == nil && s.orig.DomID != nil && s.stopReason == "" && s.obj.Status.Stopped == "" {
		// It ran, and neither the guest nor the daemon stopped it: destroyed behind the daemon's back.
		s.log.Info("domain vanished: destroyed outside virtxend", "domid", *s.orig.DomID)
		r.Events.emit(s, EventStopped, DetailStoppedDestroyed)
		s.obj.Status.Stopped, s.stopReason = stoppedVanished, "destroyed"
	}
	if s.obj.Status.Stopped == stoppedVanished && s.obj.Spec.RunStrategy != v1alpha1.RunStrategyManual &&
		s.obj.Spec.RunStrategy != v1alpha1.RunStrategyHalted {
		s.drift = []string{"the domain was destroyed outside virtxend"}
		r.metrics().DriftDetected(s.obj.Spec.DriftPolicy != v1alpha1.DriftPolicyReport)
		if s.obj.Spec.DriftPolicy == v1alpha1.DriftPolicyReport {
			return nil
		}
		s.log.Info("drift: starting the domain again")
		r.Events.record(s, corev1.EventTypeNormal, EventReasonDriftCorrected, "the domain was destroyed outside virtxend: starting it again")
		s.drift = nil
	}
	want := r.wantRunning(s)
	switch {
	case want && s.dom == nil:
		if s.obj.Status.Stopped == stoppedCrashed || s.obj.Status.Stopped == stoppedPoweroff && s.obj.Status.StartedAt != nil {
			return r.restartWithBackoff(ctx, s)
		}
		start := r.start
		if s.rt.autostart.Load() {
			start = func(ctx context.Context, s *scope, _ int) error { return r.startAutostarted(ctx, s) }
		}
		if err := start(ctx, s, DetailStartedBooted); err != nil {
			return err
		}
		s.rt.autostart.Store(false)
	case !want && s.dom != nil && s.obj.Spec.RunStrategy == v1alpha1.RunStrategyHalted:
		s.done = true
		return r.stopGracefully(ctx, s)
	}
	return nil
}

// restartWithBackoff restarts a domain that stopped unrequested, delaying repeated quick failures.
func (r *XenDomainReconciler) restartWithBackoff(ctx context.Context, s *scope) error {
	st := &s.obj.Status
	if st.BackoffUntil != nil && s.now.Before(st.BackoffUntil.Time) {
		s.requeueAfter(st.BackoffUntil.Sub(s.now))
		s.done = true
		return nil
	}
	if st.BackoffUntil == nil { // this failure is not yet counted
		if st.StartedAt != nil && s.now.Sub(st.StartedAt.Time) >= r.Opts.StablePeriod {
			st.RestartCount = 0
		}
		st.RestartCount++
		if delay := r.backoff(st.RestartCount); delay > 0 {
			until := metav1.NewTime(s.now.Add(delay))
			st.BackoffUntil = &until
			s.log.Info("crash loop: delaying restart", "restarts", st.RestartCount, "delay", delay.String())
			r.metrics().BackoffDelayed(delay)
			r.Events.record(s, corev1.EventTypeWarning, EventReasonBackOff,
				fmt.Sprintf("crash loop: restart %d delayed by %s", st.RestartCount, delay))
			s.requeueAfter(delay)
			s.done = true
			return nil
		}
	}
	st.BackoffUntil = nil
	r.metrics().CrashRestart()
	r.Events.record(s, corev1.EventTypeNormal, EventReasonRestarted, fmt.Sprintf("restarting the domain (restart %d)", st.RestartCount))
	return r.start(ctx, s, DetailStartedBooted)
}

// backoff is the delay before the n-th quick restart in a row: none for the first, then doubling.
func (r *XenDomainReconciler) backoff(n int32) time.Duration {
	if n <= 1 {
		return 0
	}
	d := r.Opts.BackoffBase
	for i := int32(2); i < n && d < r.Opts.BackoffMax; i++ {
		d *= 2
	}
	return min(d, r.Opts.BackoffMax)
}

// updateMarker rewrites the ownership marker: the devices it records are those of the live definition.
func (r *XenDomainReconciler) updateMarker(ctx context.Context, s *scope) error {
	m := newMarker(s.obj, s.liveCfg)
	if s.liveCfg == nil && s.dom.Marker != nil {
		m.Disks, m.Nics = s.dom.Marker.Disks, s.dom.Marker.Nics
	}
	if err := r.HV.SetUserdata(ctx, s.dom.Info.DomID, MarkerKey, m.encode()); err != nil {
		return fmt.Errorf("update ownership marker: %w", err)
	}
	s.dom.Marker = &m
	r.Observer.SetMarker(s.dom.Info.DomID, &m)
	return nil
}

// reconcileTransient removes a transient object (virsh create) once its domain has stopped, as libvirt forgets a
// transient domain when it stops.
func (r *XenDomainReconciler) reconcileTransient(ctx context.Context, s *scope) error {
	if s.obj.Labels[v1alpha1.LabelSource] != v1alpha1.SourceKindTransient || s.dom != nil || s.obj.Status.StartedAt == nil {
		return nil
	}
	if r.Locks != nil {
		// A facade call on this domain (a define making it persistent, a destroy forgetting it itself) goes
		// first; the version precondition below catches what changed since this reconcile read the object.
		unlock, ok := r.Locks.TryLock(s.obj.DomainName(), s.obj.DomainUUID())
		if !ok {
			s.requeueAfter(lockRetry)
			s.done = true
			return nil
		}
		defer unlock()
	}
	s.log.Info("transient domain stopped: removing it")
	uid, rv := s.obj.UID, s.obj.ResourceVersion
	err := r.Client.Delete(ctx, s.obj, client.Preconditions{UID: &uid, ResourceVersion: &rv})
	switch {
	case apierrors.IsConflict(err):
		s.requeueAfter(lockRetry) // changed meanwhile: look again
	case err != nil && !apierrors.IsNotFound(err):
		return fmt.Errorf("remove transient domain: %w", err)
	}
	s.done = true
	return nil
}

// reconcileDelete shuts the domain down (destroying it after the timeout), then releases the object.
func (r *XenDomainReconciler) reconcileDelete(ctx context.Context, s *scope) (ctrl.Result, error) {
	if s.dom != nil {
		if err := r.stopGracefully(ctx, s); err != nil || s.dom != nil {
			return s.result(), err
		}
	}
	r.forget(s.obj.DomainUUID())
	if !hasFinalizer(s.obj) {
		return ctrl.Result{}, nil
	}
	controllerutil.RemoveFinalizer(s.obj, Finalizer)
	if err := r.Client.Patch(ctx, s.obj, finalizerPatch(s.obj)); err != nil {
		return ctrl.Result{}, fmt.Errorf("remove finalizer: %w", err)
	}
	s.log.Info("domain released")
	return ctrl.Result{}, nil
}

// stopGracefully asks the guest to shut down, and destroys it once it is down or the timeout passed.
func (r *XenDomainReconciler) stopGracefully(ctx context.Context, s *scope) error {
	info := s.dom.Info
	if info.State == libxl.StateShutdown || info.State == libxl.StateCrashed {
		return r.destroy(ctx, s, DetailStoppedShutdown)
	}
	if s.rt.shutdownSent.IsZero() {
		if err := r.HV.ShutdownDomain(ctx, info.DomID); err != nil && !errors.Is(err, libxl.ErrNoDomain) {
			return fmt.Errorf("shutdown: %w", err)
		}
		s.rt.shutdownSent = s.now
		s.log.Info("shutting down")
	}
	if left := r.Opts.ShutdownTimeout - s.now.Sub(s.rt.shutdownSent); left > 0 {
		s.requeueAfter(left)
		return nil
	}
	s.log.Info("graceful shutdown timed out: destroying", "timeout", r.Opts.ShutdownTimeout.String())
	return r.destroy(ctx, s, DetailStoppedDestroyed)
}

// start creates the domain from the built config, marked as ours before it runs; a domain with a managed save
// image is restored from it instead.
func (r *XenDomainReconciler) start(ctx context.Context, s *scope, detail int) error {
	if s.cfg == nil {
		return s.cfgErr // the spec does not build: nothing to start it with
	}
	name := s.obj.DomainName()
	if r.heldByOther(s) {
		return heldElsewhere(s)
	}
	if r.Opts.ManagedSaveDir != "" {
		image := filepath.Join(r.Opts.ManagedSaveDir, name+".save")
		if _, err := os.Stat(image); err == nil {
			if err := r.restore(ctx, s, image); err != nil {
				return err
			}
			if err := os.Remove(image); err != nil {
				s.log.Error(err, "remove the managed save image after restoring it", "path", image)
			}
			return nil
		}
	}
	if other := r.Observer.LookupName(name); other != nil && (other.Marker == nil || other.Marker.UUID != s.obj.DomainUUID()) {
		return failf(v1alpha1.FailureNameInUse, "start domain '%s': the name is in use by domain %d, which virtxend does not manage", name, other.Info.DomID)
	}
	if err := r.claim(ctx, s); err != nil {
		return err
	}
	m := newMarker(s.obj, s.cfg)
	id, err := r.HV.CreateDomain(ctx, s.cfg, libxl.CreateOptions{
		Paused:   s.obj.Spec.Paused,
		Userdata: map[string][]byte{MarkerKey: m.encode()},
	})
	if err != nil {
		s.obj.Status.Stopped, s.stopReason = "", "failed"
		return fmt.Errorf("start domain %q: %w", name, err)
	}
	info, err := r.HV.DomainInfo(ctx, id)
	if err != nil {
		return fmt.Errorf("read started domain %q: %w", name, err)
	}
	r.Observer.Record(info, &m)
	s.dom = &Observed{Info: info, Marker: &m}
	s.rt.releaseHeld()
	s.rt.release, s.release = s.release, nil // the running domain holds what its config reserved
	now := metav1.NewTime(s.now)
	s.obj.Status.StartedAt, s.obj.Status.Stopped = &now, ""
	s.rt.shutdownSent = time.Time{}
	s.started = true
	s.log.Info("domain started", "domid", id)
	if err := r.recordLive(ctx, s); err != nil {
		s.log.Error(err, "the started domain has no live definition on disk", "domid", id)
	}
	r.Events.emit(s, EventStarted, detail)
	if s.obj.Spec.Paused {
		r.Events.emit(s, EventSuspended, DetailSuspendedPaused)
	}
	return nil
}

// destroy kills the domain; a domain already gone counts as destroyed.
func (r *XenDomainReconciler) destroy(ctx context.Context, s *scope, detail int) error {
	id := s.dom.Info.DomID
	if err := r.HV.DestroyDomain(ctx, id); err != nil && !errors.Is(err, libxl.ErrNoDomain) {
		return fmt.Errorf("destroy domain %d: %w", id, err)
	}
	r.Observer.Forget(id)
	s.rt.releaseHeld()
	s.log.Info("domain stopped", "domid", id)
	r.Events.emit(s, EventStopped, detail)
	s.dom = nil
	s.rt.shutdownSent = time.Time{}
	return nil
}

// refresh re-reads the domain after the reconciler changed it.
func (r *XenDomainReconciler) refresh(ctx context.Context, s *scope) (*Observed, error) {
	ob, err := r.Observer.Refresh(ctx, s.dom.Info.DomID)
	if err != nil {
		return nil, err
	}
	if ob != nil && ob.Marker == nil {
		ob.Marker = s.dom.Marker
	}
	s.dom = ob
	return ob, nil
}

func orDefault(a, def v1alpha1.LifecycleAction) v1alpha1.LifecycleAction {
	if a == "" {
		return def
	}
	return a
}
