package controllers

import (
	"context"
	"fmt"
	"maps"
	"testing"

	"github.com/go-logr/logr"

	"github.com/virtxend/virtxend/libxl"
)

// TestLookupNameTouchesNoOtherDomain checks the name index that replaced a walk over every domain on each
// start's name check: with unique names no walk happens however many domains there are, and a name two
// readings share for a moment is still found after either goes.
func TestLookupNameTouchesNoOtherDomain(t *testing.T) {
	for _, n := range []int{10, 1000} {
		o := NewObserver(nil, 0, logr.Discard())
		o.mu.Lock()
		for i := 1; i <= n; i++ {
			o.putLocked(libxl.DomID(i), &Observed{Info: libxl.DomainInfo{DomID: libxl.DomID(i), Name: fmt.Sprintf("d%d", i)}})
		}
		o.putLocked(3, &Observed{Info: libxl.DomainInfo{DomID: 3, Name: "renamed"}})
		o.mu.Unlock()
		if ob := o.LookupName(fmt.Sprintf("d%d", n)); ob == nil || ob.Info.DomID != libxl.DomID(n) {
			t.Fatalf("n=%d: LookupName(d%d) = %+v", n, n, ob)
		}
		if o.LookupName("d3") != nil || o.LookupName("renamed") == nil {
			t.Errorf("n=%d: a renamed domain is still found by its old name, or not by its new one", n)
		}
		o.Forget(5)
		if o.LookupName("d5") != nil {
			t.Errorf("n=%d: a forgotten domain is still found", n)
		}
		if o.nameScans != 0 {
			t.Errorf("n=%d: %d walks over the domains with unique names, want 0", n, o.nameScans)
		}
	}

	// Two readings of one name (a domain replaced): the name stays found after the first goes.
	o := NewObserver(nil, 0, logr.Discard())
	o.Record(libxl.DomainInfo{DomID: 7, Name: "web"}, nil)
	o.Record(libxl.DomainInfo{DomID: 8, Name: "web"}, nil)
	o.Forget(8)
	if ob := o.LookupName("web"); ob == nil || ob.Info.DomID != 7 {
		t.Errorf("after the newer of two \"web\" went: LookupName = %+v, want domid 7", ob)
	}
	o.Forget(7)
	if o.LookupName("web") != nil {
		t.Error("\"web\" still found after both went")
	}
}

// listingHV is a hypervisor whose listing runs during calls of its own: a record of the reconciler's made while
// a resync lists.
type listingHV struct {
	libxl.Hypervisor
	list   []libxl.DomainInfo
	during func()
}

func (h *listingHV) ListDomains(context.Context) ([]libxl.DomainInfo, error) {
	if h.during != nil {
		h.during()
	}
	return h.list, nil
}

func (h *listingHV) Userdata(context.Context, libxl.DomID, string) ([]byte, error) {
	return nil, libxl.ErrNoUserdata
}

// TestResyncKeepsRecordsMadeDuringIt: what the reconciler records while a resync lists is newer than the
// listing: a domain created meanwhile (absent from the listing) is not removed, and one changed meanwhile keeps
// its record; a domain recorded before the listing and absent from it is removed. Resyncs in a row allocate no
// set of the domids they saw.
func TestResyncKeepsRecordsMadeDuringIt(t *testing.T) {
	ctx := context.Background()
	hv := &listingHV{list: []libxl.DomainInfo{{DomID: 1, Name: "a", State: libxl.StateRunning}, {DomID: 2, Name: "b", State: libxl.StateRunning}}}
	o := NewObserver(hv, 0, logr.Discard())
	o.Record(libxl.DomainInfo{DomID: 3, Name: "gone", State: libxl.StateRunning}, nil)
	hv.during = func() {
		o.Record(libxl.DomainInfo{DomID: 2, Name: "b", State: libxl.StatePaused}, nil) // paused after the listing read it
		o.Record(libxl.DomainInfo{DomID: 4, Name: "new", State: libxl.StateRunning}, nil)
	}
	if err := o.Resync(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[libxl.DomID]libxl.State{}
	o.Each(func(ob *Observed) { got[ob.Info.DomID] = ob.Info.State })
	want := map[libxl.DomID]libxl.State{1: libxl.StateRunning, 2: libxl.StatePaused, 4: libxl.StateRunning}
	if !maps.Equal(got, want) {
		t.Errorf("after the resync: %v, want %v", got, want)
	}
	hv.during = nil
	hv.list = append(hv.list, libxl.DomainInfo{DomID: 4, Name: "new", State: libxl.StateRunning})
	if n := testing.AllocsPerRun(10, func() { _ = o.Resync(ctx) }); n > 0 {
		t.Errorf("a resync that finds nothing new allocates %.0f times", n)
	}
}
