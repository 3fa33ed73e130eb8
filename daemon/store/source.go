package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// Kind returns a source of reconcile requests for the objects of obj's kind in s, for a controller built with
// controller.NewTypedUnmanaged in local mode: what source.Kind over a manager's cache is in fleet mode. A nil
// handler enqueues a request for the object's namespace/name (handler.TypedEnqueueRequestForObject).
func Kind[T client.Object](s *Store, obj T, h handler.TypedEventHandler[T, reconcile.Request], preds ...predicate.TypedPredicate[T]) source.SyncingSource {
	if h == nil {
		// The default handler reads only the object's key: predicates and handler get the store's own objects,
		// immutable, without the two deep copies per write that private copies cost. Predicates must not
		// modify them.
		k := TypedKind[T, reconcile.Request](s, obj, &handler.TypedEnqueueRequestForObject[T]{}, preds...).(*kindSource[T, reconcile.Request])
		k.shared = true
		return k
	}
	return TypedKind[T, reconcile.Request](s, obj, h, preds...)
}

// TypedKind is Kind for any request type.
//
// The source lists the kind and subscribes from exactly that point (Store.ListAndSubscribe), hands the
// initial list to the handler as Create events with IsInInitialList set (WaitForSync returns once they are
// handed over), then every change as a Create, Update or Delete event, filtered by preds. When its
// subscription falls behind the writers it re-lists and delivers the difference with what it delivered before:
// Create for new objects, Update for changed ones, Delete with DeleteStateUnknown for the ones gone meanwhile.
// Handlers and predicates receive private copies (with Kind's default handler, the stored objects themselves).
func TypedKind[T client.Object, R comparable](s *Store, obj T, h handler.TypedEventHandler[T, R], preds ...predicate.TypedPredicate[T]) source.TypedSyncingSource[R] {
	k := &kindSource[T, R]{store: s, obj: obj, handler: h, preds: preds, synced: make(chan struct{})}
	if s != nil {
		k.ks, k.err = s.kindOf(obj)
	}
	return k
}

type kindSource[T client.Object, R comparable] struct {
	shared  bool // hand the stored objects, not copies
	store   *Store
	obj     T
	handler handler.TypedEventHandler[T, R]
	preds   []predicate.TypedPredicate[T]

	ks  *kindStore
	err error // from finding the kind; reported by Start

	started atomic.Bool
	synced  chan struct{}
}

// Start lists and subscribes synchronously, so that a bad kind fails the controller's start, then delivers
// events in its own goroutine until ctx ends.
func (k *kindSource[T, R]) Start(ctx context.Context, q workqueue.TypedRateLimitingInterface[R]) error {
	if k.store == nil || k.handler == nil {
		return errors.New("store source: must specify a store and a handler")
	}
	if !k.started.CompareAndSwap(false, true) {
		return fmt.Errorf("store source %s: already started", k)
	}
	if k.err != nil {
		return fmt.Errorf("store source: %w", k.err)
	}
	ks := k.ks
	if _, ok := reflect.New(ks.typ).Interface().(T); !ok {
		return fmt.Errorf("store source: stored %s objects are not %T", ks.gvk.Kind, k.obj)
	}
	items, sub, err := k.store.subscribe(ctx, ks, 0, true, &client.ListOptions{})
	if err != nil {
		return fmt.Errorf("store source %s: %w", k, err)
	}
	go k.run(ctx, q, ks, items, sub)
	return nil
}

// WaitForSync returns once the initial list has been handed to the handler, or with an error when ctx ends
// first.
func (k *kindSource[T, R]) WaitForSync(ctx context.Context) error {
	select {
	case <-k.synced:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("store source %s: initial list not delivered: %w", k, ctx.Err())
	}
}

// String names the source in the controller's logs.
func (k *kindSource[T, R]) String() string {
	if k.ks != nil {
		return "store source: " + k.ks.gvk.Kind
	}
	return fmt.Sprintf("store source: %T", k.obj)
}

func (k *kindSource[T, R]) run(ctx context.Context, q workqueue.TypedRateLimitingInterface[R], ks *kindStore, items []client.Object, sub *Subscription) {
	log := logf.FromContext(ctx).WithValues("source", k.String())
	// known is what the handler was told, by stored (immutable) version.
	known := map[types.NamespacedName]client.Object{}
	initial := true
	for {
		k.resync(ctx, q, known, items, initial)
		if initial {
			close(k.synced)
			initial = false
		}
		for ev := range sub.Events() {
			k.deliver(ctx, q, known, ev)
		}
		if ctx.Err() != nil || !errors.Is(sub.Err(), ErrFellBehind) {
			return
		}
		log.Info("Subscription fell behind the store's writers, re-listing", "known", len(known))
		var err error
		if items, sub, err = k.store.subscribe(ctx, ks, 0, true, &client.ListOptions{}); err != nil {
			if ctx.Err() == nil {
				log.Error(err, "Re-list failed; the source stops")
			}
			return
		}
	}
}

// resync hands the handler the difference between the listed items and what it was told.
func (k *kindSource[T, R]) resync(ctx context.Context, q workqueue.TypedRateLimitingInterface[R], known map[types.NamespacedName]client.Object, items []client.Object, initial bool) {
	seen := make(map[types.NamespacedName]bool, len(items))
	for _, o := range items {
		key := client.ObjectKeyFromObject(o)
		seen[key] = true
		prev, ok := known[key]
		known[key] = o
		switch {
		case !ok:
			k.create(ctx, q, o, initial)
		case prev.GetResourceVersion() != o.GetResourceVersion():
			k.update(ctx, q, prev, o)
		}
	}
	for key, prev := range known {
		if !seen[key] {
			delete(known, key)
			k.delete(ctx, q, prev, true)
		}
	}
}

func (k *kindSource[T, R]) deliver(ctx context.Context, q workqueue.TypedRateLimitingInterface[R], known map[types.NamespacedName]client.Object, ev Event) {
	key := client.ObjectKeyFromObject(ev.Object)
	prev := known[key]
	switch ev.Type {
	case watch.Added:
		known[key] = ev.Object
		k.create(ctx, q, ev.Object, false)
	case watch.Modified:
		known[key] = ev.Object
		if prev == nil {
			prev = ev.Old
		}
		k.update(ctx, q, prev, ev.Object)
	case watch.Deleted:
		delete(known, key)
		k.delete(ctx, q, ev.Object, false)
	}
}

func (k *kindSource[T, R]) create(ctx context.Context, q workqueue.TypedRateLimitingInterface[R], o client.Object, initial bool) {
	e := event.TypedCreateEvent[T]{Object: k.private(o), IsInInitialList: initial}
	for _, p := range k.preds {
		if !p.Create(e) {
			return
		}
	}
	k.handler.Create(ctx, e, q)
}

func (k *kindSource[T, R]) update(ctx context.Context, q workqueue.TypedRateLimitingInterface[R], old, o client.Object) {
	e := event.TypedUpdateEvent[T]{ObjectOld: k.private(old), ObjectNew: k.private(o)}
	for _, p := range k.preds {
		if !p.Update(e) {
			return
		}
	}
	k.handler.Update(ctx, e, q)
}

func (k *kindSource[T, R]) delete(ctx context.Context, q workqueue.TypedRateLimitingInterface[R], o client.Object, unknown bool) {
	e := event.TypedDeleteEvent[T]{Object: k.private(o), DeleteStateUnknown: unknown}
	for _, p := range k.preds {
		if !p.Delete(e) {
			return
		}
	}
	k.handler.Delete(ctx, e, q)
}

// private returns a copy of a stored object for code outside the store, or the object itself when the source
// shares them. Start checked the type.
func (k *kindSource[T, R]) private(o client.Object) T {
	if k.shared {
		return o.(T)
	}
	return o.DeepCopyObject().(T)
}
