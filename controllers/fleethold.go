package controllers

import (
	"context"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/virtxend/virtxend/api/v1alpha1"
)

// In fleet mode an object may be moved to another node by editing spec.nodeName. Its domain must never run on two
// hosts, so a node holds the object while the domain exists on its host:
//   - The finalizer is the hold. A node adds it right before it creates the domain, with a write on the version of
//     the object it read: once the object has moved on (a new resourceVersion; a node the admission policy no
//     longer lets write it), the API server refuses the write and nothing starts. The node takes the finalizer
//     off once the domain is shut off there, after the status saying so. (In local mode the finalizer is added at
//     the first reconcile, as before.)
//   - status.nodeName names the node whose host holds the domain, written with the rest of the status.
//   - The admission policy (config/fleet/admission-policy.yaml, virtxend-move-guard) refuses to move spec.nodeName
//     while the object is held; and, whatever the policy, a node does not start a domain whose status names another
//     node.
// Holding costs no write of its own: the finalizer is written once per start either way.

// fleetHold says whether the reconciler holds objects only while their domain exists (fleet mode).
func (r *XenDomainReconciler) fleetHold() bool { return r.Opts.Node != "" }

// claim adds the finalizer, on the version of the object read, before the domain is created here; it fails when
// another node holds the domain or the object changed since it was read.
func (r *XenDomainReconciler) claim(ctx context.Context, s *scope) error {
	if !r.fleetHold() {
		return nil
	}
	if r.heldByOther(s) {
		return heldElsewhere(s)
	}
	if hasFinalizer(s.obj) {
		return nil
	}
	readRV, status := s.obj.ResourceVersion, s.obj.Status
	controllerutil.AddFinalizer(s.obj, Finalizer)
	if err := r.Client.Patch(ctx, s.obj, finalizerPatch(s.obj)); err != nil {
		controllerutil.RemoveFinalizer(s.obj, Finalizer)
		return fmt.Errorf("hold domain '%s' for node %s before starting it: %w", s.obj.DomainName(), r.Opts.Node, err)
	}
	s.obj.Status = status // the patch returns the stored object, whose status this reconcile is rewriting
	r.mu.Lock()
	s.rt.supersede(readRV)
	r.mu.Unlock()
	return nil
}

// unhold takes the finalizer off once the domain is gone from this host and the status written says so; when the
// write fails, the reconcile comes back to it.
func (r *XenDomainReconciler) unhold(ctx context.Context, s *scope, res ctrl.Result) ctrl.Result {
	if !r.fleetHold() || s.dom != nil || !hasFinalizer(s.obj) || !s.obj.DeletionTimestamp.IsZero() || s.obj.Status.NodeName != "" {
		return res
	}
	readRV := s.obj.ResourceVersion
	controllerutil.RemoveFinalizer(s.obj, Finalizer)
	if err := r.Client.Patch(ctx, s.obj, finalizerPatch(s.obj)); err != nil {
		controllerutil.AddFinalizer(s.obj, Finalizer)
		s.log.V(1).Info("release the shut-off domain's object: again shortly", "error", err.Error())
		return ctrl.Result{RequeueAfter: time.Second}
	}
	r.mu.Lock()
	s.rt.supersede(readRV)
	r.mu.Unlock()
	return res
}

// heldElsewhere is the refusal to start a domain another node holds.
func heldElsewhere(s *scope) error {
	return failf(v1alpha1.FailureOperationInvalid,
		"domain '%s' is held by node %s (status.nodeName of %s/%s): it starts here once that node has shut it off",
		s.obj.DomainName(), s.orig.NodeName, s.obj.Namespace, s.obj.Name)
}

// heldByOther says whether another node holds the domain while this host has none.
func (r *XenDomainReconciler) heldByOther(s *scope) bool {
	return r.fleetHold() && s.dom == nil && s.orig.NodeName != "" && s.orig.NodeName != r.Opts.Node
}

// nodeStatus sets status.nodeName from what this host holds: this node while the domain exists here, nothing once
// it is gone; another node's hold stays, with the state that node reported.
func (r *XenDomainReconciler) nodeStatus(s *scope) {
	st := &s.obj.Status
	switch {
	case !r.fleetHold():
	case s.dom != nil:
		st.NodeName = r.Opts.Node
	case r.heldByOther(s):
		st.NodeName, st.State, st.Reason, st.DomID = s.orig.NodeName, s.orig.State, s.orig.Reason, s.orig.DomID
	default:
		st.NodeName = ""
	}
}
