package sim

import (
	"context"
	"testing"
	"time"

	"github.com/virtxend/virtxend/libxl"
)

// TestEventOverflow: 10,000 events into a subscriber that never reads; the writer never blocks, and the
// subscriber finds the events that fit, then one EventOverflow.
func TestEventOverflow(t *testing.T) {
	hb := libxl.NewEventHub(64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stalled, err := hb.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 10000 {
			hb.Publish(libxl.Event{Type: libxl.EventStateChanged, DomID: libxl.DomID(i + 1)})
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("publisher blocked on a stalled subscriber")
	}
	if len(stalled) != 64 {
		t.Fatalf("buffered %d events, want 64", len(stalled))
	}
	for i := range 63 {
		if ev := <-stalled; ev.Type != libxl.EventStateChanged || ev.DomID != libxl.DomID(i+1) {
			t.Fatalf("event %d = %+v", i, ev)
		}
	}
	if ev := <-stalled; ev.Type != libxl.EventOverflow {
		t.Fatalf("last buffered event %+v, want overflow", ev)
	}
	// After the overflow, new events flow again.
	hb.Publish(libxl.Event{Type: libxl.EventDeath, DomID: 7})
	if ev := <-stalled; ev.Type != libxl.EventDeath {
		t.Fatalf("after overflow: %+v", ev)
	}
	cancel()
	waitClosed(t, stalled)
}

// TestEventOverflowThroughHost: a stalled subscriber does not slow the host or the other subscribers.
func TestEventOverflowThroughHost(t *testing.T) {
	h := newHost(t, func(o *Options) { o.EventBuffer = 8 })
	ctx := context.Background()
	stalled := subscribe(t, h)
	live := subscribe(t, h)
	id := mustCreate(t, h, cfg("flip", 1024, 1), libxl.CreateOptions{})
	waitEvent(t, live, libxl.EventCreated, id)
	for range 50 {
		if err := h.PauseDomain(ctx, id); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, live, libxl.EventStateChanged, id)
		if err := h.UnpauseDomain(ctx, id); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, live, libxl.EventStateChanged, id)
	}
	var overflow bool
	for len(stalled) > 0 {
		if ev := <-stalled; ev.Type == libxl.EventOverflow {
			overflow = true
		}
	}
	if !overflow {
		t.Fatal("stalled subscriber was not told it lost events")
	}
}

func TestEventsEndWithContext(t *testing.T) {
	h := newHost(t)
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := h.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	waitClosed(t, ch)
	// Publishing after the subscriber left is fine.
	mustCreate(t, h, cfg("x", 1024, 1), libxl.CreateOptions{})
	_, err = h.Events(ctx)
	wantErr(t, err, context.Canceled)
}

func TestEventSequence(t *testing.T) {
	h := newHost(t)
	ctx := context.Background()
	ev := subscribe(t, h)
	id := mustCreate(t, h, cfg("seq", 1024, 1), libxl.CreateOptions{Paused: true})
	steps := []func() error{
		func() error { return h.UnpauseDomain(ctx, id) },
		func() error { return h.PauseDomain(ctx, id) },
		func() error { return h.UnpauseDomain(ctx, id) },
		func() error { return h.ShutdownDomain(ctx, id) },
		func() error { return h.DestroyDomain(ctx, id) },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			t.Fatal(err)
		}
	}
	want := []struct {
		typ   libxl.EventType
		state libxl.State
	}{
		{libxl.EventCreated, libxl.StatePaused},
		{libxl.EventStateChanged, libxl.StateRunning},
		{libxl.EventStateChanged, libxl.StatePaused},
		{libxl.EventStateChanged, libxl.StateRunning},
		{libxl.EventShutdown, libxl.StateShutdown},
		{libxl.EventDeath, libxl.StateDying},
	}
	for i, w := range want {
		select {
		case e := <-ev:
			if e.Type != w.typ || e.State != w.state || e.DomID != id || e.Name != "seq" || e.UUID == "" || e.Time.IsZero() {
				t.Fatalf("event %d = %+v, want %s/%s", i, e, w.typ, w.state)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("missing event %d (%s)", i, w.typ)
		}
	}
}

func waitClosed(t *testing.T, ch <-chan libxl.Event) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("event channel not closed")
		}
	}
}
