package controllers

import (
	"errors"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/libxl"
)

// computeStatus derives the whole status from the domain as last seen and the outcome of this reconcile.
func (r *XenDomainReconciler) computeStatus(s *scope, rerr error) {
	st := &s.obj.Status
	st.ObservedGeneration = s.obj.Generation
	if s.dom != nil {
		id := int32(s.dom.Info.DomID)
		st.DomID, st.UUID = &id, s.dom.Info.UUID
		prev := s.orig
		if s.started {
			prev = v1alpha1.XenDomainStatus{State: v1alpha1.StateShutoff}
		}
		st.State, st.Reason = libvirtState(s.dom.Info, prev)
		if st.StartedAt == nil && !s.dom.Info.Created.IsZero() {
			// Adopted after a daemon restart: the run began when the domain was built.
			t := metav1.NewTime(s.dom.Info.Created)
			st.StartedAt = &t
		}
	} else {
		st.DomID = nil
		st.State = v1alpha1.StateShutoff
		switch {
		case s.stopReason != "":
			st.Reason = s.stopReason
		case s.orig.State == v1alpha1.StateShutoff && s.orig.Reason != "":
			st.Reason = s.orig.Reason
		case s.orig.State != "" && s.orig.State != v1alpha1.StateShutoff:
			st.Reason = "destroyed" // it vanished: destroyed behind our back
		default:
			st.Reason = "unknown"
		}
	}
	if rerr != nil {
		st.LastError = rerr.Error()
	} else {
		st.LastError = ""
	}
	if st.BackoffUntil != nil && s.dom != nil {
		st.BackoffUntil = nil
	}
	r.nodeStatus(s)
	r.setConditions(s, rerr)
}

// libvirtState maps what Xen reports to libvirt's state and reason.
func libvirtState(info libxl.DomainInfo, prev v1alpha1.XenDomainStatus) (v1alpha1.DomainState, string) {
	switch info.State {
	case libxl.StatePaused:
		if prev.State == v1alpha1.StatePaused {
			return v1alpha1.StatePaused, prev.Reason
		}
		if prev.State == "" {
			return v1alpha1.StatePaused, "unknown"
		}
		return v1alpha1.StatePaused, "user"
	case libxl.StateShutdown:
		if info.ShutdownReason == libxl.ShutdownCrash {
			return v1alpha1.StateCrashed, "panicked"
		}
		return v1alpha1.StateShutdown, "user"
	case libxl.StateCrashed:
		return v1alpha1.StateCrashed, "panicked"
	case libxl.StateDying:
		return v1alpha1.StateShutdown, "destroyed"
	}
	switch prev.State {
	case v1alpha1.StateRunning:
		return v1alpha1.StateRunning, prev.Reason
	case v1alpha1.StatePaused:
		return v1alpha1.StateRunning, "unpaused"
	case "":
		return v1alpha1.StateRunning, "unknown" // adopted after a daemon restart, as libvirt reports it
	}
	return v1alpha1.StateRunning, "booted"
}

func (r *XenDomainReconciler) setConditions(s *scope, rerr error) {
	obj := s.obj
	gen := obj.Generation
	set := func(t string, status metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(&obj.Status.Conditions, metav1.Condition{
			Type: t, Status: status, Reason: reason, Message: msg, ObservedGeneration: gen,
		})
	}
	running := s.dom != nil
	want := r.wantRunning(s)
	if obj.Spec.RunStrategy == v1alpha1.RunStrategyManual {
		want = running // Manual asks for nothing by itself
	}

	// Degraded: the spec cannot be met.
	srcErr := obj.Annotations[v1alpha1.AnnotationSourceError]
	switch {
	case rerr != nil && errors.Is(rerr, reconcile.TerminalError(nil)):
		set(v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonInvalidSpec, rerr.Error())
	case rerr != nil:
		set(v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonStartFailed, rerr.Error())
	case obj.Status.BackoffUntil != nil:
		set(v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonCrashLoop,
			"restarting too often: next restart at "+obj.Status.BackoffUntil.UTC().Format("15:04:05"))
	case srcErr != "":
		set(v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonSourceError,
			"the source file no longer parses; running the last good version: "+srcErr)
	default:
		set(v1alpha1.ConditionDegraded, metav1.ConditionFalse, v1alpha1.ReasonAsExpected, "")
	}

	// Drifted: the running domain departs from its spec.
	if len(s.drift) > 0 {
		set(v1alpha1.ConditionDrifted, metav1.ConditionTrue, v1alpha1.ReasonDriftDetected, strings.Join(s.drift, "; "))
	} else {
		set(v1alpha1.ConditionDrifted, metav1.ConditionFalse, v1alpha1.ReasonNoDrift, "")
	}

	// RestartRequired: spec changes the running domain takes only at its next start.
	switch {
	case s.dom != nil && len(s.restartFields) > 0:
		set(v1alpha1.ConditionRestartRequired, metav1.ConditionTrue, v1alpha1.ReasonPendingFields,
			"changed fields that apply at the next start: "+strings.Join(s.restartFields, ", "))
	case s.dom != nil && s.live == nil && meta.FindStatusCondition(s.orig.Conditions, v1alpha1.ConditionRestartRequired) != nil:
		// Not looked at in this reconcile (it ended early): keep what was reported.
	default:
		meta.RemoveStatusCondition(&obj.Status.Conditions, v1alpha1.ConditionRestartRequired)
	}

	// Ready and Progressing: is the domain where its spec wants it?
	ready := want == running && rerr == nil && obj.Status.BackoffUntil == nil && len(s.drift) == 0
	reason, msg := v1alpha1.ReasonStopped, "the domain is shut off"
	if running {
		reason, msg = v1alpha1.ReasonRunning, "the domain is "+string(obj.Status.State)
	}
	if ready {
		set(v1alpha1.ConditionReady, metav1.ConditionTrue, reason, msg)
		set(v1alpha1.ConditionProgressing, metav1.ConditionFalse, v1alpha1.ReasonAsExpected, "")
		return
	}
	set(v1alpha1.ConditionReady, metav1.ConditionFalse, reason, msg)
	prog := v1alpha1.ReasonStarting
	if !want {
		prog = v1alpha1.ReasonStopping
	}
	if rerr != nil {
		set(v1alpha1.ConditionProgressing, metav1.ConditionFalse, prog, "blocked: see Degraded")
		return
	}
	set(v1alpha1.ConditionProgressing, metav1.ConditionTrue, prog, "")
}
