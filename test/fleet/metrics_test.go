package fleet

import (
	"strings"
	"testing"
	"time"
)

// TestMetricsEndpoint: each fleet daemon serves metrics_listen, ready once its cache listed the node's objects,
// with the domain families and the controller's object metrics of its own node's domains only.
func TestMetricsEndpoint(t *testing.T) {
	a, b := hosts(t)
	apply(t, domainYAML("scraped-a", "host-a", "Always")+"---\n"+domainYAML("scraped-b", "host-b", "Always"))
	eventually(t, "scraped-a running on host-a", time.Minute, func() bool { return a.state("scraped-a") == "running" }, a)
	eventually(t, "scraped-b running on host-b", time.Minute, func() bool { return b.state("scraped-b") == "running" }, b)
	uuid := strings.TrimSpace(a.MustVirsh(t, "domuuid", "scraped-a"))
	eventually(t, "host-a's /readyz", time.Minute, func() bool { code, _ := a.get("/readyz"); return code == 200 }, a)
	want := []string{
		`libvirt_up 1`,
		`libvirt_domain_info_virtual_cpus{domain="scraped-a"`,
		`libvirt_domain_info_maximum_memory_bytes{domain="scraped-a"`,
		`libvirt_domain_state_code{domain="scraped-a"`,
		`virtxend_ready 1`,
		`virtxend_build_info{`,
		`virtxend_reconcile_total{outcome="success"}`,
		`virtxend_domain_condition{domain="scraped-a",reason="Running",type="Ready",uuid="` + uuid + `"} 1`,
		`virtxend_domain_restarts{domain="scraped-a",uuid="` + uuid + `"} 0`,
	}
	var text string
	var missing []string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		var code int
		code, text = a.get("/metrics")
		missing = missing[:0]
		for _, w := range want {
			if !strings.Contains(text, w) {
				missing = append(missing, w)
			}
		}
		if code == 200 && len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("host-a's scrape (%d) lacks %q:\n%s", code, missing, grepLines(text, "scraped-a", "virtxend_domains", "libvirt_up"))
		}
	}
	if !strings.Contains(text, `virtxend_domains{state="running"}`) || !strings.Contains(text, `virtxend_domains_condition{status="True",type="Ready"}`) {
		t.Errorf("host-a's scrape lacks the domains by state and condition")
	}
	if strings.Contains(text, `"scraped-b"`) {
		t.Errorf("host-a's scrape shows host-b's domain")
	}
	if code, body := b.get("/metrics"); code != 200 || !strings.Contains(body, `virtxend_domain_restarts{domain="scraped-b"`) || strings.Contains(body, `"scraped-a"`) {
		t.Errorf("host-b's scrape (%d) does not show scraped-b alone", code)
	}
	kubectl(t, "delete", "xendomain", "scraped-a", "scraped-b", "--timeout=120s")
}

// grepLines are the lines of text holding any of words.
func grepLines(text string, words ...string) string {
	var b strings.Builder
	for _, l := range strings.Split(text, "\n") {
		for _, w := range words {
			if strings.Contains(l, w) {
				b.WriteString(l + "\n")
				break
			}
		}
	}
	return b.String()
}
