package controllers

import (
	"fmt"
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
