// Command rpc measures virtxend's libvirt RPC server against a real libvirtd 9.0 in one run on the same machine,
// and prints a table: ConnectGetType and DomainGetInfo round trips per second from 1 and 16 clients, both
// go-libvirt clients and raw ones (a minimal client that speaks the protocol directly, so that the client's own
// cost does not hide the server's), with each daemon's CPU time per call (from /proc/PID/stat over the
// measurement) and the calls' p50/p99 latency; the time of `virsh list --all` over n domains; and each daemon's
// resident memory with those domains. The one-raw-client row is compared with the floor of the machine (a bare
// ping-pong between two processes, measured right after it in every round: one-client call rates cannot beat
// it), and the fixed cost of any virsh command (virsh version), which bounds virsh list, is printed below, with
// the floor of a daemon's fixed cost: a process that links the libraries the project must use and does nothing.
//
//	go run ./hack/bench/rpc -binary bin/virtxend [-duration 3s] [-rounds 3] [-n 10000] [-only REGEXP] [-perf DIR]
//
// -only makes only the measurements whose name matches; -perf records virtxend with perf(1) during each of its
// measurements (perf report -i DIR/FILE), the daemon's CPU profile without a hook in the daemon.
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
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/hack/bench/internal/proc"
)

func main() {
	binary := flag.String("binary", "bin/virtxend", "the virtxend binary")
	dur := flag.Duration("duration", 3*time.Second, "how long each call-rate measurement runs")
	rounds := flag.Int("rounds", 3, "rounds of every measurement (the table shows their median)")
	n := flag.Int("n", 10000, "domains in each daemon")
	clients := flag.Int("clients", 16, "concurrent clients of the parallel measurements")
	only := flag.String("only", "", "make only the measurements whose name matches this regular expression")
	perfDir := flag.String("perf", "", "record virtxend with perf(1) during each of its measurements, into this directory")
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
	match, err := regexp.Compile(*only)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: -only:", err)
		os.Exit(2)
	}
	if err := run(ctx, config{binary: *binary, dur: *dur, rounds: max(*rounds, 1), n: *n, clients: *clients,
		only: match, perfDir: *perfDir}); err != nil {
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
	only            *regexp.Regexp // the measurements to make
	perfDir         string         // where perf records virtxend, when set
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
	cpuRatio, cpuTarget                     string
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
	depFloor, err := dependencyFloor(ctx, dir)
	if err != nil {
		return fmt.Errorf("dependency floor: %w", err)
	}

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
	rssSetUp := [2]float64{vx.rssFull, lv.rssFull} // measured at rest
	rows, floor, err := measureAll(ctx, cfg, dir, daemons)
	if err != nil {
		return err
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
	}{{"set up", rssSetUp}, {"after the calls", [2]float64{proc.RSSMiB(vx.pid), proc.RSSMiB(lv.pid)}}} {
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
	if floor > 0 {
		fmt.Printf("floor of this machine: a bare 28-byte ping-pong between two processes over a Unix socket does "+
			"%.0f round trips/s, one at a time (median of the rounds, each right after the one-raw-client row's)\n", floor)
	}
	fmt.Printf("virsh version (start, connect, the calls every command makes): %.3f s against virtxend, %.3f s against libvirtd\n",
		startup[0], startup[1])
	fmt.Printf("floor of the fixed cost: a process that links the libraries virtxend must use and only runs their "+
		"initialisation (hack/bench/internal/depfloor) rests at %.1f MiB (%.1f MiB file-backed)\n", depFloor[0], depFloor[1])
	return nil
}

// dependencyFloor builds and starts depfloor and returns its resident memory at rest, all and file-backed.
func dependencyFloor(ctx context.Context, dir string) ([2]float64, error) {
	bin := dir + "/depfloor"
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/virtxend/virtxend/hack/bench/internal/depfloor").CombinedOutput(); err != nil {
		return [2]float64{}, fmt.Errorf("go build: %w: %s", err, out)
	}
	cmd := exec.CommandContext(ctx, bin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return [2]float64{}, err
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	rss := restingRSS(cmd.Process.Pid)
	return [2]float64{rss, proc.StatusMiB(cmd.Process.Pid, "RssFile")}, nil
}

// call is one RPC a client makes of a daemon; k is a running count that calls about domains spread over them.
type call func(d *daemon, l *libvirt.Libvirt, k int) error

func cheapCall(_ *daemon, l *libvirt.Libvirt, _ int) error { _, err := l.ConnectGetType(); return err }

func getInfoCall(d *daemon, l *libvirt.Libvirt, k int) error {
	_, _, _, _, _, err := l.DomainGetInfo(d.doms[k%len(d.doms)])
	return err
}

// measurement is one call-rate row: clients making call (go-libvirt clients), or raw's call (raw clients).
type measurement struct {
	what    string
	clients int
	call    call
	raw     func(*daemon) rawCall
	// cpuTarget is the bound on virtxend's CPU time per call over libvirtd's; floor marks the row the machine's
	// floor is measured with, round after round.
	cpuTarget string
	floor     bool
}

func measurements(cfg config) []measurement {
	getInfo := fmt.Sprintf("DomainGetInfo among %d domains", cfg.n)
	many := fmt.Sprintf("%d clients", cfg.clients)
	return []measurement{
		{what: "ConnectGetType, 1 client", clients: 1, call: cheapCall, cpuTarget: "≤ 0.25×"},
		{what: "ConnectGetType, " + many, clients: cfg.clients, call: cheapCall, cpuTarget: "≤ 0.25×"},
		{what: "ConnectGetType, 1 raw client", clients: 1, raw: func(*daemon) rawCall { return rawGetType },
			cpuTarget: "≤ 0.25×", floor: true},
		{what: "ConnectGetType, " + many + ", raw", clients: cfg.clients, raw: func(*daemon) rawCall { return rawGetType },
			cpuTarget: "≤ 0.25×"},
		{what: getInfo + ", 1 client", clients: 1, call: getInfoCall, cpuTarget: "≤ 0.25×"},
		{what: getInfo + ", " + many, clients: cfg.clients, call: getInfoCall, cpuTarget: "≤ 0.25×"},
		{what: getInfo + ", 1 raw client", clients: 1, raw: rawGetInfo, cpuTarget: "≤ 0.25×"},
		{what: getInfo + ", " + many + ", raw", clients: cfg.clients, raw: rawGetInfo, cpuTarget: "≤ 0.25×"},
	}
}

// measureAll makes the call-rate and virsh measurements. Each is made rounds × (virtxend, libvirtd),
// alternating, so that a burst of load elsewhere on the machine does not fall on one daemon only; a row
// holds the medians. The machine's floor is measured in the same rounds as the one-raw-client row, right after
// it, and returned (its median), 0 when that row is not measured.
func measureAll(ctx context.Context, cfg config, dir string, daemons [2]*daemon) ([]row, float64, error) {
	measure := func(what string, f func(*daemon) (float64, error), after func() error) ([2]float64, error) {
		var got [2][]float64
		for r := 0; r < cfg.rounds; r++ {
			for k, d := range daemons {
				if err := ctx.Err(); err != nil {
					return [2]float64{}, err
				}
				stopPerf := func() {}
				if k == 0 {
					stopPerf = startPerf(cfg.perfDir, d.pid, fmt.Sprintf("%s-%d", what, r))
				}
				v, err := f(d)
				stopPerf()
				if err != nil {
					return [2]float64{}, fmt.Errorf("%s, %s: %w", what, d.name, err)
				}
				got[k] = append(got[k], v)
			}
			if after != nil {
				if err := after(); err != nil {
					return [2]float64{}, err
				}
			}
		}
		return [2]float64{median(got[0]), median(got[1])}, nil
	}
	var rows []row
	var floors []float64
	for _, m := range measurements(cfg) {
		if !cfg.only.MatchString(m.what) {
			continue
		}
		var rates [2][]rate
		var after func() error
		if m.floor {
			after = func() error {
				f, err := pingPongFloor(ctx, dir, cfg.dur)
				if err != nil {
					return fmt.Errorf("round-trip floor: %w", err)
				}
				floors = append(floors, f)
				return nil
			}
		}
		v, err := measure(m.what, func(d *daemon) (float64, error) {
			r, err := measureRate(d, m, cfg.dur)
			k := slices.Index(daemons[:], d)
			rates[k] = append(rates[k], r)
			return r.perSec, err
		}, after)
		if err != nil {
			return nil, 0, err
		}
		target := "≥ 5×"
		if m.clients == 1 {
			target = "—"
		}
		r := row{what: m.what, virtxend: fmt.Sprintf("%.0f /s", v[0]), libvirtd: fmt.Sprintf("%.0f /s", v[1]),
			ratio: ratio(v[0], v[1]), target: target, cpuTarget: m.cpuTarget}
		if m.floor && len(floors) > 0 {
			r.target = fmt.Sprintf("%.0f%% of floor (≥ 75%%)", 100*v[0]/median(floors))
		}
		var cpu [2]float64
		for k := range daemons {
			med := medianRate(rates[k])
			cpu[k] = med.cpuPerCall
			r.cpu[k] = fmt.Sprintf("%.1f µs", med.cpuPerCall*1e6)
			r.lat[k] = fmt.Sprintf("%.0f/%.0f µs", float64(med.p50.Nanoseconds())/1e3, float64(med.p99.Nanoseconds())/1e3)
		}
		r.cpuRatio = ratio(cpu[0], cpu[1])
		rows = append(rows, r)
	}
	floor := 0.0
	if len(floors) > 0 {
		floor = median(floors)
	}
	if !cfg.only.MatchString("virsh list --all") {
		return rows, floor, nil
	}
	list, err := measure("virsh list --all", func(d *daemon) (float64, error) { return virshList(ctx, cfg, d) }, nil)
	if err != nil {
		return nil, 0, err
	}
	return append(rows, row{what: fmt.Sprintf("virsh list --all over %d domains", cfg.n), virtxend: fmt.Sprintf("%.3f s", list[0]),
		libvirtd: fmt.Sprintf("%.3f s", list[1]), ratio: ratio(list[0], list[1]), target: "≤ 0.5×"}), floor, nil
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
	table := [][]string{{"measure", "virtxend", "libvirtd", "ratio", "target", "vx CPU/call", "lv CPU/call",
		"CPU ratio", "CPU target", "vx p50/p99", "lv p50/p99"}}
	for _, r := range rows {
		table = append(table, []string{r.what, r.virtxend, r.libvirtd, r.ratio, r.target, r.cpu[0], r.cpu[1],
			r.cpuRatio, r.cpuTarget, r.lat[0], r.lat[1]})
	}
	width := make([]int, len(table[0]))
	for _, l := range table {
		for i, c := range l {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for n, l := range table {
		for i, c := range l {
			fmt.Printf("| %s%s ", c, strings.Repeat(" ", width[i]-utf8.RuneCountInString(c)))
		}
		fmt.Println("|")
		if n == 0 {
			for _, w := range width {
				fmt.Printf("|%s", strings.Repeat("-", w+2))
			}
			fmt.Println("|")
		}
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

// restingRSS is a daemon's resident memory once it is at rest (proc.WaitQuiet, a minute at most), so that
// neither daemon is measured while it still digests its set-up.
func restingRSS(pid int) float64 {
	proc.WaitQuiet(pid, time.Minute)
	return proc.RSSMiB(pid)
}

// rssSplit says how much of a process's resident memory is file-backed (its binary and libraries) and how
// much anonymous (its heap).
func rssSplit(d *daemon) string {
	return fmt.Sprintf("%s %.1f MiB file-backed, %.1f MiB anonymous", d.name,
		proc.StatusMiB(d.pid, "RssFile"), proc.StatusMiB(d.pid, "RssAnon"))
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
