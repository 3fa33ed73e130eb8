package store

import (
	"context"
	"strconv"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtxend/virtxend/api/v1alpha1"
)

func TestCreate(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		obj     *v1alpha1.XenDomain
		prepare []*v1alpha1.XenDomain
		check   func(error) bool
	}{
		{name: "new", obj: domain("a")},
		{name: "exists", obj: domain("a"), prepare: []*v1alpha1.XenDomain{domain("a")}, check: apierrors.IsAlreadyExists},
		{name: "same name other namespace", obj: domain("a", func(d *v1alpha1.XenDomain) { d.Namespace = "other" }),
			prepare: []*v1alpha1.XenDomain{domain("a")}},
		{name: "resourceVersion set", obj: domain("a", func(d *v1alpha1.XenDomain) { d.ResourceVersion = "7" }), check: apierrors.IsBadRequest},
		{name: "no name", obj: domain(""), check: apierrors.IsInvalid},
		{name: "generateName", obj: domain("", func(d *v1alpha1.XenDomain) { d.GenerateName = "gen-" })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestStore(t, Options{})
			for _, p := range tt.prepare {
				mustCreate(t, s, p)
			}
			in := tt.obj.DeepCopy()
			in.Status.State = v1alpha1.StateRunning // dropped: status is a subresource
			err := s.Create(ctx, in)
			if tt.check != nil {
				if !tt.check(err) {
					t.Fatalf("Create: got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if in.UID == "" || in.ResourceVersion == "" || in.Generation != 1 || in.CreationTimestamp.IsZero() {
				t.Errorf("server fields not set: uid=%q rv=%q gen=%d created=%v", in.UID, in.ResourceVersion, in.Generation, in.CreationTimestamp)
			}
			if in.Status.State != "" {
				t.Errorf("status kept on create: %q", in.Status.State)
			}
			if in.Kind != "XenDomain" || in.APIVersion != "virtxend.io/v1alpha1" {
				t.Errorf("TypeMeta = %v", in.TypeMeta)
			}
			if tt.obj.GenerateName != "" && (len(in.Name) != len(tt.obj.GenerateName)+5 || in.Name[:len(tt.obj.GenerateName)] != tt.obj.GenerateName) {
				t.Errorf("generated name %q", in.Name)
			}
			got := &v1alpha1.XenDomain{}
			if err := s.Get(ctx, client.ObjectKeyFromObject(in), got); err != nil {
				t.Fatalf("Get: %v", err)
			}
			if got.UID != in.UID || got.ResourceVersion != in.ResourceVersion {
				t.Errorf("Get = %s/%s, created %s/%s", got.UID, got.ResourceVersion, in.UID, in.ResourceVersion)
			}
		})
	}
}

// TestCreateKeepsCallerUID checks the local-mode identity contract: a uid set by the caller (the domain UUID)
// is kept, and is unique within the kind while its object exists.
func TestCreateKeepsCallerUID(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	const id = "6a1d2c3e-7f40-4b5a-9c61-2e8f0d4b7a10"
	web := domain("web", func(d *v1alpha1.XenDomain) { d.UID = id })
	mustCreate(t, s, web)
	if got := mustGet(t, s, "web"); got.UID != id || web.UID != id {
		t.Fatalf("uid %q (copied back %q), want %s", got.UID, web.UID, id)
	}
	if err := s.Create(ctx, domain("db", func(d *v1alpha1.XenDomain) { d.UID = id })); !apierrors.IsInvalid(err) {
		t.Fatalf("second object with the same uid: %v", err)
	}
	if err := s.Get(ctx, client.ObjectKey{Namespace: "default", Name: "db"}, &v1alpha1.XenDomain{}); !apierrors.IsNotFound(err) {
		t.Fatalf("refused object stored: %v", err)
	}
	if err := s.Delete(ctx, web); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, domain("db", func(d *v1alpha1.XenDomain) { d.UID = id })) // free again
}

func TestGetNotFoundAndUnknownKind(t *testing.T) {
	s := newTestStore(t, Options{})
	err := s.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "nope"}, &v1alpha1.XenDomain{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("Get missing: %v", err)
	}
	cm := &unstructured.Unstructured{}
	cm.SetAPIVersion("v1")
	cm.SetKind("ConfigMap")
	if err := s.Get(context.Background(), client.ObjectKey{Name: "x"}, cm); !meta.IsNoMatchError(err) {
		t.Fatalf("Get of an unregistered kind: %v", err)
	}
}

func TestUpdate(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		change    func(d *v1alpha1.XenDomain)
		check     func(error) bool
		wantGen   int64
		wantWrite bool
	}{
		{name: "spec change bumps generation", change: func(d *v1alpha1.XenDomain) { d.Spec.Autostart = true }, wantGen: 2, wantWrite: true},
		{name: "label change keeps generation", change: func(d *v1alpha1.XenDomain) { d.Labels = map[string]string{"a": "b"} }, wantGen: 1, wantWrite: true},
		{name: "annotation change keeps generation", change: func(d *v1alpha1.XenDomain) { d.Annotations = map[string]string{"a": "b"} }, wantGen: 1, wantWrite: true},
		{name: "equal quantity is no change", change: func(d *v1alpha1.XenDomain) { d.Spec.Domain.Memory = resource.MustParse("524288Ki") }, wantGen: 1},
		{name: "status ignored", change: func(d *v1alpha1.XenDomain) { d.Status.State = v1alpha1.StateRunning }, wantGen: 1},
		{name: "no change", change: func(d *v1alpha1.XenDomain) {}, wantGen: 1},
		{name: "server fields ignored", change: func(d *v1alpha1.XenDomain) { d.Generation = 40; d.CreationTimestamp = metav1.Time{} }, wantGen: 1},
		{name: "stale resourceVersion", change: func(d *v1alpha1.XenDomain) { d.ResourceVersion = "1"; d.Spec.Paused = true }, check: apierrors.IsConflict},
		{name: "empty resourceVersion is unconditional", change: func(d *v1alpha1.XenDomain) { d.ResourceVersion = ""; d.Spec.Paused = true }, wantGen: 2, wantWrite: true},
		{name: "wrong uid", change: func(d *v1alpha1.XenDomain) { d.UID = types.UID("x") }, check: apierrors.IsConflict},
		{name: "missing", change: func(d *v1alpha1.XenDomain) { d.Name = "nope" }, check: apierrors.IsNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestStore(t, Options{})
			mustCreate(t, s, domain("other"), domain("a")) // "a" is at resourceVersion 2
			before := mustGet(t, s, "a")
			d := before.DeepCopy()
			tt.change(d)
			err := s.Update(ctx, d)
			if tt.check != nil {
				if !tt.check(err) {
					t.Fatalf("Update: got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
			after := mustGet(t, s, "a")
			if after.Generation != tt.wantGen {
				t.Errorf("generation = %d, want %d", after.Generation, tt.wantGen)
			}
			if wrote := after.ResourceVersion != before.ResourceVersion; wrote != tt.wantWrite {
				t.Errorf("wrote = %v (rv %s -> %s), want %v", wrote, before.ResourceVersion, after.ResourceVersion, tt.wantWrite)
			}
			if d.ResourceVersion != after.ResourceVersion || d.Generation != after.Generation {
				t.Errorf("result not copied back: rv %s gen %d, stored rv %s gen %d", d.ResourceVersion, d.Generation, after.ResourceVersion, after.Generation)
			}
			if after.Status.State != "" || after.UID != before.UID || !after.CreationTimestamp.Equal(&before.CreationTimestamp) {
				t.Errorf("server-owned fields changed: %+v", after.ObjectMeta)
			}
		})
	}
}

func TestStatusWriter(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	mustCreate(t, s, domain("a"))
	d := mustGet(t, s, "a")

	// A status write changes status only: spec and metadata changes riding along are ignored.
	d.Status.State = v1alpha1.StateRunning
	d.Status.ObservedGeneration = d.Generation
	d.Spec.Autostart = true
	d.Labels = map[string]string{"x": "y"}
	if err := s.Status().Update(ctx, d); err != nil {
		t.Fatalf("Status().Update: %v", err)
	}
	got := mustGet(t, s, "a")
	if got.Status.State != v1alpha1.StateRunning || got.Generation != 1 || got.Spec.Autostart || got.Labels != nil {
		t.Fatalf("after status update: gen %d autostart %v labels %v status %+v", got.Generation, got.Spec.Autostart, got.Labels, got.Status)
	}
	if d.ResourceVersion != got.ResourceVersion {
		t.Errorf("status update did not copy back resourceVersion")
	}

	// Stale resourceVersion.
	stale := got.DeepCopy()
	stale.ResourceVersion = "1"
	stale.Status.State = v1alpha1.StatePaused
	if err := s.Status().Update(ctx, stale); !apierrors.IsConflict(err) {
		t.Fatalf("stale status update: %v", err)
	}

	// An identical status write is not a write.
	rv := got.ResourceVersion
	if err := s.Status().Update(ctx, got); err != nil || got.ResourceVersion != rv {
		t.Fatalf("no-op status update: err %v rv %s -> %s", err, rv, got.ResourceVersion)
	}

	// Status patch through the SubResource client.
	base := got.DeepCopy()
	got.Status.Reason = "booted"
	if err := s.SubResource("status").Patch(ctx, got, client.MergeFrom(base)); err != nil {
		t.Fatalf("status patch: %v", err)
	}
	if after := mustGet(t, s, "a"); after.Status.Reason != "booted" || after.Generation != 1 {
		t.Fatalf("after status patch: %+v gen %d", after.Status, after.Generation)
	}

	// Other subresources and status Create are refused.
	if err := s.SubResource("scale").Update(ctx, got); !apierrors.IsMethodNotSupported(err) {
		t.Errorf("scale update: %v", err)
	}
	if err := s.Status().Create(ctx, got, got); !apierrors.IsMethodNotSupported(err) {
		t.Errorf("status create: %v", err)
	}
}

func TestPatch(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	mustCreate(t, s, domain("a"))

	d := mustGet(t, s, "a")
	base := d.DeepCopy()
	d.Labels = map[string]string{"role": "web"}
	d.Status.State = v1alpha1.StateRunning // ignored by the main resource
	if err := s.Patch(ctx, d, client.MergeFrom(base)); err != nil {
		t.Fatalf("merge patch labels: %v", err)
	}
	got := mustGet(t, s, "a")
	if got.Labels["role"] != "web" || got.Generation != 1 || got.Status.State != "" {
		t.Fatalf("after label patch: labels %v gen %d status %q", got.Labels, got.Generation, got.Status.State)
	}
	if d.Status.State != "" || d.ResourceVersion != got.ResourceVersion {
		t.Errorf("patch did not copy back the stored object")
	}

	// Optimistic lock: a patch computed from a stale object conflicts.
	stale := base.DeepCopy()
	stale.Spec.Paused = true
	if err := s.Patch(ctx, stale, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); !apierrors.IsConflict(err) {
		t.Fatalf("stale optimistic patch: %v", err)
	}
	fresh := got.DeepCopy()
	fresh.Spec.Paused = true
	if err := s.Patch(ctx, fresh, client.MergeFromWithOptions(got, client.MergeFromWithOptimisticLock{})); err != nil {
		t.Fatalf("fresh optimistic patch: %v", err)
	}
	if g := mustGet(t, s, "a"); !g.Spec.Paused || g.Generation != 2 {
		t.Fatalf("after spec patch: paused %v gen %d", g.Spec.Paused, g.Generation)
	}

	// JSON patch and raw merge patch.
	jp := client.RawPatch(types.JSONPatchType, []byte(`[{"op":"replace","path":"/spec/runStrategy","value":"Always"}]`))
	if err := s.Patch(ctx, domain("a"), jp); err != nil {
		t.Fatalf("json patch: %v", err)
	}
	mp := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"nodeName":"n1"}}`))
	if err := s.Patch(ctx, domain("a"), mp); err != nil {
		t.Fatalf("raw merge patch: %v", err)
	}
	if g := mustGet(t, s, "a"); g.Spec.RunStrategy != v1alpha1.RunStrategyAlways || g.Spec.NodeName != "n1" || g.Generation != 4 {
		t.Fatalf("after raw patches: %+v gen %d", g.Spec, g.Generation)
	}

	for name, p := range map[string]client.Patch{
		"missing":   client.RawPatch(types.MergePatchType, []byte(`{}`)),
		"bad json":  client.RawPatch(types.MergePatchType, []byte(`{`)),
		"rename":    client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"name":"b"}}`)),
		"ssa":       client.RawPatch(types.ApplyYAMLPatchType, []byte(`{}`)),
		"bad field": client.RawPatch(types.MergePatchType, []byte(`{"spec":{"paused":"yes"}}`)),
	} {
		obj := domain("a")
		if name == "missing" {
			obj = domain("nope")
		}
		if err := s.Patch(ctx, obj, p); err == nil {
			t.Errorf("patch %s succeeded", name)
		} else if name == "missing" && !apierrors.IsNotFound(err) {
			t.Errorf("patch missing: %v", err)
		}
	}
}

func TestDeleteAndFinalizers(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	mustCreate(t, s, domain("plain"), domain("fin", withFinalizers("virtxend.io/domain")))

	if err := s.Delete(ctx, domain("plain")); err != nil {
		t.Fatalf("delete plain: %v", err)
	}
	if err := s.Get(ctx, client.ObjectKey{Namespace: "default", Name: "plain"}, &v1alpha1.XenDomain{}); !apierrors.IsNotFound(err) {
		t.Fatalf("plain after delete: %v", err)
	}
	if err := s.Delete(ctx, domain("plain")); !apierrors.IsNotFound(err) {
		t.Fatalf("second delete: %v", err)
	}

	// Preconditions.
	if err := s.Delete(ctx, domain("fin"), client.Preconditions{UID: new(types.UID("wrong"))}); !apierrors.IsConflict(err) {
		t.Fatalf("delete with wrong uid: %v", err)
	}
	if err := s.Delete(ctx, domain("fin"), client.Preconditions{ResourceVersion: new("1")}); !apierrors.IsConflict(err) {
		t.Fatalf("delete with stale rv: %v", err)
	}

	// With a finalizer: marked, kept, generation bumped once.
	if err := s.Delete(ctx, domain("fin")); err != nil {
		t.Fatalf("delete fin: %v", err)
	}
	d := mustGet(t, s, "fin")
	if d.DeletionTimestamp == nil || d.Generation != 2 {
		t.Fatalf("after delete: deletionTimestamp %v gen %d", d.DeletionTimestamp, d.Generation)
	}
	rv := d.ResourceVersion
	if err := s.Delete(ctx, domain("fin")); err != nil || mustGet(t, s, "fin").ResourceVersion != rv {
		t.Fatalf("repeated delete must be a no-op: %v", err)
	}

	// No new finalizers while deleting; deletionTimestamp cannot be cleared by Update.
	more := d.DeepCopy()
	more.Finalizers = append(more.Finalizers, "other")
	if err := s.Update(ctx, more); !apierrors.IsInvalid(err) {
		t.Fatalf("adding a finalizer while deleting: %v", err)
	}
	undelete := d.DeepCopy()
	undelete.DeletionTimestamp = nil
	undelete.Spec.Autostart = true
	if err := s.Update(ctx, undelete); err != nil {
		t.Fatalf("update while deleting: %v", err)
	}
	if g := mustGet(t, s, "fin"); g.DeletionTimestamp == nil {
		t.Fatal("Update cleared deletionTimestamp")
	}

	// Status may still be written while the finalizer runs.
	d = mustGet(t, s, "fin")
	d.Status.State = v1alpha1.StateShutoff
	if err := s.Status().Update(ctx, d); err != nil {
		t.Fatalf("status update while deleting: %v", err)
	}

	// Removing the last finalizer deletes the object.
	d.Finalizers = nil
	if err := s.Update(ctx, d); err != nil {
		t.Fatalf("remove finalizer: %v", err)
	}
	if err := s.Get(ctx, client.ObjectKeyFromObject(d), &v1alpha1.XenDomain{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after finalizer removal: %v", err)
	}
}

func TestDeleteAllOf(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	mustCreate(t, s, domain("a", withLabels("src", "file")), domain("b", withLabels("src", "rpc")), domain("c", withLabels("src", "file")))
	if err := s.DeleteAllOf(ctx, &v1alpha1.XenDomain{}, client.InNamespace("default"), client.MatchingLabels{"src": "file"}); err != nil {
		t.Fatalf("DeleteAllOf: %v", err)
	}
	list := &v1alpha1.XenDomainList{}
	if err := s.List(ctx, list); err != nil || len(list.Items) != 1 || list.Items[0].Name != "b" {
		t.Fatalf("after DeleteAllOf: %v %v", err, names(list))
	}
}

func names(l *v1alpha1.XenDomainList) []string {
	var n []string
	for _, d := range l.Items {
		n = append(n, d.Namespace+"/"+d.Name)
	}
	return n
}

func TestListSelectors(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	mustCreate(t, s,
		domain("b", withLabels("tier", "web"), withNode("n1")),
		domain("a", withLabels("tier", "db"), withNode("n2")),
		domain("c", withLabels("tier", "web"), withNode("n2")),
		domain("a", func(d *v1alpha1.XenDomain) { d.Namespace = "other"; d.Spec.NodeName = "n1" }),
	)
	tests := []struct {
		name string
		opts []client.ListOption
		want []string
	}{
		{"all, sorted", nil, []string{"default/a", "default/b", "default/c", "other/a"}},
		{"namespace", []client.ListOption{client.InNamespace("other")}, []string{"other/a"}},
		{"labels", []client.ListOption{client.MatchingLabels{"tier": "web"}}, []string{"default/b", "default/c"}},
		{"label expression", []client.ListOption{client.MatchingLabelsSelector{Selector: mustSelector(t, "tier in (db),tier!=web")}}, []string{"default/a"}},
		{"spec.nodeName", []client.ListOption{client.MatchingFields{FieldSpecNodeName: "n1"}}, []string{"default/b", "other/a"}},
		{"spec.nodeName!=", []client.ListOption{client.MatchingFieldsSelector{Selector: fields.OneTermNotEqualSelector(FieldSpecNodeName, "n1")}}, []string{"default/a", "default/c"}},
		{"metadata.name and namespace", []client.ListOption{client.MatchingFields{"metadata.name": "a", "metadata.namespace": "default"}}, []string{"default/a"}},
		{"fields and labels", []client.ListOption{client.MatchingFields{FieldSpecNodeName: "n2"}, client.MatchingLabels{"tier": "web"}}, []string{"default/c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list := &v1alpha1.XenDomainList{}
			if err := s.List(ctx, list, tt.opts...); err != nil {
				t.Fatal(err)
			}
			if got := names(list); !equalStrings(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if list.ResourceVersion != "4" || list.Kind != "XenDomainList" {
				t.Errorf("list meta: rv %q kind %q", list.ResourceVersion, list.Kind)
			}
			for _, d := range list.Items {
				if d.Kind != "XenDomain" {
					t.Errorf("item TypeMeta %v", d.TypeMeta)
				}
			}
		})
	}
	err := s.List(ctx, &v1alpha1.XenDomainList{}, client.MatchingFields{"spec.memory": "1"})
	if !apierrors.IsBadRequest(err) {
		t.Errorf("unknown field: %v", err)
	}

	// A field registered through the client.FieldIndexer interface.
	if err := s.IndexField(ctx, &v1alpha1.XenDomain{}, "spec.runStrategy", func(o client.Object) []string {
		return []string{string(o.(*v1alpha1.XenDomain).Spec.RunStrategy)}
	}); err != nil {
		t.Fatal(err)
	}
	list := &v1alpha1.XenDomainList{}
	if err := s.List(ctx, list, client.MatchingFields{"spec.runStrategy": "Manual"}); err != nil || len(list.Items) != 4 {
		t.Errorf("indexed field: %v %v", err, names(list))
	}
}

func mustSelector(t *testing.T, s string) labels.Selector {
	t.Helper()
	sel, err := labels.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDeepCopyIsolation(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	in := domain("a", withLabels("k", "v"), withFinalizers("f"))
	mustCreate(t, s, in)

	// Mutating what was handed in, or what came out, does not reach the store.
	in.Labels["k"] = "changed"
	in.Finalizers[0] = "changed"
	got := mustGet(t, s, "a")
	if got.Labels["k"] != "v" || got.Finalizers[0] != "f" {
		t.Fatalf("Create aliased its input: %v %v", got.Labels, got.Finalizers)
	}
	got.Labels["k"] = "changed"
	got.Spec.Domain.Memory.Add(resource.MustParse("1Gi"))
	if again := mustGet(t, s, "a"); again.Labels["k"] != "v" || again.Spec.Domain.Memory.String() != "512Mi" {
		t.Fatalf("Get aliased the store: %v %s", again.Labels, again.Spec.Domain.Memory.String())
	}
	list := &v1alpha1.XenDomainList{}
	if err := s.List(ctx, list); err != nil {
		t.Fatal(err)
	}
	list.Items[0].Labels["k"] = "changed"
	if again := mustGet(t, s, "a"); again.Labels["k"] != "v" {
		t.Fatal("List aliased the store")
	}
	upd := mustGet(t, s, "a")
	upd.Labels["k"] = "v2"
	if err := s.Update(ctx, upd); err != nil {
		t.Fatal(err)
	}
	upd.Labels["k"] = "changed"
	if again := mustGet(t, s, "a"); again.Labels["k"] != "v2" {
		t.Fatal("Update aliased its input")
	}
}

func TestUnstructuredAndMetadata(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("virtxend.io/v1alpha1")
	u.SetKind("XenDomain")
	u.SetNamespace("default")
	u.SetName("u")
	if err := unstructured.SetNestedField(u.Object, "Halted", "spec", "runStrategy"); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, u); err != nil {
		t.Fatalf("create unstructured: %v", err)
	}
	if got := mustGet(t, s, "u"); got.Spec.RunStrategy != v1alpha1.RunStrategyHalted {
		t.Fatalf("typed view: %+v", got.Spec)
	}
	ul := &unstructured.UnstructuredList{}
	ul.SetAPIVersion("virtxend.io/v1alpha1")
	ul.SetKind("XenDomainList")
	if err := s.List(ctx, ul); err != nil || len(ul.Items) != 1 || ul.Items[0].GetUID() == "" {
		t.Fatalf("unstructured list: %v %v", err, ul.Items)
	}

	// Metadata-only reads and a metadata patch, as builder.OnlyMetadata and finalizer helpers use them.
	pm := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "virtxend.io/v1alpha1", Kind: "XenDomain"}}
	if err := s.Get(ctx, client.ObjectKey{Namespace: "default", Name: "u"}, pm); err != nil || pm.UID == "" {
		t.Fatalf("metadata get: %v %+v", err, pm)
	}
	base := pm.DeepCopy()
	pm.Finalizers = []string{"virtxend.io/domain"}
	if err := s.Patch(ctx, pm, client.MergeFrom(base)); err != nil {
		t.Fatalf("metadata patch: %v", err)
	}
	if got := mustGet(t, s, "u"); len(got.Finalizers) != 1 || got.Spec.RunStrategy != v1alpha1.RunStrategyHalted || pm.ResourceVersion != got.ResourceVersion {
		t.Fatalf("after metadata patch: %v %+v", got.Finalizers, got.Spec)
	}
	pml := &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{APIVersion: "virtxend.io/v1alpha1", Kind: "XenDomainList"}}
	if err := s.List(ctx, pml); err != nil || len(pml.Items) != 1 || pml.Items[0].Kind != "XenDomain" {
		t.Fatalf("metadata list: %v %+v", err, pml.Items)
	}
	if err := s.Update(ctx, pm); !apierrors.IsBadRequest(err) {
		t.Fatalf("update through metadata only: %v", err)
	}
}

func TestDryRun(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	if err := s.Create(ctx, domain("a"), client.DryRunAll); err != nil {
		t.Fatal(err)
	}
	if err := s.Get(ctx, client.ObjectKey{Namespace: "default", Name: "a"}, &v1alpha1.XenDomain{}); !apierrors.IsNotFound(err) {
		t.Fatalf("dry-run create stored the object: %v", err)
	}
	if s.ResourceVersion() != "0" {
		t.Fatalf("dry run moved the resourceVersion to %s", s.ResourceVersion())
	}
}

func TestClientPlumbing(t *testing.T) {
	s := newTestStore(t, Options{})
	gvk, err := s.GroupVersionKindFor(&v1alpha1.XenDomain{})
	if err != nil || gvk != v1alpha1.GroupVersion.WithKind("XenDomain") {
		t.Fatalf("GroupVersionKindFor: %v %v", gvk, err)
	}
	if ns, err := s.IsObjectNamespaced(&v1alpha1.XenDomain{}); err != nil || !ns {
		t.Fatalf("IsObjectNamespaced: %v %v", ns, err)
	}
	m, err := s.RESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil || m.Resource.Resource != "xendomains" {
		t.Fatalf("RESTMapping: %+v %v", m, err)
	}
	if err := s.Apply(context.Background(), nil); !apierrors.IsMethodNotSupported(err) {
		t.Fatalf("Apply: %v", err)
	}
	cs := newTestStore(t, Options{ClusterScoped: []schema.GroupVersionKind{gvk}})
	mustCreate(t, cs, domain("a"))
	if err := cs.Get(context.Background(), client.ObjectKey{Name: "a"}, &v1alpha1.XenDomain{}); err != nil {
		t.Fatalf("cluster-scoped get: %v", err)
	}
}

func TestResourceVersionIsGlobalAndMonotonic(t *testing.T) {
	s := newTestStore(t, Options{})
	var last uint64
	for i := range 20 {
		d := domain("d" + strconv.Itoa(i%3))
		var err error
		if i < 3 {
			err = s.Create(context.Background(), d)
		} else {
			cur := mustGet(t, s, d.Name)
			cur.Spec.Autostart = !cur.Spec.Autostart
			err = s.Update(context.Background(), cur)
			d = cur
		}
		if err != nil {
			t.Fatal(err)
		}
		rv, _ := strconv.ParseUint(d.ResourceVersion, 10, 64)
		if rv != last+1 {
			t.Fatalf("write %d got resourceVersion %d after %d", i, rv, last)
		}
		last = rv
	}
}
