package e2e

import (
	"strings"
	"testing"
)

func TestVirshDomstats(t *testing.T) {
	i := startInstance(t)
	i.defineAndStart("vm")
	i.MustVirsh("define", i.xmlFile("off.xml", tuneXML("off")))

	all := i.MustVirsh("domstats")
	for _, name := range []string{"Domain-0", "vm", "off"} {
		if !strings.Contains(all, "Domain: '"+name+"'") {
			t.Errorf("domstats lacks %s:\n%s", name, all)
		}
	}
	vm := i.MustVirsh("domstats", "vm")
	wantLines(t, "domstats vm", vm, `^Domain: 'vm'$`, `^  state\.state=1$`, `^  state\.reason=1$`, `^  cpu\.time=\d+$`,
		`^  balloon\.current=524288$`, `^  balloon\.maximum=524288$`, `^  vcpu\.current=2$`, `^  vcpu\.maximum=4$`,
		`^  vcpu\.0\.state=1$`, `^  vcpu\.0\.time=\d+$`, `^  vcpu\.3\.state=0$`, `^  net\.count=0$`, `^  block\.count=0$`)
	if strings.Contains(vm, "Domain: 'off'") {
		t.Errorf("domstats vm lists another domain:\n%s", vm)
	}
	state := i.MustVirsh("domstats", "--state", "vm")
	if strings.Contains(state, "balloon") || !strings.Contains(state, "state.state=1") {
		t.Errorf("domstats --state:\n%s", state)
	}
	inactive := i.MustVirsh("domstats", "--list-inactive")
	if !strings.Contains(inactive, "Domain: 'off'") || strings.Contains(inactive, "Domain: 'vm'") {
		t.Errorf("domstats --list-inactive:\n%s", inactive)
	}
	wantLines(t, "domstats off", i.MustVirsh("domstats", "off"), `^  state\.state=5$`, `^  balloon\.maximum=524288$`, `^  vcpu\.current=2$`)

	wantLines(t, "dommemstat", i.MustVirsh("dommemstat", "vm"), `^actual 524288$`, `^available 524288$`)
	i.wantVirshError([]string{"dommemstat", "off"}, "domain is not running")
	wantLines(t, "cpu-stats --total", i.MustVirsh("cpu-stats", "vm", "--total"), `^\s+cpu_time\s+[0-9.]+ seconds$`)
	wantLines(t, "domjobinfo", i.MustVirsh("domjobinfo", "vm"), `^Job type: +None`)
}
