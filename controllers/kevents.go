package controllers

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
)

// Reasons of the Kubernetes Events recorded on XenDomain objects (fleet mode), one per transition.
const (
	EventReasonStarted        = "Started"
	EventReasonStopped        = "Stopped"
	EventReasonCrashed        = "Crashed"
	EventReasonSuspended      = "Suspended"
	EventReasonResumed        = "Resumed"
	EventReasonRestarted      = "Restarted"
	EventReasonDriftCorrected = "DriftCorrected"
	EventReasonDriftDetected  = "DriftDetected"
	EventReasonBackOff        = "BackOff"
)

// SetRecorder makes the log also record each transition as a Kubernetes Event on the domain's object (fleet
// mode: the manager's events.k8s.io recorder). Call it before the reconciler starts; nil records none.
func (l *EventLog) SetRecorder(rec events.EventRecorder) { l.rec = rec }

// record records a Kubernetes Event on the object of s, when the log has a recorder. The recorder sends in the
// background and drops what it cannot send, so an unreachable API server never slows a reconcile.
func (l *EventLog) record(s *scope, eventType, reason, note string) {
	if l == nil || l.rec == nil {
		return
	}
	l.rec.Eventf(s.obj, nil, eventType, reason, reason, "%s", note)
}

// recordLifecycle records a libvirt lifecycle event as a Kubernetes Event.
func (l *EventLog) recordLifecycle(s *scope, event, detail int) {
	if l == nil || l.rec == nil {
		return
	}
	id := "-"
	if s.dom != nil {
		id = fmt.Sprint(s.dom.Info.DomID)
	}
	typ, reason, note := corev1.EventTypeNormal, "", ""
	switch event {
	case EventStarted:
		reason, note = EventReasonStarted, fmt.Sprintf("domain %s started (domid %s)", s.obj.DomainName(), id)
	case EventStopped:
		reason, note = EventReasonStopped, fmt.Sprintf("domain %s stopped (%s)", s.obj.DomainName(), stoppedDetail(detail))
		if detail == DetailStoppedCrashed || detail == DetailStoppedFailed {
			typ, reason = corev1.EventTypeWarning, EventReasonCrashed
		}
	case EventCrashed:
		typ, reason, note = corev1.EventTypeWarning, EventReasonCrashed, fmt.Sprintf("domain %s crashed", s.obj.DomainName())
	case EventSuspended:
		reason, note = EventReasonSuspended, fmt.Sprintf("domain %s paused", s.obj.DomainName())
	case EventResumed:
		reason, note = EventReasonResumed, fmt.Sprintf("domain %s resumed", s.obj.DomainName())
	default:
		return
	}
	l.record(s, typ, reason, note)
}

func stoppedDetail(detail int) string {
	switch detail {
	case DetailStoppedShutdown:
		return "shut down"
	case DetailStoppedDestroyed:
		return "destroyed"
	case DetailStoppedCrashed:
		return "crashed"
	case DetailStoppedSaved:
		return "saved"
	case DetailStoppedFailed:
		return "failed"
	}
	return "stopped"
}
