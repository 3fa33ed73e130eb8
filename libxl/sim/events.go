package sim

import (
	"context"
	"sync"

	"github.com/virtxend/virtxend/libxl"
)

// hub fans events out to subscribers. Publishing never blocks: a subscriber whose buffer is full loses the
// event and finds an EventOverflow in its stream instead (the buffer keeps one slot for it).
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
		case <-s.done: // the hub closed s
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
		if !s.overflowQueued {
			select {
			case s.ch <- libxl.Event{Type: libxl.EventOverflow, Time: ev.Time}:
				s.overflowQueued = true
			default:
			}
		}
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

// Events returns the stream of domain events (created, state-changed on pause and unpause, shutdown, death)
// from now on. It is closed when ctx ends or the host closes. A subscriber that falls more than
// Options.EventBuffer events behind loses events and receives libxl.EventOverflow: it must re-list.
func (h *Host) Events(ctx context.Context) (<-chan libxl.Event, error) {
	return h.events.subscribe(ctx)
}
