package store

import (
	"context"
	"fmt"
	"reflect"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Status returns the writer of the status subresource: the reconciler's only way to write status.
func (s *Store) Status() client.SubResourceWriter { return &subResourceClient{s: s, name: "status"} }

// SubResource returns a client for the named subresource. Only "status" is served; the others answer
// MethodNotSupported.
func (s *Store) SubResource(subResource string) client.SubResourceClient {
	return &subResourceClient{s: s, name: subResource}
}

// subResourceClient serves the status subresource: writes through it change status only, never bump
// generation, and check resourceVersion like Update.
type subResourceClient struct {
	s    *Store
	name string
}

// kind returns obj's kindStore after checking that it serves this subresource.
func (c *subResourceClient) kind(obj client.Object, verb string) (*kindStore, error) {
	ks, err := c.s.kindOf(obj)
	if err != nil {
		return nil, err
	}
	if c.name != "status" || !ks.hasStatus {
		return nil, apierrors.NewMethodNotSupported(schema.GroupResource{Group: ks.resource.Group, Resource: ks.resource.Resource + "/" + c.name}, verb)
	}
	return ks, nil
}

// Get copies the whole object into subResource, as GET on the status subresource returns it.
func (c *subResourceClient) Get(ctx context.Context, obj, subResource client.Object, _ ...client.SubResourceGetOption) error {
	if _, err := c.kind(obj, "get"); err != nil {
		return err
	}
	return c.s.Get(ctx, client.ObjectKeyFromObject(obj), subResource)
}

// Create is not supported on the status subresource.
func (c *subResourceClient) Create(_ context.Context, obj, _ client.Object, _ ...client.SubResourceCreateOption) error {
	ks, err := c.kind(obj, "create")
	if err != nil {
		return err
	}
	return apierrors.NewMethodNotSupported(ks.resource, "create "+c.name)
}

// Update replaces the object's status with obj's (or SubResourceBody's); everything else in obj is ignored.
// A non-empty resourceVersion must match the stored one, else Conflict. The stored result is copied back.
func (c *subResourceClient) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	ks, err := c.kind(obj, "update")
	if err != nil {
		return err
	}
	uo := (&client.SubResourceUpdateOptions{}).ApplyOptions(opts)
	body := obj
	if uo.SubResourceBody != nil {
		body = uo.SubResourceBody
	}
	in, err := statusCopyIn(ks, body)
	if err != nil {
		return err
	}
	pre := preconds{rv: in.GetResourceVersion(), uid: in.GetUID()}
	key := ks.key(obj.GetNamespace(), obj.GetName())
	stored, err := c.s.apply(ctx, ks, key, len(uo.DryRun) > 0, func(cur client.Object) (client.Object, change, error) {
		return statusUpdated(ks, key, cur, in, pre)
	})
	if err != nil {
		return err
	}
	return copyOut(stored, obj)
}

// statusCopyIn returns a private object carrying copies of body's status, resourceVersion and UID: all that a
// status write reads of it (a copy of the rest would be thrown away). Objects that are not of the stored type,
// or whose status has no DeepCopyInto, are copied whole.
func statusCopyIn(ks *kindStore, body client.Object) (client.Object, error) {
	if _, ok := body.(runtime.Unstructured); ok || reflect.TypeOf(body) != reflect.PointerTo(ks.typ) {
		return copyIn(ks, body)
	}
	src := status(body)
	deepCopyInto := src.Addr().MethodByName("DeepCopyInto")
	if !deepCopyInto.IsValid() {
		return copyIn(ks, body)
	}
	in := reflect.New(ks.typ).Interface().(client.Object)
	deepCopyInto.Call([]reflect.Value{status(in).Addr()})
	in.SetResourceVersion(body.GetResourceVersion())
	in.SetUID(body.GetUID())
	in.GetObjectKind().SetGroupVersionKind(ks.gvk)
	return in, nil
}

// Patch patches the object and keeps only the change to status, as PATCH on the status subresource does.
func (c *subResourceClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	ks, err := c.kind(obj, "patch")
	if err != nil {
		return err
	}
	po := (&client.SubResourcePatchOptions{}).ApplyOptions(opts)
	body := obj
	if po.SubResourceBody != nil {
		body = po.SubResourceBody
	}
	data, err := patch.Data(body)
	if err != nil {
		return fmt.Errorf("patch %s %q status: %w", ks.gvk.Kind, obj.GetName(), err)
	}
	key := ks.key(obj.GetNamespace(), obj.GetName())
	stored, err := c.s.apply(ctx, ks, key, len(po.DryRun) > 0, func(cur client.Object) (client.Object, change, error) {
		if cur == nil {
			return nil, noChange, ks.notFound(key)
		}
		next, err := applyPatch(ks, cur, patch.Type(), data)
		if err != nil {
			return nil, noChange, err
		}
		return statusUpdated(ks, key, cur, next, preconds{rv: next.GetResourceVersion(), uid: next.GetUID()})
	})
	if err != nil {
		return err
	}
	return copyOut(stored, obj)
}

// Apply is not supported: the local store has no server-side apply.
func (c *subResourceClient) Apply(context.Context, runtime.ApplyConfiguration, ...client.SubResourceApplyOption) error {
	return errApplyUnsupported()
}

// statusUpdated returns what a status write of the private object in over cur stores: cur with in's status, in
// in itself (a write whose commit lost a race calls it again with the same in: its status is kept).
func statusUpdated(ks *kindStore, key types.NamespacedName, cur, in client.Object, pre preconds) (client.Object, change, error) {
	if cur == nil {
		return nil, noChange, ks.notFound(key)
	}
	if err := checkPreconds(ks, cur, pre); err != nil {
		return nil, noChange, err
	}
	if statusEqual(in, cur) {
		return cur, noChange, nil
	}
	// The new version shares everything but its status with cur: stored objects are immutable, and a status
	// write then copies the status, not the whole object (with ten thousand domains, most writes are these).
	// It is in itself (statusCopyIn and applyPatch make a private object of ks's kind), with cur's fields under
	// its status.
	st := status(in)
	saved := reflect.New(st.Type()).Elem()
	saved.Set(st)
	reflect.ValueOf(in).Elem().Set(reflect.ValueOf(cur).Elem())
	status(in).Set(saved)
	return in, put, nil
}
