package store

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtxend/virtxend/api/v1alpha1"
)

// copyIn returns a private typed copy of obj, with TypeMeta set to ks's kind.
func copyIn(ks *kindStore, obj client.Object) (client.Object, error) {
	var in client.Object
	if u, ok := obj.(runtime.Unstructured); ok {
		in = reflect.New(ks.typ).Interface().(client.Object)
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), in); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("convert %s: %v", ks.gvk.Kind, err))
		}
	} else {
		in, _ = obj.DeepCopyObject().(client.Object)
		if reflect.TypeOf(in) != reflect.PointerTo(ks.typ) {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("cannot write a %T as %s: use the typed object or Unstructured", obj, ks.gvk.Kind))
		}
	}
	in.GetObjectKind().SetGroupVersionKind(ks.gvk)
	return in, nil
}

// copyOut deep-copies the stored object src into the caller's dst: a typed object, an Unstructured or a
// PartialObjectMetadata.
func copyOut(src client.Object, dst runtime.Object) error {
	if p, ok := dst.(*metav1.PartialObjectMetadata); ok {
		om, ok := src.(metav1.ObjectMetaAccessor)
		if !ok {
			return fmt.Errorf("%T has no ObjectMeta", src)
		}
		m, ok := om.GetObjectMeta().(*metav1.ObjectMeta)
		if !ok {
			return fmt.Errorf("%T has no ObjectMeta", src)
		}
		p.TypeMeta = metav1.TypeMeta{APIVersion: src.GetObjectKind().GroupVersionKind().GroupVersion().String(), Kind: src.GetObjectKind().GroupVersionKind().Kind}
		p.ObjectMeta = *m.DeepCopy()
		return nil
	}
	if u, ok := dst.(runtime.Unstructured); ok {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(src)
		if err != nil {
			return err
		}
		u.SetUnstructuredContent(m)
		return nil
	}
	dv := reflect.ValueOf(dst)
	if dv.Type() != reflect.TypeOf(src) || dv.IsNil() {
		return fmt.Errorf("cannot copy %T into %T", src, dst)
	}
	// Straight into dst: a DeepCopyObject would build a whole object only to copy it again.
	if m := reflect.ValueOf(src).MethodByName("DeepCopyInto"); m.IsValid() && m.Type().NumIn() == 1 && m.Type().In(0) == dv.Type() {
		m.Call([]reflect.Value{dv})
		return nil
	}
	dv.Elem().Set(reflect.ValueOf(src.DeepCopyObject()).Elem())
	return nil
}

func sortObjects(items []client.Object) {
	slices.SortFunc(items, func(a, b client.Object) int {
		if c := strings.Compare(a.GetNamespace(), b.GetNamespace()); c != 0 {
			return c
		}
		return strings.Compare(a.GetName(), b.GetName())
	})
}

func formatRV(rv uint64) string { return strconv.FormatUint(rv, 10) }

// parseRV parses a resourceVersion option; "" and "0" mean "any" and parse as 0.
func parseRV(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	rv, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersion %q", s))
	}
	return rv, nil
}

// specEqual reports whether a and b, two objects of ks's kind, agree on everything but TypeMeta, ObjectMeta and
// Status: what metadata.generation counts.
func (ks *kindStore) specEqual(a, b client.Object) bool {
	av, bv := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	for i := range ks.typ.NumField() {
		switch ks.typ.Field(i).Name {
		case "TypeMeta", "ObjectMeta", "Status":
			continue
		}
		if !v1alpha1.SemanticEqual(av.Field(i).Addr().Interface(), bv.Field(i).Addr().Interface()) { // pointers: not boxed copies
			return false
		}
	}
	return true
}

// status returns obj's Status field (addressable). Only for kinds with hasStatus.
func status(obj client.Object) reflect.Value {
	return reflect.ValueOf(obj).Elem().FieldByName("Status")
}

// setStatus sets dst's status to src's. The two then share the status' pointers and slices: dst must be a
// private object that becomes immutable when stored, src an immutable stored object or a private copy.
func setStatus(dst, src client.Object) {
	status(dst).Set(status(src))
}

// clearStatus zeroes obj's status.
func clearStatus(obj client.Object) {
	s := status(obj)
	s.Set(reflect.Zero(s.Type()))
}

func statusEqual(a, b client.Object) bool {
	return v1alpha1.SemanticEqual(status(a).Addr().Interface(), status(b).Addr().Interface())
}

// applyPatch applies a patch of type pt to the stored object cur and returns the patched object, a new private
// object of ks's kind.
func applyPatch(ks *kindStore, cur client.Object, pt types.PatchType, data []byte) (client.Object, error) {
	if pt == types.MergePatchType {
		if next, ok := metadataMergePatch(cur, data); ok {
			next.GetObjectKind().SetGroupVersionKind(ks.gvk)
			return next, nil
		}
	}
	return applyPatchJSON(ks, cur, pt, data)
}

// applyPatchJSON applies any patch through the object's JSON form.
func applyPatchJSON(ks *kindStore, cur client.Object, pt types.PatchType, data []byte) (client.Object, error) {
	orig, err := json.Marshal(cur)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("encode %s %q: %w", ks.gvk.Kind, cur.GetName(), err))
	}
	var patched []byte
	switch pt {
	case types.MergePatchType:
		patched, err = jsonpatch.MergePatch(orig, data)
	case types.JSONPatchType:
		var p jsonpatch.Patch
		if p, err = jsonpatch.DecodePatch(data); err == nil {
			patched, err = p.Apply(orig)
		}
	case types.StrategicMergePatchType:
		patched, err = strategicpatch.StrategicMergePatch(orig, data, reflect.New(ks.typ).Interface())
	default:
		return nil, apierrors.NewGenericServerResponse(415, "patch", ks.resource, cur.GetName(),
			fmt.Sprintf("patch type %q is not supported by the local store", pt), 0, false)
	}
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("apply %s patch to %s %q: %v", pt, ks.gvk.Kind, cur.GetName(), err))
	}
	next := reflect.New(ks.typ).Interface().(client.Object)
	if err := json.Unmarshal(patched, next); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("decode patched %s %q: %v", ks.gvk.Kind, cur.GetName(), err))
	}
	if next.GetName() != cur.GetName() || next.GetNamespace() != cur.GetNamespace() {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("patch must not change the name or namespace of %s %q", ks.gvk.Kind, cur.GetName()))
	}
	next.GetObjectKind().SetGroupVersionKind(ks.gvk)
	return next, nil
}

// metadataMergePatch applies a merge patch that changes only metadata's finalizers, resourceVersion, labels
// and annotations (a finalizer patch, a label patch) to a copy of cur, without the JSON round trip of the object
// that a general patch takes. ok is false for any other patch, which then takes the general way.
func metadataMergePatch(cur client.Object, data []byte) (next client.Object, ok bool) {
	var doc map[string]json.RawMessage
	if json.Unmarshal(data, &doc) != nil || len(doc) != 1 || doc["metadata"] == nil {
		return nil, false
	}
	var meta map[string]json.RawMessage
	if json.Unmarshal(doc["metadata"], &meta) != nil || meta == nil {
		return nil, false
	}
	var (
		finalizers                 []string
		rv                         *string
		labelPatch, annotatePatch  map[string]*string
		setFin, nullLab, nullAnnot bool
	)
	for k, raw := range meta {
		var err error
		isNull := string(raw) == "null"
		switch k {
		case "finalizers":
			setFin = true
			if !isNull {
				err = json.Unmarshal(raw, &finalizers)
				if err == nil && finalizers == nil {
					finalizers = []string{}
				}
			}
		case "resourceVersion":
			if !isNull {
				rv = new(string)
				err = json.Unmarshal(raw, rv)
			}
		case "labels":
			nullLab = isNull
			if !isNull {
				err = json.Unmarshal(raw, &labelPatch)
			}
		case "annotations":
			nullAnnot = isNull
			if !isNull {
				err = json.Unmarshal(raw, &annotatePatch)
			}
		default:
			return nil, false
		}
		if err != nil {
			return nil, false
		}
	}
	// A shallow copy: the new version shares all but the metadata fields it sets with cur, which is immutable.
	v := reflect.New(reflect.TypeOf(cur).Elem())
	v.Elem().Set(reflect.ValueOf(cur).Elem())
	next = v.Interface().(client.Object)
	if setFin {
		next.SetFinalizers(finalizers)
	}
	if rv != nil {
		next.SetResourceVersion(*rv)
	}
	if nullLab {
		next.SetLabels(nil)
	} else if labelPatch != nil {
		next.SetLabels(mergeStrings(next.GetLabels(), labelPatch))
	}
	if nullAnnot {
		next.SetAnnotations(nil)
	} else if annotatePatch != nil {
		next.SetAnnotations(mergeStrings(next.GetAnnotations(), annotatePatch))
	}
	return next, true
}

// mergeStrings returns a copy of the stored map shared with a merge patch applied: null removes a key. An
// emptied map is nil, as the JSON round trip leaves it.
func mergeStrings(shared map[string]string, patch map[string]*string) map[string]string {
	m := make(map[string]string, len(shared)+len(patch))
	maps.Copy(m, shared)
	for k, v := range patch {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = *v
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

func errNotFound(gr schema.GroupResource, name string) error {
	return apierrors.NewNotFound(gr, name)
}

// errConflict is the API server's answer to a write carrying a stale resourceVersion or a wrong UID.
func errConflict(ks *kindStore, name, format string, args ...any) error {
	return apierrors.NewConflict(ks.resource, name, fmt.Errorf(format, args...))
}
