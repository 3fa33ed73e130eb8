package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// metricsXML is a guest with a file disk served by qdisk, a phy disk and a bridged interface: the devices
// whose counters libvirt's libxl driver cannot all report.
func metricsXML(name, dir string) string {
	return fmt.Sprintf(`<domain type='xen'>
  <name>%[1]s</name>
  <memory unit='MiB'>512</memory>
  <currentMemory unit='MiB'>384</currentMemory>
  <vcpu current='2'>4</vcpu>
  <os><type>linux</type><kernel>/boot/vmlinuz</kernel></os>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='%[2]s/%[1]s.img'/><target dev='xvda' bus='xen'/></disk>
    <disk type='block' device='disk'><driver name='phy' type='raw'/><source dev='/dev/null'/><target dev='xvdb' bus='xen'/></disk>
    <interface type='bridge'><source bridge='xenbr0'/></interface>
  </devices>
</domain>
`, name, dir)
}

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// sample is one line of the Prometheus text format: the series (name and sorted labels) and its value.
type samples map[string]float64

var seriesRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)`)
var labelRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// seriesKey is a series' canonical name: name{a="x",b="y"} with the labels sorted.
func seriesKey(name string, labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(name + "{")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "%s=%q", k, labels[k])
	}
	return b.String() + "}"
}

func parseScrape(t *testing.T, text string) samples {
	t.Helper()
	out := samples{}
	for _, line := range strings.Split(text, "\n") {
		m := seriesRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		labels := map[string]string{}
		for _, l := range labelRE.FindAllStringSubmatch(m[2], -1) {
			labels[l[1]] = l[2]
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("bad sample %q", line)
		}
		out[seriesKey(m[1], labels)] = v
	}
	return out
}

func httpGet(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// startProcess runs a server for the test's lifetime and waits until url answers 200.
func startProcess(t *testing.T, ready string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	log := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(ready); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not come up:\n%s", name, tail(log.String(), 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// promQuery runs an instant query on Prometheus's HTTP API and returns each result's value by its labels.
func promQuery(t *testing.T, addr, q string) map[string]float64 {
	t.Helper()
	_, body := httpGet(t, "http://"+addr+"/api/v1/query?query="+url.QueryEscape(q))
	var r struct {
		Status string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.Status != "success" {
		t.Fatalf("query %s: %v %s", q, err, body)
	}
	out := map[string]float64{}
	for _, s := range r.Data.Result {
		name := s.Metric["__name__"]
		delete(s.Metric, "__name__")
		v, _ := strconv.ParseFloat(s.Value[1].(string), 64)
		out[seriesKey(name, s.Metric)] = v
	}
	return out
}

// virshFields reads "key=value" (domstats) or "Key:   value" (dominfo) lines.
func virshFields(out, sep string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), sep)
		if ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

func TestMetricsPrometheus(t *testing.T) {
	for _, tool := range []string{"/usr/bin/prometheus", "/usr/bin/promtool", "/usr/bin/prometheus-libvirt-exporter"} {
		needTool(t, tool)
	}
	maddr := freeAddr(t)
	// resync_interval 1: drift made behind the daemon's back (checkFaults) is found within a second.
	i := startInstance(t, fmt.Sprintf("metrics_listen = %q", maddr), "resync_interval = 1")
	base := "http://" + maddr
	// The endpoint is served beside the sockets, not before them: wait for it to answer.
	i.Eventually("healthz", 20*time.Second, func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	i.Eventually("readyz", 20*time.Second, func() bool { code, _ := httpGet(t, base+"/readyz"); return code == 200 })

	for _, name := range []string{"vm", "idle"} {
		if err := os.WriteFile(filepath.Join(i.Dir, name+".img"), make([]byte, 1<<20), 0o644); err != nil {
			t.Fatal(err)
		}
		i.MustVirsh("define", i.xmlFile(name+".xml", metricsXML(name, i.Dir)))
		i.MustVirsh("start", name)
	}
	i.MustVirsh("define", i.xmlFile("off.xml", tuneXML("off")))
	i.WriteSpec("web.yaml", pvSpec("web", 128, "Always"))
	i.Eventually("web running", 20*time.Second, func() bool { return i.domstate("web") == "running" })
	// Paused guests' counters stand still, so that every source must agree exactly on them.
	i.MustVirsh("suspend", "vm")

	// The scrape is valid exposition format.
	_, scrape := httpGet(t, base+"/metrics")
	check := exec.Command("/usr/bin/promtool", "check", "metrics")
	check.Stdin = strings.NewReader(scrape)
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	// Debian's exporter works against virtxend, and every series it exports is ours too, with its value.
	eaddr := freeAddr(t)
	startProcess(t, "http://"+eaddr+"/", "/usr/bin/prometheus-libvirt-exporter",
		"--web.listen-address="+eaddr, "--libvirt.uri="+i.URI())
	t0 := time.Now()
	_, etext := httpGet(t, "http://"+eaddr+"/metrics")
	_, otext := httpGet(t, base+"/metrics")
	gap := time.Since(t0).Seconds() // a bound on how far apart the two scrapes read the counters
	exp, ours := parseScrape(t, etext), parseScrape(t, otext)
	if exp[`libvirt_up{}`] != 1 {
		t.Errorf("the exporter reports libvirt_up %v against virtxend", exp[`libvirt_up{}`])
	}
	families := map[string]bool{}
	for key, ev := range exp {
		if !strings.HasPrefix(key, "libvirt_") {
			continue
		}
		families[key[:strings.Index(key, "{")]] = true
		ov, ok := ours[key]
		if !ok {
			t.Errorf("the exporter's %s is not in virtxend's /metrics", key)
			continue
		}
		// A running guest's counters move between the two scrapes (virtxend's is the later one); a paused
		// guest's and every gauge must be equal.
		moving := strings.HasSuffix(key[:strings.Index(key, "{")], "_total") && !strings.Contains(key, `domain="vm"`)
		if moving && ov >= ev && ov-ev <= 0.25*ev+8*gap+1 {
			continue
		}
		if ov != ev {
			t.Errorf("%s: exporter %v, virtxend %v", key, ev, ov)
		}
	}
	for _, f := range []string{"libvirt_domain_block_stats_read_bytes_total", "libvirt_domain_interface_stats_receive_bytes_total",
		"libvirt_domain_info_cpu_time_seconds_total", "libvirt_domain_state_code", "libvirt_domains_number"} {
		if !families[f] {
			t.Errorf("the exporter exports no %s", f)
		}
	}

	// A real Prometheus scrapes the endpoint; its answers match virsh.
	paddr := freeAddr(t)
	pdir := t.TempDir()
	conf := fmt.Sprintf("global: {scrape_interval: 1s}\nscrape_configs:\n- job_name: virtxend\n  static_configs: [{targets: [%q]}]\n", maddr)
	if err := os.WriteFile(filepath.Join(pdir, "prometheus.yml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	startProcess(t, "http://"+paddr+"/-/ready", "/usr/bin/prometheus", "--config.file="+filepath.Join(pdir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(pdir, "data"), "--web.listen-address="+paddr)
	i.Eventually("Prometheus scraped virtxend", 30*time.Second, func() bool {
		return promQuery(t, paddr, `up{job="virtxend"}`)[`up{instance="`+maddr+`",job="virtxend"}`] == 1 &&
			len(promQuery(t, paddr, `libvirt_domain_vcpu_time_seconds_total{domain="web"}`)) > 0
	})
	prom := func(q string) float64 {
		t.Helper()
		r := promQuery(t, paddr, q)
		if len(r) != 1 {
			t.Errorf("%s: %d series: %v", q, len(r), r)
			return math.NaN()
		}
		for _, v := range r {
			return v
		}
		return 0
	}
	want := func(what string, got, want, tol float64) {
		t.Helper()
		if math.IsNaN(got) || math.Abs(got-want) > tol {
			t.Errorf("%s: Prometheus says %v, virsh %v", what, got, want)
		}
	}
	num := func(s string) float64 {
		f, err := strconv.ParseFloat(strings.Fields(s + " x")[0], 64)
		if err != nil {
			t.Errorf("not a number: %q", s)
		}
		return f
	}
	info := virshFields(i.MustVirsh("dominfo", "vm"), ":")
	st := virshFields(i.MustVirsh("domstats", "vm"), "=")
	sel := `{domain="vm"}`
	want("state", prom("libvirt_domain_state_code"+sel), 3, 0)
	if info["State"] != "paused" {
		t.Errorf("dominfo state %q", info["State"])
	}
	want("virtual cpus", prom("libvirt_domain_info_virtual_cpus"+sel), num(info["CPU(s)"]), 0)
	want("max memory", prom("libvirt_domain_info_maximum_memory_bytes"+sel), num(info["Max memory"])*1024, 0)
	want("used memory", prom("libvirt_domain_info_memory_usage_bytes"+sel), num(info["Used memory"])*1024, 0)
	want("cpu time", prom("libvirt_domain_info_cpu_time_seconds_total"+sel), num(strings.TrimSuffix(info["CPU time"], "s")), 0.1)
	want("cpu.time", prom("libvirt_domain_info_cpu_time_seconds_total"+sel), num(st["cpu.time"])/1e9, 1e-6)
	want("vcpu.maximum", prom("libvirt_domain_info_maximum_virtual_cpus"+sel), num(st["vcpu.maximum"]), 0)
	want("balloon.current", prom("libvirt_domain_memory_stats_actual_balloon_bytes"+sel), num(st["balloon.current"])*1024, 0)
	for v := 0; v < int(num(st["vcpu.maximum"])); v++ {
		vs := fmt.Sprintf(`{domain="vm",vcpu="%d"}`, v)
		want("vcpu time", prom("libvirt_domain_vcpu_time_seconds_total"+vs), num(st[fmt.Sprintf("vcpu.%d.time", v)])/1e9, 1e-6)
		want("vcpu state", prom("libvirt_domain_vcpu_state"+vs), num(st[fmt.Sprintf("vcpu.%d.state", v)]), 0)
	}
	for b := 0; b < int(num(st["block.count"])); b++ {
		dev := st[fmt.Sprintf("block.%d.name", b)]
		bs := fmt.Sprintf(`{domain="vm",target_device=%q}`, dev)
		for metric, key := range map[string]string{"read_requests_total": "rd.reqs", "read_bytes_total": "rd.bytes",
			"write_requests_total": "wr.reqs", "write_bytes_total": "wr.bytes", "flush_requests_total": "fl.reqs", "errors_total": "errs"} {
			want("block "+dev+" "+key, prom("libvirt_domain_block_stats_"+metric+bs), num(st[fmt.Sprintf("block.%d.%s", b, key)]), 0)
		}
		if prom("libvirt_domain_block_stats_read_requests_total"+bs) == 0 {
			t.Errorf("disk %s of a guest that ran has no reads", dev)
		}
	}
	ns := fmt.Sprintf(`{domain="vm",target_device=%q}`, st["net.0.name"])
	for metric, key := range map[string]string{"receive_bytes_total": "rx.bytes", "receive_packets_total": "rx.pkts",
		"receive_errors_total": "rx.errs", "receive_drops_total": "rx.drop", "transmit_bytes_total": "tx.bytes",
		"transmit_packets_total": "tx.pkts", "transmit_errors_total": "tx.errs", "transmit_drops_total": "tx.drop"} {
		want("net "+key, prom("libvirt_domain_interface_stats_"+metric+ns), num(st["net.0."+key]), 0)
	}
	// domblkstat answers for the qdisk disk too (libvirt's libxl driver says "unsupported disk driver qemu").
	blk := virshFields(i.MustVirsh("domblkstat", "vm", "xvda"), " rd_req ")
	if v, ok := blk["xvda"]; !ok || num(v) != num(st["block.0.rd.reqs"]) {
		t.Errorf("domblkstat xvda: %v", blk)
	}

	// The daemon's own families: domains by state against virsh list (Domain-0 has no object).
	running := len(strings.Fields(i.MustVirsh("list", "--state-running", "--name"))) - 1
	want("running domains", prom(`virtxend_domains{state="running"}`), float64(running), 0)
	want("paused domains", prom(`virtxend_domains{state="paused"}`), 1, 0)
	want("shut off domains", prom(`virtxend_domains{state="shutoff"}`), 1, 0)
	want("ready web", prom(`virtxend_domain_condition{domain="web",type="Ready"}`), 1, 0)
	want("web not drifted", prom(`virtxend_domain_condition{domain="web",type="Drifted"}`), 0, 0)
	if prom(`sum(virtxend_reconcile_total{outcome="success"})`) < 4 {
		t.Error("fewer successful reconciles than domains")
	}
	want("ready", prom("virtxend_ready"), 1, 0)
	for _, f := range []string{"virtxend_build_info", "virtxend_crash_restarts_total", "virtxend_drift_total",
		"virtxend_spec_apply_duration_seconds_count", "virtxend_domains_condition", "virtxend_domain_restarts",
		"virtxend_domain_backoff_seconds", "controller_runtime_reconcile_total", "libvirt_up", "libvirt_domains_number"} {
		if len(promQuery(t, paddr, f)) == 0 {
			t.Errorf("Prometheus has no %s", f)
		}
	}
	// Connected clients are counted per socket while they are connected.
	l := i.GoLibvirt()
	defer l.Disconnect()
	_, scrape = httpGet(t, base+"/metrics")
	if !regexp.MustCompile(`(?m)^virtxend_rpc_clients\{server="virtxend",socket="virtxend-sock"\} [1-9]`).MatchString(scrape) {
		t.Errorf("no client counted on virtxend-sock")
	}

	// RPC calls by procedure and libvirt error code: one lookup by name that succeeds, one of a missing domain
	// that fails with VIR_ERR_NO_DOMAIN (42), each counted once.
	lookups := `virtxend_rpc_calls_total{server="virtxend",procedure="REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME",code="%d"}`
	// The counts before, from the endpoint itself: Prometheus's newest scrape may miss the latest calls.
	_, text := httpGet(t, base+"/metrics")
	now := parseScrape(t, text)
	key := `virtxend_rpc_calls_total{code="%d",procedure="REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME",server="virtxend"}`
	ok0, missing0 := now[fmt.Sprintf(key, 0)], now[fmt.Sprintf(key, 42)]
	i.MustVirsh("domid", "vm") // LOOKUP_BY_NAME only
	if r := i.Virsh("domid", "nosuch"); r.Code == 0 || !strings.Contains(r.Stderr, "failed to get domain") {
		t.Errorf("virsh domid nosuch: exit %d, %s", r.Code, r.Stderr)
	}
	i.Eventually("Prometheus to count both lookups", 20*time.Second, func() bool {
		return promValue(t, paddr, fmt.Sprintf(lookups, 0)) == ok0+1 && promValue(t, paddr, fmt.Sprintf(lookups, 42)) == missing0+1
	})
	// Both are counted by the same hook and read by the same scrape: every call has its duration.
	if d := promOne(t, paddr, `sum(virtxend_rpc_calls_total{server="virtxend"}) - `+
		`sum(virtxend_rpc_call_duration_seconds_count{server="virtxend"})`); d != 0 {
		t.Errorf("rpc calls without a duration: %v", d)
	}

	checkFaults(t, i, paddr)
}

// TestMetricsShippedRules checks the shipped alerting rules with promtool and the dashboard's JSON.
func TestMetricsShippedRules(t *testing.T) {
	needTool(t, "/usr/bin/promtool")
	if out, err := exec.Command("/usr/bin/promtool", "check", "rules", "../../config/prometheus/virtxend-rules.yml").CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
	data, err := os.ReadFile("../../config/grafana/virtxend.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct{ Panels []json.RawMessage }
	if err := json.Unmarshal(data, &dash); err != nil || len(dash.Panels) == 0 {
		t.Errorf("dashboard: %v, %d panels", err, len(dash.Panels))
	}
}
