package daemon

import (
	"os"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

func TestGCPercentFor(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{{0, 100}, {8 << 20, 100}, {maxHeapHeadroom, 100}, {2 * maxHeapHeadroom, 50}, {86 << 20, 37}, {1 << 30, minGCPercent}} {
		if got := gcPercentFor(c.live); got != c.want {
			t.Errorf("gcPercentFor(%d MiB) = %d, want %d", c.live>>20, got, c.want)
		}
	}
}

// TestTuneHeap: after a collection that finds a live heap of four headrooms, the GC percentage is 25; once that
// heap is freed, 100 again.
func TestTuneHeap(t *testing.T) {
	if _, set := os.LookupEnv("GOGC"); set {
		t.Skip("GOGC is set: the daemon leaves the percentage to it") // the test's own environment, not a missing part
	}
	tuneHeap()
	gogc := func() uint64 {
		s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	waitFor := func(want uint64) {
		t.Helper()
		for start := time.Now(); gogc() != want; time.Sleep(10 * time.Millisecond) {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("GC percent %d, want %d", gogc(), want)
			}
			runtime.GC()
		}
	}
	live := make([][]byte, 4*maxHeapHeadroom>>20)
	for i := range live {
		live[i] = make([]byte, 1<<20)
	}
	waitFor(25)
	runtime.KeepAlive(live)
	waitFor(100)
}
