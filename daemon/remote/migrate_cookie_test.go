package remote

import (
	"strings"
	"testing"

	"github.com/virtxend/virtxend/controllers"
)

// TestMigrationCookieRecoveryURI: the destination's Prepare cookie carries how to reach its daemon; libvirt's
// reading of the cookie (name, uuid, hostname, stream version) is unchanged by it, and a cookie without it, or
// none, yields no URI.
func TestMigrationCookieRecoveryURI(t *testing.T) {
	c := migrationCookie{Name: "vm", UUID: "0b6b4f6e-0000-4000-8000-00000000000a", Hostname: "b", StreamVersion: 2,
		RecoveryURI: "xen+unix:///system?socket=%2Frun%2Fvirtxend-sock"}
	raw := c.bake()
	if !strings.Contains(string(raw), "<virtxend-uri>") {
		t.Fatalf("cookie lacks the URI: %s", raw)
	}
	if got := recoveryURI(raw); got != c.RecoveryURI {
		t.Errorf("recoveryURI = %q, want %q", got, c.RecoveryURI)
	}
	back, err := eatCookie(raw)
	if err != nil || back.Name != "vm" || back.StreamVersion != 2 {
		t.Errorf("eatCookie of a cookie with the URI: %+v, %v", back, err)
	}
	c.RecoveryURI = ""
	if raw := c.bake(); strings.Contains(string(raw), "virtxend-uri") || recoveryURI(raw) != "" {
		t.Errorf("a cookie without the URI: %s", raw)
	}
	for _, bad := range [][]byte{nil, []byte("<libxl-migration>"), []byte("not xml\x00")} {
		if got := recoveryURI(bad); got != "" {
			t.Errorf("recoveryURI(%q) = %q", bad, got)
		}
	}
}

// TestMigrationJobStats: an outgoing migration reports libvirt's VIR_DOMAIN_JOB_* names, an incoming one only the
// operation and the elapsed time.
func TestMigrationJobStats(t *testing.T) {
	out := controllers.NewMigrationJob("0b6b4f6e-0000-4000-8000-00000000000a", "vm")
	out.Out = &strings.Builder{}
	var names []string
	for _, p := range migrationJobStats(out) {
		names = append(names, p.Field)
	}
	want := "operation time_elapsed data_total data_processed data_remaining memory_total memory_processed memory_remaining memory_iteration memory_bps"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("outgoing job stats %q, want %q", got, want)
	}
	in := controllers.NewMigrationJob("0b6b4f6e-0000-4000-8000-00000000000a", "vm")
	in.In = strings.NewReader("")
	ps := migrationJobStats(in)
	if len(ps) != 2 || ps[0].Field != "operation" || ps[0].Value.I != int32(jobOperationMigrationIn) {
		t.Errorf("incoming job stats %+v", ps)
	}
}
