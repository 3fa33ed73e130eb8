package controllers

import (
	"encoding/json"
	"reflect"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/virtxend/virtxend/api/v1alpha1"
)

// TestFinalizerPatchIsMergeFrom checks that the finalizer patch written directly is the one client.MergeFrom
// with an optimistic lock computes, adding and removing the finalizer, with and without other finalizers.
func TestFinalizerPatchIsMergeFrom(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before []string
		add    bool
	}{
		{"add to none", nil, true},
		{"add to another", []string{"example.com/other"}, true},
		{"remove the only", []string{Finalizer}, false},
		{"remove one of two", []string{"example.com/other", Finalizer}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := &v1alpha1.XenDomain{}
			obj.Name, obj.Namespace, obj.ResourceVersion = "d", v1alpha1.LocalNamespace, "42"
			obj.Labels = map[string]string{"a": "b"}
			obj.Finalizers = tc.before
			base := obj.DeepCopy()
			if tc.add {
				controllerutil.AddFinalizer(obj, Finalizer)
			} else {
				controllerutil.RemoveFinalizer(obj, Finalizer)
			}
			want, err := client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}).Data(obj)
			if err != nil {
				t.Fatal(err)
			}
			p := finalizerPatch(obj)
			got, err := p.Data(obj)
			if err != nil {
				t.Fatal(err)
			}
			var g, w map[string]any
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(want, &w); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(g, w) || p.Type() != client.Merge.Type() {
				t.Errorf("patch %s (%s), want %s (%s)", got, p.Type(), want, client.Merge.Type())
			}
		})
	}
}
