package store

import (
	"context"
	"errors"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ErrFellBehind is a Subscription's Err after the store closed it because its buffer was full: the
// subscriber missed events and must re-list.
var ErrFellBehind = errors.New("subscriber fell behind the store's writers: re-list")

// Event is one change to a stored object, as a Subscription delivers it.
type Event struct {
	// Type is watch.Added, watch.Modified or watch.Deleted. With a selection, an object that starts matching
	// arrives as Added and one that stops matching as Deleted, as from an API server's watch.
	Type watch.EventType
	// Object is the stored object after the change; for Deleted, its last state with the deletion's
	// resourceVersion. It is shared with the store and other subscribers: read it, DeepCopy it before
	// modifying it.
	Object client.Object
	// Old is the stored object before the change, for Modified; nil otherwise. Shared like Object.
	Old client.Object
}

// Subscription is a live feed of the changes to one kind, the store's light-weight watch. Events arrive in
// resourceVersion order. The store never waits for a subscriber: when the buffer is full the subscription is
// closed with Err ErrFellBehind, and the subscriber must re-list (ListAndSubscribe) to catch up.
type Subscription struct {
	store     *Store
	ks        *kindStore
	match     *matcher
	ch        chan Event
	rv        string
	stopAfter func() bool

	// guarded by store.mu
	closed bool
	err    error
}

// Subscribe starts a Subscription to the objects of list's kind selected by opts (namespace, label and field
// selectors), starting after the store's current resourceVersion, or after opts' Raw.ResourceVersion when that
// is given and no write to the kind happened since (else the error is a 410 Expired, as from an API server).
// buf is the number of events it may fall behind by before it is closed; zero means the store's default. It
// ends when ctx is done or Stop is called.
func (s *Store) Subscribe(ctx context.Context, list client.ObjectList, buf int, opts ...client.ListOption) (*Subscription, error) {
	ks, err := s.kindOfList(list)
	if err != nil {
		return nil, err
	}
	_, sub, err := s.subscribe(ctx, ks, buf, false, (&client.ListOptions{}).ApplyOptions(opts))
	return sub, err
}

// ListAndSubscribe fills list as List does and starts a Subscription from exactly the list's resourceVersion:
// every later change arrives, none that the list already shows.
func (s *Store) ListAndSubscribe(ctx context.Context, list client.ObjectList, buf int, opts ...client.ListOption) (*Subscription, error) {
	ks, err := s.kindOfList(list)
	if err != nil {
		return nil, err
	}
	items, sub, err := s.subscribe(ctx, ks, buf, true, (&client.ListOptions{}).ApplyOptions(opts))
	if err != nil {
		return nil, err
	}
	if err := fillList(ks, list, items, sub.rvNum()); err != nil {
		sub.Stop()
		return nil, err
	}
	return sub, nil
}

// subscribe registers a subscription, and when withList is set returns the selected stored objects as of the
// subscription's start, atomically.
func (s *Store) subscribe(ctx context.Context, ks *kindStore, buf int, withList bool, lo *client.ListOptions) ([]client.Object, *Subscription, error) {
	if buf <= 0 {
		buf = s.watchBuffer
	}
	var from uint64
	if lo.Raw != nil && !withList {
		var err error
		if from, err = parseRV(lo.Raw.ResourceVersion); err != nil {
			return nil, nil, err
		}
	}
	sub := &Subscription{store: s, ks: ks, ch: make(chan Event, buf)}
	sub.stopAfter = context.AfterFunc(ctx, func() { sub.close(ctx.Err()) })

	s.mu.Lock()
	defer s.mu.Unlock()
	if sub.closed {
		return nil, nil, ctx.Err()
	}
	m, err := ks.matcher(lo)
	if err == nil && from != 0 {
		switch {
		case from < ks.lastRV:
			err = apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d (%d)", from, ks.lastRV))
		case from > s.rv:
			err = apierrors.NewBadRequest(fmt.Sprintf("resource version %d is newer than the store's %d", from, s.rv))
		}
	}
	if err != nil {
		sub.stopAfter()
		return nil, nil, err
	}
	var items []client.Object
	if withList {
		items = ks.selectLocked(m)
	}
	sub.match = m
	sub.rv = formatRV(s.rv)
	ks.subs[sub] = struct{}{}
	return items, sub, nil
}

// Events returns the channel of events. It is closed when the subscription ends; Err then says why.
func (sub *Subscription) Events() <-chan Event { return sub.ch }

// ResourceVersion returns the resourceVersion the subscription started after.
func (sub *Subscription) ResourceVersion() string { return sub.rv }

func (sub *Subscription) rvNum() uint64 {
	rv, _ := parseRV(sub.rv)
	return rv
}

// Err returns nil while the subscription is open or after Stop, ErrFellBehind after the store closed it, or
// the context's error after its context ended.
func (sub *Subscription) Err() error {
	sub.store.mu.RLock()
	defer sub.store.mu.RUnlock()
	return sub.err
}

// Stop ends the subscription and closes its channel. It is safe to call more than once and concurrently with
// writers.
func (sub *Subscription) Stop() {
	sub.close(nil)
	sub.stopAfter()
}

func (sub *Subscription) close(err error) {
	sub.store.mu.Lock()
	defer sub.store.mu.Unlock()
	sub.closeLocked(err)
}

// closeLocked closes the subscription. Only writers holding store.mu send on the channel, so closing under the
// same lock can never race with a send.
func (sub *Subscription) closeLocked(err error) {
	if sub.closed {
		return
	}
	sub.closed = true
	sub.err = err
	delete(sub.ks.subs, sub)
	close(sub.ch)
}

// notifyLocked hands one change to every subscriber of the kind without blocking, closing those whose buffer is
// full. Call with s.mu held for writing.
func (ks *kindStore) notifyLocked(typ watch.EventType, old, obj client.Object) {
	for sub := range ks.subs {
		ev, ok := sub.filter(typ, old, obj)
		if !ok {
			continue
		}
		select {
		case sub.ch <- ev:
		default:
			sub.closeLocked(ErrFellBehind)
		}
	}
}

// filter turns a change into the event this subscriber sees, if any.
func (sub *Subscription) filter(typ watch.EventType, old, obj client.Object) (Event, bool) {
	if sub.match == nil {
		return Event{Type: typ, Object: obj, Old: old}, true
	}
	if typ != watch.Modified {
		return Event{Type: typ, Object: obj}, sub.match.matches(obj)
	}
	was, is := sub.match.matches(old), sub.match.matches(obj)
	switch {
	case was && is:
		return Event{Type: watch.Modified, Object: obj, Old: old}, true
	case is:
		return Event{Type: watch.Added, Object: obj}, true
	case was:
		return Event{Type: watch.Deleted, Object: obj}, true
	}
	return Event{}, false
}

// Watch implements client.WithWatch over a Subscription with the store's default buffer. Every event carries a
// deep copy. A watcher that falls behind receives an Error event with a 410 Expired status after the events it
// had buffered, then its channel closes: re-list and watch again. Raw.ResourceVersion is honoured as Subscribe
// describes; SendInitialEvents is not supported (use ListAndWatch).
func (s *Store) Watch(ctx context.Context, list client.ObjectList, opts ...client.ListOption) (watch.Interface, error) {
	sub, err := s.Subscribe(ctx, list, 0, opts...)
	if err != nil {
		return nil, err
	}
	return newWatcher(sub), nil
}

// ListAndWatch fills list as List does and returns a watch starting exactly at the list's resourceVersion,
// with no gap between them.
func (s *Store) ListAndWatch(ctx context.Context, list client.ObjectList, opts ...client.ListOption) (watch.Interface, error) {
	sub, err := s.ListAndSubscribe(ctx, list, 0, opts...)
	if err != nil {
		return nil, err
	}
	return newWatcher(sub), nil
}

// watcher adapts a Subscription to watch.Interface, copying each object in the consumer's time, not the
// writer's.
type watcher struct {
	sub  *Subscription
	out  chan watch.Event
	done chan struct{}
	once sync.Once
}

func newWatcher(sub *Subscription) *watcher {
	w := &watcher{sub: sub, out: make(chan watch.Event), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *watcher) run() {
	defer close(w.out)
	for ev := range w.sub.Events() {
		select {
		case w.out <- watch.Event{Type: ev.Type, Object: ev.Object.DeepCopyObject()}:
		case <-w.done:
			return
		}
	}
	if errors.Is(w.sub.Err(), ErrFellBehind) {
		st := apierrors.NewResourceExpired("watch closed: the watcher fell behind the store's writers; re-list").Status()
		select {
		case w.out <- watch.Event{Type: watch.Error, Object: &st}:
		case <-w.done:
		}
	}
}

// Stop ends the watch; ResultChan is closed soon after.
func (w *watcher) Stop() {
	w.once.Do(func() { close(w.done) })
	w.sub.Stop()
}

// ResultChan returns the events.
func (w *watcher) ResultChan() <-chan watch.Event { return w.out }
