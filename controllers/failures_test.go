package controllers

import (
	"errors"
	"fmt"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/libxl"
)

func TestClassify(t *testing.T) {
	build := func(kind error, msg string) error {
		return reconcile.TerminalError(fmt.Errorf("invalid domain definition: %w", &libxl.BuildError{Kind: kind, Msg: msg}))
	}
	tests := []struct {
		name    string
		err     error
		failure v1alpha1.ActionFailure
		msg     string
	}{
		{"already running", errAlreadyRunning, v1alpha1.FailureAlreadyRunning, "Domain is already running"},
		{"not running", errNotRunning, v1alpha1.FailureNotRunning, "domain is not running"},
		{"action error with a cause", &ActionError{Failure: v1alpha1.FailureSaveFile, Msg: "failed to create domain save file '/x'", Err: errors.New("permission denied")},
			v1alpha1.FailureSaveFile, "failed to create domain save file '/x': permission denied"},
		{"network", build(libxl.ErrNoNetwork, "no network with matching name 'default'"), v1alpha1.FailureNetworkNotFound, "no network with matching name 'default'"},
		{"unsupported", build(libxl.ErrUnsupportedConfig, "unsupported interface type user"), v1alpha1.FailureUnsupportedConfig, "unsupported interface type user"},
		{"operation invalid", build(libxl.ErrOperationInvalid, "x"), v1alpha1.FailureOperationInvalid, "x"},
		{"internal", build(libxl.ErrInternal, "libxenlight does not support disk format qed"), v1alpha1.FailureInvalidConfig, "libxenlight does not support disk format qed"},
		{"no memory", fmt.Errorf("start domain %q: %w", "g", libxl.ErrNoMemory), v1alpha1.FailureNoMemory, `start domain "g": not enough free memory`},
		{"gone", fmt.Errorf("destroy: %w", libxl.ErrNoDomain), v1alpha1.FailureNotRunning, "domain is not running"},
		{"other", errors.New("libxl said no"), v1alpha1.FailureHypervisorError, "libxl said no"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, msg := classify(tc.err)
			if f != tc.failure || msg != tc.msg {
				t.Fatalf("classify = %q, %q; want %q, %q", f, msg, tc.failure, tc.msg)
			}
		})
	}
}

// TestInvalidSpecAnswersActions: a spec that does not build still gets its actions answered at once: a start
// with the build's reason, a destroy with "not running"; the object is Degraded.
func TestInvalidSpecAnswersActions(t *testing.T) {
	e := newEnv(t, "", Options{})
	d := pvDomain("n", v1alpha1.RunStrategyManual)
	d.Spec.Domain.Devices.Interfaces = []v1alpha1.Interface{{Type: "network", MAC: "00:16:3e:00:00:01",
		Source: &v1alpha1.InterfaceSource{Network: "default"}}}
	e.create(d)
	act := func(id string, verb v1alpha1.ActionVerb) *v1alpha1.ActionResult {
		e.update("n", func(d *v1alpha1.XenDomain) { d.Spec.Action = &v1alpha1.DomainAction{ID: id, Verb: verb} })
		return e.waitFor("n", "action "+id, func(d *v1alpha1.XenDomain) bool {
			return d.Status.LastAction != nil && d.Status.LastAction.ID == id
		}).Status.LastAction
	}
	if r := act("1", v1alpha1.VerbStart); r.Reason != v1alpha1.FailureNetworkNotFound || r.Error != "no network with matching name 'default'" {
		t.Fatalf("start: %+v", r)
	}
	if r := act("2", v1alpha1.VerbDestroy); r.Reason != v1alpha1.FailureNotRunning {
		t.Fatalf("destroy: %+v", r)
	}
	got := e.waitFor("n", "Degraded", func(d *v1alpha1.XenDomain) bool {
		return condIs(d, v1alpha1.ConditionDegraded, "True", v1alpha1.ReasonInvalidSpec)
	})
	if got.Status.DomID != nil {
		t.Fatalf("the domain runs: %+v", got.Status)
	}
}
