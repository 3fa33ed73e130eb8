package remote

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/controllers"
	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// libvirt's virDomainEventID values the facade produces, and the bounds of what it accepts.
const (
	eventIDLifecycle      = 0
	eventIDReboot         = 1
	eventIDMetadataChange = 23
	// eventIDLastLegacy is VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED: events added later exist only in the callback
	// style of the protocol, and the legacy REGISTER_ANY refuses them.
	eventIDLastLegacy = 15
	// eventIDCount is VIR_DOMAIN_EVENT_ID_LAST of the protocol virtxend speaks (NIC_MAC_CHANGE is the last).
	eventIDCount = 28
)

// rebootWatch bounds how long a reboot request waits for the guest to go down, and rebootRestart how long the
// restart may then take, before the REBOOT event is given up.
const (
	rebootWatch   = 5 * time.Minute
	rebootRestart = 30 * time.Second
)

// domainEvent is one event for clients' callbacks.
type domainEvent struct {
	id  int32 // virDomainEventID
	dom libvirt.Domain
	// event and detail are a lifecycle event's type and detail.
	event, detail int32
	// metaType and metaURI describe a metadata change.
	metaType int32
	metaURI  *string
}

// eventHub fans out the events the facade produces itself (reboot, metadata change) to every connection's
// callbacks; lifecycle events travel through the reconciler's EventLog. A subscriber that falls behind loses
// events rather than slowing the caller.
type eventHub struct {
	mu   sync.Mutex
	subs map[chan domainEvent]struct{}
}

var (
	nextCallbackID atomic.Int32
	eventClientsMu sync.Mutex
)

func (f *Facade) hub() *eventHub {
	f.hubOnce.Do(func() { f.ownEvents = &eventHub{subs: map[chan domainEvent]struct{}{}} })
	return f.ownEvents
}

func (h *eventHub) subscribe(buf int) (<-chan domainEvent, func()) {
	ch := make(chan domainEvent, buf)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[ch]; ok {
			delete(h.subs, ch)
			close(ch)
		}
	}
}

// publishExtra sends an event other than a lifecycle one to every connection's callbacks.
func (f *Facade) publishExtra(ev domainEvent) {
	h := f.hub()
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

// publish sends a lifecycle event the facade itself causes (DEFINED, UNDEFINED) through the event log, so that
// it is ordered with the reconciler's.
func (f *Facade) publish(d libvirt.Domain, event, detail int) {
	f.Events.Publish(controllers.LifecycleEvent{Name: d.Name, UUID: uuidString(d.UUID), DomID: d.ID,
		Event: event, Detail: detail, Time: time.Now()})
}

// watchReboot arms the REBOOT event of a reboot request on d, before the request is written so that no
// lifecycle event is missed. The returned function says whether the request was made: if so, the event is sent
// when the domain starts again.
func (f *Facade) watchReboot(d *dom) func(requested bool) {
	if f.Events == nil {
		return func(bool) {}
	}
	ch, stop := f.Events.Subscribe(256)
	return func(requested bool) {
		if !requested {
			stop()
			return
		}
		go func() {
			defer stop()
			timeout := time.NewTimer(rebootWatch)
			defer timeout.Stop()
			stopped := false // the guest went down for its reboot; the restart comes next
			for {
				select {
				case <-timeout.C:
					return
				case ev, ok := <-ch:
					if !ok {
						return
					}
					if !strings.EqualFold(ev.UUID, d.UUID) {
						continue
					}
					switch {
					case !stopped && ev.Event == controllers.EventStopped && ev.Detail == controllers.DetailStoppedShutdown:
						stopped = true
						timeout.Reset(rebootRestart)
					case stopped && ev.Event == controllers.EventStarted:
						f.publishExtra(domainEvent{id: eventIDReboot, dom: lifecycleWire(ev)})
						return
					default:
						return // it did not come back by rebooting (on_reboot destroy, a destroy meanwhile...)
					}
				}
			}
		}()
	}
}

// lifecycleWire is the domain a lifecycle event is about; a stopped domain has no id, as libvirt reports it.
func lifecycleWire(ev controllers.LifecycleEvent) libvirt.Domain {
	id := ev.DomID
	if ev.Event == controllers.EventStopped {
		id = -1
	}
	return libvirt.Domain{Name: ev.Name, UUID: wireUUID(ev.UUID), ID: id}
}

func fromLifecycle(ev controllers.LifecycleEvent) domainEvent {
	return domainEvent{id: eventIDLifecycle, dom: lifecycleWire(ev), event: int32(ev.Event), detail: int32(ev.Detail)}
}

// eventClient is one connection's event callbacks.
type eventClient struct {
	f *Facade
	c *rpc.Client

	mu sync.Mutex
	// callbacks are the registrations of the callback style (REGISTER_ANY with a callback id): callback id →
	// registration.
	callbacks map[int32]eventReg
	// legacy are the event ids registered the legacy way (REGISTER, REGISTER_ANY).
	legacy map[int32]bool
}

// eventReg is one callback registration: an event id and an optional domain (its UUID).
type eventReg struct {
	eventID int32
	uuid    string
}

type eventClientKey struct{}

// eventsOf returns the connection's callbacks, starting its event delivery on first use; delivery ends when the
// connection closes.
func (f *Facade) eventsOf(c *rpc.Client) *eventClient {
	eventClientsMu.Lock()
	defer eventClientsMu.Unlock()
	if ec, ok := c.Value(eventClientKey{}).(*eventClient); ok {
		return ec
	}
	ec := &eventClient{f: f, c: c, callbacks: map[int32]eventReg{}, legacy: map[int32]bool{}}
	c.SetValue(eventClientKey{}, ec)
	var lifecycle <-chan controllers.LifecycleEvent
	stopLifecycle := func() {}
	if f.Events != nil {
		lifecycle, stopLifecycle = f.Events.Subscribe(1024)
	}
	extra, stopExtra := f.hub().subscribe(256)
	c.OnClose(func() {
		stopLifecycle()
		stopExtra()
	})
	go ec.run(lifecycle, extra)
	return ec
}

func (ec *eventClient) run(lifecycle <-chan controllers.LifecycleEvent, extra <-chan domainEvent) {
	for {
		select {
		case <-ec.c.Done():
			return
		case ev, ok := <-lifecycle:
			if !ok {
				return
			}
			ec.deliver(fromLifecycle(ev))
		case ev, ok := <-extra:
			if !ok {
				return
			}
			// Lifecycle events published before this one go first: a REBOOT follows the start it reports.
			for drained := false; !drained; {
				select {
				case lev, ok := <-lifecycle:
					if !ok {
						return
					}
					ec.deliver(fromLifecycle(lev))
				default:
					drained = true
				}
			}
			ec.deliver(ev)
		}
	}
}

// deliver sends ev to each of the connection's callbacks for it, in the message form each registered for.
func (ec *eventClient) deliver(ev domainEvent) {
	ec.mu.Lock()
	legacy := ec.legacy[ev.id]
	var ids []int32
	for id, r := range ec.callbacks {
		if r.eventID == ev.id && (r.uuid == "" || strings.EqualFold(r.uuid, uuidString(ev.dom.UUID))) {
			ids = append(ids, id)
		}
	}
	ec.mu.Unlock()
	send := func(proc int32, msg any) bool {
		return ec.c.SendEvent(rpc.ProgramRemote, proc, msg) == nil
	}
	switch ev.id {
	case eventIDLifecycle:
		msg := libvirt.DomainEventLifecycleMsg{Dom: ev.dom, Event: ev.event, Detail: ev.detail}
		if legacy && !send(rpc.ProcDomainEventLifecycle, &msg) {
			return
		}
		for _, id := range ids {
			if !send(rpc.ProcDomainEventCallbackLifecycle, &libvirt.DomainEventCallbackLifecycleMsg{CallbackID: id, Msg: msg}) {
				return
			}
		}
	case eventIDReboot:
		msg := libvirt.DomainEventRebootMsg{Dom: ev.dom}
		if legacy && !send(rpc.ProcDomainEventReboot, &msg) {
			return
		}
		for _, id := range ids {
			if !send(rpc.ProcDomainEventCallbackReboot, &libvirt.DomainEventCallbackRebootMsg{CallbackID: id, Msg: msg}) {
				return
			}
		}
	case eventIDMetadataChange:
		for _, id := range ids {
			if !send(rpc.ProcDomainEventCallbackMetadataChange, metadataChangeMsg(id, ev)) {
				return
			}
		}
	}
}

// registerEvents: domain event callbacks, in the legacy and the callback style of the protocol. Every event id
// libvirt knows may be registered; virtxend produces lifecycle, reboot and metadata-change events.
func registerEvents(f *Facade, p *rpc.Program) {
	rpc.Register(p, rpc.ProcConnectDomainEventRegister, func(_ context.Context, call *rpc.Call, _ *struct{}) (*libvirt.ConnectDomainEventRegisterRet, error) {
		ec := f.eventsOf(call.Client)
		ec.mu.Lock()
		ec.legacy[eventIDLifecycle] = true
		ec.mu.Unlock()
		return nil, nil
	})
	rpc.Register(p, rpc.ProcConnectDomainEventDeregister, func(_ context.Context, call *rpc.Call, _ *struct{}) (*libvirt.ConnectDomainEventDeregisterRet, error) {
		return nil, f.eventsOf(call.Client).deregisterLegacy(eventIDLifecycle)
	})
	rpc.Register(p, rpc.ProcConnectDomainEventRegisterAny, func(_ context.Context, call *rpc.Call, a *libvirt.ConnectDomainEventRegisterAnyArgs) (*struct{}, error) {
		if a.EventID < 0 || a.EventID > eventIDLastLegacy {
			return nil, unsupportedEvent(a.EventID)
		}
		ec := f.eventsOf(call.Client)
		ec.mu.Lock()
		defer ec.mu.Unlock()
		if ec.legacy[a.EventID] {
			return nil, rpc.Errorf(rpc.CodeInternalError, rpc.DomainRPC, "domain event %d already registered", a.EventID)
		}
		ec.legacy[a.EventID] = true
		return nil, nil
	})
	rpc.Register(p, rpc.ProcConnectDomainEventDeregisterAny, func(_ context.Context, call *rpc.Call, a *libvirt.ConnectDomainEventDeregisterAnyArgs) (*struct{}, error) {
		return nil, f.eventsOf(call.Client).deregisterLegacy(a.EventID)
	})
	rpc.Register(p, rpc.ProcConnectDomainEventCallbackRegisterAny, func(_ context.Context, call *rpc.Call, a *libvirt.ConnectDomainEventCallbackRegisterAnyArgs) (*libvirt.ConnectDomainEventCallbackRegisterAnyRet, error) {
		if a.EventID < 0 || a.EventID >= eventIDCount {
			return nil, unsupportedEvent(a.EventID)
		}
		reg := eventReg{eventID: a.EventID}
		if len(a.Dom) > 0 {
			reg.uuid = uuidString(a.Dom[0].UUID)
		}
		ec := f.eventsOf(call.Client)
		id := nextCallbackID.Add(1)
		ec.mu.Lock()
		ec.callbacks[id] = reg
		ec.mu.Unlock()
		return &libvirt.ConnectDomainEventCallbackRegisterAnyRet{CallbackID: id}, nil
	})
	rpc.Register(p, rpc.ProcConnectDomainEventCallbackDeregisterAny, func(_ context.Context, call *rpc.Call, a *libvirt.ConnectDomainEventCallbackDeregisterAnyArgs) (*struct{}, error) {
		ec := f.eventsOf(call.Client)
		ec.mu.Lock()
		defer ec.mu.Unlock()
		if _, ok := ec.callbacks[a.CallbackID]; !ok {
			return nil, rpc.Errorf(rpc.CodeInternalError, rpc.DomainRPC, "domain event callback %d not registered", a.CallbackID)
		}
		delete(ec.callbacks, a.CallbackID)
		return nil, nil
	})
}

func (ec *eventClient) deregisterLegacy(eventID int32) error {
	ec.mu.Lock()
	defer ec.mu.Unlock()
	if !ec.legacy[eventID] {
		return rpc.Errorf(rpc.CodeInternalError, rpc.DomainRPC, "domain event %d not registered", eventID)
	}
	delete(ec.legacy, eventID)
	return nil
}

func unsupportedEvent(id int32) error {
	return rpc.Errorf(rpc.CodeInternalError, rpc.DomainRPC, "unsupported event ID %d", id)
}

// metadataChangeMsg is the event a metadata change sends to a callback.
func metadataChangeMsg(id int32, ev domainEvent) *libvirt.DomainEventCallbackMetadataChangeMsg {
	m := &libvirt.DomainEventCallbackMetadataChangeMsg{CallbackID: id, Dom: ev.dom, Type: ev.metaType}
	if ev.metaURI != nil {
		m.Nsuri = libvirt.OptString{*ev.metaURI}
	}
	return m
}
