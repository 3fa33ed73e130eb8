// Command rpc measures virtxend's libvirt RPC server against a real libvirtd 9.0 in one run on the same machine,
// and prints a table: cheap-call and DomainGetInfo round trips per second from 1 and 16 go-libvirt clients,
// the time of `virsh list --all` over 1000 domains, and each daemon's resident memory with those domains. Below
// the table it prints the floor of the machine (a bare ping-pong between two processes: one-client call rates
// cannot beat it) and the fixed cost of any virsh command (virsh version), which bound the one-client rows and
// virsh list.
//
//	go run ./hack/bench/rpc -binary bin/virtxend [-duration 3s] [-rounds 3] [-n 1000]
//
// The baseline is Debian's libvirtd serving its test:///default driver, which needs no hypervisor (FACTS.md):
// run unprivileged (as nobody when the bench runs as root), so in session mode, from a temporary directory, with
// n running domains defined through its socket. virtxend runs the simulated host with n running drop-in domains
// of 8 MiB. Each measurement alternates between the two daemons, round after round, and the table reports the
// median of the rounds: the machine is shared, so the load average is printed with it. When libvirtd is missing
// and the bench runs as root it installs libvirt-daemon (the test driver is part of libvirt0) and libvirt-clients,
// with policy-rc.d keeping Debian's scripts from starting a system libvirtd. Every process the bench starts is
// ended when it ends, and dies with it if it is killed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/digitalocean/go-libvirt"
)

func main() {
	binary := flag.String("binary", "bin/virtxend", "the virtxend binary")
	dur := flag.Duration("duration", 3*time.Second, "how long each call-rate measurement runs")
	rounds := flag.Int("rounds", 3, "rounds of every measurement (the table shows their median)")
	n := flag.Int("n", 1000, "domains in each daemon")
	clients := flag.Int("clients", 16, "concurrent clients of the parallel measurements")
	flag.Parse()
	if path := os.Getenv(echoEnv); path != "" {
		if err := serveEcho(path); err != nil {
			fmt.Fprintln(os.Stderr, "bench echo:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, config{binary: *binary, dur: *dur, rounds: max(*rounds, 1), n: *n, clients: *clients}); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type config struct {
	binary          string
	dur             time.Duration
	rounds, n       int
	clients         int
	virsh, libvirtd string
}

// daemon is one RPC server under measurement, with its clients connected.
type daemon struct {
	name    string
	pid     int
	version string             // what the table says of it
	uri     string             // what virsh connects to
	clients []*libvirt.Libvirt // clients[0] is also the control connection
	doms    []libvirt.Domain   // the n domains, for DomainGetInfo
	sock    string             // its socket, and the URI CONNECT_OPEN names, for the raw client
	openURI string
	// rssEmpty and rssFull are its resident memory before and after its n domains were set up: the fixed cost
	// and, over n, the per-domain slope.
	rssEmpty, rssFull float64
}

// row is one line of the table; cpu and lat are the daemons' CPU time per call and the calls' p50/p99 latency,
// when the row measures calls.
type row struct {
	what, virtxend, libvirtd, ratio, target string
	cpu, lat                                [2]string
}

// rate is one call-rate measurement: calls per second, the daemon's CPU time per call (from /proc/PID/stat
// over the measurement) and the calls' latencies.
type rate struct {
	perSec, cpuPerCall float64 // calls/s, seconds
	p50, p99           time.Duration
}

func run(ctx context.Context, cfg config) error {
	cfg.virsh, cfg.libvirtd = "/usr/bin/virsh", "/usr/sbin/libvirtd"
	if err := ensureLibvirt(cfg); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "virtxend-bench-rpc-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil { // libvirtd runs as nobody and must reach its directory
		return err
	}
	load0 := loadAverage()

	vx, stopVX, err := startVirtxend(ctx, cfg, dir)
	if stopVX != nil {
		defer stopVX()
	}
	if err != nil {
		return fmt.Errorf("virtxend: %w", err)
	}
	lv, stopLV, err := startLibvirtd(ctx, cfg, dir)
	if stopLV != nil {
		defer stopLV()
	}
	if err != nil {
		return fmt.Errorf("libvirtd: %w", err)
	}
	daemons := [2]*daemon{vx, lv}
	time.Sleep(2 * time.Second) // let the start-up work drain
	rssSetUp := [2]float64{rssMiB(vx.pid), rssMiB(lv.pid)}
	rows, err := measureAll(ctx, cfg, daemons)
	if err != nil {
		return err
	}
	floor, err := pingPongFloor(ctx, dir, cfg.dur)
	if err != nil {
		return fmt.Errorf("round-trip floor: %w", err)
	}
	var startup [2]float64
	for k, d := range daemons {
		if startup[k], err = virshStartup(ctx, cfg, d); err != nil {
			return fmt.Errorf("virsh version, %s: %w", d.name, err)
		}
	}
	// Memory twice: once set up, and once both daemons have served the same calls.
	for _, r := range []struct {
		when string
		v    [2]float64
	}{{"set up", rssSetUp}, {"after the calls", [2]float64{rssMiB(vx.pid), rssMiB(lv.pid)}}} {
		rows = append(rows, row{what: fmt.Sprintf("resident memory, %d domains, %s", cfg.n, r.when),
			virtxend: fmt.Sprintf("%.1f MiB", r.v[0]), libvirtd: fmt.Sprintf("%.1f MiB", r.v[1]), ratio: ratio(r.v[0], r.v[1]), target: "≤ 1×"})
	}
	rows = append(rows,
		row{what: "memory fixed cost (no domain)", virtxend: fmt.Sprintf("%.1f MiB", vx.rssEmpty),
			libvirtd: fmt.Sprintf("%.1f MiB", lv.rssEmpty), ratio: ratio(vx.rssEmpty, lv.rssEmpty), target: "≤ 30 MiB"},
		row{what: "memory per domain (slope)", virtxend: slopeKiB(vx, cfg.n), libvirtd: slopeKiB(lv, cfg.n),
			ratio: ratio(vx.rssFull-vx.rssEmpty, lv.rssFull-lv.rssEmpty), target: "≤ 1.5×"})
	for _, d := range daemons {
		for _, l := range d.clients {
			if err := l.Disconnect(); err != nil {
				return fmt.Errorf("%s: disconnect: %w", d.name, err)
			}
		}
	}
	printTable(cfg, lv, rows, load0, loadAverage())
	fmt.Printf("resident memory after the calls: %s; %s\n", rssSplit(vx), rssSplit(lv))
	fmt.Printf("floor of this machine: a bare 28-byte ping-pong between two processes over a Unix socket does "+
		"%.0f round trips/s, one at a time\n", floor)
	for _, r := range rows {
		if strings.HasSuffix(r.what, "1 raw client") {
			var vxRate float64
			fmt.Sscanf(r.virtxend, "%f", &vxRate)
			fmt.Printf("one raw client against virtxend: %.0f calls/s = %.0f %% of the floor (target ≥ 75 %%)\n", vxRate, 100*vxRate/floor)
		}
	}
	fmt.Printf("virsh version (start, connect, the calls every command makes): %.3f s against virtxend, %.3f s against libvirtd\n",
		startup[0], startup[1])
	return nil
}

// call is one RPC a client makes of a daemon; k is a running count that calls about domains spread over them.
type call func(d *daemon, l *libvirt.Libvirt, k int) error

func cheapCall(_ *daemon, l *libvirt.Libvirt, _ int) error { _, err := l.ConnectGetType(); return err }

func getInfoCall(d *daemon, l *libvirt.Libvirt, k int) error {
	_, _, _, _, _, err := l.DomainGetInfo(d.doms[k%len(d.doms)])
	return err
}

// measureAll makes the call-rate and virsh measurements. Each is made rounds × (virtxend, libvirtd),
// alternating, so that a burst of load elsewhere on the machine does not fall on one daemon only; a row
// holds the medians.
func measureAll(ctx context.Context, cfg config, daemons [2]*daemon) ([]row, error) {
	measure := func(what string, f func(*daemon) (float64, error)) ([2]float64, error) {
		var got [2][]float64
		for r := 0; r < cfg.rounds; r++ {
			for k, d := range daemons {
				if err := ctx.Err(); err != nil {
					return [2]float64{}, err
				}
				v, err := f(d)
				if err != nil {
					return [2]float64{}, fmt.Errorf("%s, %s: %w", what, d.name, err)
				}
				got[k] = append(got[k], v)
			}
		}
		return [2]float64{median(got[0]), median(got[1])}, nil
	}
	var rows []row
	for _, m := range []struct {
		what    string
		clients int
		call    call
	}{
		{"cheap calls (ConnectGetType), 1 client", 1, cheapCall},
		{fmt.Sprintf("cheap calls (ConnectGetType), %d clients", cfg.clients), cfg.clients, cheapCall},
		{fmt.Sprintf("DomainGetInfo among %d domains, 1 client", cfg.n), 1, getInfoCall},
		{fmt.Sprintf("DomainGetInfo among %d domains, %d clients", cfg.n, cfg.clients), cfg.clients, getInfoCall},
		{"cheap calls (ConnectGetType), 1 raw client", 1, nil},
	} {
		var rates [2][]rate
		v, err := measure(m.what, func(d *daemon) (float64, error) {
			r, err := measureRate(d, m.clients, cfg.dur, m.call)
			rates[slices.Index(daemons[:], d)] = append(rates[slices.Index(daemons[:], d)], r)
			return r.perSec, err
		})
		if err != nil {
			return nil, err
		}
		target := "≥ 5×"
		if m.clients == 1 {
			target = "—"
		}
		r := row{what: m.what, virtxend: fmt.Sprintf("%.0f /s", v[0]), libvirtd: fmt.Sprintf("%.0f /s", v[1]),
			ratio: ratio(v[0], v[1]), target: target}
		for k := range daemons {
			med := medianRate(rates[k])
			r.cpu[k] = fmt.Sprintf("%.1f µs", med.cpuPerCall*1e6)
			r.lat[k] = fmt.Sprintf("%.0f/%.0f µs", float64(med.p50.Nanoseconds())/1e3, float64(med.p99.Nanoseconds())/1e3)
		}
		rows = append(rows, r)
	}
	list, err := measure("virsh list --all", func(d *daemon) (float64, error) { return virshList(ctx, cfg, d) })
	if err != nil {
		return nil, err
	}
	return append(rows, row{what: fmt.Sprintf("virsh list --all over %d domains", cfg.n), virtxend: fmt.Sprintf("%.3f s", list[0]),
		libvirtd: fmt.Sprintf("%.3f s", list[1]), ratio: ratio(list[0], list[1]), target: "≤ 0.5×"}), nil
}

// virshList times one `virsh list --all` and checks it listed every domain.
func virshList(ctx context.Context, cfg config, d *daemon) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cfg.virsh, "-c", d.uri, "list", "--all")
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LIBVIRT_DEFAULT_URI=")
	var out, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start).Seconds()
	if err != nil {
		return 0, fmt.Errorf("%w: %s", err, stderr.String())
	}
	if got := strings.Count(out.String(), " bench-"); got != cfg.n {
		return 0, fmt.Errorf("virsh listed %d of the %d domains", got, cfg.n)
	}
	return took, nil
}

func printTable(cfg config, libvirtd *daemon, rows []row, load0, load1 string) {
	fmt.Println()
	fmt.Printf("RPC benchmark: virtxend (simulated host) against %s (test:///default, session mode), "+
		"median of %d rounds, %s per call-rate measurement\n", libvirtd.version, cfg.rounds, cfg.dur)
	fmt.Printf("machine: %d cores shared; load average %s at the start, %s at the end\n", runtime.NumCPU(), load0, load1)
	fmt.Printf("| %-52s | %-12s | %-12s | %-7s | %-8s | %-10s | %-10s | %-15s | %-15s |\n", "measure", "virtxend",
		"libvirtd", "ratio", "target", "vx CPU/call", "lv CPU/call", "vx p50/p99", "lv p50/p99")
	fmt.Printf("|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", strings.Repeat("-", 54), strings.Repeat("-", 14), strings.Repeat("-", 14),
		strings.Repeat("-", 9), strings.Repeat("-", 10), strings.Repeat("-", 12), strings.Repeat("-", 12),
		strings.Repeat("-", 17), strings.Repeat("-", 17))
	for _, r := range rows {
		fmt.Printf("| %-52s | %-12s | %-12s | %-7s | %-8s | %-10s | %-10s | %-15s | %-15s |\n", r.what, r.virtxend,
			r.libvirtd, r.ratio, r.target, r.cpu[0], r.cpu[1], r.lat[0], r.lat[1])
	}
}

// ratio is virtxend's figure over libvirtd's, with two significant digits at least.
func ratio(vx, lv float64) string {
	r := vx / lv
	if r < 0.1 {
		return fmt.Sprintf("%.3f×", r)
	}
	return fmt.Sprintf("%.2f×", r)
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// loadAverage is the 1, 5 and 15 minute load averages, as uptime prints them.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}

// rssMiB is a process's resident memory.
func rssMiB(pid int) float64 { return procStatusMiB(pid, "VmRSS") }

// procStatusMiB is a figure of /proc/PID/status given in kB, in MiB.
func procStatusMiB(pid int, key string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			if f := strings.Fields(v); len(f) > 0 {
				kib, _ := strconv.ParseFloat(f[0], 64)
				return kib / 1024
			}
		}
	}
	return 0
}

// rssSplit says how much of a process's resident memory is file-backed (its binary and libraries) and how
// much anonymous (its heap).
func rssSplit(d *daemon) string {
	return fmt.Sprintf("%s %.1f MiB file-backed, %.1f MiB anonymous", d.name,
		procStatusMiB(d.pid, "RssFile"), procStatusMiB(d.pid, "RssAnon"))
}

// stopProcess ends a process the bench started, and its process group: SIGTERM, then SIGKILL after grace.
func stopProcess(cmd *exec.Cmd, done <-chan struct{}, grace time.Duration) {
	if cmd.Process == nil {
		return
	}
	pid := cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-done
	}
}
