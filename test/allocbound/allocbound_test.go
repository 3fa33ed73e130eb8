package allocbound

import "testing"

var sink []byte

func TestMeasureCountsFreedMemory(t *testing.T) {
	got := Measure(func() {
		for range 16 {
			sink = make([]byte, 1<<20)
		}
	})
	if got < 16<<20 {
		t.Fatalf("Measure = %d, want at least %d", got, 16<<20)
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name  string
		size  int
		alloc int
		fail  bool
	}{
		{"small input within the allowance", 10, 1 << 20, false},
		{"within the per-byte budget", 1 << 20, 32 << 20, false},
		{"beyond it", 1 << 10, 8 << 20, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := &fakeTB{TB: t}
			Check(ft, tt.size, func() { sink = make([]byte, tt.alloc) })
			if ft.failed != tt.fail {
				t.Fatalf("failed = %v, want %v", ft.failed, tt.fail)
			}
		})
	}
}

// fakeTB records a failure instead of failing the test.
type fakeTB struct {
	testing.TB
	failed bool
}

func (f *fakeTB) Errorf(string, ...any) { f.failed = true }
func (f *fakeTB) Helper()               {}
