package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
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
	srv := NewServer(func() bool { return true }, logr.Discard())
	dom := NewDomainCollector(Sources{Observer: obs, Store: st, Live: live, HV: hv, Counters: hv})
	if err := srv.Register(dom, NewController(st), NewRPC(), BuildInfo("bench"), Ready(func() bool { return true })); err != nil {
		tb.Fatal(err)
	}
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

// BenchmarkScrape measures one /metrics scrape (latency, and its size as bytes/scrape) of a host running 1,000
// and 10,000 guests: go test -run '^$' -bench Scrape -benchtime 10x ./daemon/metrics/
func BenchmarkScrape(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("domains=%d", n), func(b *testing.B) {
			srv := newHost(b, n)
			size := 0
			b.ResetTimer()
			for b.Loop() {
				size = len(scrape(b, srv))
			}
			b.ReportMetric(float64(size), "bytes/scrape")
		})
	}
}
