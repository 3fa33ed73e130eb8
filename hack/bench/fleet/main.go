// Command fleet is the simulated fleet of issue 15: one API server (kube-apiserver and etcd, built by
// hack/fleet/control-plane.sh) with fleet mode's manifests applied, N virtxend processes in fleet mode, each its own
// simulated Xen host with private state, configuration and sockets (node-000 ... node-NNN), and M XenDomain
// objects per node. It prints: two anchors (the API server alone taking creates, and taking each object's requests
// until Running), the time until all objects are Running with the machine's CPU spent meanwhile (the daemons' and
// the rest's), the API server's requests per second at
// steady state for the whole fleet (apiserver_request_total scraped twice while nothing changes), the daemons'
// resident memory and idle CPU (from /proc), and the time from one object's spec edit to its change on the host
// (spec.paused, seen through libvirt's RPC on that daemon's socket). fleet_qps and fleet_burst keep their defaults.
//
//	go run ./hack/bench/fleet -binary bin/virtxend -assets "$(hack/fleet/control-plane.sh)" [-nodes 100] [-per 100]
package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/controllers"
	"github.com/virtxend/virtxend/hack/bench/internal/proc"
)

func main() {
	o := opts{}
	flag.StringVar(&o.binary, "binary", "bin/virtxend", "the virtxend binary")
	flag.StringVar(&o.assets, "assets", os.Getenv("KUBEBUILDER_ASSETS"), "directory of kube-apiserver, etcd and kubectl (hack/fleet/control-plane.sh)")
	flag.StringVar(&o.repo, "repo", ".", "the checkout (for config/fleet)")
	flag.IntVar(&o.nodes, "nodes", 100, "virtxend processes, one simulated host each")
	flag.IntVar(&o.per, "per", 100, "XenDomain objects per node")
	flag.IntVar(&o.edits, "edits", 20, "spec edits to time")
	flag.DurationVar(&o.steady, "steady", 60*time.Second, "how long to count API requests and daemon CPU at steady state")
	flag.DurationVar(&o.settle, "settle", 20*time.Second, "wait after all are Running before the steady-state window")
	flag.BoolVar(&o.keep, "keep", false, "keep the working directory (daemon logs)")
	flag.StringVar(&o.profile, "apiserver-profile", "", "write a 30 s CPU profile of the API server, taken while the objects start, to this file")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-fleet:", err)
		os.Exit(1)
	}
}

type opts struct {
	binary, assets, repo string
	nodes, per, edits    int
	steady, settle       time.Duration
	keep                 bool
	profile              string
}

type row struct{ what, value, target string }

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench-fleet: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func run(o opts) error {
	if o.assets == "" {
		return errors.New("no control plane: -assets or KUBEBUILDER_ASSETS (hack/fleet/control-plane.sh prints it)")
	}
	binary, err := filepath.Abs(o.binary)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "virtxend-bench-fleet-")
	if err != nil {
		return err
	}
	if o.keep {
		logf("working directory %s (kept)", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	ctx := context.Background()
	var rows []row
	rows = append(rows, row{"load average at start", loadavg(), ""})

	// The control plane, with fleet mode installed as an operator would (kubectl apply -k config/fleet).
	env := &envtest.Environment{BinaryAssetsDirectory: o.assets}
	env.ControlPlane.APIServer = &envtest.APIServer{}
	// The API server's own limits on requests in flight stay at their defaults; its default watch cache serves
	// the daemons' lists.
	if _, err := env.Start(); err != nil {
		return fmt.Errorf("start the control plane: %w", err)
	}
	defer func() { _ = env.Stop() }()
	var fleet []*daemonProc
	var fleetMu sync.Mutex
	go func() { // interrupted: stop what was started
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		logf("interrupted: stopping the daemons and the control plane")
		fleetMu.Lock()
		for _, d := range fleet {
			if d != nil {
				d.stop()
			}
		}
		_ = env.Stop()
		if !o.keep {
			os.RemoveAll(dir)
		}
		os.Exit(130)
	}()
	admin, err := env.ControlPlane.AddUser(envtest.User{Name: "bench-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	adminKC := filepath.Join(dir, "admin.kubeconfig")
	if b, err := admin.KubeConfig(); err != nil {
		return err
	} else if err := os.WriteFile(adminKC, b, 0o600); err != nil {
		return err
	}
	kubectl := func(args ...string) error {
		out, err := exec.Command(filepath.Join(o.assets, "kubectl"), append([]string{"--kubeconfig", adminKC}, args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := kubectl("apply", "-k", filepath.Join(o.repo, "config", "fleet")); err != nil {
		return err
	}
	if err := kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/xendomains.virtxend.io"); err != nil {
		return err
	}
	rc := admin.Config()
	rc.QPS, rc.Burst = 1000, 2000
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	c, err := client.NewWithWatch(rc, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}

	// The anchor: how fast this API server, on this machine now, takes creates alone (objects for a node that
	// no daemon runs, so that nothing else happens).
	anchor := 1000
	t := time.Now()
	if err := createAll(ctx, c, anchor, func(k int) (*v1alpha1.XenDomain, error) {
		obj, err := domain(anchorNode, k)
		if err == nil {
			obj.Spec.RunStrategy = v1alpha1.RunStrategyHalted
		}
		return obj, err
	}); err != nil {
		return err
	}
	createRate := float64(anchor) / time.Since(t).Seconds()
	rows = append(rows, row{fmt.Sprintf("anchor: creates/s of the API server alone (%d objects no node runs)", anchor),
		fmt.Sprintf("%.0f (%d would take %.0f s)", createRate, o.nodes*o.per, float64(o.nodes*o.per)/createRate), ""})
	logf("anchor: %.0f creates/s (load %s)", createRate, loadavg())

	// The second anchor: the API server alone taking, per object, the requests a node makes for it before it
	// counts as Running (the create, the hold: the finalizer patched on the version read, the status update,
	// the Started event), 32 objects at a time, nothing else running. Its rate bounds the fleet's.
	t = time.Now()
	if err := mixAll(ctx, c, cs, anchor); err != nil {
		return err
	}
	mixRate := float64(anchor) / time.Since(t).Seconds()
	rows = append(rows, row{fmt.Sprintf("anchor: objects/s with each one's requests until Running (%d objects, API server alone)", anchor),
		fmt.Sprintf("%.0f (%d would take %.0f s)", mixRate, o.nodes*o.per, float64(o.nodes*o.per)/mixRate), ""})
	logf("anchor: %.0f objects/s with their requests until Running (load %s)", mixRate, loadavg())

	// The daemons.
	fleetMu.Lock()
	fleet = make([]*daemonProc, o.nodes)
	fleetMu.Unlock()
	defer func() {
		for _, d := range fleet {
			if d != nil {
				d.stop()
			}
		}
	}()
	start := time.Now()
	for i := range fleet {
		node := fmt.Sprintf("node-%03d", i)
		u, err := env.ControlPlane.AddUser(envtest.User{Name: "virtxend:node:" + node, Groups: []string{"virtxend:nodes"}}, nil)
		if err != nil {
			return err
		}
		d, err := startDaemon(binary, dir, node, u, o.per)
		if err != nil {
			return err
		}
		fleetMu.Lock()
		fleet[i] = d
		fleetMu.Unlock()
	}
	for _, d := range fleet {
		if err := d.waitSocket(2 * time.Minute); err != nil {
			return err
		}
	}
	rows = append(rows, row{"daemons started (socket answering)", fmt.Sprintf("%d in %.1f s", o.nodes, time.Since(start).Seconds()), ""})
	logf("%d daemons up in %s (load %s)", o.nodes, time.Since(start).Round(time.Millisecond), loadavg())

	// The objects, created as fast as the API server takes them.
	total := o.nodes * o.per
	startReq, err := apiRequests(ctx, cs)
	if err != nil {
		return err
	}
	start = time.Now()
	startCPU, startMachine := sum(cpuTicks(fleet)), machineBusyTicks()
	if o.profile != "" {
		go func() {
			b, err := cs.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", "30").Timeout(time.Minute).DoRaw(ctx)
			if err == nil {
				err = os.WriteFile(o.profile, b, 0o644)
			}
			if err != nil {
				logf("API server profile: %v", err)
			}
		}()
	}
	if err := createAll(ctx, c, total, func(k int) (*v1alpha1.XenDomain, error) {
		return domain(fmt.Sprintf("node-%03d", k/o.per), k%o.per)
	}); err != nil {
		return err
	}
	created := time.Since(start)
	logf("%d objects created in %s", total, created.Round(time.Millisecond))
	var peakLoad string
	var allRunning time.Duration
	err = watchRunning(ctx, c, total, 15*time.Minute, func(running int, done bool) {
		if done {
			allRunning = time.Since(start)
			return
		}
		logf("%d/%d Running after %s (load %s)", running, total, time.Since(start).Round(time.Second), loadavg())
		peakLoad = loadavg()
	})
	if err != nil {
		return err
	}
	runCPU, runMachine := sum(cpuTicks(fleet)), machineBusyTicks()
	runReq, err := apiRequests(ctx, cs)
	if err != nil {
		return err
	}
	// Where the machine's CPU went meanwhile: with every core busy, the start cannot end sooner than the CPU it
	// needs over the cores there are, however the work is ordered.
	busy, daemonsCPU := (runMachine-startMachine)/proc.HZ, (runCPU-startCPU)/proc.HZ
	cores := float64(goruntime.NumCPU())
	rows = append(rows,
		row{"objects created (32 writers)", fmt.Sprintf("%d in %.1f s", total, created.Seconds()), ""},
		row{"  API requests per object until all Running, by kind", perObject(startReq, runReq, total), ""},
		row{"all Running, from the first create", fmt.Sprintf("%.1f s", allRunning.Seconds()), "≤ 60 s"},
		row{"load average while starting", peakLoad, ""},
		row{"  CPU used meanwhile, whole machine (share of its cores busy)", fmt.Sprintf("%.0f s (%.0f %% of %.0f cores)", busy, 100*busy/(cores*allRunning.Seconds()), cores), ""},
		row{fmt.Sprintf("  of which the %d daemons / the rest (API server, etcd, this bench)", o.nodes), fmt.Sprintf("%.0f s / %.0f s", daemonsCPU, busy-daemonsCPU), ""},
		row{"  floor: the rest's CPU alone over the cores", fmt.Sprintf("%.1f s", (busy-daemonsCPU)/cores), ""})
	logf("all %d Running after %s", total, allRunning.Round(time.Millisecond))

	// Steady state: nothing changes; count the API server's requests and the daemons' CPU.
	time.Sleep(o.settle)
	cpu0 := cpuTicks(fleet)
	req0, err := apiRequests(ctx, cs)
	if err != nil {
		return err
	}
	t0 := time.Now()
	time.Sleep(o.steady)
	req1, err := apiRequests(ctx, cs)
	if err != nil {
		return err
	}
	window := time.Since(t0).Seconds()
	cpu1 := cpuTicks(fleet)
	steadyLoad := loadavg()
	byKind := map[string]float64{}
	sum, fleetSum := 0.0, 0.0
	for k, v := range req1 {
		if d := v - req0[k]; d > 0 {
			byKind[k] += d
			sum += d
			if strings.Contains(k, " xendomains") || strings.Contains(k, " events") {
				fleetSum += d
			}
		}
	}
	sum -= 1 // the first scrape of /metrics itself
	if sum < 0 {
		sum = 0
	}
	kinds := slices.Collect(func(yield func(string) bool) {
		for k := range byKind {
			if !yield(k) {
				return
			}
		}
	})
	sort.Slice(kinds, func(i, j int) bool { return byKind[kinds[i]] > byKind[kinds[j]] })
	var top []string
	for _, k := range kinds {
		if len(top) == 4 {
			break
		}
		top = append(top, fmt.Sprintf("%s %.0f", k, byKind[k]))
	}
	rows = append(rows, row{fmt.Sprintf("API requests/s at steady state (whole fleet, %.0f s)", window),
		fmt.Sprintf("%.3f", sum/window), "≤ 1"},
		row{"  of which the daemons' (xendomains, events)", fmt.Sprintf("%.3f", fleetSum/window), ""},
		row{"  of which the API server's own loops (leases, endpoints...)", fmt.Sprintf("%.3f", (sum-fleetSum)/window), ""})
	if len(top) > 0 {
		rows = append(rows, row{"  requests in the window, by kind", strings.Join(top, "; "), ""})
	}
	rss := make([]float64, len(fleet))
	idle := make([]float64, len(fleet))
	for i, d := range fleet {
		rss[i] = d.rssMiB()
		idle[i] = (cpu1[i] - cpu0[i]) / proc.HZ / window * 100
	}
	rows = append(rows,
		row{"daemon RSS, MiB (min / median / max)", minMedMax(rss, "%.1f"), ""},
		row{"daemon RSS, fleet total", fmt.Sprintf("%.0f MiB", sumOf(rss)), ""},
		row{"daemon idle CPU, % of a core (min / median / max)", minMedMax(idle, "%.2f"), ""},
		row{"daemons' idle CPU, fleet total", fmt.Sprintf("%.1f %% of a core", sumOf(idle)), ""},
		row{"load average at steady state", steadyLoad, ""})

	// Spec edit to host: spec.paused on one object of a node, seen through that daemon's socket.
	var lat []float64
	for e := range o.edits {
		d := fleet[(e*7)%len(fleet)]
		name := fmt.Sprintf("%s-d%03d", d.node, e%o.per)
		ms, err := editLatency(ctx, c, d, name)
		if err != nil {
			return fmt.Errorf("edit %s: %w", name, err)
		}
		lat = append(lat, ms)
	}
	sort.Float64s(lat)
	rows = append(rows, row{fmt.Sprintf("spec edit to host, ms (median of %d; min / max)", len(lat)),
		fmt.Sprintf("%.0f (%.0f / %.0f)", median(lat), lat[0], lat[len(lat)-1]), "≤ 1000 median"},
		row{"load average at the end", loadavg(), ""})

	fmt.Printf("\nbench-fleet: %d virtxend (simulated hosts) × %d XenDomain objects = %d, one kube-apiserver; fleet_qps/fleet_burst defaults (5/10); %d cores\n\n",
		o.nodes, o.per, total, numCPU())
	w := 0
	for _, r := range rows {
		w = max(w, len([]rune(r.what)))
	}
	fmt.Printf("%-*s  %-28s  %s\n", w, "measure", "value", "target")
	for _, r := range rows {
		fmt.Printf("%-*s  %-28s  %s\n", w, r.what, r.value, r.target)
	}
	return nil
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "\nprocessor") + 1
}

func sumOf(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func minMedMax(v []float64, f string) string {
	s := slices.Clone(v)
	sort.Float64s(s)
	return fmt.Sprintf(f+" / "+f+" / "+f, s[0], median(s), s[len(s)-1])
}

// perObject is the requests between two scrapes per object, by kind, the most frequent first.
func perObject(before, after map[string]float64, n int) string {
	type kv struct {
		k string
		v float64
	}
	var all []kv
	sum := 0.0
	for k, v := range after {
		if d := v - before[k]; d >= float64(n)/100 {
			all = append(all, kv{k, d})
			sum += d
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v })
	parts := []string{fmt.Sprintf("%.2f in all", sum/float64(n))}
	for _, e := range all {
		if len(parts) == 7 {
			break
		}
		parts = append(parts, fmt.Sprintf("%s %.2f", e.k, e.v/float64(n)))
	}
	return strings.Join(parts, "; ")
}

// createAll creates n objects with 32 writers.
func createAll(ctx context.Context, c client.Client, n int, obj func(k int) (*v1alpha1.XenDomain, error)) error {
	return parallel(n, func(k int) error {
		o, err := obj(k)
		if err == nil {
			err = c.Create(ctx, o)
		}
		if err != nil {
			return fmt.Errorf("create: %w", err)
		}
		return nil
	})
}

// mixAll makes, for n objects of a node no daemon runs, 32 at a time, the requests the object and its node make
// until it counts as Running: create, finalizer merge patch with the version read, status update, Event.
func mixAll(ctx context.Context, c client.Client, cs kubernetes.Interface, n int) error {
	return parallel(n, func(k int) error {
		if err := mixOne(ctx, c, cs, k); err != nil {
			return fmt.Errorf("anchor: %w", err)
		}
		return nil
	})
}

// parallel calls do for every k below n, 32 calls at a time, and returns one of their errors.
func parallel(n int, do func(k int) error) error {
	work := make(chan int)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for k := range work {
				if err := do(k); err != nil {
					mu.Lock()
					first = cmp.Or(first, err)
					mu.Unlock()
				}
			}
		})
	}
	for k := range n {
		work <- k
	}
	close(work)
	wg.Wait()
	return first
}

func mixOne(ctx context.Context, c client.Client, cs kubernetes.Interface, k int) error {
	obj, err := domain(anchorNode+"-mix", k)
	if err != nil {
		return err
	}
	obj.Spec.RunStrategy = v1alpha1.RunStrategyHalted // nobody acts on it but this function
	if err := c.Create(ctx, obj); err != nil {
		return err
	}
	orig := obj.DeepCopy()
	controllerutil.AddFinalizer(obj, controllers.Finalizer)
	if err := c.Patch(ctx, obj, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		return err
	}
	domid := int32(k + 1)
	obj.Status.State, obj.Status.DomID, obj.Status.NodeName = v1alpha1.StateRunning, &domid, obj.Spec.NodeName
	obj.Status.ObservedGeneration = obj.Generation
	if err := c.Status().Update(ctx, obj); err != nil {
		return err
	}
	_, err = cs.EventsV1().Events(obj.Namespace).Create(ctx, &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", obj.Name, time.Now().UnixNano()), Namespace: obj.Namespace},
		EventTime:           metav1.NewMicroTime(time.Now()),
		ReportingController: "virtxend.io/bench", ReportingInstance: "anchor-mix",
		Action: "Started", Reason: "Started", Type: "Normal", Note: "domain started",
		Regarding: corev1.ObjectReference{APIVersion: v1alpha1.GroupVersion.String(), Kind: "XenDomain",
			Namespace: obj.Namespace, Name: obj.Name, UID: obj.UID, ResourceVersion: obj.ResourceVersion},
	}, metav1.CreateOptions{})
	return err
}

// domain is object j of node: a small PV domain that runs.
func domain(node string, j int) (*v1alpha1.XenDomain, error) {
	obj := &v1alpha1.XenDomain{}
	err := yaml.Unmarshal(fmt.Appendf(nil, `apiVersion: virtxend.io/v1alpha1
kind: XenDomain
metadata:
  name: %s-d%03d
  namespace: default
spec:
  nodeName: %s
  runStrategy: Always
  domain:
    memory: 64Mi
    vcpu: {count: 1}
    os: {type: xen, kernel: /boot/vmlinuz}
`, node, j, node), obj)
	return obj, err
}

// anchorNode begins the node names of the anchors' objects: nodes no daemon runs (the fleet's are node-NNN).
const anchorNode = "anchor"

// fleetObject tells the fleet's objects from the anchors'.
func fleetObject(o *v1alpha1.XenDomain) bool { return !strings.HasPrefix(o.Spec.NodeName, anchorNode) }

// watchRunning follows the objects through one list and a watch (as an informer does; a list of every object
// every few seconds would load the API server more than the fleet) until total are Running, calling progress
// every 2 s and once with done at the end.
func watchRunning(ctx context.Context, c client.WithWatch, total int, limit time.Duration, progress func(int, bool)) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	running := map[string]bool{}
	count := func() int {
		n := 0
		for _, r := range running {
			if r {
				n++
			}
		}
		return n
	}
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		var list v1alpha1.XenDomainList
		if err := c.List(ctx, &list, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: "0"}}); err != nil {
			return err
		}
		for i := range list.Items {
			if fleetObject(&list.Items[i]) {
				running[list.Items[i].Name] = list.Items[i].Status.State == v1alpha1.StateRunning
			}
		}
		w, err := c.Watch(ctx, &v1alpha1.XenDomainList{}, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
		if err != nil {
			return err
		}
	events:
		for {
			if n := count(); n == total {
				w.Stop()
				progress(n, true)
				return nil
			}
			select {
			case <-ctx.Done():
				w.Stop()
				return fmt.Errorf("after %s, %d of %d objects are Running", limit, count(), total)
			case <-tick.C:
				progress(count(), false)
			case ev, ok := <-w.ResultChan():
				if !ok {
					break events // re-list and watch again
				}
				if o, ok := ev.Object.(*v1alpha1.XenDomain); ok && fleetObject(o) {
					running[o.Name] = o.Status.State == v1alpha1.StateRunning
				}
			}
		}
	}
}

// apiRequests reads apiserver_request_total from the API server's /metrics, summed by verb, resource and
// subresource.
func apiRequests(ctx context.Context, cs *kubernetes.Clientset) (map[string]float64, error) {
	b, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("scrape the API server: %w", err)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, "apiserver_request_total{") {
			continue
		}
		end := strings.LastIndexByte(l, '}')
		v, err := strconv.ParseFloat(strings.TrimSpace(l[end+1:]), 64)
		if err != nil {
			continue
		}
		labels := map[string]string{}
		for _, kv := range strings.Split(l[len("apiserver_request_total{"):end], ",") {
			k, val, ok := strings.Cut(kv, "=")
			if ok {
				labels[k] = strings.Trim(val, `"`)
			}
		}
		key := labels["verb"] + " " + labels["resource"]
		if labels["subresource"] != "" {
			key += "/" + labels["subresource"]
		}
		if c := labels["code"]; c != "" && !strings.HasPrefix(c, "2") {
			key += " " + c
		}
		out[key] += v
	}
	return out, sc.Err()
}

// daemonProc is one virtxend of the fleet.
type daemonProc struct {
	node, dir, sock string
	cmd             *exec.Cmd
	done            chan struct{}
}

func startDaemon(binary, base, node string, u *envtest.AuthenticatedUser, per int) (*daemonProc, error) {
	dir := filepath.Join(base, node)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	kc := filepath.Join(dir, "kubeconfig")
	b, err := u.KubeConfig()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(kc, b, 0o600); err != nil {
		return nil, err
	}
	// The simulated host has room for its domains (64 MiB each) and then some.
	simMiB := max(16384, per*64*2)
	conf := fmt.Sprintf(`unix_sock_dir = "%[1]s/run"
hypervisor = "sim"
sim_memory = %[4]d
domains_dir = "%[1]s/domains.d"
defines_dir = "%[1]s/defines"
state_dir = "%[1]s/state"
libxl_config_file = "%[1]s/libxl.conf"
log_level = 3
fleet_kubeconfig = "%[2]s"
fleet_node_name = "%[3]s"
`, dir, kc, node, simMiB)
	if err := os.WriteFile(filepath.Join(dir, "virtxend.conf"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "virtxend.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, "-f", filepath.Join(dir, "virtxend.conf"), "-p", filepath.Join(dir, "virtxend.pid"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	d := &daemonProc{node: node, dir: dir, sock: filepath.Join(dir, "run", "virtxend-sock"), cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logFile.Close(); close(d.done) }()
	return d, nil
}

func (d *daemonProc) waitSocket(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if c, err := net.Dial("unix", d.sock); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-d.done:
			b, _ := os.ReadFile(filepath.Join(d.dir, "virtxend.log"))
			return fmt.Errorf("virtxend %s exited:\n%s", d.node, b)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("virtxend %s: no socket after %s", d.node, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (d *daemonProc) stop() {
	select {
	case <-d.done:
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// rssMiB is the daemon's resident memory.
func (d *daemonProc) rssMiB() float64 { return proc.RSSMiB(d.cmd.Process.Pid) }

func sum(v []float64) (t float64) {
	for _, x := range v {
		t += x
	}
	return t
}

// machineBusyTicks is the machine's CPU time spent not idle (all of /proc/stat's cpu line but idle and iowait),
// in clock ticks.
func machineBusyTicks() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var t float64
	for i := 1; i < len(f) && i <= 8; i++ { // user nice system idle iowait irq softirq steal
		if i == 4 || i == 5 {
			continue
		}
		v, _ := strconv.ParseFloat(f[i], 64)
		t += v
	}
	return t
}

// cpuTicks are the daemons' user+system CPU time, in clock ticks.
func cpuTicks(fleet []*daemonProc) []float64 {
	out := make([]float64, len(fleet))
	for i, d := range fleet {
		out[i] = float64(proc.CPUTicks(d.cmd.Process.Pid))
	}
	return out
}

// editLatency pauses the object's domain through its spec and times until the daemon's host reports it paused,
// then resumes it (untimed).
func editLatency(ctx context.Context, c client.Client, d *daemonProc, name string) (float64, error) {
	conn, err := net.Dial("unix", d.sock)
	if err != nil {
		return 0, err
	}
	l := libvirt.NewWithDialer(dialers.NewAlreadyConnected(conn))
	if err := l.ConnectToURI(libvirt.ConnectURI("xen:///system")); err != nil {
		return 0, err
	}
	defer l.Disconnect()
	dom, err := l.DomainLookupByName(name)
	if err != nil {
		return 0, err
	}
	state := func() (int32, error) {
		s, _, err := l.DomainGetState(dom, 0)
		return s, err
	}
	wait := func(want libvirt.DomainState) (time.Duration, error) {
		t := time.Now()
		for time.Since(t) < time.Minute {
			s, err := state()
			if err != nil {
				return 0, err
			}
			if s == int32(want) {
				return time.Since(t), nil
			}
			time.Sleep(2 * time.Millisecond)
		}
		return 0, fmt.Errorf("state not %d after a minute", want)
	}
	key := types.NamespacedName{Namespace: "default", Name: name}
	patch := func(paused bool) error {
		obj := &v1alpha1.XenDomain{}
		obj.Namespace, obj.Name = key.Namespace, key.Name
		return c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"spec":{"paused":%t}}`, paused)))
	}
	t := time.Now()
	if err := patch(true); err != nil {
		return 0, err
	}
	if _, err := wait(libvirt.DomainPaused); err != nil {
		return 0, err
	}
	ms := float64(time.Since(t).Microseconds()) / 1000
	if err := patch(false); err != nil {
		return 0, err
	}
	_, err = wait(libvirt.DomainRunning)
	return ms, err
}
