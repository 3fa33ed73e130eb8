package controllers

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/libxl"
)

// A pause or resume asked of a domain that is in that state already, while the reconciler's observation still
// says otherwise (a resume of a running domain, as `virsh resume` of one asks), is done: no error (which the
// controller would log as a reconciler ERROR and retry), no lifecycle event, as libvirt's libxlDomainResume
// and libxlDomainSuspend leave such a domain alone.
func TestPauseOfADomainAlreadyThere(t *testing.T) {
	for _, tc := range []struct {
		name     string
		paused   bool // the state the domain is in, and the one asked for
		observed libxl.State
	}{
		{"resume of a running domain", false, libxl.StatePaused},
		{"suspend of a paused domain", true, libxl.StateRunning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "", Options{})
			obj := pvDomain("p", v1alpha1.RunStrategyAlways)
			obj.Spec.Paused = tc.paused
			e.create(obj)
			want := v1alpha1.StateRunning
			if tc.paused {
				want = v1alpha1.StatePaused
			}
			e.waitState("p", want)
			e.stop() // the reconciler is called directly from here on; the simulated domain stays

			ctx := context.Background()
			cur := &v1alpha1.XenDomain{}
			if err := e.store.Get(ctx, types.NamespacedName{Namespace: v1alpha1.LocalNamespace, Name: "p"}, cur); err != nil {
				t.Fatal(err)
			}
			ob := e.obs.Lookup(cur.DomainUUID())
			if ob == nil || ob.Marker == nil {
				t.Fatalf("no observation of p: %+v", ob)
			}
			stale := *ob
			stale.Info.State = tc.observed
			m := *ob.Marker
			m.Paused = !tc.paused // the marker says the other state was asked last: this is a request
			stale.Marker = &m
			for drained := false; !drained; {
				select {
				case <-e.events:
				default:
					drained = true
				}
			}

			s := &scope{obj: cur, dom: &stale, log: logr.Discard(), now: time.Now()}
			if err := e.rec.applyPaused(ctx, s); err != nil {
				t.Fatalf("applyPaused: %v", err)
			}
			select {
			case ev := <-e.events:
				t.Errorf("lifecycle event %+v for a domain already in its state", ev)
			default:
			}
			if s.dom == nil || (s.dom.Info.State == libxl.StatePaused) != tc.paused {
				t.Errorf("the scope was not brought up to date: %+v", s.dom)
			}
		})
	}
}
