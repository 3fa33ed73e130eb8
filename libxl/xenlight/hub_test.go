//go:build xenlight

package xenlight

import (
	"context"
	"testing"
	"time"

	"github.com/virtxend/virtxend/libxl"
)

func TestHubFanOut(t *testing.T) {
	h := newHub(8)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, _ := h.subscribe(ctx)
	b, _ := h.subscribe(ctx)
	h.publish(libxl.Event{Type: libxl.EventDeath, DomID: 4})
	for _, ch := range []<-chan libxl.Event{a, b} {
		if ev := <-ch; ev.Type != libxl.EventDeath || ev.DomID != 4 {
			t.Errorf("got %+v", ev)
		}
	}
}

func TestHubOverflowNeverBlocks(t *testing.T) {
	h := newHub(4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, _ := h.subscribe(ctx)
	done := make(chan struct{})
	go func() {
		for i := range 100 {
			h.publish(libxl.Event{Type: libxl.EventShutdown, DomID: libxl.DomID(i + 1)})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("publish blocked on a subscriber that does not read")
	}
	var got []libxl.Event
	for len(ch) > 0 {
		got = append(got, <-ch)
	}
	if len(got) != 4 {
		t.Fatalf("buffered %d events, want 4: %+v", len(got), got)
	}
	for i, ev := range got[:3] {
		if ev.Type != libxl.EventShutdown || ev.DomID != libxl.DomID(i+1) {
			t.Errorf("event %d = %+v", i, ev)
		}
	}
	if got[3].Type != libxl.EventOverflow {
		t.Errorf("last = %+v, want an overflow", got[3])
	}
	// Once read, events flow again, and a later overflow is reported again.
	h.publish(libxl.Event{Type: libxl.EventDeath, DomID: 200})
	if ev := <-ch; ev.Type != libxl.EventDeath {
		t.Errorf("after draining: %+v", ev)
	}
}

func TestHubLost(t *testing.T) {
	h := newHub(4)
	ch, _ := h.subscribe(context.Background())
	h.lost(time.Now())
	h.lost(time.Now())
	if ev := <-ch; ev.Type != libxl.EventOverflow {
		t.Errorf("got %+v", ev)
	}
	if len(ch) != 0 {
		t.Errorf("a second overflow was queued")
	}
}

func TestHubClose(t *testing.T) {
	h := newHub(4)
	ctx, cancel := context.WithCancel(context.Background())
	a, _ := h.subscribe(ctx)
	b, _ := h.subscribe(context.Background())
	cancel()
	if _, ok := <-a; ok {
		t.Error("subscription survived its context")
	}
	h.close()
	if _, ok := <-b; ok {
		t.Error("subscription survived close")
	}
	if _, err := h.subscribe(context.Background()); err != ErrClosed {
		t.Errorf("subscribe after close = %v, want ErrClosed", err)
	}
	h.publish(libxl.Event{}) // no panic on a closed hub
}
