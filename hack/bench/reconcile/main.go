// Command reconcile measures the reconciler on the simulated host (zero guest boot time) and prints a table per
// number of domains n: n spec files dropped into the directory until all run, reconciles per domain, the latency
// of one edited spec among n, a restart until every status is re-derived, and the real daemon binary's CPU and
// resident memory while idle with n running domains, with its fixed cost (no domain) and per-domain slope, and
// the part of that slope the simulated host's own records take (a real Xen host keeps them outside the daemon).
// The targets shown are those for 10,000 domains.
//
//	go run ./hack/bench/reconcile -binary bin/virtxend [-n 100,1000,10000] [-idle 60s] [-profile DIR]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/daemon"
	"github.com/virtxend/virtxend/daemon/store"
	"github.com/virtxend/virtxend/hack/bench/internal/proc"
	"github.com/virtxend/virtxend/libxl"
)

func main() {
	sizes := flag.String("n", "1000", "domains: one count, or a comma-separated sweep (100,1000,10000)")
	idle := flag.Duration("idle", 60*time.Second, "how long to measure the idle daemon")
	binary := flag.String("binary", "bin/virtxend", "the daemon binary for the idle measurement (empty: skip)")
	edits := flag.Int("edits", 9, "edits to time")
	profDir := flag.String("profile", "", "write CPU and allocation profiles of the in-process phases here")
	flag.Parse()
	if *profDir != "" {
		runtime.MemProfileRate = 4096 // per-domain records are a few hundred bytes: sample finely (slower phases)
	}
	if err := sweep(*sizes, *idle, *binary, *edits, *profDir); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type row struct{ what, value, target string }

func run(n int, idle time.Duration, binary string, edits int, prof *profiler, fixedMiB float64) (rows []row, rssMiB float64, err error) {
	dir, err := os.MkdirTemp("", "virtxend-bench-")
	if err != nil {
		return nil, 0, err
	}
	defer os.RemoveAll(dir)

	// 1. Drop n specs into the watched directory of a running daemon (in process, to count reconciles).
	conf, domains := writeInstance(dir)
	d, err := daemon.New(daemon.Options{ConfigFile: conf, Stderr: logTo()})
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx) }()
	<-d.Observer.Synced()
	staging := filepath.Join(dir, "staging")
	must(os.MkdirAll(staging, 0o755))
	for i := 0; i < n; i++ {
		must(os.WriteFile(filepath.Join(staging, name(i)+".yaml"), spec(i, 8), 0o644))
	}
	prof.start("drop")
	start := time.Now()
	for i := 0; i < n; i++ {
		must(os.Rename(filepath.Join(staging, name(i)+".yaml"), filepath.Join(domains, name(i)+".yaml")))
	}
	defer os.RemoveAll(stateDir(dir))
	if err := waitRunning(ctx, d, n, 60*time.Second+time.Duration(n)*10*time.Millisecond); err != nil {
		return nil, 0, err
	}
	took := time.Since(start)
	prof.stop()
	recs := float64(d.Reconciler.Reconciles.Load()) / float64(n)
	rows = append(rows,
		row{fmt.Sprintf("%d specs dropped → all Running", n), fmt.Sprintf("%.2f s", took.Seconds()), "≤ 5 s"},
		row{"reconciles per domain", fmt.Sprintf("%.2f", recs), "≤ 1.5"})

	// 2. Edit one spec among n: time until the domain's memory target changed on the hypervisor.
	var lat []time.Duration
	prof.start("edit")
	for e := 0; e < edits; e++ {
		i := (e * 97) % n
		mib := uint64(4 + e%4) // small guests: 1000 of them fit the simulated host
		tmp := filepath.Join(staging, name(i)+".yaml")
		must(os.WriteFile(tmp, spec(i, mib), 0o644))
		must(os.Rename(tmp, filepath.Join(domains, name(i)+".yaml")))
		l, err := waitTarget(ctx, d, name(i), mib*1024, 10*time.Second)
		if err != nil {
			return nil, 0, err
		}
		lat = append(lat, l)
	}
	prof.stop()
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	rows = append(rows, row{fmt.Sprintf("one spec edited among %d → applied (median of %d, max)", n, edits),
		fmt.Sprintf("%.1f ms, %.1f ms", ms(lat[len(lat)/2]), ms(lat[len(lat)-1])), "≤ 20 ms, ≤ 50 ms"})
	prof.heap()
	cancel()
	<-done

	// 3. Restart over the n running domains: time from the daemon's creation (reading its state: the live
	// definitions, the hypervisor's records) until every object's status is derived again.
	prof.start("restart")
	restart := time.Now()
	d2, err := daemon.New(daemon.Options{ConfigFile: conf, Stderr: logTo()})
	if err != nil {
		prof.stop()
		return nil, 0, err
	}
	newTook := time.Since(restart)
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan error, 1)
	go func() { done2 <- d2.Serve(ctx2) }()
	if err := waitDerived(ctx2, d2, n, 30*time.Second+time.Duration(n)*5*time.Millisecond); err != nil {
		cancel2()
		return nil, 0, err
	}
	rows = append(rows, row{fmt.Sprintf("restart with %d running → every status re-derived", n),
		fmt.Sprintf("%.0f ms (%.0f ms reading state)", ms(time.Since(restart)), ms(newTook)), "≤ 1.5 s"})
	prof.stop()
	cancel2()
	<-done2

	// 4. The real binary, idle with n running domains.
	if binary != "" {
		cpu, rss, err := measureIdle(binary, filepath.Join(dir, "idle"), n, idle)
		if err != nil {
			return nil, 0, err
		}
		rssMiB = rss
		rows = append(rows,
			row{fmt.Sprintf("idle CPU with %d running domains (avg over %s)", n, idle), fmt.Sprintf("%.2f %% of a core", cpu), "≤ 0.3 %"},
			row{fmt.Sprintf("resident memory with %d running domains", n), fmt.Sprintf("%.1f MiB", rss), "≤ 150 MiB"},
			row{"resident memory per domain: (RSS − fixed cost) / n", fmt.Sprintf("%.1f KiB", (rss-fixedMiB)*1024/float64(n)), "≤ 1.5× libvirtd"})
	}
	return rows, rssMiB, nil
}

func printTable(rows []row) {
	fmt.Println()
	fmt.Println("reconciler benchmark (simulated host, zero guest boot time)")
	fmt.Printf("| %-62s | %-22s | %-10s |\n", "measure", "result", "target")
	fmt.Printf("|%s|%s|%s|\n", strings.Repeat("-", 64), strings.Repeat("-", 24), strings.Repeat("-", 12))
	for _, r := range rows {
		fmt.Printf("| %-62s | %-22s | %-10s |\n", r.what, r.value, r.target)
	}
}

// writeInstance lays out a private instance in dir and returns its config file and drop-in directory.
func writeInstance(dir string) (conf, domains string) {
	domains = filepath.Join(dir, "domains.d")
	must(os.MkdirAll(domains, 0o755))
	conf = filepath.Join(dir, "virtxend.conf")
	must(os.WriteFile(conf, []byte(fmt.Sprintf(`unix_sock_dir = "%[1]s/run"
hypervisor = "sim"
domains_dir = "%[2]s"
defines_dir = "%[1]s/defines"
state_dir = "%[3]s"
libxl_config_file = "%[1]s/libxl.conf"
resync_interval = 30
log_level = 2
sim_memory = 262144
sim_cpus = 64
`, dir, domains, stateDir(dir))), 0o644))
	return conf, domains
}

// stateDir is where an instance keeps its runtime state: on a tmpfs, as /run is on a real host (this machine's
// /run and /tmp are on disk, where every fsync of a live definition would be a disk flush).
func stateDir(dir string) string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return filepath.Join("/dev/shm", strings.ReplaceAll(strings.Trim(dir, "/"), "/", "_")+"-state")
	}
	return filepath.Join(dir, "state")
}

func name(i int) string { return fmt.Sprintf("bench-%04d", i) }

func spec(i int, currentMiB uint64) []byte {
	return []byte(fmt.Sprintf(`apiVersion: virtxend.io/v1alpha1
kind: XenDomain
metadata:
  name: %s
spec:
  runStrategy: Always
  domain:
    memory: 8Mi
    currentMemory: %dMi
    vcpu: {count: 1}
    os: {type: xen, kernel: /boot/vmlinuz}
`, name(i), currentMiB))
}

func waitRunning(ctx context.Context, d *daemon.Daemon, n int, limit time.Duration) error {
	start := time.Now()
	deadline := start.Add(limit)
	for {
		running := 0
		err := store.SharedEach(d.Store, "", func(x *v1alpha1.XenDomain) {
			if x.Status.State == v1alpha1.StateRunning {
				running++
			}
		})
		if err != nil {
			return err
		}
		if running == n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d running after %s", running, n, limit)
		}
		// A poll costs O(n) (no sort, no copy) in this process, which the daemon shares: polls are 2 % of the
		// time waited apart, at least 50 ms.
		time.Sleep(max(50*time.Millisecond, time.Since(start)/50))
	}
}

// waitDerived waits until n objects have a status computed for their generation, with a domain.
func waitDerived(ctx context.Context, d *daemon.Daemon, n int, limit time.Duration) error {
	start := time.Now()
	deadline := start.Add(limit)
	for {
		derived := 0
		err := store.SharedEach(d.Store, "", func(x *v1alpha1.XenDomain) {
			if x.Status.DomID != nil && x.Status.ObservedGeneration == x.Generation {
				derived++
			}
		})
		if err != nil {
			return err
		}
		if derived == n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("statuses not re-derived after %s", limit)
		}
		time.Sleep(max(20*time.Millisecond, time.Since(start)/50)) // as above
	}
}

// waitTarget returns when the named domain's memory target reached kib, with the time it took.
func waitTarget(ctx context.Context, d *daemon.Daemon, name string, kib uint64, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	for time.Since(start) < limit {
		// One object and one domain per poll: the wait must not itself cost O(n) in the daemon's process.
		x, err := store.Shared[*v1alpha1.XenDomain](d.Store, client.ObjectKey{Namespace: "default", Name: name})
		if err == nil && x != nil && x.Status.DomID != nil {
			info, err := d.HV.DomainInfo(ctx, libxl.DomID(*x.Status.DomID))
			if err == nil && info.TargetKiB == kib {
				return time.Since(start), nil
			}
		}
		time.Sleep(200 * time.Microsecond)
	}
	return 0, fmt.Errorf("%s: memory target not %d KiB after %s", name, kib, limit)
}

// measureIdle runs the binary with n specs, waits until they all run, then measures CPU and RSS for dur.
func measureIdle(binary, dir string, n int, dur time.Duration) (cpuPct, rssMiB float64, err error) {
	conf, domains := writeInstance(dir)
	defer os.RemoveAll(stateDir(dir))
	for i := 0; i < n; i++ {
		must(os.WriteFile(filepath.Join(domains, name(i)+".yaml"), spec(i, 8), 0o644))
	}
	cmd := exec.Command(binary, "-f", conf, "-p", filepath.Join(dir, "virtxend.pid"))
	cmd.Stderr = devNull()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	// All running: the simulated host keeps one state file per domain.
	limit := 60*time.Second + time.Duration(n)*10*time.Millisecond
	deadline := time.Now().Add(limit)
	for {
		m, _ := filepath.Glob(filepath.Join(stateDir(dir), "sim", "domains", "*.json"))
		if len(m) >= n {
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("idle daemon: %d of %d domains after %s", len(m), n, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Let the start-up work drain before measuring idleness: three 2-second windows in a row with at most one
	// clock tick of CPU (the daemon returns the start-up's garbage to the system once its reconciles stop).
	pid := cmd.Process.Pid
	proc.WaitQuiet(pid, time.Minute)
	c0, t0 := proc.CPUTicks(pid), time.Now()
	time.Sleep(dur)
	c1, t1 := proc.CPUTicks(pid), time.Now()
	cpuPct = (float64(c1-c0) / proc.HZ) / t1.Sub(t0).Seconds() * 100
	return cpuPct, proc.RSSMiB(pid), nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func devNull() *os.File {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	must(err)
	return f
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func logTo() *os.File {
	if p := os.Getenv("BENCH_LOG"); p != "" {
		f, err := os.Create(p)
		must(err)
		return f
	}
	return devNull()
}
