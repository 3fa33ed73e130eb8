package remote

import (
	"context"
	"sort"
	"strings"

	"github.com/digitalocean/go-libvirt"
	"github.com/google/uuid"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/controllers"
	"github.com/virtxend/virtxend/daemon/remote/rpc"
	"github.com/virtxend/virtxend/libxl"
)

// dom is one domain as libvirt's clients see it: a XenDomain object, what the hypervisor holds of it, or both.
// Domain-0 and foreign domains (started with xl) have no object; inactive domains are not on the hypervisor.
type dom struct {
	Name string
	UUID string
	// Obj is the desired state; nil for Domain-0 and foreign domains. It is the store's own object, shared with
	// every reader (store.Shared): never modify it; managed gives a copy to change.
	Obj *v1alpha1.XenDomain
	// Obs is the domain on the hypervisor; nil when it is not running. It may be the observer's own record
	// (Observer.LookupShared): never modify it.
	Obs *controllers.Observed
}

// ID is the domain's Xen domid, or -1 when it is inactive.
func (d *dom) ID() int32 {
	if d.Obs == nil {
		return -1
	}
	return int32(d.Obs.Info.DomID)
}

// Active reports whether the domain exists on the hypervisor.
func (d *dom) Active() bool { return d.Obs != nil }

// IsDom0 reports whether this is the control domain.
func (d *dom) IsDom0() bool { return d.Obs != nil && d.Obs.Info.DomID == libxl.Dom0 }

// Persistent reports whether the domain has a persistent definition: a define or a drop-in file, and Domain-0.
func (d *dom) Persistent() bool {
	if d.IsDom0() {
		return true
	}
	if d.Obj == nil {
		return false
	}
	return d.Obj.Labels[v1alpha1.LabelSource] != v1alpha1.SourceKindTransient
}

// Wire is the domain as the protocol carries it.
func (d *dom) Wire() libvirt.Domain {
	return libvirt.Domain{Name: d.Name, UUID: wireUUID(d.UUID), ID: d.ID()}
}

// libvirt's virDomainState values.
const (
	stateNoState     = 0
	stateRunning     = 1
	stateBlocked     = 2
	statePaused      = 3
	stateShutdown    = 4
	stateShutoff     = 5
	stateCrashed     = 6
	statePMSuspended = 7
)

// reasons maps a state and libvirt's reason word to the reason number of that state's enum.
var reasons = map[int32]map[string]int32{
	stateRunning:  {"unknown": 0, "booted": 1, "migrated": 2, "restored": 3, "from snapshot": 4, "unpaused": 5, "migration canceled": 6, "save canceled": 7, "wakeup": 8, "crashed": 9, "postcopy": 10},
	stateBlocked:  {"unknown": 0},
	statePaused:   {"unknown": 0, "user": 1, "migration": 2, "save": 3, "dump": 4, "ioerror": 5, "watchdog": 6, "from snapshot": 7, "shutting down": 8, "snapshot": 9, "crashed": 10},
	stateShutdown: {"unknown": 0, "user": 1},
	stateShutoff:  {"unknown": 0, "shutdown": 1, "destroyed": 2, "crashed": 3, "migrated": 4, "saved": 5, "failed": 6, "from snapshot": 7, "daemon": 8},
	stateCrashed:  {"unknown": 0, "panicked": 1},
}

// State returns libvirt's state and reason numbers. The object's status is the reconciler's account; what the
// hypervisor shows now wins where the two disagree on whether the domain runs.
func (d *dom) State() (state, reason int32) {
	if d.Obs != nil {
		switch d.Obs.Info.State {
		case libxl.StatePaused:
			state = statePaused
		case libxl.StateShutdown:
			state = stateShutdown
			if d.Obs.Info.ShutdownReason == libxl.ShutdownCrash {
				state = stateCrashed
			}
		case libxl.StateCrashed:
			state = stateCrashed
		case libxl.StateDying:
			state = stateShutdown
		default:
			state = stateRunning
		}
		if d.Obj == nil {
			if state == stateRunning && d.IsDom0() {
				return state, reasons[stateRunning]["booted"]
			}
			return state, 0
		}
		if st := statusState(d.Obj.Status.State); st == state {
			return state, reasons[state][d.Obj.Status.Reason]
		}
		if state == statePaused {
			return state, reasons[statePaused]["user"]
		}
		return state, 0
	}
	if d.Obj != nil {
		switch d.Obj.Status.State {
		case v1alpha1.StateShutoff:
			return stateShutoff, reasons[stateShutoff][d.Obj.Status.Reason]
		// Gone since its status was written, and the reconciler that took it down (its on_crash or on_poweroff)
		// has not written the new one yet: the reason that status will give, not "unknown" meanwhile.
		case v1alpha1.StateCrashed:
			return stateShutoff, reasons[stateShutoff]["crashed"]
		case v1alpha1.StateShutdown:
			return stateShutoff, reasons[stateShutoff]["shutdown"]
		}
	}
	return stateShutoff, 0
}

func statusState(s v1alpha1.DomainState) int32 {
	switch s {
	case v1alpha1.StateRunning:
		return stateRunning
	case v1alpha1.StateBlocked:
		return stateBlocked
	case v1alpha1.StatePaused:
		return statePaused
	case v1alpha1.StateShutdown:
		return stateShutdown
	case v1alpha1.StateShutoff:
		return stateShutoff
	case v1alpha1.StateCrashed:
		return stateCrashed
	case v1alpha1.StatePMSuspended:
		return statePMSuspended
	}
	return stateNoState
}

// domains returns every domain: the objects (with their domains when running), Domain-0, and foreign domains,
// Domain-0 first, then by name.
func (f *Facade) domains(ctx context.Context) ([]*dom, error) {
	objs, err := f.Objects.Domains(ctx)
	if err != nil {
		return nil, internalErr(err)
	}
	observed := f.Observer.List()
	byUUID := make(map[string]*controllers.Observed, len(observed))
	out := make([]*dom, 0, len(objs)+1)
	for i := range observed {
		o := &observed[i]
		if o.Marker != nil {
			byUUID[o.Marker.UUID] = o
			continue
		}
		out = append(out, &dom{Name: o.Info.Name, UUID: o.Info.UUID, Obs: o})
	}
	for _, obj := range objs {
		d := &dom{Name: obj.DomainName(), UUID: obj.DomainUUID(), Obj: obj, Obs: byUUID[obj.DomainUUID()]}
		delete(byUUID, d.UUID)
		if !obj.DeletionTimestamp.IsZero() && d.Obs == nil {
			continue // being removed, and nothing left running: gone as far as clients are concerned
		}
		out = append(out, d)
	}
	for _, o := range byUUID {
		// A domain virtxend started whose object is not there (yet): listed until the Adopter gives it one.
		out = append(out, &dom{Name: o.Info.Name, UUID: strings.ToLower(o.Info.UUID), Obs: o})
	}
	sort.Slice(out, func(i, j int) bool {
		if a, b := out[i].IsDom0(), out[j].IsDom0(); a != b {
			return a
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// byName returns the domain with this name without listing them all: an object is stored under its domain's
// name; Domain-0 and foreign domains are found on the hypervisor. It returns nil when there is none.
func (f *Facade) byName(ctx context.Context, name string) (*dom, error) {
	d := new(dom)
	if found, err := f.viewByName(ctx, name, d); !found || err != nil {
		return nil, err
	}
	return d, nil
}

// viewByName is byName into the caller's d, for the calls that look a domain up on every call: a view on the
// caller's stack costs no allocation.
func (f *Facade) viewByName(ctx context.Context, name string, d *dom) (found bool, err error) {
	obj, err := f.Objects.DomainByName(ctx, name)
	switch {
	case err != nil:
		return false, internalErr(err)
	case obj != nil:
		u := obj.DomainUUID() // computed, not stored: once
		*d = dom{Name: name, UUID: u, Obj: obj, Obs: f.Observer.LookupShared(u)}
		// Being removed with nothing left running: gone.
		return obj.DeletionTimestamp.IsZero() || d.Obs != nil, nil
	}
	if o := f.Observer.LookupName(name); o != nil {
		*d = dom{Name: o.Info.Name, UUID: o.Info.UUID, Obs: o}
		return true, nil
	}
	return false, nil
}

// byUUID returns the domain with this UUID, trying the cheap ways first: the name the caller gave, then the
// running domain owned by the object whose UID is the UUID (objects are keyed by their domain's UUID).
func (f *Facade) byUUID(ctx context.Context, u, nameHint string) (*dom, error) {
	if nameHint != "" {
		if d, err := f.byName(ctx, nameHint); err != nil || (d != nil && strings.EqualFold(d.UUID, u)) {
			return d, err
		}
	}
	if o := f.Observer.Lookup(strings.ToLower(u)); o != nil && o.Marker != nil {
		if d, err := f.byName(ctx, o.Marker.Name); err != nil || (d != nil && strings.EqualFold(d.UUID, u)) {
			return d, err
		}
	}
	all, err := f.domains(ctx) // renamed, foreign or inactive without a hint: look at everything
	if err != nil {
		return nil, err
	}
	for _, d := range all {
		if strings.EqualFold(d.UUID, u) {
			return d, nil
		}
	}
	return nil, nil
}

// lookup finds the domain a call names, by UUID as libvirt's drivers do.
func (f *Facade) lookup(ctx context.Context, w libvirt.Domain) (*dom, error) {
	d := new(dom)
	if err := f.lookupInto(ctx, w, d); err != nil {
		return nil, err
	}
	return d, nil
}

// lookupInto is lookup into the caller's d (viewByName).
func (f *Facade) lookupInto(ctx context.Context, w libvirt.Domain, d *dom) error {
	if w.Name != "" {
		// The name the caller gave first, without formatting the UUID: the common case, every call of a client
		// that looked the domain up.
		found, err := f.viewByName(ctx, w.Name, d)
		if err != nil {
			return err
		}
		if found && sameUUID(d.UUID, w.UUID) {
			return nil
		}
	}
	u := uuidString(w.UUID)
	match, err := f.byUUID(ctx, u, "")
	if err != nil {
		return err
	}
	if match != nil {
		*d = *match
		return nil
	}
	return rpc.Errorf(rpc.CodeNoDomain, rpc.DomainLibxl, "no domain with matching uuid '%s' (%s)", u, w.Name)
}

// find returns the first domain for which match holds, or libvirt's plain "Domain not found".
func (f *Facade) find(ctx context.Context, match func(*dom) bool) (*dom, error) {
	all, err := f.domains(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range all {
		if match(d) {
			return d, nil
		}
	}
	return nil, rpc.NewError(rpc.CodeNoDomain, rpc.DomainLibxl, "")
}

// notDom0 is libvirt's Domain-0 guard on lifecycle operations.
func notDom0(d *dom) error {
	if d.IsDom0() || (d.Obj == nil && d.Name == "Domain-0") {
		return rpc.NewError(rpc.CodeOperationInvalid, rpc.DomainLibxl, "Domain-0 does not support requested operation")
	}
	return nil
}

// managed returns a copy of the object of a domain virtxend manages, refusing Domain-0 and foreign domains.
func managed(d *dom) (*v1alpha1.XenDomain, error) {
	if err := notDom0(d); err != nil {
		return nil, err
	}
	if d.Obj == nil {
		return nil, rpc.Errorf(rpc.CodeOperationInvalid, rpc.DomainLibxl,
			"domain '%s' was not started by virtxend and is left alone (use xl to manage it)", d.Name)
	}
	return d.Obj.DeepCopy(), nil
}

// checkActive is virDomainObjCheckActive.
func checkActive(d *dom) error {
	if !d.Active() {
		return rpc.NewError(rpc.CodeOperationInvalid, rpc.DomainDomain, "domain is not running")
	}
	return nil
}
func wireUUID(s string) libvirt.UUID {
	var w libvirt.UUID
	if u, err := uuid.Parse(s); err == nil {
		copy(w[:], u[:])
	}
	return w
}

func uuidString(w libvirt.UUID) string { return uuid.UUID(w).String() }

// sameUUID reports whether s, a UUID in any of its spellings, is w.
func sameUUID(s string, w libvirt.UUID) bool {
	p, err := uuid.Parse(s)
	return err == nil && p == uuid.UUID(w)
}

// internalErr is err as libvirt answers it (libvirtErr), or an internal error of the libxl driver.
func internalErr(err error) error {
	if e, ok := libvirtErr(err); ok {
		return e
	}
	return rpc.Errorf(rpc.CodeInternalError, rpc.DomainLibxl, "%v", err)
}
