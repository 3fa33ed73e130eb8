package store

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtxend/virtxend/api/v1alpha1"
)

// TestMetadataMergePatchIsTheJSONWay checks that the metadata merge patches applied on a copy give what the
// general way through JSON gives, and that other patches are left to the general way.
func TestMetadataMergePatchIsTheJSONWay(t *testing.T) {
	s := newTestStore(t, Options{})
	ks := s.byType[reflect.TypeFor[v1alpha1.XenDomain]()]
	cur := &v1alpha1.XenDomain{}
	cur.Name, cur.Namespace, cur.ResourceVersion, cur.UID = "d", v1alpha1.LocalNamespace, "7", "u"
	cur.Labels = map[string]string{"a": "1", "b": "2"}
	cur.Annotations = map[string]string{"x": "y"}
	cur.Finalizers = []string{"example.com/f"}
	cur.Spec.Domain.Memory.Set(64 << 20)
	cur.GetObjectKind().SetGroupVersionKind(ks.gvk)
	for _, patch := range []string{
		`{"metadata":{"finalizers":["example.com/f","virtxend.io/domain"],"resourceVersion":"7"}}`,
		`{"metadata":{"finalizers":null,"resourceVersion":"7"}}`,
		`{"metadata":{"finalizers":[]}}`,
		`{"metadata":{"labels":{"a":null,"c":"3"}}}`,
		`{"metadata":{"labels":{"a":null,"b":null},"annotations":null}}`,
		`{"metadata":{"annotations":{"x":"z"}}}`,
	} {
		fast, ok := metadataMergePatch(cur, []byte(patch))
		if !ok {
			t.Errorf("%s: not applied on a copy", patch)
			continue
		}
		fast.GetObjectKind().SetGroupVersionKind(ks.gvk)
		slow, err := applyPatchJSON(ks, cur, types.MergePatchType, []byte(patch))
		if err != nil {
			t.Fatal(err)
		}
		if !equality.Semantic.DeepEqual(fast, slow) {
			t.Errorf("%s: on a copy %+v, through JSON %+v", patch, fast.(*v1alpha1.XenDomain).ObjectMeta, slow.(*v1alpha1.XenDomain).ObjectMeta)
		}
	}
	if len(cur.Labels) != 2 || len(cur.Finalizers) != 1 {
		t.Errorf("the stored object changed: %+v", cur.ObjectMeta)
	}
	for _, patch := range []string{
		`{"metadata":{"name":"e"}}`,
		`{"spec":{"runStrategy":"Always"}}`,
		`{"metadata":{"finalizers":"x"}}`,
		`{"metadata":{"labels":{"a":1}}}`,
	} {
		if _, ok := metadataMergePatch(cur, []byte(patch)); ok {
			t.Errorf("%s: applied on a copy, want the general way", patch)
		}
	}
}

// TestSharedByFieldFollowsWrites checks the UUID index through creates, an update that changes the UUID, a
// status write and a delete (SharedByField and HasField), and that an index registered later covers the objects already stored.
func TestSharedByFieldFollowsWrites(t *testing.T) {
	s := newTestStore(t, Options{})
	ctx := context.Background()
	const u1, u2 = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
	names := func(u string) []string {
		objs, err := SharedByField[*v1alpha1.XenDomain](s, FieldDomainUUID, u)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, o := range objs {
			out = append(out, o.Name)
		}
		return out
	}
	for _, n := range []string{"a", "b"} {
		o := &v1alpha1.XenDomain{}
		o.Name, o.Namespace, o.Spec.Domain.UUID = n, v1alpha1.LocalNamespace, u1
		if err := s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if got := names(u1); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("uuid %s: %v, want [a b]", u1, got)
	}
	b := &v1alpha1.XenDomain{}
	if err := s.Get(ctx, types.NamespacedName{Namespace: v1alpha1.LocalNamespace, Name: "b"}, b); err != nil {
		t.Fatal(err)
	}
	b.Spec.Domain.UUID = u2
	if err := s.Update(ctx, b); err != nil {
		t.Fatal(err)
	}
	b.Status.State = v1alpha1.StateRunning
	if err := s.Status().Update(ctx, b); err != nil {
		t.Fatal(err)
	}
	if got1, got2 := names(u1), names(u2); !slices.Equal(got1, []string{"a"}) || !slices.Equal(got2, []string{"b"}) {
		t.Errorf("after b moved: %s has %v, %s has %v; want [a] and [b]", u1, got1, u2, got2)
	}
	if err := s.Delete(ctx, b); err != nil {
		t.Fatal(err)
	}
	if got := names(u2); len(got) != 0 {
		t.Errorf("after b was deleted: %s has %v", u2, got)
	}
	for _, c := range []struct {
		ns, u string
		want  bool
	}{{v1alpha1.LocalNamespace, u1, true}, {"", u1, true}, {"elsewhere", u1, false}, {"", u2, false}} {
		if got, err := HasField[*v1alpha1.XenDomain](s, c.ns, FieldDomainUUID, c.u); err != nil || got != c.want {
			t.Errorf("HasField(%q, %s) = %v, %v; want %v", c.ns, c.u, got, err, c.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = HasField[*v1alpha1.XenDomain](s, "", FieldDomainUUID, u1) }); n != 0 {
		t.Errorf("HasField allocates %.0f times, want 0", n)
	}
	if err := s.IndexField(ctx, &v1alpha1.XenDomain{}, "test/name", func(o client.Object) []string { return []string{o.GetName()} }); err != nil {
		t.Fatal(err)
	}
	if objs, _ := SharedByField[*v1alpha1.XenDomain](s, "test/name", "a"); len(objs) != 1 {
		t.Errorf("an index registered later found %d objects named a, want 1", len(objs))
	}
}
