package remote

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/api/v1alpha1"
)

// fakeHostStats points the facade at a fake block backend directory and /proc/net/dev. It must come before
// newTxEnv, so that the facade's goroutines are done before the variables are restored.
func fakeHostStats(t *testing.T) {
	oldBackend, oldNetDev := xenBackendDir, procNetDev
	t.Cleanup(func() { xenBackendDir, procNetDev = oldBackend, oldNetDev })
	xenBackendDir, procNetDev = t.TempDir(), filepath.Join(t.TempDir(), "dev")
}

// statsDomain adds the running define web with a file disk, a phy disk and a bridged interface, and fills the
// fake block backend and /proc/net/dev for it.
func statsDomain(t *testing.T, e *txEnv) libvirt.Domain {
	t.Helper()
	web := e.addWith("web", "define", true, func(s *v1alpha1.DomainSpec) {
		s.Devices.Disks = []v1alpha1.Disk{
			{Type: "file", Source: &v1alpha1.DiskSource{File: "/var/lib/xen/web.img"}, Target: v1alpha1.DiskTarget{Dev: "xvda"}},
			{Type: "block", Source: &v1alpha1.DiskSource{Dev: "/dev/vg/web-data"}, Target: v1alpha1.DiskTarget{Dev: "xvdb"},
				Driver: &v1alpha1.DiskDriver{Name: "phy", Type: "raw"}},
		}
		s.Devices.Interfaces = []v1alpha1.Interface{{Type: "bridge", MAC: "00:16:3e:00:00:01", Source: &v1alpha1.InterfaceSource{Bridge: "xenbr0"}}}
	})
	id := e.info("web").DomID
	dir := filepath.Join(xenBackendDir, fmt.Sprintf("vbd-%d-%d", id, 202<<8|1<<4), "statistics")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"f_req": "7", "wr_req": "20", "rd_req": "10", "wr_sect": "40", "rd_sect": "30", "ds_req": "0", "oo_req": "1"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	netdev := fmt.Sprintf("Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n"+
		"    lo: 1 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0\nvif%d.0: 1000 10 1 2 0 0 0 0 5000 50 3 4 0 0 0 0\n", id)
	if err := os.WriteFile(procNetDev, []byte(netdev), 0o644); err != nil {
		t.Fatal(err)
	}
	return web
}

func TestStatsSingleDomain(t *testing.T) {
	fakeHostStats(t)
	e := newTxEnv(t)
	web := statsDomain(t, e)
	off := e.add("off", "define", false)
	vif := fmt.Sprintf("vif%d.0", e.info("web").DomID)

	stats, err := e.L.DomainMemoryStats(web, 8, 0)
	if err != nil || len(stats) != 2 || stats[0] != (libvirt.DomainMemoryStat{Tag: memStatActualBalloon, Val: 512 << 10}) ||
		stats[1] != (libvirt.DomainMemoryStat{Tag: memStatAvailable, Val: 512 << 10}) {
		t.Errorf("memory stats %+v, %v", stats, err)
	}
	_, err = e.L.DomainMemoryStats(off, 8, 0)
	txWantErr(t, err, libvirt.ErrOperationInvalid, "domain is not running")

	// The bridge's host side counts the other way round.
	rxB, rxP, rxE, rxD, txB, txP, txE, txD, err := e.L.DomainInterfaceStats(web, vif)
	if err != nil || rxB != 5000 || rxP != 50 || rxE != 3 || rxD != 4 || txB != 1000 || txP != 10 || txE != 1 || txD != 2 {
		t.Errorf("interface stats %d %d %d %d %d %d %d %d, %v", rxB, rxP, rxE, rxD, txB, txP, txE, txD, err)
	}
	if _, _, _, _, _, _, _, _, err := e.L.DomainInterfaceStats(web, "00:16:3E:00:00:01"); err != nil {
		t.Errorf("by MAC: %v", err)
	}
	_, _, _, _, _, _, _, _, err = e.L.DomainInterfaceStats(web, "eth9")
	txWantErr(t, err, libvirt.ErrInvalidArg, "'eth9' is not a known interface")

	rdReq, rdBytes, wrReq, wrBytes, errs, err := e.L.DomainBlockStats(web, "xvdb")
	if err != nil || rdReq != 10 || rdBytes != 30*512 || wrReq != 20 || wrBytes != 40*512 || errs != 1 {
		t.Errorf("block stats %d %d %d %d %d, %v", rdReq, rdBytes, wrReq, wrBytes, errs, err)
	}
	params, n, err := e.L.DomainBlockStatsFlags(web, "/dev/vg/web-data", 0, 0)
	if err != nil || n != 6 || len(params) != 0 {
		t.Errorf("block stats count %d %+v, %v", n, params, err)
	}
	params, _, err = e.L.DomainBlockStatsFlags(web, "xvdb", 6, 0)
	if err != nil || len(params) != 6 || params[0].Field != "wr_bytes" || params[0].Value.I != int64(40*512) || params[4].Field != "flush_operations" {
		t.Errorf("block stats %+v, %v", params, err)
	}
	for _, tc := range []struct {
		path string
		code libvirt.ErrorNumber
		msg  string
	}{
		{"xvda", libvirt.ErrOperationUnsupported, "unsupported disk driver qemu"},
		{"", libvirt.ErrOperationUnsupported, "unsupported disk driver qemu"},
		{"xvdz", libvirt.ErrOperationInvalid, "invalid path: xvdz"},
	} {
		_, _, _, _, _, err := e.L.DomainBlockStats(web, tc.path)
		txWantErr(t, err, tc.code, tc.msg)
	}

	total, n, err := e.L.DomainGetCPUStats(web, 1, -1, 1, 0)
	if err != nil || n != 1 || len(total) != 1 || total[0].Field != "cpu_time" {
		t.Errorf("total cpu stats %+v %d, %v", total, n, err)
	}
	if _, n, err := e.L.DomainGetCPUStats(web, 0, 0, 0, 0); err != nil || n != 4 {
		t.Errorf("per-vcpu count %d, %v", n, err)
	}
	per, _, err := e.L.DomainGetCPUStats(web, 1, 1, 8, 0)
	if err != nil || len(per) != 3 {
		t.Errorf("per-vcpu stats from vcpu 1 %+v, %v", per, err)
	}
	if typ, params, err := e.L.DomainGetJobStats(web, 0); err != nil || typ != jobNone || len(params) != 0 {
		t.Errorf("job stats %d %+v, %v", typ, params, err)
	}
}

func TestStatsAllDomains(t *testing.T) {
	fakeHostStats(t)
	e := newTxEnv(t)
	web := statsDomain(t, e)
	off := e.add("off", "define", false)
	vif := fmt.Sprintf("vif%d.0", e.info("web").DomID)

	recs, err := e.L.ConnectGetAllDomainStats(nil, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]map[string]any{}
	for _, r := range recs {
		m := map[string]any{}
		for _, p := range r.Params {
			m[p.Field] = p.Value.I
		}
		byName[r.Dom.Name] = m
	}
	if len(recs) != 3 || byName["Domain-0"] == nil {
		t.Fatalf("records for %v", byName)
	}
	w := byName["web"]
	for k, v := range map[string]any{
		"state.state": int32(stateRunning), "balloon.current": uint64(512 << 10), "balloon.maximum": uint64(512 << 10),
		"vcpu.current": uint32(2), "vcpu.maximum": uint32(4), "vcpu.0.state": int32(vcpuRunning), "vcpu.3.state": int32(vcpuOffline),
		"net.count": uint32(1), "net.0.name": vif, "net.0.rx.bytes": uint64(5000), "net.0.tx.pkts": uint64(10),
		"block.count": uint32(2), "block.0.name": "xvda", "block.0.path": "/var/lib/xen/web.img", "block.1.name": "xvdb",
		"block.1.rd.reqs": uint64(10), "block.1.wr.bytes": uint64(40 * 512), "block.1.errs": uint64(1),
	} {
		if w[k] != v {
			t.Errorf("web %s = %#v, want %#v", k, w[k], v)
		}
	}
	for _, k := range []string{"cpu.time", "vcpu.1.time"} {
		if _, ok := w[k].(uint64); !ok {
			t.Errorf("web %s = %#v", k, w[k])
		}
	}
	if _, ok := w["block.0.rd.reqs"]; ok {
		t.Error("a file disk has counters")
	}
	o := byName["off"]
	if o["state.state"] != int32(stateShutoff) || o["vcpu.current"] != uint32(2) || o["balloon.maximum"] != uint64(512<<10) ||
		o["cpu.time"] != nil || o["net.count"] != nil || o["block.count"] != uint32(0) {
		t.Errorf("off: %v", o)
	}

	// Filters, one domain (virsh domstats DOMAIN), groups.
	if recs, err := e.L.ConnectGetAllDomainStats(nil, statsState, 1); err != nil || len(recs) != 2 {
		t.Errorf("active only: %d records, %v", len(recs), err)
	}
	recs, err = e.L.ConnectGetAllDomainStats([]libvirt.Domain{off, web}, statsState, 0)
	if err != nil || len(recs) != 2 || recs[0].Dom.Name != "off" || len(recs[0].Params) != 2 || recs[0].Params[0].Field != "state.state" {
		t.Errorf("two domains, state: %+v, %v", recs, err)
	}
	if recs, err := e.L.ConnectGetAllDomainStats([]libvirt.Domain{web}, statsState|1<<6, 0); err != nil || len(recs[0].Params) != 2 {
		t.Errorf("unsupported group dropped: %+v, %v", recs, err)
	}
	_, err = e.L.ConnectGetAllDomainStats(nil, statsState|1<<6, statsEnforceStats)
	txWantErr(t, err, libvirt.ErrArgumentUnsupported, "Stats types bits 0x40 are not supported by this daemon")
}
