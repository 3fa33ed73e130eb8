package daemon

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// The heap's headroom: how much the heap may grow past the live heap before the next collection. Go's default
// (GOGC=100) lets it grow by the whole live heap. With ten thousand domains the live heap is ~75 MiB, and the
// objects a burst of reconciles keeps end up strewn over the spans of everything the burst allocated and freed
// between two collections: at rest the daemon then holds the live heap plus most of one headroom (~40 MiB of
// partly used spans measured at 10,000 domains), which the runtime cannot return. So, once the live heap is
// larger than the headroom, the headroom is bounded: to burstHeapHeadroom while reconciles run (they make the
// objects that stay), to maxHeapHeadroom otherwise (calls make garbage only, and a larger headroom keeps their
// collections rare). A small daemon keeps Go's default.
//
// At rest (the previous collection restGCInterval or more ago, nothing reconciled since), the daemon's periodic
// passes allocate a few MiB a minute, and with 32 MiB of headroom its resident memory crept up by that much over
// the minutes after a burst (measured: 140 → 148.5 MiB in 150 s at 10,000 domains). There the headroom is
// restHeapHeadroom, below minGCPercent too: collections stay as rare as the runtime's own forced one (every two
// minutes), and once calls or reconciles make them frequent again the larger headroom returns.
const (
	maxHeapHeadroom   = 32 << 20
	burstHeapHeadroom = 16 << 20
	restHeapHeadroom  = 8 << 20
	restGCInterval    = 30 * time.Second
	// minGCPercent bounds the collections' cost: with a very large live heap the headroom is this share of it.
	minGCPercent = 25
)

// headroomFor returns the headroom the next collection cycle gets and the least GC percentage it may take,
// from whether reconciles ran since the previous collection and how long ago that collection was.
func headroomFor(busy bool, since time.Duration) (headroom uint64, floor int) {
	switch {
	case busy:
		return burstHeapHeadroom, minGCPercent
	case since >= restGCInterval:
		return restHeapHeadroom, 1
	}
	return maxHeapHeadroom, minGCPercent
}

// gcPercentFor returns the GC percentage that gives a live heap of live bytes a headroom of at most headroom,
// and at least floor percent.
func gcPercentFor(live, headroom uint64, floor int) int {
	if live <= headroom {
		return 100
	}
	return max(floor, int(100*headroom/live))
}

var tuneHeapOnce sync.Once

// heapBusy is the work counter of the daemon the tuner follows: the latest one serving, nil while none is.
var heapBusy atomic.Pointer[atomic.Int64]

// tuneHeap sets the GC percentage after every collection from the live heap it found, from whether work counted
// by busy (reconciles) was done since the previous collection and from how long ago that was (headroomFor,
// gcPercentFor), for the rest of the process's life; the tuner is armed once per process and follows the latest
// daemon's busy until the returned stop, which the daemon calls when it stops serving: then Go's default holds
// again, and the tuner keeps none of the stopped daemon's memory. An operator's GOGC is left alone.
func tuneHeap(busy *atomic.Int64) (stop func()) {
	if _, set := os.LookupEnv("GOGC"); set {
		return func() {}
	}
	heapBusy.Store(busy)
	tuneHeapOnce.Do(func() {
		(&heapTuner{sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}, percent: 100, last: time.Now()}).arm()
	})
	return func() { heapBusy.CompareAndSwap(busy, nil) }
}

// heapTuner runs after each collection: a finalizer on an unreachable sentinel runs once the collection that
// found it is over, and arms the next one.
type heapTuner struct {
	sample   []metrics.Sample
	percent  int
	lastBusy int64
	last     time.Time // when the previous collection ended
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
	now, p := time.Now(), 100 // no daemon serving: Go's default, as in a process that has not served yet
	if b := heapBusy.Load(); b != nil {
		n := b.Load()
		headroom, floor := headroomFor(n != t.lastBusy, now.Sub(t.last))
		t.lastBusy = n
		p = gcPercentFor(t.sample[0].Value.Uint64(), headroom, floor)
	}
	t.last = now
	if p != t.percent {
		t.percent = p
		debug.SetGCPercent(p)
	}
}
