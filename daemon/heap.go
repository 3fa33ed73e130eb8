package daemon

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// The heap's headroom: how much the heap may grow past the live heap before the next collection. Go's default
// (GOGC=100) lets it grow by the whole live heap. With ten thousand domains the live heap is ~75 MiB, and the
// objects a burst of reconciles keeps end up strewn over the spans of everything the burst allocated and freed
// between two collections: at rest the daemon then holds the live heap plus most of one headroom (~40 MiB of
// partly used spans measured at 10,000 domains), which the runtime cannot return. So, once the live heap is
// larger than the headroom, the headroom is bounded: to burstHeapHeadroom while reconciles run (they make the
// objects that stay), to maxHeapHeadroom otherwise (calls make garbage only, and a larger headroom keeps their
// collections rare). A small daemon keeps Go's default.
const (
	maxHeapHeadroom   = 32 << 20
	burstHeapHeadroom = 16 << 20
	// minGCPercent bounds the collections' cost: with a very large live heap the headroom is this share of it.
	minGCPercent = 25
)

// gcPercentFor returns the GC percentage that gives a live heap of live bytes a headroom of at most headroom.
func gcPercentFor(live, headroom uint64) int {
	if live <= headroom {
		return 100
	}
	return max(minGCPercent, int(100*headroom/live))
}

var tuneHeapOnce sync.Once

// tuneHeap sets the GC percentage after every collection from the live heap it found and from whether work
// counted by busy (reconciles) was done since the previous collection (gcPercentFor), for the rest of the
// process's life; once per process, whatever the number of daemons in it (the first one's busy counts). An
// operator's GOGC is left alone.
func tuneHeap(busy func() int64) {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	tuneHeapOnce.Do(func() {
		(&heapTuner{sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}, percent: 100, busy: busy}).arm()
	})
}

// heapTuner runs after each collection: a finalizer on an unreachable sentinel runs once the collection that
// found it is over, and arms the next one.
type heapTuner struct {
	sample   []metrics.Sample
	percent  int
	busy     func() int64
	lastBusy int64
}

type heapSentinel struct{ t *heapTuner }

func (t *heapTuner) arm() {
	runtime.SetFinalizer(&heapSentinel{t}, func(s *heapSentinel) {
		s.t.adjust()
		s.t.arm()
	})
}

func (t *heapTuner) adjust() {
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	headroom := uint64(maxHeapHeadroom)
	if n := t.busy(); n != t.lastBusy {
		t.lastBusy, headroom = n, burstHeapHeadroom
	}
	if p := gcPercentFor(t.sample[0].Value.Uint64(), headroom); p != t.percent {
		t.percent = p
		debug.SetGCPercent(p)
	}
}
