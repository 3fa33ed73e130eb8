package allocbound

import (
	"runtime"
	"testing"
)

const (
	// PerByte is how many bytes one input byte may cost.
	PerByte = 64
	// Allowance is what any input may allocate on top: the fixed cost of a parse (a decoder, a spec, a printed
	// reference document to compare against) that dominates for small inputs.
	Allowance = 2 << 20
)

// Budget returns how many bytes handling an input of size bytes may allocate.
func Budget(size int) uint64 {
	return uint64(size)*PerByte + Allowance
}

// Measure returns how many bytes fn allocated.
func Measure(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Check runs fn, which handles an input of size bytes, and fails tb when it allocated more than Budget(size).
func Check(tb testing.TB, size int, fn func()) {
	tb.Helper()
	CheckWithin(tb, size, PerByte, Allowance, fn)
}

// CheckWithin is Check with another budget: perByte×size + allowance. It is for a parser whose library costs more
// per byte than PerByte, linearly; the caller says why.
func CheckWithin(tb testing.TB, size int, perByte, allowance uint64, fn func()) {
	tb.Helper()
	if got, limit := Measure(fn), uint64(size)*perByte+allowance; got > limit {
		tb.Errorf("an input of %d bytes allocated %d bytes, more than %d×size + %d = %d", size, got, perByte,
			allowance, limit)
	}
}
