package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtxend/virtxend/api/v1alpha1"
)

// deadlockTimeout only turns a hang into a failure; nothing is timed against it.
const deadlockTimeout = 2 * time.Minute

func next(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch closed")
		}
		return ev
	case <-time.After(deadlockTimeout):
		t.Fatal("no event")
	}
	return watch.Event{}
}

func rvOf(t *testing.T, o interface{ GetResourceVersion() string }) uint64 {
	t.Helper()
	rv, err := strconv.ParseUint(o.GetResourceVersion(), 10, 64)
	if err != nil {
		t.Fatalf("resourceVersion %q: %v", o.GetResourceVersion(), err)
	}
	return rv
}

func TestWatchEvents(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	w, err := s.Watch(ctx, &v1alpha1.XenDomainList{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	mustCreate(t, s, domain("a", withFinalizers("f")))
	d := mustGet(t, s, "a")
	d.Spec.Autostart = true
	if err := s.Update(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, d); err != nil { // no-op: no event
		t.Fatal(err)
	}
	d.Status.State = v1alpha1.StateRunning
	if err := s.Status().Update(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, d); err != nil { // sets deletionTimestamp
		t.Fatal(err)
	}
	d = mustGet(t, s, "a")
	d.Finalizers = nil
	if err := s.Update(ctx, d); err != nil { // removes
		t.Fatal(err)
	}

	want := []watch.EventType{watch.Added, watch.Modified, watch.Modified, watch.Modified, watch.Deleted}
	var last uint64
	for i, typ := range want {
		ev := next(t, w)
		if ev.Type != typ {
			t.Fatalf("event %d: %s, want %s", i, ev.Type, typ)
		}
		o := ev.Object.(*v1alpha1.XenDomain)
		if rv := rvOf(t, o); rv <= last {
			t.Fatalf("event %d: resourceVersion %d after %d", i, rv, last)
		} else {
			last = rv
		}
		if o.Kind != "XenDomain" {
			t.Errorf("event %d: TypeMeta %v", i, o.TypeMeta)
		}
		o.Labels = map[string]string{"mutated": "yes"} // a private copy: must not reach the store
	}
	if s.ResourceVersion() != strconv.FormatUint(last, 10) {
		t.Errorf("last event at %d, store at %s", last, s.ResourceVersion())
	}
}

func TestWatchSelection(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	w, err := s.Watch(ctx, &v1alpha1.XenDomainList{}, client.MatchingLabels{"tier": "web"}, client.InNamespace("default"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	mustCreate(t, s, domain("db", withLabels("tier", "db")), domain("a", withLabels("tier", "db")))
	mustCreate(t, s, domain("other", withLabels("tier", "web"), func(d *v1alpha1.XenDomain) { d.Namespace = "x" }))
	d := mustGet(t, s, "a")
	d.Labels["tier"] = "web" // enters the selection
	if err := s.Update(ctx, d); err != nil {
		t.Fatal(err)
	}
	d.Spec.Paused = true
	if err := s.Update(ctx, d); err != nil {
		t.Fatal(err)
	}
	d.Labels["tier"] = "db" // leaves it
	if err := s.Update(ctx, d); err != nil {
		t.Fatal(err)
	}
	for i, typ := range []watch.EventType{watch.Added, watch.Modified, watch.Deleted} {
		ev := next(t, w)
		if ev.Type != typ || ev.Object.(client.Object).GetName() != "a" {
			t.Fatalf("event %d: %s %s, want %s a", i, ev.Type, ev.Object.(client.Object).GetName(), typ)
		}
	}
	select {
	case ev := <-w.ResultChan():
		t.Fatalf("unexpected event %s", ev.Type)
	default:
	}
}

func TestWatchFromResourceVersion(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	mustCreate(t, s, domain("a"))
	rv := s.ResourceVersion()
	raw := func(rv string) client.ListOption {
		return &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv}}
	}
	w, err := s.Watch(ctx, &v1alpha1.XenDomainList{}, raw(rv))
	if err != nil {
		t.Fatalf("watch from current: %v", err)
	}
	w.Stop()
	mustCreate(t, s, domain("b"))
	if _, err := s.Watch(ctx, &v1alpha1.XenDomainList{}, raw(rv)); !apierrors.IsResourceExpired(err) {
		t.Fatalf("watch from before the last write: %v", err)
	}
	if _, err := s.Watch(ctx, &v1alpha1.XenDomainList{}, raw("99")); !apierrors.IsBadRequest(err) {
		t.Fatalf("watch from the future: %v", err)
	}
}

func TestSubscriptionEnds(t *testing.T) {
	s := newTestStore(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	sub, err := s.Subscribe(ctx, &v1alpha1.XenDomainList{}, 4)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	for range sub.Events() {
	}
	if !errors.Is(sub.Err(), context.Canceled) {
		t.Fatalf("Err after cancel: %v", sub.Err())
	}
	sub.Stop() // idempotent

	sub, err = s.Subscribe(context.Background(), &v1alpha1.XenDomainList{}, 4)
	if err != nil {
		t.Fatal(err)
	}
	sub.Stop()
	if _, ok := <-sub.Events(); ok || sub.Err() != nil {
		t.Fatalf("after Stop: open=%v err=%v", ok, sub.Err())
	}
	mustCreate(t, s, domain("a")) // no subscriber left to send to
}

// TestListAndWatchHasNoGap lists while a writer runs: the list plus the events that follow must account for
// every write exactly once.
func TestListAndWatchHasNoGap(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	mustCreate(t, s, domain("a"))
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			p := client.RawPatch("application/merge-patch+json", fmt.Appendf(nil, `{"spec":{"domain":{"title":"t%d"}}}`, i))
			if err := s.Patch(ctx, domain("a"), p); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	time.Sleep(10 * time.Millisecond)
	list := &v1alpha1.XenDomainList{}
	sub, err := s.ListAndSubscribe(ctx, list, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	time.Sleep(10 * time.Millisecond)
	close(stop)
	<-done

	listRV := rvOf(t, list)
	if sub.ResourceVersion() != list.ResourceVersion || rvOf(t, &list.Items[0]) != listRV {
		t.Fatalf("list at %d, item at %s, subscription from %s", listRV, list.Items[0].ResourceVersion, sub.ResourceVersion())
	}
	final := rvOf(t, mustGet(t, s, "a"))
	want := listRV + 1
	for want <= final {
		ev := <-sub.Events()
		if rv := rvOf(t, ev.Object); rv != want {
			t.Fatalf("event at %d, want %d", rv, want)
		}
		if rvOf(t, ev.Old) != want-1 {
			t.Fatalf("event at %d has old at %s", want, ev.Old.GetResourceVersion())
		}
		want++
	}
	if len(sub.Events()) != 0 {
		t.Fatalf("%d events beyond the last write", len(sub.Events()))
	}
}

// TestStalledWatcher is the fan-out's contract: 10,000 writes with a watcher that never reads. The writer
// finishes, the stalled watcher is closed with a 410 Expired after its buffer, and watchers that keep up see
// every event in order.
func TestStalledWatcher(t *testing.T) {
	const writes = 10000
	const objects = 100
	ctx := context.Background()
	s := newTestStore(t, Options{})

	stalled, err := s.Watch(ctx, &v1alpha1.XenDomainList{})
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Stop()
	// A healthy watch.Interface consumer with the default buffer; the writer lets it catch up every 512 writes,
	// so it never falls a full buffer behind.
	healthy, err := s.Watch(ctx, &v1alpha1.XenDomainList{})
	if err != nil {
		t.Fatal(err)
	}
	defer healthy.Stop()
	// A subscriber whose buffer holds everything, never paced.
	roomy, err := s.Subscribe(ctx, &v1alpha1.XenDomainList{}, writes)
	if err != nil {
		t.Fatal(err)
	}
	defer roomy.Stop()

	var mu sync.Mutex
	seen := 0
	caughtUp := sync.NewCond(&mu)
	healthyDone := make(chan error, 1)
	go func() {
		var last uint64
		for n := 0; n < writes; n++ {
			ev, ok := <-healthy.ResultChan()
			if !ok || ev.Type == watch.Error {
				healthyDone <- fmt.Errorf("healthy watcher closed after %d events: %v", n, ev.Object)
				return
			}
			rv, _ := strconv.ParseUint(ev.Object.(client.Object).GetResourceVersion(), 10, 64)
			if rv != last+1 {
				healthyDone <- fmt.Errorf("healthy watcher: event %d at resourceVersion %d after %d", n, rv, last)
				return
			}
			last = rv
			mu.Lock()
			seen++
			caughtUp.Broadcast()
			mu.Unlock()
		}
		healthyDone <- nil
	}()

	writerDone := make(chan error, 1)
	go func() {
		for i := range writes {
			var err error
			if i < objects {
				err = s.Create(ctx, domain(fmt.Sprintf("d%03d", i)))
			} else {
				p := client.RawPatch("application/merge-patch+json", fmt.Appendf(nil, `{"spec":{"domain":{"title":"w%d"}}}`, i))
				err = s.Patch(ctx, domain(fmt.Sprintf("d%03d", i%objects)), p)
			}
			if err != nil {
				writerDone <- err
				return
			}
			if (i+1)%512 == 0 {
				mu.Lock()
				for seen < i+1 {
					caughtUp.Wait()
				}
				mu.Unlock()
			}
		}
		writerDone <- nil
	}()

	for name, ch := range map[string]chan error{"writer": writerDone, "healthy watcher": healthyDone} {
		select {
		case err := <-ch:
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		case <-time.After(deadlockTimeout):
			t.Fatalf("%s did not finish: deadlock", name)
		}
	}
	if s.ResourceVersion() != strconv.Itoa(writes) {
		t.Fatalf("store at resourceVersion %s after %d writes", s.ResourceVersion(), writes)
	}

	// The roomy subscriber has all 10,000 in order.
	for i := 1; i <= writes; i++ {
		ev := <-roomy.Events()
		if rv := rvOf(t, ev.Object); rv != uint64(i) {
			t.Fatalf("roomy subscriber: event %d at resourceVersion %d", i, rv)
		}
	}

	// The stalled watcher was closed: its buffered events, a 410 Expired error, then the end.
	n := 0
	for ev := range stalled.ResultChan() {
		if ev.Type == watch.Error {
			st, ok := ev.Object.(*metav1.Status)
			if !ok || !apierrors.IsResourceExpired(apierrors.FromObject(st)) {
				t.Fatalf("stalled watcher error event: %#v", ev.Object)
			}
			if _, open := <-stalled.ResultChan(); open {
				t.Fatal("stalled watcher open after its error event")
			}
			break
		}
		n++
	}
	if n < DefaultWatchBuffer || n > DefaultWatchBuffer+1 {
		t.Fatalf("stalled watcher delivered %d events before closing, want its buffer (%d)", n, DefaultWatchBuffer)
	}
}

// TestConcurrentWritersAndWatchers races writers against watchers that start, lag, stop and get cancelled:
// no write may block or panic.
func TestConcurrentWritersAndWatchers(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{WatchBuffer: 8})
	for i := range 10 {
		mustCreate(t, s, domain(fmt.Sprintf("d%d", i)))
	}
	var writers, watchers sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		writers.Go(func() {
			for i := range 500 {
				d := &v1alpha1.XenDomain{}
				if err := s.Get(ctx, client.ObjectKey{Namespace: "default", Name: fmt.Sprintf("d%d", (w+i)%10)}, d); err != nil {
					t.Error(err)
					return
				}
				d.Spec.Domain.Title = fmt.Sprintf("%d-%d", w, i)
				if err := s.Update(ctx, d); err != nil && !apierrors.IsConflict(err) {
					t.Error(err)
					return
				}
			}
		})
	}
	for i := range 4 {
		watchers.Go(func() {
			for {
				wctx, cancel := context.WithCancel(ctx)
				w, err := s.Watch(wctx, &v1alpha1.XenDomainList{})
				if err != nil {
					t.Error(err)
					cancel()
					return
				}
				for range 3 {
					select {
					case <-w.ResultChan():
					case <-stop:
						w.Stop()
						cancel()
						return
					}
				}
				if i%2 == 0 {
					w.Stop()
				}
				cancel()
			}
		})
	}
	done := make(chan struct{})
	go func() { writers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(deadlockTimeout):
		t.Fatal("writers did not finish")
	}
	close(stop)
	watchers.Wait()
}

// TestOnCreateIsInTheFirstVersion: what Options.OnCreate sets on a new object is in the caller's object, the stored
// one and the first watch event.
func TestOnCreateIsInTheFirstVersion(t *testing.T) {
	s := newTestStore(t, Options{OnCreate: func(o client.Object) {
		o.SetFinalizers(append(o.GetFinalizers(), "test.io/hold"))
	}})
	ctx := context.Background()
	w, err := s.Watch(ctx, &v1alpha1.XenDomainList{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	in := domain("web")
	if err := s.Create(ctx, in); err != nil {
		t.Fatal(err)
	}
	if got := in.Finalizers; len(got) != 1 || got[0] != "test.io/hold" {
		t.Fatalf("created object's finalizers = %v", got)
	}
	ev := next(t, w)
	if x := ev.Object.(*v1alpha1.XenDomain); ev.Type != watch.Added || len(x.Finalizers) != 1 || x.ResourceVersion != in.ResourceVersion {
		t.Fatalf("first event %s rv %s finalizers %v, want Added rv %s with the finalizer", ev.Type, x.ResourceVersion, x.Finalizers, in.ResourceVersion)
	}
	var got v1alpha1.XenDomain
	if err := s.Get(ctx, client.ObjectKeyFromObject(in), &got); err != nil || len(got.Finalizers) != 1 {
		t.Fatalf("stored finalizers %v (%v)", got.Finalizers, err)
	}
}
