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
	prevN, prevRSS := 0, 0.0
	for _, n := range ns {
		load0 := loadAverage()
		rows, rss, err := run(n, idle, binary, edits, &profiler{dir: profDir, n: n}, fixed)
		if err != nil {
			return fmt.Errorf("%d domains: %w", n, err)
		}
		if binary != "" && prevN > 0 && n > prevN {
			// The slope between two sizes leaves out what any number of domains costs once (code and tables
			// first touched by the first start), which (RSS − fixed cost) / n spreads over n.
			rows = append(rows, row{fmt.Sprintf("resident memory per domain, from %d to %d domains", prevN, n),
				fmt.Sprintf("%.1f KiB", (rss-prevRSS)*1024/float64(n-prevN)), "≤ 1.5× libvirtd"})
		}
		prevN, prevRSS = n, rss
		if binary != "" {
			rows = append(rows, row{"resident memory with no domain (fixed cost)", fmt.Sprintf("%.1f MiB", fixed), "≤ 30 MiB"})
		}
		perDomain, err := simRecordKiB(n)
		if err != nil {
			return err
		}
		rows = append(rows, row{"of which the simulated host's, per domain (heap and stacks)", fmt.Sprintf("%.1f KiB", perDomain), "—"})
		printTable(rows)
		fmt.Printf("n = %d; machine: %d cores shared; load average %s at the start, %s at the end\n",
			n, runtime.NumCPU(), load0, loadAverage())
	}
	return nil
}

// simRecordKiB is the heap and stack a simulated host holds per domain (its records, and the console each started
// domain's pty is asked for), measured on a host of its own in this process: what a real Xen host would keep
// outside the daemon (xenstored, xenconsoled).
func simRecordKiB(n int) (float64, error) {
	dir, err := os.MkdirTemp("/dev/shm", "virtxend-bench-sim-")
	if err != nil {
		if dir, err = os.MkdirTemp("", "virtxend-bench-sim-"); err != nil {
			return 0, err
		}
	}
	defer os.RemoveAll(dir)
	heap := func() uint64 { // heap and goroutine stacks: a console's reader is a goroutine
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc + m.StackInuse
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
		id, err := h.CreateDomain(ctx, cfg, libxl.CreateOptions{Userdata: map[string][]byte{"virtxend": make([]byte, 200)}})
		if err != nil {
			return 0, fmt.Errorf("simulated host records: %w", err)
		}
		// The daemon asks every started domain for its console's pty (the live definition records it); the
		// simulated host then holds a pty and its guest's reader, as xenconsoled would on a real host.
		_, _ = h.ConsolePath(ctx, id, libxl.ConsolePV, 0)
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
