package libxl

import (
	"context"
	"testing"
	"time"
)

func TestEventHubFanOut(t *testing.T) {
	h := NewEventHub(8)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, _ := h.Subscribe(ctx)
	b, _ := h.Subscribe(ctx)
	h.Publish(Event{Type: EventDeath, DomID: 4})
	for _, ch := range []<-chan Event{a, b} {
		if ev := <-ch; ev.Type != EventDeath || ev.DomID != 4 {
			t.Errorf("got %+v", ev)
		}
	}
}

func TestEventHubOverflowNeverBlocks(t *testing.T) {
	h := NewEventHub(4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, _ := h.Subscribe(ctx)
	done := make(chan struct{})
	go func() {
		for i := range 100 {
			h.Publish(Event{Type: EventShutdown, DomID: DomID(i + 1)})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("publish blocked on a subscriber that does not read")
	}
	var got []Event
	for len(ch) > 0 {
		got = append(got, <-ch)
	}
	if len(got) != 4 {
		t.Fatalf("buffered %d events, want 4: %+v", len(got), got)
	}
	for i, ev := range got[:3] {
		if ev.Type != EventShutdown || ev.DomID != DomID(i+1) {
			t.Errorf("event %d = %+v", i, ev)
		}
	}
	if got[3].Type != EventOverflow {
		t.Errorf("last = %+v, want an overflow", got[3])
	}
	// Once read, events flow again, and a later overflow is reported again.
	h.Publish(Event{Type: EventDeath, DomID: 200})
	if ev := <-ch; ev.Type != EventDeath {
		t.Errorf("after draining: %+v", ev)
	}
}

func TestEventHubLost(t *testing.T) {
	h := NewEventHub(4)
	ch, _ := h.Subscribe(context.Background())
	h.Lost(time.Now())
	h.Lost(time.Now())
	if ev := <-ch; ev.Type != EventOverflow {
		t.Errorf("got %+v", ev)
	}
	if len(ch) != 0 {
		t.Errorf("a second overflow was queued")
	}
}

func TestEventHubClose(t *testing.T) {
	h := NewEventHub(4)
	ctx, cancel := context.WithCancel(context.Background())
	a, _ := h.Subscribe(ctx)
	b, _ := h.Subscribe(context.Background())
	cancel()
	if _, ok := <-a; ok {
		t.Error("subscription survived its context")
	}
	h.Close()
	if _, ok := <-b; ok {
		t.Error("subscription survived close")
	}
	if _, err := h.Subscribe(context.Background()); err != ErrHubClosed {
		t.Errorf("subscribe after close = %v, want ErrClosed", err)
	}
	h.Publish(Event{}) // no panic on a closed hub
}
