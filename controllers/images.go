package controllers

import (
	"context"
	"errors"
	"fmt"
	"os"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/virtxend/virtxend/api/domxml"
	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/libxl"
)

// save writes the running domain to path in libvirt's save format (header, domain XML, hypervisor stream) and
// stops it. libxl suspends the guest, so a paused domain cannot be saved.
func (r *XenDomainReconciler) save(ctx context.Context, s *scope, path string) error {
	if s.dom.Info.State == libxl.StatePaused {
		return failf(v1alpha1.FailureOperationInvalid, "Domain '%d' has to be running because libxenlight will suspend it", s.dom.Info.DomID)
	}
	// The image carries the live definition, as libvirt saves vm->def.
	var spec *v1alpha1.DomainSpec
	if err := r.ensureLive(ctx, s); err == nil {
		spec = s.live.Domain.DeepCopy()
	} else {
		spec = s.obj.Spec.Domain.DeepCopy()
	}
	spec.Name, spec.UUID = s.obj.DomainName(), s.obj.DomainUUID()
	xml, err := domxml.Format(spec, domxml.FormatOptions{DomID: int(s.dom.Info.DomID)})
	if err != nil {
		return fmt.Errorf("format domain XML: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return &ActionError{Failure: v1alpha1.FailureSaveFile, Msg: fmt.Sprintf("failed to create domain save file '%s'", path), Err: err}
	}
	defer f.Close()
	if err := WriteSaveHeader(f, xml); err != nil {
		os.Remove(path)
		return fmt.Errorf("failed to write save file header: %w", err)
	}
	id := s.dom.Info.DomID
	if err := r.HV.SaveDomain(ctx, id, f); err != nil {
		os.Remove(path)
		return fmt.Errorf("failed to save domain '%d' with libxenlight: %w", id, err)
	}
	r.Observer.Forget(id)
	s.rt.releaseHeld()
	r.Events.emit(s, EventStopped, DetailStoppedSaved)
	s.dom = nil
	s.obj.Status.Stopped, s.stopReason = stoppedSaved, "saved"
	s.log.Info("domain saved", "domid", id, "path", path)
	return nil
}

// restore starts the domain from a save image written by save (or by libvirt's libxl driver).
func (r *XenDomainReconciler) restore(ctx context.Context, s *scope, path string) error {
	if s.cfg == nil {
		return s.cfgErr // the spec does not build: nothing to restore it with
	}
	name := s.obj.DomainName()
	if other := r.Observer.LookupName(name); other != nil {
		return failf(v1alpha1.FailureNameInUse, "restore domain '%s': the name is in use by domain %d", name, other.Info.DomID)
	}
	if err := r.claim(ctx, s); err != nil {
		return err
	}
	f, err := OpenSaveImage(path)
	if err != nil {
		return &ActionError{Failure: v1alpha1.FailureSaveFile, Msg: fmt.Sprintf("cannot read domain image '%s'", path), Err: err}
	}
	defer f.Close()
	if _, err := ReadSaveHeader(f); err != nil {
		return &ActionError{Failure: v1alpha1.FailureBadImage, Msg: fmt.Sprintf("cannot read domain image '%s'", path), Err: err}
	}
	m := newMarker(s.obj, s.cfg)
	id, err := r.HV.RestoreDomain(ctx, s.cfg, f, libxl.CreateOptions{
		Paused: s.obj.Spec.Paused, Userdata: map[string][]byte{MarkerKey: m.encode()},
	})
	if err != nil {
		return fmt.Errorf("libxenlight failed to restore domain '%s': %w", name, err)
	}
	info, err := r.HV.DomainInfo(ctx, id)
	if err != nil {
		return fmt.Errorf("read restored domain %q: %w", name, err)
	}
	r.Observer.Record(info, &m)
	s.dom = &Observed{Info: info, Marker: &m}
	s.rt.releaseHeld()
	s.rt.release, s.release = s.release, nil
	now := metav1.NewTime(s.now)
	s.obj.Status.StartedAt, s.obj.Status.Stopped, s.started = &now, "", true
	r.Events.emit(s, EventStarted, DetailStartedRestored)
	if s.obj.Spec.Paused {
		r.Events.emit(s, EventSuspended, DetailSuspendedRestored)
	}
	s.log.Info("domain restored", "domid", id, "path", path)
	if err := r.recordLive(ctx, s); err != nil {
		s.log.Error(err, "the restored domain has no live definition on disk", "domid", id)
	}
	return nil
}

// dump writes the domain's memory to a.Path. Without Live a running domain is paused while it is dumped; with
// Crash it is destroyed afterwards.
func (r *XenDomainReconciler) dump(ctx context.Context, s *scope, a *v1alpha1.DomainAction) error {
	id := s.dom.Info.DomID
	pause := !a.Live && s.dom.Info.State != libxl.StatePaused
	if pause {
		if err := r.HV.PauseDomain(ctx, id); err != nil {
			return fmt.Errorf("before dumping core, failed to suspend domain '%d' with libxenlight: %w", id, err)
		}
	}
	err := r.HV.CoreDump(ctx, id, a.Path)
	if pause && !a.Crash {
		if uerr := r.HV.UnpauseDomain(ctx, id); uerr != nil {
			err = errors.Join(err, fmt.Errorf("after dumping core, failed to resume domain '%d' with libxenlight: %w", id, uerr))
		}
	}
	if err != nil {
		return fmt.Errorf("failed to dump core of domain '%d' with libxenlight: %w", id, err)
	}
	if a.Crash {
		if err := r.destroy(ctx, s, DetailStoppedCrashed); err != nil {
			return err
		}
		s.obj.Status.Stopped, s.stopReason = stoppedCrashed, "crashed"
	}
	return nil
}
