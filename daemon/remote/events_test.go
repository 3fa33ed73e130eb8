package remote

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/controllers"
)

// lcCollector gathers events from a channel until the test ends.
type lcCollector[T any] struct {
	mu  sync.Mutex
	got []T
}

func collect[T any](ch <-chan T) *lcCollector[T] {
	c := &lcCollector[T]{}
	go func() {
		for ev := range ch {
			c.mu.Lock()
			c.got = append(c.got, ev)
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *lcCollector[T]) events() []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]T(nil), c.got...)
}

func TestLifecycleEvents(t *testing.T) {
	e := newTxEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lc, err := e.L.LifecycleEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	life := collect(lc)
	rb, err := e.L.SubscribeEvents(ctx, libvirt.DomainEventIDReboot, nil)
	if err != nil {
		t.Fatal(err)
	}
	reboots := collect(rb)
	mc, err := e.L.SubscribeEvents(ctx, libvirt.DomainEventIDMetadataChange, nil)
	if err != nil {
		t.Fatal(err)
	}
	metas := collect(mc)

	d, err := e.L.DomainDefineXML(lcXML("ev", "", 64))
	if err != nil {
		t.Fatal(err)
	}
	steps := []func() error{
		func() error { return e.L.DomainCreate(d) },
		func() error { return e.L.DomainSuspend(d) },
		func() error { return e.L.DomainResume(d) },
		func() error { return e.L.DomainReboot(d, 0) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	e.eventually("the reboot event", func() bool { return len(reboots.events()) == 1 })
	if err := e.L.DomainSetMetadata(d, metadataTitle, libvirt.OptString{"t"}, nil, nil, 0); err != nil {
		t.Fatal(err)
	}
	if err := e.L.DomainDestroy(d); err != nil {
		t.Fatal(err)
	}
	if err := e.L.DomainUndefine(d); err != nil {
		t.Fatal(err)
	}
	type ed struct{ event, detail int32 }
	want := []ed{
		{controllers.EventDefined, controllers.DetailDefinedAdded},
		{controllers.EventStarted, controllers.DetailStartedBooted},
		{controllers.EventSuspended, controllers.DetailSuspendedPaused},
		{controllers.EventResumed, controllers.DetailResumedUnpaused},
		{controllers.EventStopped, controllers.DetailStoppedShutdown}, // the reboot
		{controllers.EventStarted, controllers.DetailStartedBooted},
		{controllers.EventStopped, controllers.DetailStoppedDestroyed},
		{controllers.EventUndefined, controllers.DetailUndefinedRemoved},
	}
	e.eventually("every lifecycle event", func() bool { return len(life.events()) >= len(want) })
	got := life.events()
	for i, w := range want {
		ev := got[i]
		if ev.Event != w.event || ev.Detail != w.detail || ev.Dom.Name != "ev" {
			t.Fatalf("event %d: %+v, want %+v; all: %+v", i, ev, w, got)
		}
		if w.event == controllers.EventStopped && ev.Dom.ID != -1 {
			t.Errorf("a stopped event carries id %d", ev.Dom.ID)
		}
	}
	if r, ok := reboots.events()[0].(*libvirt.DomainEventCallbackRebootMsg); !ok || r.Msg.Dom.Name != "ev" {
		t.Errorf("reboot event %#v", reboots.events()[0])
	}
	e.eventually("the metadata event", func() bool { return len(metas.events()) == 1 })
	if m, ok := metas.events()[0].(*libvirt.DomainEventCallbackMetadataChangeMsg); !ok || m.Type != metadataTitle || len(m.Nsuri) != 0 {
		t.Errorf("metadata event %#v", metas.events()[0])
	}
}

func TestEventRegistration(t *testing.T) {
	e := newTxEnv(t)
	var ids []int32
	for ev := int32(0); ev < eventIDCount; ev++ { // virsh event --all registers every id
		id, err := e.L.ConnectDomainEventCallbackRegisterAny(ev, nil)
		if err != nil {
			t.Fatalf("register event %d: %v", ev, err)
		}
		ids = append(ids, id)
	}
	if _, err := e.L.ConnectDomainEventCallbackRegisterAny(eventIDCount, nil); err == nil {
		t.Fatal("an unknown event id was accepted")
	}
	for _, id := range ids {
		if err := e.L.ConnectDomainEventCallbackDeregisterAny(id); err != nil {
			t.Fatal(err)
		}
	}
	txWantErr(t, e.L.ConnectDomainEventCallbackDeregisterAny(ids[0]), libvirt.ErrInternalError, "not registered")

	if err := e.L.ConnectDomainEventRegisterAny(eventIDReboot); err != nil {
		t.Fatal(err)
	}
	txWantErr(t, e.L.ConnectDomainEventRegisterAny(eventIDReboot), libvirt.ErrInternalError, "already registered")
	txWantErr(t, e.L.ConnectDomainEventRegisterAny(eventIDLastLegacy+1), libvirt.ErrInternalError, "unsupported event ID")
	if err := e.L.ConnectDomainEventDeregisterAny(eventIDReboot); err != nil {
		t.Fatal(err)
	}
	txWantErr(t, e.L.ConnectDomainEventDeregisterAny(eventIDReboot), libvirt.ErrInternalError, "not registered")
}

// TestEventsEndWithConnection: a closed connection's subscription is released.
func TestEventsEndWithConnection(t *testing.T) {
	e := newTxEnv(t)
	if _, err := e.L.ConnectDomainEventCallbackRegisterAny(eventIDLifecycle, nil); err != nil {
		t.Fatal(err)
	}
	h := e.Facade.hub()
	count := func() int {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.subs)
	}
	if count() != 1 {
		t.Fatalf("%d subscriptions", count())
	}
	if err := e.L.Disconnect(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for count() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the subscription outlived its connection")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
