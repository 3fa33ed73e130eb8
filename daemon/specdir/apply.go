package specdir

import (
	"context"
	"maps"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/daemon/store"
)

// apply makes the file objects in the store match wants: create, update what really changed, delete what no
// file asks for. It returns true when something is left for a later pass: a write that failed or conflicted, or
// a name or UUID still held by an object on its way out.
func (l *Loader) apply(ctx context.Context, wants map[string]*want, all []*v1alpha1.XenDomain) (again bool) {
	current := make(map[string]*v1alpha1.XenDomain, len(all))
	holder := make(map[string]string, len(all)) // domain uuid → name, of every object
	for _, o := range all {
		if u := o.DomainUUID(); u != "" {
			holder[u] = o.Name
		}
		if o.Labels[v1alpha1.LabelSource] == v1alpha1.SourceKindFile {
			current[o.Name] = o
		}
	}
	held := func(u string) bool { _, ok := holder[u]; return ok }
	clear(l.pending)
	for _, name := range slices.Sorted(maps.Keys(wants)) {
		again = l.applyOne(ctx, name, wants[name], current[name], held) || again
	}
	for _, name := range slices.Sorted(maps.Keys(current)) {
		if wants[name] == nil {
			again = l.applyOne(ctx, name, nil, current[name], held) || again
		}
	}
	return again
}

// applyOne makes the file object named name in the store, cur (nil when there is none), match w (nil when no
// file asks for it), and records in l.pending whether work is left for a later pass. held says whether some
// object has a domain UUID.
func (l *Loader) applyOne(ctx context.Context, name string, w *want, cur *v1alpha1.XenDomain, held func(string) bool) (again bool) {
	l.work.visited++
	defer func() {
		if again {
			l.pending[name] = true
		} else {
			delete(l.pending, name)
		}
	}()
	switch {
	case w == nil:
		if cur == nil || cur.DeletionTimestamp != nil {
			return false
		}
		if l.remove(ctx, cur) {
			return true
		}
		l.log.Info("file gone: domain removed", "domain", name, "file", cur.Annotations[v1alpha1.AnnotationSource])
		l.opts.Recorder.Event(name, EventTypeNormal, ReasonRemoved, "no file describes the domain any more")
		return false
	case cur == nil:
		if held(w.uuid) {
			return true // an old object with this UUID is being replaced
		}
		return l.create(ctx, w)
	case cur.DeletionTimestamp != nil:
		return true // removed and added back: wait until the old domain is gone
	case cur.DomainUUID() != w.uuid:
		if !l.remove(ctx, cur) {
			l.log.Info("uuid changed: replacing the domain", "file", w.path, "domain", name, "old", cur.DomainUUID(), "new", w.uuid)
			l.opts.Recorder.Event(name, EventTypeNormal, ReasonReplaced, "uuid changed in "+w.path+": replacing the domain")
		}
		return true
	default:
		return l.update(ctx, cur, w)
	}
}

func (l *Loader) create(ctx context.Context, w *want) (again bool) {
	o := l.object(w)
	if o == nil {
		return true
	}
	// The store copies what it is given and writes the stored object back into a new copy: a shallow copy of the
	// want is enough while nothing is added to its maps.
	obj := new(v1alpha1.XenDomain)
	if w.srcErr != "" {
		obj = o.DeepCopy()
		obj.Annotations[v1alpha1.AnnotationSourceError] = w.srcErr
	} else {
		*obj = *o
	}
	if err := l.c.Create(ctx, obj); err != nil {
		return l.writeFailed("create", w.path, obj.Name, err)
	}
	l.applied[obj.Name] = appliedOf(o, l.stored(obj))
	delete(l.storeErr, obj.Name)
	l.log.Info("domain loaded", "file", w.path, "domain", obj.Name)
	l.opts.Recorder.Event(obj.Name, EventTypeNormal, ReasonLoaded, "loaded from "+w.path)
	return false
}

// stored returns the store's own object for the one just written as written, or nil when it is not the local
// store or the object changed meanwhile.
func (l *Loader) stored(written *v1alpha1.XenDomain) *v1alpha1.XenDomain {
	st, ok := l.c.(*store.Store)
	if !ok {
		return nil
	}
	stored, err := store.Shared[*v1alpha1.XenDomain](st, client.ObjectKeyFromObject(written))
	if err != nil || stored == nil || stored.UID != written.UID || stored.ResourceVersion != written.ResourceVersion {
		return nil
	}
	return stored
}

// appliedFile is what merge needs of a file's object as last applied: what it said of spec.paused, its labels
// and its annotations.
type appliedFile struct {
	paused              bool
	labels, annotations map[string]string
}

// appliedOf records o as applied; its maps are the stored object's when equal (both are immutable), so that the
// loader keeps no copy of them.
func appliedOf(o, stored *v1alpha1.XenDomain) appliedFile {
	a := appliedFile{paused: o.Spec.Paused, labels: o.Labels, annotations: o.Annotations}
	if stored != nil && maps.Equal(a.labels, stored.Labels) {
		a.labels = stored.Labels
	}
	if stored != nil && maps.Equal(a.annotations, stored.Annotations) {
		a.annotations = stored.Annotations
	}
	return a
}

func (l *Loader) update(ctx context.Context, cur *v1alpha1.XenDomain, w *want) (again bool) {
	if s, ok := l.settled[cur.Name]; ok && s.holds(cur, w) {
		return false // neither the file nor the stored object changed since they were found equal
	}
	delete(l.settled, cur.Name)
	o := l.object(w)
	if o == nil {
		return true
	}
	l.work.merged++
	obj, specChanged, changed := l.merge(cur, w, o)
	if !changed {
		l.applied[cur.Name] = appliedOf(o, cur)
		if l.sharedObjects {
			l.settled[cur.Name] = settle(cur, w)
		}
		return false
	}
	if err := l.c.Update(ctx, obj); err != nil {
		return l.writeFailed("update", w.path, obj.Name, err)
	}
	l.applied[cur.Name] = appliedOf(o, l.stored(obj))
	delete(l.storeErr, cur.Name)
	if specChanged {
		l.log.Info("domain updated", "file", w.path, "domain", obj.Name)
		l.opts.Recorder.Event(obj.Name, EventTypeNormal, ReasonUpdated, "updated from "+w.path)
	} else {
		l.log.V(1).Info("domain metadata updated", "file", w.path, "domain", obj.Name)
	}
	return false
}

func (l *Loader) remove(ctx context.Context, cur *v1alpha1.XenDomain) (again bool) {
	uid := cur.UID
	err := l.c.Delete(ctx, cur, client.Preconditions{UID: &uid})
	if err != nil && !apierrors.IsNotFound(err) {
		return l.writeFailed("delete", cur.Annotations[v1alpha1.AnnotationSource], cur.Name, err)
	}
	delete(l.applied, cur.Name)
	delete(l.storeErr, cur.Name)
	delete(l.settled, cur.Name)
	return false
}

// writeFailed reports a store write that failed. Conflicts are routine (someone else wrote in between) and
// only retried.
func (l *Loader) writeFailed(op, path, name string, err error) (again bool) {
	if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
		l.log.V(1).Info(op+" conflicted; retrying", "file", path, "domain", name, "error", err.Error())
		return true
	}
	msg := op + " failed: " + err.Error()
	if l.storeErr[name] != msg {
		l.storeErr[name] = msg
		l.log.Error(err, op+" failed; retrying", "file", path, "domain", name)
		l.opts.Recorder.Event(name, EventTypeWarning, ReasonStoreError, msg)
	}
	return true
}

// merge returns cur with the fields the loader owns set from w. specChanged says whether the spec changed,
// changed whether anything did. A renamed file alone changes nothing: the source annotation follows the file
// at the next real change.
//
// spec.paused is the file's when the object is created and whenever the file changes it (the facade may pause
// and resume in between); labels and annotations the file drops are removed.
func (l *Loader) merge(cur *v1alpha1.XenDomain, w *want, o *v1alpha1.XenDomain) (obj *v1alpha1.XenDomain, specChanged, changed bool) {
	obj = cur.DeepCopy()
	d, s := &o.Spec, &obj.Spec
	if !v1alpha1.SemanticEqual(&s.Domain, &d.Domain) {
		s.Domain = *d.Domain.DeepCopy()
		specChanged = true
	}
	if s.RunStrategy != d.RunStrategy || s.Autostart != d.Autostart || s.NodeName != d.NodeName || s.DriftPolicy != d.DriftPolicy {
		s.RunStrategy, s.Autostart, s.NodeName, s.DriftPolicy = d.RunStrategy, d.Autostart, d.NodeName, d.DriftPolicy
		specChanged = true
	}
	prev, known := l.applied[cur.Name]
	if (!known || prev.paused != d.Paused) && s.Paused != d.Paused {
		s.Paused = d.Paused
		specChanged = true
	}

	changed = specChanged
	if obj.Labels == nil {
		obj.Labels = map[string]string{}
	}
	if obj.Annotations == nil {
		obj.Annotations = map[string]string{}
	}
	changed = syncMap(obj.Labels, o.Labels, prev.labels, "") || changed
	changed = syncMap(obj.Annotations, o.Annotations, prev.annotations, v1alpha1.AnnotationSource) || changed
	if w.srcErr != "" && obj.Annotations[v1alpha1.AnnotationSourceError] != w.srcErr {
		obj.Annotations[v1alpha1.AnnotationSourceError] = w.srcErr
		changed = true
	} else if _, ok := obj.Annotations[v1alpha1.AnnotationSourceError]; ok && w.srcErr == "" {
		delete(obj.Annotations, v1alpha1.AnnotationSourceError)
		changed = true
	}
	if changed {
		obj.Annotations[v1alpha1.AnnotationSource] = o.Annotations[v1alpha1.AnnotationSource]
	}
	return obj, specChanged, changed
}

// syncMap sets every key of want in m and removes the keys prev had that want has not. Key skip is compared
// only for presence.
func syncMap(m, want, prev map[string]string, skip string) (changed bool) {
	for k, v := range want {
		old, ok := m[k]
		if k == skip {
			if !ok {
				m[k] = v
				changed = true
			}
			continue
		}
		if !ok || old != v {
			m[k] = v
			changed = true
		}
	}
	for k := range prev {
		if _, keep := want[k]; !keep {
			if _, ok := m[k]; ok {
				delete(m, k)
				changed = true
			}
		}
	}
	return changed
}
