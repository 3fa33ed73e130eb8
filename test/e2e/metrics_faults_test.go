package e2e

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// libvirtStateCodes are virDomainState's values by the name virsh domstate prints.
var libvirtStateCodes = map[string]float64{"running": 1, "idle": 2, "paused": 3, "in shutdown": 4, "shut off": 5,
	"crashed": 6, "pmsuspended": 7}

// promOne is the value of the one series q selects in Prometheus, NaN (and an error) unless exactly one does.
func promOne(t *testing.T, addr, q string) float64 {
	t.Helper()
	r := promQuery(t, addr, q)
	if len(r) != 1 {
		t.Errorf("%s: %d series: %v", q, len(r), r)
		return math.NaN()
	}
	for _, v := range r {
		return v
	}
	return math.NaN()
}

// promValue is the value of the one series q selects, or -1 while there is none (for waiting on it).
func promValue(t *testing.T, addr, q string) float64 {
	t.Helper()
	for _, v := range promQuery(t, addr, q) {
		return v
	}
	return -1
}

// inject asks the simulated host to act behind the daemon's back (state_dir/sim/inject, virtxend(8)) and waits
// until it took the request.
func (i *instance) inject(domain, action, content string) {
	i.t.Helper()
	id := strings.TrimSpace(i.MustVirsh("domid", domain))
	dir := filepath.Join(i.StateDir, "sim", "inject")
	name := id + "." + action
	tmp := filepath.Join(dir, "."+name)
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		i.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		i.t.Fatal(err)
	}
	i.Eventually("the simulated host to take "+name, 10*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(dir, name))
		return os.IsNotExist(err)
	})
	if msg, err := os.ReadFile(filepath.Join(dir, name+".error")); err == nil {
		i.t.Fatalf("%s %s: the simulated host refused: %s", action, domain, msg)
	}
}

// checkFaults crashes and drifts guests on the simulated host of i (resync_interval 1) and checks what
// Prometheus (at paddr) says of them against virsh: crash restarts and the backoff of a crash loop, a crashed
// guest's state, drift corrected and drift reported.
func checkFaults(t *testing.T, i *instance, paddr string) {
	want := func(what string, got, want float64) {
		t.Helper()
		if math.IsNaN(got) || got != want {
			t.Errorf("%s: Prometheus says %v, want %v", what, got, want)
		}
	}
	// A guest kept after its crash (on_crash preserve): libvirt state crashed, in Prometheus as in virsh.
	xml := strings.Replace(tuneXML("crashy"), "</os>", "</os>\n  <on_crash>preserve</on_crash>", 1)
	i.MustVirsh("define", i.xmlFile("crashy.xml", xml))
	i.MustVirsh("start", "crashy")
	i.inject("crashy", "crash", "")
	i.Eventually("crashy crashed", 20*time.Second, func() bool { return i.domstate("crashy") == "crashed" })
	i.Eventually("Prometheus sees crashy crashed", 20*time.Second, func() bool {
		return promValue(t, paddr, `libvirt_domain_state_code{domain="crashy"}`) == 6
	})
	// A crash loop: web (runStrategy Always) crashes twice within a minute: restarted at once, then after
	// a backoff of 1 s (BackoffBase).
	restarts0 := promOne(t, paddr, "virtxend_crash_restarts_total")
	for n := 1; n <= 2; n++ {
		id := strings.TrimSpace(i.MustVirsh("domid", "web"))
		i.inject("web", "crash", "")
		i.Eventually(fmt.Sprintf("web restarted after crash %d", n), 30*time.Second, func() bool {
			r := i.Virsh("domid", "web")
			now := strings.TrimSpace(r.Stdout)
			return r.Code == 0 && now != id && now != "-" && i.domstate("web") == "running"
		})
	}
	i.Eventually("Prometheus counts 2 crash restarts", 20*time.Second, func() bool {
		return promValue(t, paddr, "virtxend_crash_restarts_total") == restarts0+2 &&
			promValue(t, paddr, `virtxend_domain_restarts{domain="web"}`) == 2
	})
	want("crash backoffs", promOne(t, paddr, "virtxend_crash_backoffs_total"), 1)
	want("crash backoff seconds", promOne(t, paddr, "virtxend_crash_backoff_seconds_total"), 1)
	want("web backoff left", promOne(t, paddr, `virtxend_domain_backoff_seconds{domain="web"}`), 0)

	// Drift: a guest's balloon target changed behind the daemon's back (xl mem-set). idle (driftPolicy
	// Enforce, the default) is put back; rep (Report) is left, reported Drifted.
	i.WriteSpec("rep.yaml", strings.Replace(pvSpec("rep", 128, "Always"), "  runStrategy:", "  driftPolicy: Report\n  runStrategy:", 1))
	i.Eventually("rep running", 20*time.Second, func() bool { return i.domstate("rep") == "running" })
	corrected0 := promOne(t, paddr, `virtxend_drift_total{action="corrected"}`)
	i.inject("idle", "mem-set", "262144\n")
	i.inject("rep", "mem-set", "65536\n")
	i.Eventually("drift corrected and reported in Prometheus", 30*time.Second, func() bool {
		return promValue(t, paddr, `virtxend_drift_total{action="corrected"}`) > corrected0 &&
			promValue(t, paddr, `virtxend_drift_total{action="reported"}`) >= 1 &&
			promValue(t, paddr, `virtxend_domain_condition{domain="rep",type="Drifted"}`) == 1 &&
			promValue(t, paddr, `libvirt_domain_info_memory_usage_bytes{domain="idle"}`) == 384<<20 &&
			promValue(t, paddr, `libvirt_domain_info_memory_usage_bytes{domain="rep"}`) == 64<<20
	})
	want("idle not drifted", promOne(t, paddr, `virtxend_domain_condition{domain="idle",type="Drifted"}`), 0)
	for _, name := range []string{"idle", "rep"} {
		info := virshFields(i.MustVirsh("dominfo", name), ":")
		used, err := strconv.ParseFloat(strings.Fields(info["Used memory"] + " x")[0], 64)
		if err != nil {
			t.Errorf("dominfo %s: used memory %q", name, info["Used memory"])
		}
		want(name+" used memory against dominfo", promOne(t, paddr, fmt.Sprintf(`libvirt_domain_info_memory_usage_bytes{domain=%q}`, name)), used*1024)
	}

	// Every domain's state code against virsh domstate, after all that (Prometheus has the active domains,
	// as Debian's exporter does). The states are settled; Prometheus's newest scrape may predate the last
	// change by a scrape interval, hence the wait for agreement.
	for _, name := range strings.Fields(i.MustVirsh("list", "--name")) {
		state := i.domstate(name)
		code, ok := libvirtStateCodes[state]
		if !ok {
			t.Errorf("virsh domstate %s: %q", name, state)
			continue
		}
		q := fmt.Sprintf(`libvirt_domain_state_code{domain=%q}`, name)
		i.Eventually("Prometheus to say "+name+" is "+state, 10*time.Second, func() bool { return promValue(t, paddr, q) == code })
	}
}
