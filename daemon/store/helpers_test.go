package store

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtxend/virtxend/api/v1alpha1"
)

func newTestStore(t testing.TB, opts Options) *Store {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC) }
	}
	s, err := New(scheme, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// domain returns a XenDomain in namespace "default", changed by the mutators.
func domain(name string, mutate ...func(*v1alpha1.XenDomain)) *v1alpha1.XenDomain {
	d := &v1alpha1.XenDomain{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: v1alpha1.XenDomainSpec{
			Domain: v1alpha1.DomainSpec{
				Memory: resource.MustParse("512Mi"),
				OS:     v1alpha1.OS{Type: "xen"},
			},
			RunStrategy: v1alpha1.RunStrategyManual,
		},
	}
	for _, m := range mutate {
		m(d)
	}
	return d
}

func withLabels(kv ...string) func(*v1alpha1.XenDomain) {
	return func(d *v1alpha1.XenDomain) {
		d.Labels = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			d.Labels[kv[i]] = kv[i+1]
		}
	}
}

func withNode(n string) func(*v1alpha1.XenDomain) {
	return func(d *v1alpha1.XenDomain) { d.Spec.NodeName = n }
}

func withFinalizers(f ...string) func(*v1alpha1.XenDomain) {
	return func(d *v1alpha1.XenDomain) { d.Finalizers = f }
}

func mustCreate(t testing.TB, s *Store, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := s.Create(context.Background(), o); err != nil {
			t.Fatalf("create %s: %v", o.GetName(), err)
		}
	}
}

func mustGet(t testing.TB, s *Store, name string) *v1alpha1.XenDomain {
	t.Helper()
	d := &v1alpha1.XenDomain{}
	if err := s.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: name}, d); err != nil {
		t.Fatalf("get %s: %v", name, err)
	}
	return d
}
