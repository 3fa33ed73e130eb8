package store

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtxend/virtxend/api/v1alpha1"
)

func TestSharedIsAnImmutableSnapshot(t *testing.T) {
	s := newTestStore(t, Options{})
	ctx := context.Background()
	for _, n := range []string{"b", "a", "c"} {
		if err := s.Create(ctx, domain(n)); err != nil {
			t.Fatal(err)
		}
	}
	key := client.ObjectKey{Namespace: "default", Name: "a"}
	before, err := Shared[*v1alpha1.XenDomain](s, key)
	if err != nil || before == nil {
		t.Fatalf("Shared(a) = %v, %v", before, err)
	}
	if again, _ := Shared[*v1alpha1.XenDomain](s, key); again != before {
		t.Fatal("Shared copied the object: two reads gave two objects")
	}
	rv := before.ResourceVersion

	cur := &v1alpha1.XenDomain{}
	if err := s.Get(ctx, key, cur); err != nil {
		t.Fatal(err)
	}
	cur.Spec.Domain.Title = "changed"
	if err := s.Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	if before.Spec.Domain.Title != "" || before.ResourceVersion != rv {
		t.Fatalf("an update changed the snapshot read before it: title %q, resourceVersion %s -> %s",
			before.Spec.Domain.Title, rv, before.ResourceVersion)
	}
	after, _ := Shared[*v1alpha1.XenDomain](s, key)
	if after.Spec.Domain.Title != "changed" {
		t.Fatalf("Shared after the update = title %q", after.Spec.Domain.Title)
	}

	missing, err := Shared[*v1alpha1.XenDomain](s, client.ObjectKey{Namespace: "default", Name: "zz"})
	if err != nil || missing != nil {
		t.Fatalf("Shared(missing) = %v, %v; want nil, nil", missing, err)
	}
	all, err := SharedList[*v1alpha1.XenDomain](s, "default")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range all {
		names = append(names, o.Name)
	}
	if len(names) != 3 || names[0] != "a" || names[1] != "b" || names[2] != "c" {
		t.Fatalf("SharedList = %v, want [a b c]", names)
	}
	if other, _ := SharedList[*v1alpha1.XenDomain](s, "elsewhere"); len(other) != 0 {
		t.Fatalf("SharedList(elsewhere) = %d objects", len(other))
	}
	if _, err := Shared[*corev1.Pod](s, key); err == nil {
		t.Fatal("Shared of a kind the store does not hold gave no error")
	}
}
