package metrics

import (
	"bufio"
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/daemon/store"
)

// TestTextWriterAsClientGolang: a family written by TextWriter reads exactly as client_golang's encoder
// writes the same series: values, label escaping, help and type.
func TestTextWriterAsClientGolang(t *testing.T) {
	values := []float64{0, 1, -1, 0.5, 4194304, 1.5e-9, 123456789012, math.Inf(1), math.NaN()}
	odd := "a \"quoted\" back\\slash\nnewline"
	var ours strings.Builder
	bw := bufio.NewWriter(&ours)
	tw := NewTextWriter(bw)
	tw.Family("x_total", "Help of x.", "counter")
	reg := prometheus.NewRegistry()
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x_total", Help: "Help of x."}, []string{"domain", "uuid"})
	reg.MustRegister(vec)
	for i, v := range values {
		name := strings.Repeat("d", i+1)
		if i == 3 {
			name = odd
		}
		tw.Sample(labelSet("domain", name, "uuid", "u"), v)
		if !math.IsInf(v, 0) && !math.IsNaN(v) && v >= 0 {
			vec.WithLabelValues(name, "u").Add(v)
		}
	}
	tw.Family("empty", "A family without samples is left out.", "gauge")
	bw.Flush()
	if strings.Contains(ours.String(), "empty") {
		t.Errorf("a family without samples was written:\n%s", ours.String())
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var theirs strings.Builder
	enc := expfmt.NewEncoder(&theirs, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	// Every line client_golang wrote (the series it can hold: counters only grow) is in ours, byte for byte.
	for _, line := range strings.Split(strings.TrimSpace(theirs.String()), "\n") {
		if !strings.Contains(ours.String(), line+"\n") {
			t.Errorf("client_golang writes %q; ours:\n%s", line, ours.String())
		}
	}
	for _, want := range []string{`x_total{domain="ddddddd",uuid="u"} 1.23456789012e+11`, `x_total{domain="dddddddd",uuid="u"} +Inf`,
		`x_total{domain="ddddddddd",uuid="u"} NaN`, `x_total{domain="ddd",uuid="u"} -1`} {
		if !strings.Contains(ours.String(), want+"\n") {
			t.Errorf("ours lacks %s:\n%s", want, ours.String())
		}
	}
	parse(t, ours.String())
}

// parse reads a scrape as Prometheus's parser does, which refuses a family written twice or split, and returns
// the families by name.
func parse(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("the scrape does not parse: %v", err)
	}
	return mfs
}

// TestScrapeParses: a whole scrape of a host with objects parses, every libvirt_domain_* family has a series
// per domain (or device), and the per-object families follow the store.
func TestScrapeParses(t *testing.T) {
	srv := newHost(t, 5)
	mfs := parse(t, scrape(t, srv))
	for name, n := range map[string]int{
		// six domains (Domain-0 with its 16 vcpus, five guests with two) and a disk and a nic per guest
		"libvirt_domain_state_code":                           6,
		"libvirt_domain_info_cpu_time_seconds_total":          6,
		"libvirt_domain_vcpu_time_seconds_total":              5*2 + 16,
		"libvirt_domain_block_stats_read_bytes_total":         5,
		"libvirt_domain_block_stats_flush_time_seconds_total": 5,
		"libvirt_domain_interface_stats_transmit_drops_total": 5,
		// five objects with four conditions each, all running
		"virtxend_domain_condition":       5 * 4,
		"virtxend_domain_restarts":        5,
		"virtxend_domain_backoff_seconds": 5,
		"virtxend_domains":                1,
		"virtxend_domains_condition":      4,
		"virtxend_reconcile_total":        3,
	} {
		mf, ok := mfs[name]
		if !ok {
			t.Errorf("no family %s", name)
			continue
		}
		if len(mf.Metric) != n {
			t.Errorf("%s: %d series, want %d", name, len(mf.Metric), n)
		}
	}
	if got := mfs["libvirt_domain_info_cpu_time_seconds_total"].GetType(); got != dto.MetricType_COUNTER {
		t.Errorf("cpu time is a %v", got)
	}
	if got := mfs["libvirt_domain_state_code"].GetType(); got != dto.MetricType_GAUGE {
		t.Errorf("state code is a %v", got)
	}
}

// TestControllerSection: an object's gone labels are dropped, a renamed one is rendered anew, and the backoff
// counts down.
func TestControllerSection(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	st, err := store.New(scheme, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctl := NewController(StoreObjects(st))
	srv := NewServer(func() bool { return true }, logr.Discard())
	if err := srv.Register(ctl); err != nil {
		t.Fatal(err)
	}
	srv.AddSections(ctl)
	ctx := context.Background()
	obj := &v1alpha1.XenDomain{}
	obj.Name, obj.Namespace, obj.Spec.Domain.UUID = "a", v1alpha1.LocalNamespace, "0b6a1e5c-3d5e-4c6b-9a4f-5f1d2c3b4a59"
	if err := st.Create(ctx, obj); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ctl.now = func() time.Time { return now }
	until := metav1.NewTime(now.Add(4 * time.Second))
	obj.Status.BackoffUntil, obj.Status.RestartCount = &until, 3
	if err := st.Status().Update(ctx, obj); err != nil {
		t.Fatal(err)
	}
	text := scrape(t, srv)
	for _, want := range []string{`virtxend_domain_backoff_seconds{domain="a",uuid="0b6a1e5c-3d5e-4c6b-9a4f-5f1d2c3b4a59"} 4`,
		`virtxend_domain_restarts{domain="a",uuid="0b6a1e5c-3d5e-4c6b-9a4f-5f1d2c3b4a59"} 3`, `virtxend_domains{state="unknown"} 1`} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("scrape lacks %s", want)
		}
	}
	obj.Spec.Domain.Name = "renamed"
	if err := st.Update(ctx, obj); err != nil {
		t.Fatal(err)
	}
	if text := scrape(t, srv); !strings.Contains(text, `virtxend_domain_restarts{domain="renamed",`) || strings.Contains(text, `domain="a"`) {
		t.Errorf("after the rename:\n%s", text)
	}
	if err := st.Delete(ctx, obj); err != nil {
		t.Fatal(err)
	}
	scrape(t, srv)
	if len(ctl.labels) != 0 {
		t.Errorf("labels kept for a deleted object: %v", ctl.labels)
	}
}

// TestRPCUnknownProcedures: procedure numbers a client makes up share one series.
func TestRPCUnknownProcedures(t *testing.T) {
	r := NewRPC()
	r.CallFinished("virtxend", "REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME", 42, time.Millisecond)
	for i := range 3 {
		r.CallFinished("virtxend", "program 0x20008086 procedure "+strings.Repeat("9", i+5), 1, time.Millisecond)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(r)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "virtxend_rpc_calls_total" {
			continue
		}
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if l.GetName() == "procedure" {
					got[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	if len(got) != 2 || got["unknown"] != 3 || got["REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME"] != 1 {
		t.Errorf("calls by procedure: %v, want 3 unknown and 1 lookup", got)
	}
}
