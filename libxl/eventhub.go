package libxl

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrHubClosed is returned by EventHub.Subscribe after Close.
var ErrHubClosed = errors.New("event hub closed")

// EventHub fans a backend's events out to the subscribers of its Events method, with the semantics that method
// promises: publishing never blocks (a backend may publish from inside libxl's callbacks), and a subscriber
// whose buffer is full loses the event and finds an EventOverflow in its stream instead (the buffer keeps one
// slot for it), after which it must re-list.
type EventHub struct {
	size int

	mu     sync.Mutex
	closed bool
	subs   map[*hubSubscriber]struct{}
}

type hubSubscriber struct {
	ch chan Event
	// overflowQueued: the last thing queued is an EventOverflow, so a second one would say nothing new.
	overflowQueued bool
	done           chan struct{}
}

// NewEventHub returns a hub whose subscribers buffer size events.
func NewEventHub(size int) *EventHub {
	return &EventHub{size: max(size, 2), subs: make(map[*hubSubscriber]struct{})}
}

// Subscribe returns a channel of the events published from now on; it is closed when ctx ends or the hub
// closes.
func (h *EventHub) Subscribe(ctx context.Context) (<-chan Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := &hubSubscriber{ch: make(chan Event, h.size), done: make(chan struct{})}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrHubClosed
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

func (h *EventHub) drop(s *hubSubscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.ch)
	}
}

// Publish queues ev for every subscriber without ever waiting for one.
func (h *EventHub) Publish(ev Event) {
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

// Lost tells every subscriber that events may have been lost (libxl reported a disaster in its event
// machinery): they re-list.
func (h *EventHub) Lost(at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		h.overflow(s, at)
	}
}

// overflow queues an EventOverflow for s unless one is already the last thing queued; called with h.mu held.
func (h *EventHub) overflow(s *hubSubscriber, at time.Time) {
	if s.overflowQueued {
		return
	}
	select {
	case s.ch <- Event{Type: EventOverflow, Time: at}:
		s.overflowQueued = true
	default:
	}
}

// Close ends every subscription.
func (h *EventHub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		delete(h.subs, s)
		close(s.ch)
		close(s.done)
	}
}
