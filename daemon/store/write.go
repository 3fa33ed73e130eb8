package store

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// change is what a write does to the stored version of an object.
type change int

const (
	noChange change = iota // the write is a no-op: no new resourceVersion, no event
	put                    // create or replace
	remove                 // delete; the new object is the final state, sent with the Deleted event
)

// preconds are the caller's expectations of the stored object: a resourceVersion and a UID, each checked when
// not empty.
type preconds struct {
	rv  string
	uid types.UID
}

// Create stores a new object: it sets creationTimestamp, resourceVersion and generation 1, drops status
// (written only through Status()), generates the name from generateName when name is empty, and copies the
// stored object back into obj. An existing object of the same name gives AlreadyExists.
//
// Unlike an API server, Create keeps a uid set by the caller and generates one only when it is empty: the
// store lives in memory and is refilled at every daemon start, and the loaders give each XenDomain its
// domain UUID as uid so that the identity the reconciler's ownership markers record survives restarts. A uid
// already used by another object of the kind gives Invalid.
func (s *Store) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	ks, err := s.kindOf(obj)
	if err != nil {
		return err
	}
	co := (&client.CreateOptions{}).ApplyOptions(opts)
	in, err := copyIn(ks, obj)
	if err != nil {
		return err
	}
	if in.GetResourceVersion() != "" {
		return apierrors.NewBadRequest("resourceVersion should not be set on objects to be created")
	}
	generate := in.GetName() == ""
	if generate && in.GetGenerateName() == "" {
		return apierrors.NewInvalid(ks.gvk.GroupKind(), "", field.ErrorList{
			field.Required(field.NewPath("metadata", "name"), "name or generateName is required")})
	}
	if !ks.namespaced {
		in.SetNamespace("")
	}
	uid := in.GetUID()
	if uid == "" {
		uid = uuid.NewUUID()
	}
	for attempt := 0; ; attempt++ {
		if generate {
			in.SetName(generateName(in.GetGenerateName()))
		}
		key := ks.key(in.GetNamespace(), in.GetName())
		stored, err := s.apply(ctx, ks, key, len(co.DryRun) > 0, func(cur client.Object) (client.Object, change, error) {
			if cur != nil {
				return nil, noChange, apierrors.NewAlreadyExists(ks.resource, key.Name)
			}
			in.SetUID(uid)
			in.SetCreationTimestamp(metav1.NewTime(s.now()).Rfc3339Copy())
			in.SetGeneration(1)
			in.SetDeletionTimestamp(nil)
			in.SetDeletionGracePeriodSeconds(nil)
			if ks.hasStatus {
				clearStatus(in)
			}
			if s.onCreate != nil {
				s.onCreate(in)
			}
			return in, put, nil
		})
		if generate && attempt < 8 && apierrors.IsAlreadyExists(err) {
			continue
		}
		if err != nil {
			return err
		}
		return copyOut(stored, obj)
	}
}

// Update replaces the object's spec and metadata. A non-empty resourceVersion (or UID) in obj must match the
// stored one, else Conflict. Status, uid, creationTimestamp and deletionTimestamp are kept from the stored object;
// generation is bumped when anything outside metadata and status changed. An update removing the last finalizer
// of an object being deleted deletes it. The stored result is copied back into obj.
func (s *Store) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	ks, err := s.kindOf(obj)
	if err != nil {
		return err
	}
	uo := (&client.UpdateOptions{}).ApplyOptions(opts)
	in, err := copyIn(ks, obj)
	if err != nil {
		return err
	}
	pre := preconds{rv: in.GetResourceVersion(), uid: in.GetUID()}
	key := ks.key(in.GetNamespace(), in.GetName())
	stored, err := s.apply(ctx, ks, key, len(uo.DryRun) > 0, func(cur client.Object) (client.Object, change, error) {
		return s.updated(ks, key, cur, in, pre)
	})
	if err != nil {
		return err
	}
	return copyOut(stored, obj)
}

// Patch applies a merge patch (client.MergeFrom, client.RawPatch(types.MergePatchType, ...)), a JSON patch or a
// strategic merge patch to the stored object, then stores the result as Update would (status is ignored; a
// resourceVersion in the patch, as client.MergeFromWithOptimisticLock sends, must match). Server-side apply is
// not supported. The stored result is copied back into obj.
func (s *Store) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	ks, err := s.kindOf(obj)
	if err != nil {
		return err
	}
	po := (&client.PatchOptions{}).ApplyOptions(opts)
	data, err := patch.Data(obj)
	if err != nil {
		return fmt.Errorf("patch %s %q: %w", ks.gvk.Kind, obj.GetName(), err)
	}
	key := ks.key(obj.GetNamespace(), obj.GetName())
	stored, err := s.apply(ctx, ks, key, len(po.DryRun) > 0, func(cur client.Object) (client.Object, change, error) {
		if cur == nil {
			return nil, noChange, ks.notFound(key)
		}
		next, err := applyPatch(ks, cur, patch.Type(), data)
		if err != nil {
			return nil, noChange, err
		}
		return s.updated(ks, key, cur, next, preconds{rv: next.GetResourceVersion(), uid: next.GetUID()})
	})
	if err != nil {
		return err
	}
	return copyOut(stored, obj)
}

// Delete deletes the object. With finalizers it only sets deletionTimestamp (once; generation is bumped as the
// API server does) and the object stays until an Update removes the last finalizer. Preconditions on UID and
// resourceVersion give Conflict when they do not hold. Grace periods and propagation policies are ignored.
func (s *Store) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	ks, err := s.kindOf(obj)
	if err != nil {
		return err
	}
	do := (&client.DeleteOptions{}).ApplyOptions(opts)
	key := ks.key(obj.GetNamespace(), obj.GetName())
	_, err = s.apply(ctx, ks, key, len(do.DryRun) > 0, func(cur client.Object) (client.Object, change, error) {
		return s.deleted(ks, key, cur, deletePreconds(do))
	})
	return err
}

// DeleteAllOf deletes every object of obj's kind selected by the options' namespace, label and field selectors,
// as Delete would delete each.
func (s *Store) DeleteAllOf(ctx context.Context, obj client.Object, opts ...client.DeleteAllOfOption) error {
	ks, err := s.kindOf(obj)
	if err != nil {
		return err
	}
	dao := (&client.DeleteAllOfOptions{}).ApplyOptions(opts)
	s.mu.RLock()
	m, err := ks.matcher(&dao.ListOptions)
	var items []client.Object
	if err == nil {
		items = ks.selectLocked(m)
	}
	s.mu.RUnlock()
	if err != nil {
		return err
	}
	pre := deletePreconds(&dao.DeleteOptions)
	for _, o := range items {
		key := ks.key(o.GetNamespace(), o.GetName())
		_, err := s.apply(ctx, ks, key, len(dao.DryRun) > 0, func(cur client.Object) (client.Object, change, error) {
			return s.deleted(ks, key, cur, pre)
		})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// Apply is not supported: the local store has no server-side apply.
func (s *Store) Apply(context.Context, runtime.ApplyConfiguration, ...client.ApplyOption) error {
	return errApplyUnsupported()
}

func errApplyUnsupported() error {
	err := apierrors.NewMethodNotSupported(schema.GroupResource{}, "apply")
	err.ErrStatus.Message = "server-side apply is not supported by the local object store"
	return err
}

// updated returns what an update of cur to the private object in stores: in, with the fields the server owns
// taken from cur. It may be called again with a newer cur, so it derives every field it sets from cur.
func (s *Store) updated(ks *kindStore, key types.NamespacedName, cur, in client.Object, pre preconds) (client.Object, change, error) {
	if cur == nil {
		return nil, noChange, ks.notFound(key)
	}
	if err := checkPreconds(ks, cur, pre); err != nil {
		return nil, noChange, err
	}
	if cur.GetDeletionTimestamp() != nil {
		for _, f := range in.GetFinalizers() {
			if !slices.Contains(cur.GetFinalizers(), f) {
				return nil, noChange, apierrors.NewInvalid(ks.gvk.GroupKind(), key.Name, field.ErrorList{
					field.Forbidden(field.NewPath("metadata", "finalizers"), "no new finalizers can be added if the object is being deleted")})
			}
		}
	}
	in.SetNamespace(cur.GetNamespace())
	in.SetUID(cur.GetUID())
	in.SetCreationTimestamp(cur.GetCreationTimestamp())
	in.SetDeletionTimestamp(cur.GetDeletionTimestamp())
	in.SetDeletionGracePeriodSeconds(cur.GetDeletionGracePeriodSeconds())
	in.SetResourceVersion(cur.GetResourceVersion())
	in.SetGeneration(cur.GetGeneration())
	if ks.hasStatus {
		setStatus(in, cur)
	}
	if equality.Semantic.DeepEqual(in, cur) {
		return cur, noChange, nil
	}
	if !ks.specEqual(in, cur) {
		in.SetGeneration(cur.GetGeneration() + 1)
	}
	if in.GetDeletionTimestamp() != nil && len(in.GetFinalizers()) == 0 {
		return in, remove, nil
	}
	return in, put, nil
}

// deleted returns what a delete of cur stores.
func (s *Store) deleted(ks *kindStore, key types.NamespacedName, cur client.Object, pre preconds) (client.Object, change, error) {
	if cur == nil {
		return nil, noChange, ks.notFound(key)
	}
	if err := checkPreconds(ks, cur, pre); err != nil {
		return nil, noChange, err
	}
	if len(cur.GetFinalizers()) > 0 && cur.GetDeletionTimestamp() != nil {
		return cur, noChange, nil
	}
	next := cur.DeepCopyObject().(client.Object)
	if len(cur.GetFinalizers()) == 0 {
		return next, remove, nil
	}
	now := metav1.NewTime(s.now()).Rfc3339Copy()
	var zero int64
	next.SetDeletionTimestamp(&now)
	next.SetDeletionGracePeriodSeconds(&zero)
	next.SetGeneration(cur.GetGeneration() + 1)
	return next, put, nil
}

func deletePreconds(do *client.DeleteOptions) preconds {
	p := do.Preconditions
	if p == nil && do.Raw != nil {
		p = do.Raw.Preconditions
	}
	var pre preconds
	if p != nil {
		if p.UID != nil {
			pre.uid = *p.UID
		}
		if p.ResourceVersion != nil {
			pre.rv = *p.ResourceVersion
		}
	}
	return pre
}

func checkPreconds(ks *kindStore, cur client.Object, pre preconds) error {
	if pre.uid != "" && pre.uid != cur.GetUID() {
		return errConflict(ks, cur.GetName(), "Precondition failed: UID in precondition: %v, UID in object meta: %v", pre.uid, cur.GetUID())
	}
	if pre.rv != "" && pre.rv != cur.GetResourceVersion() {
		return errConflict(ks, cur.GetName(), "the object has been modified; please apply your changes to the latest version and try again")
	}
	return nil
}

// apply is the one write path. It computes the next version of key from the current one with fn, outside the
// lock, and commits it only if nobody wrote key in between, recomputing otherwise (stored objects are
// immutable, so comparing pointers is enough). It returns the stored result, or what would be stored when
// dryRun is set.
func (s *Store) apply(ctx context.Context, ks *kindStore, key types.NamespacedName, dryRun bool,
	fn func(cur client.Object) (client.Object, change, error)) (client.Object, error) {
	for {
		s.mu.RLock()
		cur := ks.objs[key]
		s.mu.RUnlock()
		next, ch, err := fn(cur)
		if err != nil {
			return nil, err
		}
		if ch == noChange || dryRun {
			return next, nil
		}
		s.mu.Lock()
		if ks.objs[key] == cur {
			err := s.commitLocked(ks, key, cur, next, ch)
			s.mu.Unlock()
			if err != nil {
				return nil, err
			}
			return next, nil
		}
		s.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// commitLocked stores next (a private object that becomes immutable here) with a new resourceVersion and tells
// the subscribers. It refuses a new object whose uid another object of the kind has. Call with s.mu held for
// writing.
func (s *Store) commitLocked(ks *kindStore, key types.NamespacedName, cur, next client.Object, ch change) error {
	if cur == nil {
		if other, taken := ks.uids[next.GetUID()]; taken {
			return apierrors.NewInvalid(ks.gvk.GroupKind(), key.Name, field.ErrorList{field.Invalid(
				field.NewPath("metadata", "uid"), next.GetUID(), fmt.Sprintf("already the uid of %s", other))})
		}
		ks.uids[next.GetUID()] = key
	}
	s.rv++
	ks.lastRV = s.rv
	next.SetResourceVersion(formatRV(s.rv))
	if ch == remove {
		ks.reindexLocked(key, cur, nil)
	} else {
		ks.shareMapsLocked(cur, next)
		ks.reindexLocked(key, cur, next)
	}
	switch {
	case ch == remove:
		delete(ks.objs, key)
		delete(ks.uids, cur.GetUID())
		ks.notifyLocked(watch.Deleted, cur, next)
	case cur == nil:
		ks.objs[key] = next
		ks.notifyLocked(watch.Added, nil, next)
	default:
		ks.objs[key] = next
		ks.notifyLocked(watch.Modified, cur, next)
	}
	return nil
}

// Bounds of the label sets a kind's objects share: the few sets most objects carry (the source kind a domain
// came from), not one per object.
const (
	maxLabelSets     = 64
	maxSharedLabels  = 4
	maxLabelSetBytes = 256
)

// shareMapsLocked makes next, about to be stored, share its label and annotation maps with cur's when they are
// equal, and its labels with those of other objects that have the same (labelSets): stored objects are
// immutable, and ten thousand domains from files carry one label set between them. Call with s.mu held for
// writing.
func (ks *kindStore) shareMapsLocked(cur, next client.Object) {
	labels, annotations := next.GetLabels(), next.GetAnnotations()
	if cur != nil {
		if old := cur.GetAnnotations(); len(annotations) > 0 && maps.Equal(old, annotations) {
			next.SetAnnotations(old)
		}
		if old := cur.GetLabels(); len(labels) > 0 && maps.Equal(old, labels) {
			next.SetLabels(old)
			return
		}
	}
	if len(labels) == 0 || len(labels) > maxSharedLabels {
		return
	}
	keys := slices.Sorted(maps.Keys(labels))
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(labels[k])
		b.WriteByte(0)
	}
	if b.Len() > maxLabelSetBytes {
		return
	}
	if set, ok := ks.labelSets[b.String()]; ok {
		if maps.Equal(set, labels) { // not merely the same encoding (a value with a NUL in it)
			next.SetLabels(set)
		}
		return
	}
	if len(ks.labelSets) < maxLabelSets {
		if ks.labelSets == nil {
			ks.labelSets = map[string]map[string]string{}
		}
		ks.labelSets[b.String()] = labels
	}
}

// generateName appends five random characters to base, as the API server does for metadata.generateName.
func generateName(base string) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	b := []byte(base)
	for range 5 {
		b = append(b, alphabet[rand.IntN(len(alphabet))])
	}
	return string(b)
}
