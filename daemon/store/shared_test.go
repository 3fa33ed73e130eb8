package store

import (
	"context"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
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

// TestObjectsShareEqualLabels: objects created with equal labels share one map, which no caller can reach to
// change (Get gives copies); an update that keeps an object's labels or annotations keeps its maps, and one
// that changes them gives it its own.
func TestObjectsShareEqualLabels(t *testing.T) {
	s := newTestStore(t, Options{})
	ctx := context.Background()
	same := func(a, b map[string]string) bool {
		return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
	}
	shared := func(name string) *v1alpha1.XenDomain {
		o, err := Shared[*v1alpha1.XenDomain](s, types.NamespacedName{Namespace: v1alpha1.LocalNamespace, Name: name})
		if err != nil || o == nil {
			t.Fatalf("%s: %v, %v", name, o, err)
		}
		return o
	}
	for _, n := range []string{"a", "b", "c"} {
		o := &v1alpha1.XenDomain{}
		o.Name, o.Namespace = n, v1alpha1.LocalNamespace
		o.Labels = map[string]string{v1alpha1.LabelSource: v1alpha1.SourceKindFile}
		o.Annotations = map[string]string{"note": n}
		if n == "c" {
			o.Labels["extra"] = "1"
		}
		if err := s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	a, b, c := shared("a"), shared("b"), shared("c")
	if !same(a.Labels, b.Labels) || same(a.Labels, c.Labels) {
		t.Fatalf("equal labels shared: %v, different ones shared: %v", same(a.Labels, b.Labels), same(a.Labels, c.Labels))
	}
	got := &v1alpha1.XenDomain{}
	if err := s.Get(ctx, client.ObjectKeyFromObject(a), got); err != nil {
		t.Fatal(err)
	}
	got.Labels["changed"] = "by a reader"
	if len(shared("b").Labels) != 1 {
		t.Fatal("a change to a copy reached another object's labels")
	}
	got.Spec.RunStrategy = v1alpha1.RunStrategyHalted
	delete(got.Labels, "changed")
	if err := s.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	if a2 := shared("a"); !same(a2.Labels, a.Labels) || !same(a2.Annotations, a.Annotations) {
		t.Error("an update that kept the labels and annotations did not keep their maps")
	}
	got.Labels["changed"] = "now"
	got.Annotations["note"] = "new"
	if err := s.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	if a3 := shared("a"); same(a3.Labels, b.Labels) || a3.Labels["changed"] != "now" || a3.Annotations["note"] != "new" || len(shared("b").Labels) != 1 {
		t.Errorf("after changing a's labels and annotations: a %v %v, b %v", a3.Labels, a3.Annotations, shared("b").Labels)
	}
}
