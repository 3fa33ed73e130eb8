package e2e

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/virtxend/virtxend/test/testenv"
)

// TestMigrateJobInfoAndAbort: while a migration streams (the simulated link slowed to 4 MiB/s), virsh domjobinfo on
// the source shows the elapsed time and, beyond libvirt's libxl driver, the data processed, remaining and total
// and the pre-copy round; the destination shows an incoming migration. virsh domjobabort then stops it before
// the switch-over: the migration fails with libvirt's "operation aborted", the source runs on, the destination
// keeps nothing.
func TestMigrateJobInfoAndAbort(t *testing.T) {
	for _, mode := range [][]string{{"--live"}, {"--live", "--p2p"}, {"--live", "--p2p", "--tunnelled"}} {
		t.Run(strings.Join(mode, ""), func(t *testing.T) {
			src, dst := migrationPair(t)
			src.MustVirsh("define", src.xmlFile("vm.xml", smallGuest("vm")))
			src.MustVirsh("start", "vm")
			domid := strings.TrimSpace(src.MustVirsh("domid", "vm"))
			wantLines(t, "domjobinfo before", src.MustVirsh("domjobinfo", "vm"), `^Job type: +None`)
			stop := watchRunning(t, src, dst, "vm")
			defer stop()
			src.inject("vm", "migrate-bandwidth", "4")
			done := bgVirsh(t, src.URI(), append(append([]string{"migrate"}, mode...), "vm", dst.URI())...)

			var info string
			src.Eventually("domjobinfo showing data sent", 60*time.Second, func() bool {
				info = src.MustVirsh("domjobinfo", "vm")
				m := regexp.MustCompile(`(?m)^Data processed: +([\d.]+) MiB$`).FindStringSubmatch(info)
				v, _ := strconv.ParseFloat(valueOr(m, "0"), 64)
				return v >= 2
			})
			wantLines(t, "source domjobinfo", info,
				`^Job type: +Unbounded`, `^Operation: +Outgoing migration`, `^Time elapsed: +\d+ +ms`,
				`^Data remaining: +[\d.]+ MiB`, `^Data total: +128\.000 MiB`,
				`^Memory processed: +[\d.]+ MiB`, `^Memory total: +128\.000 MiB`, `^Memory bandwidth: +[\d.]+ [KM]iB/s`,
				`^Iteration: +1\s*$`)
			wantLines(t, "destination domjobinfo", dst.MustVirsh("domjobinfo", "vm"),
				`^Job type: +Unbounded`, `^Operation: +Incoming migration`)
			src.MustVirsh("domjobabort", "vm")
			r := <-done
			if r.Code == 0 {
				t.Fatalf("an aborted migration succeeded")
			}
			if !strings.Contains(r.Stderr, "operation aborted: migration out job: canceled by client") {
				t.Errorf("virsh migrate after domjobabort: %s", r.Stderr)
			}
			settled(t, src, dst, "vm", false)
			if got := strings.TrimSpace(src.MustVirsh("domid", "vm")); got != domid {
				t.Errorf("domid %s after the aborted migration, was %s: the guest restarted", got, domid)
			}
			wantLines(t, "domjobinfo after", src.MustVirsh("domjobinfo", "vm"), `^Job type: +None`)
		})
	}
}

func valueOr(m []string, def string) string {
	if len(m) > 1 {
		return m[1]
	}
	return def
}

// TestMigrateAbortAfterSwitchOver: once the guest is suspended for the last round and sent, domjobabort is refused
// and the migration completes.
func TestMigrateAbortAfterSwitchOver(t *testing.T) {
	src, dst := migrationPair(t)
	src.MustVirsh("define", src.xmlFile("vm.xml", smallGuest("vm")))
	src.MustVirsh("start", "vm")
	src.hold("sent")
	done := bgVirsh(t, src.URI(), "migrate", "--live", "--p2p", "vm", dst.URI())
	src.waitHeld("sent")
	r := src.Virsh("domjobabort", "vm")
	if r.Code == 0 || !strings.Contains(r.Stderr, "past the switch-over") {
		t.Errorf("domjobabort after the switch-over: exit %d %s", r.Code, r.Stderr)
	}
	src.release()
	if r := <-done; r.Code != 0 {
		t.Fatalf("migration: %s", r.Stderr)
	}
	settled(t, src, dst, "vm", true)
}

// pythonMigrate migrates with libvirt-python: migrateToURI3 peer-to-peer there (renamed vm2), migrate3 direct back
// (named vm again, persistent), then a parameter the libxl driver does not know; it reports what it saw as JSON.
const pythonMigrate = `
import json, sys, libvirt
srcuri, dsturi = sys.argv[1], sys.argv[2]
src, dst = libvirt.open(srcuri), libvirt.open(dsturi)
out = {}
dom = src.lookupByName("vm")
out["p2p"] = dom.migrateToURI3(dsturi, {libvirt.VIR_MIGRATE_PARAM_DEST_NAME: "vm2"},
                               libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER)
there = dst.lookupByName("vm2")
out["p2p_dst_state"] = there.state()
out["p2p_src_state"] = dom.state()
back = there.migrate3(src, {libvirt.VIR_MIGRATE_PARAM_DEST_NAME: "vm"},
                      libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PERSIST_DEST)
out["direct_name"] = back.name()
out["direct_state"] = back.state()
out["direct_persistent"] = back.isPersistent()
out["direct_same_uuid"] = back.UUIDString() == dom.UUIDString()
try:
    dst.lookupByName("vm2")
    out["dst_after"] = "still there"
except libvirt.libvirtError as e:
    out["dst_after"] = e.get_error_code()
try:
    back.migrate3(dst, {libvirt.VIR_MIGRATE_PARAM_BANDWIDTH: 100}, libvirt.VIR_MIGRATE_LIVE)
    out["bandwidth_error"] = None
except libvirt.libvirtError as e:
    out["bandwidth_error"] = [e.get_error_code(), e.get_error_message()]
out["after_error_state"] = back.state()
print(json.dumps(out))
`

func TestPythonLibvirtMigrate(t *testing.T) {
	needTool(t, "/usr/bin/python3")
	if r := run(t, "/usr/bin/python3", "-c", "import libvirt"); r.Code != 0 {
		testenv.Missing(t, "python3-libvirt ("+strings.TrimSpace(r.Stderr)+")", "make test-deps")
	}
	src, dst := migrationPair(t)
	src.MustVirsh("define", src.xmlFile("vm.xml", smallGuest("vm")))
	src.MustVirsh("start", "vm")
	r := run(t, "/usr/bin/python3", "-c", pythonMigrate, src.URI(), dst.URI())
	if r.Code != 0 {
		t.Fatalf("python exit %d\nstdout: %s\nstderr: %s\nsource log:\n%s", r.Code, r.Stdout, r.Stderr, tail(src.Log(), 30))
	}
	var got struct {
		P2P              int    `json:"p2p"`
		P2PDstState      []int  `json:"p2p_dst_state"`
		P2PSrcState      []int  `json:"p2p_src_state"`
		DirectName       string `json:"direct_name"`
		DirectState      []int  `json:"direct_state"`
		DirectPersistent int    `json:"direct_persistent"`
		DirectSameUUID   bool   `json:"direct_same_uuid"`
		DstAfter         any    `json:"dst_after"`
		BandwidthError   []any  `json:"bandwidth_error"`
		AfterErrorState  []int  `json:"after_error_state"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil {
		t.Fatalf("%v: %s", err, r.Stdout)
	}
	const (
		running, shutoff       = 1, 5
		runningMigrated        = 2 // VIR_DOMAIN_RUNNING_MIGRATED
		shutoffMigrated        = 4 // VIR_DOMAIN_SHUTOFF_MIGRATED
		errNoDomain            = 42
		errArgumentUnsupported = 74
	)
	check := func(what string, ok bool, v any) {
		t.Helper()
		if !ok {
			t.Errorf("%s: %v (all: %s)", what, v, r.Stdout)
		}
	}
	check("migrateToURI3 p2p", got.P2P == 0, got.P2P)
	check("destination state after p2p", len(got.P2PDstState) == 2 && got.P2PDstState[0] == running && got.P2PDstState[1] == runningMigrated, got.P2PDstState)
	check("source state after p2p", len(got.P2PSrcState) == 2 && got.P2PSrcState[0] == shutoff && got.P2PSrcState[1] == shutoffMigrated, got.P2PSrcState)
	check("migrate3 direct: the returned domain's name", got.DirectName == "vm", got.DirectName)
	check("migrate3 direct: state", len(got.DirectState) == 2 && got.DirectState[0] == running, got.DirectState)
	check("migrate3 direct: persistent", got.DirectPersistent == 1, got.DirectPersistent)
	check("migrate3 direct: same uuid", got.DirectSameUUID, got.DirectSameUUID)
	check("the destination forgot the transient domain", got.DstAfter == float64(errNoDomain), got.DstAfter)
	check("an unknown parameter refused", len(got.BandwidthError) == 2 && got.BandwidthError[0] == float64(errArgumentUnsupported), got.BandwidthError)
	check("the source runs on after the refusal", len(got.AfterErrorState) == 2 && got.AfterErrorState[0] == running, got.AfterErrorState)
}
