//go:build xenlight

package xenlight

import (
	"context"
	"sync"
	"time"

	"github.com/virtxend/virtxend/libxl"
)

// hub fans events out to subscribers. Publishing never blocks (it runs in libxl's callbacks, on whatever thread
// is inside libxl): a subscriber whose buffer is full loses the event and finds an EventOverflow in its stream
// instead (the buffer keeps one slot for it).
type hub struct {
	size int

	mu     sync.Mutex
	closed bool
	subs   map[*subscriber]struct{}
}

type subscriber struct {
	ch chan libxl.Event
	// overflowQueued: the last thing queued is an EventOverflow, so a second one would say nothing new.
	overflowQueued bool
	done           chan struct{}
}

func newHub(size int) *hub {
	return &hub{size: max(size, 2), subs: make(map[*subscriber]struct{})}
}

// subscribe returns a channel of the events published from now on; it is closed when ctx ends or the hub
// closes.
func (h *hub) subscribe(ctx context.Context) (<-chan libxl.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := &subscriber{ch: make(chan libxl.Event, h.size), done: make(chan struct{})}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
			h.drop(s)
		case <-s.done:
		}
	}()
	return s.ch, nil
}

func (h *hub) drop(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.ch)
	}
}

// publish queues ev for every subscriber without ever waiting for one.
func (h *hub) publish(ev libxl.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if len(s.ch) < cap(s.ch)-1 {
			select {
			case s.ch <- ev:
				s.overflowQueued = false
			default:
			}
			continue
		}
		h.overflow(s, ev.Time)
	}
}

// lost tells every subscriber that events may have been lost (libxl reported a disaster in its event
// machinery): they re-list.
func (h *hub) lost(at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		h.overflow(s, at)
	}
}

// overflow queues an EventOverflow for s unless one is already the last thing queued; called with h.mu held.
func (h *hub) overflow(s *subscriber, at time.Time) {
	if s.overflowQueued {
		return
	}
	select {
	case s.ch <- libxl.Event{Type: libxl.EventOverflow, Time: at}:
		s.overflowQueued = true
	default:
	}
}

// close ends every subscription.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		delete(h.subs, s)
		close(s.ch)
		close(s.done)
	}
}

// Events returns the stream of domain events from now on: EventShutdown and EventDeath from libxl's domain
// death watch (armed on every guest), EventCreated for the domains this adapter creates or restores and for
// those other toolstacks create, EventStateChanged when a guest is paused or unpaused. It is closed when ctx
// ends or the hypervisor closes. A subscriber that falls more than Options.EventBuffer events behind loses
// events and receives libxl.EventOverflow: it must re-list.
func (h *Hypervisor) Events(ctx context.Context) (<-chan libxl.Event, error) {
	if h.closed.Load() {
		return nil, ErrClosed
	}
	return h.events.subscribe(ctx)
}
