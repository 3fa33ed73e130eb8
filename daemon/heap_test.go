package daemon

import (
	"os"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"
)

func TestGCPercentFor(t *testing.T) {
	for _, c := range []struct {
		live, headroom uint64
		want           int
	}{
		{0, maxHeapHeadroom, 100}, {8 << 20, maxHeapHeadroom, 100}, {maxHeapHeadroom, maxHeapHeadroom, 100},
		{2 * maxHeapHeadroom, maxHeapHeadroom, 50}, {86 << 20, maxHeapHeadroom, 37}, {1 << 30, maxHeapHeadroom, minGCPercent},
		{16 << 20, burstHeapHeadroom, 100}, {48 << 20, burstHeapHeadroom, 33}, {86 << 20, burstHeapHeadroom, minGCPercent},
	} {
		if got := gcPercentFor(c.live, c.headroom, minGCPercent); got != c.want {
			t.Errorf("gcPercentFor(%d MiB, %d MiB) = %d, want %d", c.live>>20, c.headroom>>20, got, c.want)
		}
	}
	// At rest the headroom goes below minGCPercent: 8 MiB over the live heap of 10,000 domains (~75 MiB) is 10 %.
	if got := gcPercentFor(80<<20, restHeapHeadroom, 1); got != 10 {
		t.Errorf("at rest, 80 MiB live: %d %%, want 10", got)
	}
	if got := gcPercentFor(4<<30, restHeapHeadroom, 1); got != 1 {
		t.Errorf("at rest, 4 GiB live: %d %%, want 1", got)
	}
}

// TestHeadroomFor: reconciles since the previous collection give the burst's headroom whenever it was; without
// them, a collection restGCInterval or more ago means rest (the small headroom, no minimum share), a recent one
// calls (the large headroom).
func TestHeadroomFor(t *testing.T) {
	for _, c := range []struct {
		busy     bool
		since    time.Duration
		headroom uint64
		floor    int
	}{
		{true, time.Second, burstHeapHeadroom, minGCPercent},
		{true, 5 * time.Minute, burstHeapHeadroom, minGCPercent},
		{false, time.Second, maxHeapHeadroom, minGCPercent},
		{false, restGCInterval - time.Millisecond, maxHeapHeadroom, minGCPercent},
		{false, restGCInterval, restHeapHeadroom, 1},
		{false, 2 * time.Minute, restHeapHeadroom, 1},
	} {
		h, f := headroomFor(c.busy, c.since)
		if h != c.headroom || f != c.floor {
			t.Errorf("headroomFor(busy %v, %s) = %d MiB, %d %%; want %d MiB, %d %%", c.busy, c.since, h>>20, f, c.headroom>>20, c.floor)
		}
	}
}

// tuneHeapBusy is TestTuneHeap's work counter.
var tuneHeapBusy atomic.Int64

// TestTuneHeap: after collections that find a live heap of ~96 MiB, the GC percentage gives it a headroom of
// 32 MiB (~33 %) while nothing is busy, 16 MiB (so 25 %, the least) after work was counted; Go's default (100)
// once the daemon stopped serving, whatever the heap; tuned again for the next daemon; 100 once that heap is
// freed.
func TestTuneHeap(t *testing.T) {
	if _, set := os.LookupEnv("GOGC"); set {
		t.Skip("GOGC is set: the daemon leaves the percentage to it") // the test's own environment, not a missing part
	}
	stop := tuneHeap(&tuneHeapBusy)
	gogc := func() uint64 {
		s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	// waitFor collects until the percentage is want, calling work before each collection.
	waitFor := func(want uint64, work func()) {
		t.Helper()
		for start := time.Now(); gogc() != want; time.Sleep(10 * time.Millisecond) {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("GC percent %d, want %d", gogc(), want)
			}
			work()
			runtime.GC()
		}
	}
	idle := func() {}
	live := make([][]byte, 3*maxHeapHeadroom>>20)
	for i := range live {
		live[i] = make([]byte, 1<<20)
	}
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	calm := uint64(gcPercentFor(s[0].Value.Uint64(), maxHeapHeadroom, minGCPercent))
	if calm < 30 || calm > 34 {
		t.Fatalf("a live heap of %d MiB: %d %%", s[0].Value.Uint64()>>20, calm)
	}
	waitFor(calm, idle)
	waitFor(minGCPercent, func() { tuneHeapBusy.Add(1) })
	waitFor(calm, idle)
	stop()
	waitFor(100, idle)
	defer tuneHeap(&tuneHeapBusy)()
	waitFor(calm, idle)
	runtime.KeepAlive(live)
	waitFor(100, idle)
}
