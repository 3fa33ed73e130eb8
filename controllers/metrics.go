package controllers

import (
	"time"

	"github.com/virtxend/virtxend/api/v1alpha1"
)

// Metrics receives what the reconciler does, for the metrics endpoint (daemon/metrics implements it). Its
// methods must be cheap and safe for concurrent use; a nil Metrics on the reconciler counts nothing.
type Metrics interface {
	// Reconciled is called after each reconcile with the object as its status was written and the outcome:
	// "success", "requeue" or "error".
	Reconciled(obj *v1alpha1.XenDomain, outcome string)
	// DriftDetected is called when a reconcile finds the running domain departing from its live definition (or
	// destroyed behind virtxend's back); corrected tells whether it was put back (driftPolicy Enforce).
	DriftDetected(corrected bool)
	// CrashRestart is called when a domain that stopped unrequested is started again.
	CrashRestart()
	// BackoffDelayed is called when a crash-looping domain's restart is delayed by d.
	BackoffDelayed(d time.Duration)
}

// noMetrics counts nothing.
type noMetrics struct{}

func (noMetrics) Reconciled(*v1alpha1.XenDomain, string) {}
func (noMetrics) DriftDetected(bool)                     {}
func (noMetrics) CrashRestart()                          {}
func (noMetrics) BackoffDelayed(time.Duration)           {}

func (r *XenDomainReconciler) metrics() Metrics {
	if r.Metrics == nil {
		return noMetrics{}
	}
	return r.Metrics
}

// outcome names a reconcile's result for Metrics.Reconciled.
func outcome(requeue bool, err error) string {
	switch {
	case err != nil:
		return "error"
	case requeue:
		return "requeue"
	}
	return "success"
}
