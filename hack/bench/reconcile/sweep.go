package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/virtxend/virtxend/libxl"
	"github.com/virtxend/virtxend/libxl/sim"
)

// sweep runs the bench at every size of sizes (comma-separated) and prints one table per size, with the
// machine's load average, so that the growth with n shows.
func sweep(sizes string, idle time.Duration, binary string, edits int, profDir string) error {
	var ns []int
	for _, f := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("bad size %q", f)
		}
		ns = append(ns, n)
	}
	var fixed float64
	if binary != "" {
		dir, err := os.MkdirTemp("", "virtxend-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		defer os.RemoveAll(stateDir(dir))
		if _, fixed, err = measureIdle(binary, dir, 0, 5*time.Second); err != nil {
			return fmt.Errorf("fixed cost: %w", err)
		}
	}
	for _, n := range ns {
		load0 := loadAverage()
		rows, err := run(n, idle, binary, edits, &profiler{dir: profDir, n: n}, fixed)
		if err != nil {
			return fmt.Errorf("%d domains: %w", n, err)
		}
		if binary != "" {
			rows = append(rows, row{"resident memory with no domain (fixed cost)", fmt.Sprintf("%.1f MiB", fixed), "≤ 30 MiB"})
		}
		perDomain, err := simRecordKiB(n)
		if err != nil {
			return err
		}
		rows = append(rows, row{"of which the simulated host's records, per domain (heap)", fmt.Sprintf("%.1f KiB", perDomain), "—"})
		printTable(rows)
		fmt.Printf("n = %d; machine: %d cores shared; load average %s at the start, %s at the end\n",
			n, runtime.NumCPU(), load0, loadAverage())
	}
	return nil
}

// simRecordKiB is the heap a simulated host holds per domain, measured on a host of its own in this process:
// what a real Xen host would keep outside the daemon.
func simRecordKiB(n int) (float64, error) {
	dir, err := os.MkdirTemp("/dev/shm", "virtxend-bench-sim-")
	if err != nil {
		if dir, err = os.MkdirTemp("", "virtxend-bench-sim-"); err != nil {
			return 0, err
		}
	}
	defer os.RemoveAll(dir)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	h, err := sim.New(sim.Options{StateDir: filepath.Join(dir, "sim"), TotalMemKiB: uint64(n)*8<<10 + 4<<20})
	if err != nil {
		return 0, err
	}
	defer h.Close()
	before := heap()
	ctx := context.Background()
	for i := range n {
		cfg := &libxl.DomainConfig{
			CInfo: libxl.DomainCreateInfo{Type: libxl.DomainTypePV, Name: name(i)},
			BInfo: libxl.DomainBuildInfo{MaxVcpus: 1, MaxMemkb: 8 << 10, TargetMemkb: 8 << 10},
		}
		if _, err := h.CreateDomain(ctx, cfg, libxl.CreateOptions{Userdata: map[string][]byte{"virtxend": make([]byte, 200)}}); err != nil {
			return 0, fmt.Errorf("simulated host records: %w", err)
		}
	}
	after := heap()
	return float64(after-before) / 1024 / float64(n), nil
}

// loadAverage is the 1, 5 and 15 minute load averages, as uptime prints them.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	if f := strings.Fields(string(b)); len(f) >= 3 {
		return strings.Join(f[:3], ", ")
	}
	return "unknown"
}
