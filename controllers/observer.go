package controllers

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/virtxend/virtxend/libxl"
)

// Observed is one domain as last seen on the hypervisor, with its ownership marker when it has one.
type Observed struct {
	Info libxl.DomainInfo
	// Marker is nil for a foreign domain (no marker, or one virtxend cannot read) and for Domain-0.
	Marker *Marker
}

// Owned reports whether the domain carries a virtxend ownership marker.
func (o *Observed) Owned() bool { return o != nil && o.Marker != nil }

// Observer keeps what the hypervisor holds: every domain by domid, and the owned ones by their marker's domain
// UUID (the owner's identity). It is fed by the hypervisor's event stream and by a full listing every resync
// interval, and calls Notify with an owner's domain UUID whenever what is observed of that owner's domain
// changes. The reconciler reads it instead of listing the hypervisor, and records its own actions in it so that
// the events they cause do not wake it again.
type Observer struct {
	hv     libxl.Hypervisor
	resync time.Duration
	log    logr.Logger

	// Notify is called (outside the lock) with the domain UUID of an owner whose domain changed, appeared or
	// vanished.
	Notify func(uuid string)

	mu      sync.RWMutex
	byDomID map[libxl.DomID]*Observed
	// byName indexes byDomID by domain name, so that the name check of every start is not a walk over every
	// domain (ten thousand starts would make ten thousand walks).
	byName    map[string]nameRef
	nameScans int // walks made to re-find a name two domains carried, for tests
	byUUID    map[string]libxl.DomID
	synced    bool
	syncCh    chan struct{}
	// writes holds, per domid, the sequence number (seq) of the reconciler's last record of it: a reading that
	// started before that record (an event's, a resync's) may be older than it, and must not overwrite it.
	writes map[libxl.DomID]uint64
	seq    uint64

	// resyncMu serializes resyncs, whose set of the domids listed (seen) is kept from one to the next, so that a
	// resync every interval over ten thousand domains does not build one.
	resyncMu sync.Mutex
	seen     map[libxl.DomID]bool
}

// wroteLocked records a write of the reconciler to domain id.
func (o *Observer) wroteLocked(id libxl.DomID) {
	o.seq++
	o.writes[id] = o.seq
}

// NewObserver returns an Observer of hv that re-lists every resync.
func NewObserver(hv libxl.Hypervisor, resync time.Duration, log logr.Logger) *Observer {
	if resync <= 0 {
		resync = 30 * time.Second
	}
	return &Observer{
		hv: hv, resync: resync, log: log,
		byDomID: map[libxl.DomID]*Observed{},
		byName:  map[string]nameRef{},
		byUUID:  map[string]libxl.DomID{},
		writes:  map[libxl.DomID]uint64{},
		syncCh:  make(chan struct{}),
	}
}

// Synced is closed after the first full listing: before it, nothing may be treated as absent.
func (o *Observer) Synced() <-chan struct{} { return o.syncCh }

// IsSynced reports whether the first full listing is done.
func (o *Observer) IsSynced() bool {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.synced
}

// Run subscribes to events, lists the hypervisor, and keeps the cache current until ctx ends.
func (o *Observer) Run(ctx context.Context) error {
	events, err := o.hv.Events(ctx)
	if err != nil {
		return err
	}
	if err := o.Resync(ctx); err != nil {
		return err
	}
	tick := time.NewTicker(o.resync)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := o.Resync(ctx); err != nil {
				o.log.Error(err, "resync with the hypervisor failed")
			}
		case ev, ok := <-events:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return errors.New("hypervisor event stream closed")
			}
			o.handle(ctx, ev)
		}
	}
}

// Resync lists every domain and brings the cache up to date, notifying owners whose domain changed.
func (o *Observer) Resync(ctx context.Context) error {
	o.resyncMu.Lock()
	defer o.resyncMu.Unlock()
	o.mu.RLock()
	start := o.seq
	o.mu.RUnlock()
	infos, err := o.hv.ListDomains(ctx)
	if err != nil {
		return err
	}
	if o.seen == nil {
		o.seen = make(map[libxl.DomID]bool, len(infos))
	}
	seen := o.seen
	defer clear(seen)
	var changed []string
	for _, info := range infos {
		seen[info.DomID] = true
		c, _ := o.upsertIf(ctx, info, start) // a domain the reconciler recorded meanwhile keeps its fresher record
		changed = append(changed, c...)
	}
	o.mu.Lock()
	for id, ob := range o.byDomID {
		if !seen[id] && o.writes[id] <= start { // not created by the reconciler after the listing
			changed = append(changed, o.removeLocked(id, ob)...)
			delete(o.writes, id)
		}
	}
	first := !o.synced
	o.synced = true
	o.mu.Unlock()
	if first {
		close(o.syncCh)
	}
	o.notify(changed)
	return nil
}

func (o *Observer) handle(ctx context.Context, ev libxl.Event) {
	switch ev.Type {
	case libxl.EventOverflow:
		if err := o.Resync(ctx); err != nil {
			o.log.Error(err, "resync after lost hypervisor events failed")
		}
	case libxl.EventDeath:
		o.mu.Lock()
		var changed []string
		if ob, ok := o.byDomID[ev.DomID]; ok {
			changed = o.removeLocked(ev.DomID, ob)
		}
		delete(o.writes, ev.DomID) // the hypervisor says it is gone, and domids are not reused
		o.mu.Unlock()
		o.notify(changed)
	default:
		for attempt := 0; attempt < 3; attempt++ {
			before := o.writesOf(ev.DomID)
			info, err := o.hv.DomainInfo(ctx, ev.DomID)
			if errors.Is(err, libxl.ErrNoDomain) {
				o.handle(ctx, libxl.Event{Type: libxl.EventDeath, DomID: ev.DomID})
				return
			}
			if err != nil {
				o.log.Error(err, "read domain after event", "domid", ev.DomID)
				return
			}
			if changed, ok := o.upsertIf(ctx, info, before); ok {
				o.notify(changed)
				return
			}
			// The reconciler recorded this domain while it was being read: read it again.
		}
	}
}

func (o *Observer) writesOf(id libxl.DomID) uint64 {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.writes[id]
}

// upsertIf is upsert unless the reconciler recorded the domain after the write whose sequence number is since
// (its writes entry, or seq, read before info was): then it reports false and records nothing.
func (o *Observer) upsertIf(ctx context.Context, info libxl.DomainInfo, since uint64) ([]string, bool) {
	return o.upsertChecked(ctx, info, &since)
}

// upsert records info, reading the marker of a domid not seen before, and returns the owners to notify.
func (o *Observer) upsert(ctx context.Context, info libxl.DomainInfo) []string {
	changed, _ := o.upsertChecked(ctx, info, nil)
	return changed
}

func (o *Observer) upsertChecked(ctx context.Context, info libxl.DomainInfo, since *uint64) ([]string, bool) {
	o.mu.RLock()
	old, known := o.byDomID[info.DomID]
	o.mu.RUnlock()
	var marker *Marker
	if known {
		marker = old.Marker
	} else if info.DomID != libxl.Dom0 {
		marker = o.readMarker(ctx, info.DomID)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if since != nil && o.writes[info.DomID] > *since {
		return nil, false
	}
	if cur, ok := o.byDomID[info.DomID]; ok {
		if cur.Marker != nil {
			marker = cur.Marker // Record may have raced ahead of us with a newer marker
		}
		if marker == cur.Marker && sameObservation(cur.Info, info) {
			return nil, true // nothing new, a foreign domain's included
		}
	}
	o.putLocked(info.DomID, &Observed{Info: info, Marker: marker})
	if marker == nil {
		return nil, true
	}
	o.byUUID[marker.UUID] = info.DomID
	return []string{marker.UUID}, true
}

func (o *Observer) readMarker(ctx context.Context, id libxl.DomID) *Marker {
	b, err := o.hv.Userdata(ctx, id, MarkerKey)
	if err != nil {
		if !errors.Is(err, libxl.ErrNoUserdata) && !errors.Is(err, libxl.ErrNoDomain) {
			o.log.Error(err, "read ownership marker", "domid", id)
		}
		return nil
	}
	m, err := decodeMarker(b)
	if err != nil {
		o.log.Error(err, "domain has an unreadable marker: treating it as foreign", "domid", id)
		return nil
	}
	return &m
}

func (o *Observer) removeLocked(id libxl.DomID, ob *Observed) []string {
	delete(o.byDomID, id)
	o.unnameLocked(id, ob.Info.Name)
	if ob.Marker == nil {
		return nil
	}
	if o.byUUID[ob.Marker.UUID] == id {
		delete(o.byUUID, ob.Marker.UUID)
	}
	return []string{ob.Marker.UUID}
}

func (o *Observer) notify(uuids []string) {
	if o.Notify == nil {
		return
	}
	for _, u := range uuids {
		o.Notify(u)
	}
}

// sameObservation reports whether two readings differ in nothing the reconciler acts on.
func sameObservation(a, b libxl.DomainInfo) bool {
	return a.State == b.State && a.ShutdownReason == b.ShutdownReason && a.TargetKiB == b.TargetKiB &&
		a.MaxMemKiB == b.MaxMemKiB && a.OnlineVcpus == b.OnlineVcpus && a.MaxVcpus == b.MaxVcpus &&
		a.Name == b.Name && a.UUID == b.UUID
}

// Lookup returns the domain owned by the object whose domain UUID (XenDomain.DomainUUID) is uuid, or nil.
func (o *Observer) Lookup(uuid string) *Observed {
	o.mu.RLock()
	defer o.mu.RUnlock()
	id, ok := o.byUUID[uuid]
	if !ok {
		return nil
	}
	ob := *o.byDomID[id]
	return &ob
}

// LookupShared is Lookup without the copy, for hot read paths: the result is the observer's own record, which is
// never modified (a new reading replaces it), so it stays a consistent snapshot; the caller must not modify it.
func (o *Observer) LookupShared(uuid string) *Observed {
	o.mu.RLock()
	defer o.mu.RUnlock()
	id, ok := o.byUUID[uuid]
	if !ok {
		return nil
	}
	return o.byDomID[id]
}

// LookupName returns any domain (owned or not) that carries name, or nil.
func (o *Observer) LookupName(name string) *Observed {
	o.mu.RLock()
	defer o.mu.RUnlock()
	r, ok := o.byName[name]
	if !ok {
		return nil
	}
	c := *o.byDomID[r.id]
	return &c
}

// Each calls fn with every observed domain, Domain-0 and foreign ones included, in no order and without copying
// them, under the observer's read lock: fn must be quick, must not keep ob, and must not call the observer or
// anything that waits for it (the reconciler). For passes over every domain, where List's copies would be the
// pass's main cost.
func (o *Observer) Each(fn func(ob *Observed)) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	for _, ob := range o.byDomID {
		fn(ob)
	}
}

// List returns every observed domain, Domain-0 and foreign ones included.
func (o *Observer) List() []Observed {
	o.mu.RLock()
	defer o.mu.RUnlock()
	out := make([]Observed, 0, len(o.byDomID))
	for _, ob := range o.byDomID {
		out = append(out, *ob)
	}
	return out
}

// Record stores what the reconciler itself just did to a domain (it created it), so that the event it causes is
// not news. A domain already shut down or crashed by then (a guest that died at once, before libxl watched it)
// is news all the same: its owner is notified, or its on_poweroff/on_reboot/on_crash would never be applied,
// the event that reports it finding the same observation.
func (o *Observer) Record(info libxl.DomainInfo, m *Marker) {
	o.mu.Lock()
	o.wroteLocked(info.DomID)
	if m == nil {
		if cur, ok := o.byDomID[info.DomID]; ok {
			m = cur.Marker
		}
	}
	o.putLocked(info.DomID, &Observed{Info: info, Marker: m})
	if m != nil {
		o.byUUID[m.UUID] = info.DomID
	}
	o.mu.Unlock()
	if m != nil && (info.State == libxl.StateShutdown || info.State == libxl.StateCrashed) {
		o.notify([]string{m.UUID})
	}
}

// SetMarker records the marker the reconciler just wrote on a domain, leaving what was observed of it as is.
func (o *Observer) SetMarker(id libxl.DomID, m *Marker) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if cur, ok := o.byDomID[id]; ok {
		o.byDomID[id] = &Observed{Info: cur.Info, Marker: m}
		o.byUUID[m.UUID] = id
	}
}

// Forget drops a domain the reconciler just destroyed.
func (o *Observer) Forget(id libxl.DomID) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.wroteLocked(id)
	if ob, ok := o.byDomID[id]; ok {
		o.removeLocked(id, ob)
	}
}

// Refresh re-reads one domain now and records it; it returns nil when the domain is gone.
func (o *Observer) Refresh(ctx context.Context, id libxl.DomID) (*Observed, error) {
	info, err := o.hv.DomainInfo(ctx, id)
	if errors.Is(err, libxl.ErrNoDomain) {
		o.Forget(id)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	o.Record(info, nil)
	o.mu.RLock()
	defer o.mu.RUnlock()
	ob := *o.byDomID[id]
	return &ob, nil
}
