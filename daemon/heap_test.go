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
		if got := gcPercentFor(c.live, c.headroom); got != c.want {
			t.Errorf("gcPercentFor(%d MiB, %d MiB) = %d, want %d", c.live>>20, c.headroom>>20, got, c.want)
		}
	}
}

// tuneHeapBusy is TestTuneHeap's work counter: the process's tuner keeps the first counter it was given.
var tuneHeapBusy atomic.Int64

// TestTuneHeap: after collections that find a live heap of ~96 MiB, the GC percentage gives it a headroom of
// 32 MiB (~33 %) while nothing is busy, 16 MiB (so 25 %, the least) after work was counted; once that heap is
// freed, 100 again.
func TestTuneHeap(t *testing.T) {
	if _, set := os.LookupEnv("GOGC"); set {
		t.Skip("GOGC is set: the daemon leaves the percentage to it") // the test's own environment, not a missing part
	}
	tuneHeap(tuneHeapBusy.Load)
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
	calm := uint64(gcPercentFor(s[0].Value.Uint64(), maxHeapHeadroom))
	if calm < 30 || calm > 34 {
		t.Fatalf("a live heap of %d MiB: %d %%", s[0].Value.Uint64()>>20, calm)
	}
	waitFor(calm, idle)
	waitFor(minGCPercent, func() { tuneHeapBusy.Add(1) })
	waitFor(calm, idle)
	runtime.KeepAlive(live)
	waitFor(100, idle)
}
