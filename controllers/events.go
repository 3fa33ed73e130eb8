package controllers

import (
	"sync"
	"time"

	"k8s.io/client-go/tools/events"
)

// Lifecycle event types, numbered as libvirt's virDomainEventType.
const (
	EventDefined     = 0
	EventUndefined   = 1
	EventStarted     = 2
	EventSuspended   = 3
	EventResumed     = 4
	EventStopped     = 5
	EventShutdown    = 6
	EventPMSuspended = 7
	EventCrashed     = 8
)

// Lifecycle event details, numbered as libvirt's per-type detail enums.
const (
	DetailStartedBooted     = 0
	DetailStartedRestored   = 2
	DetailSuspendedPaused   = 0
	DetailResumedUnpaused   = 0
	DetailStoppedShutdown   = 0
	DetailStoppedDestroyed  = 1
	DetailStoppedCrashed    = 2
	DetailStoppedSaved      = 4
	DetailStoppedFailed     = 5
	DetailDefinedAdded      = 0
	DetailDefinedUpdated    = 1
	DetailUndefinedRemoved  = 0
	DetailShutdownFinished  = 0
	DetailCrashedPanicked   = 0
	DetailStartedFromSnap   = 4
	DetailResumedFromSnap   = 2
	DetailSuspendedIOError  = 1
	DetailStoppedFromSnap   = 6
	DetailSuspendedRestored = 5
)

// LifecycleEvent is one domain lifecycle transition, in libvirt's event vocabulary.
type LifecycleEvent struct {
	Name   string
	UUID   string
	DomID  int32
	Event  int
	Detail int
	Time   time.Time
}

// EventLog fans lifecycle events out to subscribers (the RPC facade's event callbacks). A subscriber that falls
// behind loses events rather than slowing the reconciler.
type EventLog struct {
	mu   sync.Mutex
	subs map[chan LifecycleEvent]struct{}
	// rec records transitions as Kubernetes Events (SetRecorder); nil records none.
	rec events.EventRecorder
}

// NewEventLog returns an empty EventLog.
func NewEventLog() *EventLog { return &EventLog{subs: map[chan LifecycleEvent]struct{}{}} }

// Subscribe returns a channel of events and a function that ends the subscription.
func (l *EventLog) Subscribe(buf int) (<-chan LifecycleEvent, func()) {
	ch := make(chan LifecycleEvent, buf)
	l.mu.Lock()
	l.subs[ch] = struct{}{}
	l.mu.Unlock()
	return ch, func() {
		l.mu.Lock()
		if _, ok := l.subs[ch]; ok {
			delete(l.subs, ch)
			close(ch)
		}
		l.mu.Unlock()
	}
}

// Publish sends ev to every subscriber that has room.
func (l *EventLog) Publish(ev LifecycleEvent) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for ch := range l.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

func (l *EventLog) emit(s *scope, event, detail int) {
	if l == nil {
		return
	}
	ev := LifecycleEvent{Name: s.obj.DomainName(), UUID: s.obj.DomainUUID(), DomID: -1, Event: event, Detail: detail, Time: s.now}
	if s.dom != nil {
		ev.DomID = int32(s.dom.Info.DomID)
	}
	l.Publish(ev)
	l.recordLifecycle(s, event, detail)
}
