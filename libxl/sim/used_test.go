package sim

import (
	"context"
	"fmt"
	"testing"

	"github.com/virtxend/virtxend/libxl"
)

// TestUsedMemoryKeptInStep checks the host's running total of allocated memory, which spares every start a walk
// over every domain, against the sum it replaces through creates, balloons, pauses and destroys.
func TestUsedMemoryKeptInStep(t *testing.T) {
	h := newHost(t)
	ctx := context.Background()
	check := func(when string) {
		t.Helper()
		h.mu.Lock()
		defer h.mu.Unlock()
		var sum uint64
		for _, d := range h.doms {
			sum += d.curKiB
		}
		if !h.usedKnown || h.used != sum {
			t.Fatalf("%s: running total %d (known %v), domains hold %d", when, h.used, h.usedKnown, sum)
		}
	}
	var ids []libxl.DomID
	for i := range 8 {
		ids = append(ids, mustCreate(t, h, cfg(fmt.Sprintf("g%d", i), 64<<10, 1), libxl.CreateOptions{}))
	}
	check("after creates")
	if err := h.SetMemoryTarget(ctx, ids[0], 32<<10); err != nil {
		t.Fatal(err)
	}
	if err := h.PauseDomain(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	if err := h.SetMemoryTarget(ctx, ids[1], 48<<10); err != nil {
		t.Fatal(err)
	}
	if err := h.UnpauseDomain(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	check("after balloons")
	for _, id := range ids[2:5] {
		if err := h.DestroyDomain(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	check("after destroys")
	info, err := h.HostInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := h.opts.TotalMemKiB - h.used; info.FreeKiB != want {
		t.Errorf("free %d KiB, want %d", info.FreeKiB, want)
	}
}
