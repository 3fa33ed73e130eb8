package store

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/virtxend/virtxend/api/v1alpha1"
)

func init() { logf.SetLogger(logr.Discard()) }

// eventually polls cond until it holds; the deadline only turns a hang into a failure.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(deadlockTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSourceDrivesController runs a real controller-runtime controller in local mode, as the daemon does: an
// unmanaged controller over the store's source, its reconciler writing status back into the store.
func TestSourceDrivesController(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := newTestStore(t, Options{})
	mustCreate(t, s, domain("early"))

	var mu sync.Mutex
	reconciled := map[string]int{}
	observed := map[string]int64{}
	rec := reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
		mu.Lock()
		reconciled[req.Name]++
		mu.Unlock()
		d := &v1alpha1.XenDomain{}
		if err := s.Get(ctx, req.NamespacedName, d); err != nil {
			if apierrors.IsNotFound(err) {
				mu.Lock()
				observed[req.Name] = -1
				mu.Unlock()
			}
			return reconcile.Result{}, client.IgnoreNotFound(err)
		}
		d.Status.ObservedGeneration = d.Generation
		if err := s.Status().Update(ctx, d); err != nil {
			return reconcile.Result{}, err
		}
		mu.Lock()
		observed[req.Name] = d.Generation
		mu.Unlock()
		return reconcile.Result{}, nil
	})
	c, err := controller.NewTypedUnmanaged("store-source-test", controller.TypedOptions[reconcile.Request]{
		Reconciler:         rec,
		SkipNameValidation: new(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	src := Kind(s, &v1alpha1.XenDomain{}, nil, predicate.TypedGenerationChangedPredicate[*v1alpha1.XenDomain]{})
	if err := c.Watch(src); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- c.Start(ctx) }()

	gen := func(name string) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			d := &v1alpha1.XenDomain{}
			if err := s.Get(ctx, client.ObjectKey{Namespace: "default", Name: name}, d); err != nil {
				return observed[name] == -1
			}
			return observed[name] == d.Generation && d.Status.ObservedGeneration == d.Generation
		}
	}
	eventually(t, "initial list reconciled", gen("early"))

	mustCreate(t, s, domain("late"))
	eventually(t, "create reconciled", gen("late"))

	d := mustGet(t, s, "late")
	d.Spec.Autostart = true
	if err := s.Update(ctx, d); err != nil {
		t.Fatal(err)
	}
	eventually(t, "update reconciled", gen("late"))
	if g := mustGet(t, s, "late"); g.Status.ObservedGeneration != 2 {
		t.Fatalf("observedGeneration %d", g.Status.ObservedGeneration)
	}

	if err := s.Delete(ctx, d); err != nil {
		t.Fatal(err)
	}
	eventually(t, "delete reconciled", gen("late"))

	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("controller: %v", err)
		}
	case <-time.After(deadlockTimeout):
		t.Fatal("controller did not stop")
	}
	mu.Lock()
	defer mu.Unlock()
	// The status writes are Update events the generation predicate filters out: no reconcile storm.
	if reconciled["early"] != 1 || reconciled["late"] > 3 {
		t.Errorf("reconciles: %v", reconciled)
	}
}

// TestSourceRelists makes the source fall behind (a handler that blocks while writers run, with a tiny buffer)
// and checks that it re-lists and converges on the store's state, reporting the deletion it missed.
func TestSourceRelists(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := newTestStore(t, Options{WatchBuffer: 4})
	mustCreate(t, s, domain("a"), domain("b"), domain("c"))

	var mu sync.Mutex
	view := map[types.NamespacedName]string{} // what the handler was told: name -> resourceVersion
	initial, unknownDeletes := 0, 0
	gate := make(chan struct{})
	var blockOnce sync.Once
	h := handler.TypedFuncs[*v1alpha1.XenDomain, reconcile.Request]{
		CreateFunc: func(_ context.Context, e event.TypedCreateEvent[*v1alpha1.XenDomain], _ workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			mu.Lock()
			defer mu.Unlock()
			if e.IsInInitialList {
				initial++
			}
			view[client.ObjectKeyFromObject(e.Object)] = e.Object.ResourceVersion
		},
		UpdateFunc: func(_ context.Context, e event.TypedUpdateEvent[*v1alpha1.XenDomain], _ workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			blockOnce.Do(func() { <-gate })
			mu.Lock()
			defer mu.Unlock()
			if view[client.ObjectKeyFromObject(e.ObjectOld)] != e.ObjectOld.ResourceVersion {
				t.Errorf("update of %s from %s, handler knew %s", e.ObjectOld.Name, e.ObjectOld.ResourceVersion, view[client.ObjectKeyFromObject(e.ObjectOld)])
			}
			e.ObjectNew.Labels = map[string]string{"handler": "mutated"} // private copy
			view[client.ObjectKeyFromObject(e.ObjectNew)] = e.ObjectNew.ResourceVersion
		},
		DeleteFunc: func(_ context.Context, e event.TypedDeleteEvent[*v1alpha1.XenDomain], _ workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			mu.Lock()
			defer mu.Unlock()
			if e.DeleteStateUnknown {
				unknownDeletes++
			}
			delete(view, client.ObjectKeyFromObject(e.Object))
		},
	}
	src := TypedKind[*v1alpha1.XenDomain, reconcile.Request](s, &v1alpha1.XenDomain{}, h)
	if err := src.Start(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := src.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if initial != 3 {
		t.Errorf("initial list delivered %d creates", initial)
	}
	mu.Unlock()

	// The first update blocks the handler; everything after it overflows the 4-event buffer.
	a := mustGet(t, s, "a")
	a.Spec.Paused = true
	if err := s.Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		b := mustGet(t, s, "b")
		b.Spec.Domain.Title = fmt.Sprint(i)
		if err := s.Update(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, domain("c")); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, domain("d"))
	close(gate)

	want := func() map[types.NamespacedName]string {
		list := &v1alpha1.XenDomainList{}
		if err := s.List(ctx, list); err != nil {
			t.Fatal(err)
		}
		m := map[types.NamespacedName]string{}
		for _, d := range list.Items {
			m[client.ObjectKeyFromObject(&d)] = d.ResourceVersion
			if d.Labels["handler"] != "" {
				t.Errorf("handler mutation reached the store")
			}
		}
		return m
	}()
	eventually(t, "source converges after re-list", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return maps.Equal(view, want)
	})
	mu.Lock()
	defer mu.Unlock()
	if unknownDeletes != 1 {
		t.Errorf("deletes with DeleteStateUnknown: %d, want 1 (c, missed while behind)", unknownDeletes)
	}
	if err := src.Start(ctx, nil); err == nil {
		t.Error("second Start succeeded")
	}
}

func TestSourceRefusesUnknownKind(t *testing.T) {
	s := newTestStore(t, Options{})
	type notStored struct{ v1alpha1.XenDomain }
	src := Kind[client.Object](s, &notStored{}, nil)
	if err := src.Start(context.Background(), nil); err == nil {
		t.Fatal("Start of a source for an unregistered type succeeded")
	}
}

// TestKindDefaultHandlerSharesObjects checks that Kind with its default handler hands predicates the stored
// objects themselves, not copies (a write costs no copy for the source), and still enqueues the key.
func TestKindDefaultHandlerSharesObjects(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := newTestStore(t, Options{})
	mustCreate(t, s, domain("a"))
	var mu sync.Mutex
	var seen []*v1alpha1.XenDomain
	pred := predicate.TypedFuncs[*v1alpha1.XenDomain]{
		CreateFunc: func(e event.TypedCreateEvent[*v1alpha1.XenDomain]) bool {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, e.Object)
			return true
		},
	}
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer q.ShutDown()
	src := Kind(s, &v1alpha1.XenDomain{}, nil, pred)
	if err := src.Start(ctx, q); err != nil {
		t.Fatal(err)
	}
	if err := src.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	stored, err := Shared[*v1alpha1.XenDomain](s, types.NamespacedName{Namespace: v1alpha1.LocalNamespace, Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != stored {
		t.Errorf("predicate saw %d objects, the stored one: %v", len(seen), len(seen) == 1 && seen[0] == stored)
	}
	if q.Len() != 1 {
		t.Errorf("queue holds %d requests, want 1", q.Len())
	}
}
