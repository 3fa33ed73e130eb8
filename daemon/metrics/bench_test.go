package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/controllers"
	"github.com/virtxend/virtxend/daemon/store"
	"github.com/virtxend/virtxend/libxl"
	"github.com/virtxend/virtxend/libxl/sim"
)

// liveDefs serves a live definition with one disk and one bridged interface for every domain.
type liveDefs map[string]*controllers.LiveDefinition

func (l liveDefs) Live(uuid string) *controllers.LiveDefinition { return l[uuid] }
func (l liveDefs) LiveList() []*controllers.LiveDefinition {
	out := make([]*controllers.LiveDefinition, 0, len(l))
	for _, d := range l {
		out = append(out, d)
	}
	return out
}

// newHost starts n running guests, each with 2 vcpus, a disk and an interface, on a simulated host, and
// returns a metrics server over them.
func newHost(tb testing.TB, n int) *Server {
	tb.Helper()
	ctx := context.Background()
	hv, err := sim.New(sim.Options{StateDir: tb.TempDir(), TotalMemKiB: 1 << 40, CPUs: 16, BootID: "bench"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { hv.Close() })
	live := liveDefs{}
	for i := range n {
		cfg := &libxl.DomainConfig{
			CInfo: libxl.DomainCreateInfo{Type: libxl.DomainTypePV, Name: fmt.Sprintf("vm%05d", i)},
			BInfo: libxl.DomainBuildInfo{MaxVcpus: 2, MaxMemkb: 65536, TargetMemkb: 65536},
			Disks: []libxl.DeviceDisk{{Vdev: "xvda", PdevPath: fmt.Sprintf("/srv/vm%05d.img", i), Readwrite: 1}},
			Nics:  []libxl.DeviceNic{{Devid: 0, Mac: fmt.Sprintf("00:16:3e:00:%02x:%02x", i>>8, i&0xff), Bridge: "xenbr0"}},
		}
		id, err := hv.CreateDomain(ctx, cfg, libxl.CreateOptions{})
		if err != nil {
			tb.Fatal(err)
		}
		info, _ := hv.DomainInfo(ctx, id)
		d := &controllers.LiveDefinition{UUID: strings.ToLower(info.UUID), DomID: id}
		d.Domain.Devices.Disks = []v1alpha1.Disk{{Type: "file", Device: "disk",
			Source: &v1alpha1.DiskSource{File: cfg.Disks[0].PdevPath}, Target: v1alpha1.DiskTarget{Dev: "xvda"}}}
		d.Domain.Devices.Interfaces = []v1alpha1.Interface{{Type: "bridge",
			Source: &v1alpha1.InterfaceSource{Bridge: "xenbr0"}, Target: fmt.Sprintf("vif%d.0", id)}}
		live[d.UUID] = d
	}
	obs := controllers.NewObserver(hv, time.Hour, logr.Discard())
	if err := obs.Resync(ctx); err != nil {
		tb.Fatal(err)
	}
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		tb.Fatal(err)
	}
	st, err := store.New(scheme, store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	addObjects(tb, st, live)
	srv := NewServer(func() bool { return true }, logr.Discard())
	dom := NewDomainCollector(Sources{Observer: obs, Objects: StoreObjects(st), Live: live, HV: hv, Counters: hv})
	ctl := NewController(StoreObjects(st))
	if err := srv.Register(ctl, NewRPC(), BuildInfo("bench"), Ready(func() bool { return true })); err != nil {
		tb.Fatal(err)
	}
	srv.AddSections(dom, ctl)
	return srv
}

func scrape(tb testing.TB, srv *Server) string {
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		tb.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestScrapeFamilies(t *testing.T) {
	srv := newHost(t, 3)
	out := scrape(t, srv)
	for _, want := range []string{
		`libvirt_up 1`, `libvirt_domains_number 4`,
		`libvirt_domain_state_code{domain="vm00001",uuid=`,
		`libvirt_domain_block_stats_read_requests_total{domain="vm00002",source_file="/srv/vm00002.img",target_device="xvda",uuid=`,
		`libvirt_domain_interface_stats_receive_bytes_total{domain="vm00000",source_bridge="xenbr0",target_device="vif1.0",uuid=`,
		`libvirt_domain_vcpu_time_seconds_total{domain="vm00000",uuid=`,
		`virtxend_reconcile_total{outcome="error"} 0`, `virtxend_build_info{`, `virtxend_ready 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
}

// addObjects gives every guest an object with its status (state, four conditions, restarts), as the
// reconciler writes it, so that a scrape also reports the per-object virtxend_* families.
func addObjects(tb testing.TB, st *store.Store, live liveDefs) {
	tb.Helper()
	ctx := context.Background()
	i := 0
	for uuid := range live {
		obj := &v1alpha1.XenDomain{}
		obj.Name, obj.Namespace = fmt.Sprintf("obj%05d", i), v1alpha1.LocalNamespace
		obj.Spec.Domain.Name, obj.Spec.Domain.UUID = obj.Name, uuid
		i++
		if err := st.Create(ctx, obj); err != nil {
			tb.Fatal(err)
		}
		obj.Status.State, obj.Status.RestartCount = "running", 1
		for _, c := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionProgressing, v1alpha1.ConditionDegraded, v1alpha1.ConditionDrifted} {
			st := metav1.ConditionFalse
			if c == v1alpha1.ConditionReady {
				st = metav1.ConditionTrue
			}
			obj.Status.Conditions = append(obj.Status.Conditions, metav1.Condition{Type: c, Status: st, Reason: "AsExpected",
				LastTransitionTime: metav1.Now()})
		}
		if err := st.Status().Update(ctx, obj); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkScrape measures /metrics scrapes of a host running 1,000 and 10,000 guests over HTTP on loopback,
// as Prometheus makes them: ms/scrape is the time from the request to the last byte read, bytes/scrape the
// response's size (gzip: on the wire, as Prometheus asks for it). go test -run '^$' -bench Scrape -benchtime
// 10x ./daemon/metrics/ (make bench runs it).
func BenchmarkScrape(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		srv := newHost(b, n)
		hs := httptest.NewServer(srv.Handler())
		for _, enc := range []string{"identity", "gzip"} {
			b.Run(fmt.Sprintf("domains=%d/encoding=%s", n, enc), func(b *testing.B) {
				// An explicit Accept-Encoding keeps net/http's transport from asking for gzip and undoing it.
				req, _ := http.NewRequest("GET", hs.URL+"/metrics", nil)
				req.Header.Set("Accept-Encoding", enc)
				var size int64
				cpu0 := cpuTime(b)
				start := time.Now()
				for b.Loop() {
					resp, err := hs.Client().Do(req)
					if err != nil {
						b.Fatal(err)
					}
					size, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err != nil || resp.StatusCode != 200 {
						b.Fatalf("scrape: %d %v", resp.StatusCode, err)
					}
				}
				b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/scrape")
				// The process's cpu time (server and client) per scrape: what a scrape costs, whatever else the
				// machine runs.
				b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/scrape")
				b.ReportMetric(float64(size), "bytes/scrape")
			})
		}
		hs.Close()
	}
}

// cpuTime is the process's user and system time so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
