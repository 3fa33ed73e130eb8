// Package allocbound checks, in tests and fuzz targets, that handling one input allocates memory in proportion to
// the input's size: hostile input (deep nesting, huge counts, pathological values) must not turn a few kilobytes
// into gigabytes. The parsers' fuzz targets run every input through Check.
//
// The measure is runtime.MemStats.TotalAlloc around the call: every byte allocated, even if freed at once, so
// that a quadratic path shows even when the garbage collector keeps the heap small. It counts every goroutine's
// allocations, so Check belongs in tests that do not run in parallel with others (fuzz workers run one input at a
// time).
package allocbound
