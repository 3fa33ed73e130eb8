//go:build xenlight

package xenlight

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/virtxend/virtxend/libxl"
)

// fakeCounters lays out a host's counter tree under a temporary directory: blkback's statistics of vbd
// DOMID-DEVNO, an interface's kernel statistics, and the QMP sockets of device models.
type fakeCounters struct {
	t *testing.T
	p counterPaths
}

func newFakeCounters(t *testing.T) *fakeCounters {
	// A short base: a Unix socket path must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "vxc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := &fakeCounters{t: t, p: counterPaths{backends: filepath.Join(dir, "be"), netClass: filepath.Join(dir, "net"),
		qmp: filepath.Join(dir, "run")}}
	for _, d := range []string{f.p.backends, f.p.netClass, f.p.qmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// files writes name → content files (content as the kernel prints it, with a newline) under dir.
func (f *fakeCounters) files(dir string, values map[string]string) {
	f.t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.t.Fatal(err)
	}
	for name, v := range values {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o644); err != nil {
			f.t.Fatal(err)
		}
	}
}

// qmpServer serves the QMP socket of domid's device model: the greeting, then for each command read the
// answer script gives it (events may precede the answer, as QEMU sends them whenever they happen). It returns
// the commands received.
func (f *fakeCounters) qmpServer(domid libxl.DomID, script func(cmd string) []string) func() []string {
	f.t.Helper()
	l, err := net.Listen("unix", filepath.Join(f.p.qmp, fmt.Sprintf("qmp-libxl-%d", domid)))
	if err != nil {
		f.t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintln(c, `{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7"}, "capabilities": []}}`)
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					break
				}
				cmd := strings.TrimSpace(line)
				mu.Lock()
				got = append(got, cmd)
				mu.Unlock()
				for _, out := range script(cmd) {
					fmt.Fprintln(c, out)
				}
			}
			c.Close()
		}
	}()
	f.t.Cleanup(func() { l.Close(); <-done })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

// blockstats is a query-blockstats answer as QEMU 7.2 gives it for a Xen guest's qdisk disks: xvdb named by
// its qdev, xvdc by a qdev path ending in its vdev, and an unrelated drive.
const blockstats = `{"return": [` +
	`{"device": "", "qdev": "xvdb", "node-name": "#block134", "stats": {"rd_bytes": 4096000, "wr_bytes": 8192, ` +
	`"rd_operations": 1000, "wr_operations": 2, "flush_operations": 3, "rd_total_time_ns": 1500000000, ` +
	`"wr_total_time_ns": 2000000, "flush_total_time_ns": 3000000, "failed_rd_operations": 1, ` +
	`"failed_wr_operations": 2, "failed_flush_operations": 4, "idle_time_ns": 99}}, ` +
	`{"device": "", "qdev": "/machine/peripheral/xvdc", "stats": {"rd_operations": 7, "rd_bytes": 7168}}, ` +
	`{"device": "ide0-hd0", "qdev": "/machine/unattached/device[23]", "stats": {"rd_operations": 99}}]}`

func TestDiskStatsBlkback(t *testing.T) {
	f := newFakeCounters(t)
	// xvda is device 202:0 (51712); blkback counts sectors of 512 bytes.
	f.files(filepath.Join(f.p.backends, "vbd-5-51712", "statistics"), map[string]string{"rd_req": "120", "wr_req": "30",
		"f_req": "4", "oo_req": "2", "rd_sect": "960", "wr_sect": "240", "ds_req": "0"})
	got, err := f.p.diskStats(context.Background(), 5, "xvda")
	if err != nil {
		t.Fatal(err)
	}
	want := libxl.DiskStats{RdReqs: 120, RdBytes: 960 * 512, WrReqs: 30, WrBytes: 240 * 512, FlReqs: 4, Errs: 2}
	if got != want {
		t.Errorf("xvda: %+v, want %+v", got, want)
	}
	// blkback's statistics that do not read as numbers are an error, not zeros.
	f.files(filepath.Join(f.p.backends, "vbd-5-51728", "statistics"), map[string]string{"rd_req": "x", "wr_req": "1",
		"f_req": "0", "oo_req": "0", "rd_sect": "0", "wr_sect": "0"})
	if _, err := f.p.diskStats(context.Background(), 5, "xvdb"); err == nil || !strings.Contains(err.Error(), "rd_req") {
		t.Errorf("unreadable rd_req: %v", err)
	}
}

func TestDiskStatsQMP(t *testing.T) {
	f := newFakeCounters(t)
	cmds := f.qmpServer(7, func(cmd string) []string {
		switch cmd {
		case `{"execute":"qmp_capabilities"}`:
			return []string{`{"return": {}}`}
		case `{"execute":"query-blockstats"}`:
			return []string{`{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "RTC_CHANGE", "data": {"offset": 0}}`, blockstats}
		}
		return []string{`{"error": {"class": "CommandNotFound", "desc": "unknown"}}`}
	})
	got, err := f.p.diskStats(context.Background(), 7, "xvdb")
	if err != nil {
		t.Fatal(err)
	}
	want := libxl.DiskStats{RdReqs: 1000, RdBytes: 4096000, WrReqs: 2, WrBytes: 8192, FlReqs: 3, Errs: 7, HasTimes: true,
		RdTime: 1500 * time.Millisecond, WrTime: 2 * time.Millisecond, FlTime: 3 * time.Millisecond}
	if got != want {
		t.Errorf("xvdb: %+v, want %+v", got, want)
	}
	if got, err := f.p.diskStats(context.Background(), 7, "xvdc"); err != nil || got.RdReqs != 7 || got.RdBytes != 7168 {
		t.Errorf("xvdc by its qdev path: %+v %v", got, err)
	}
	if c := cmds(); len(c) != 4 || c[0] != `{"execute":"qmp_capabilities"}` || c[1] != `{"execute":"query-blockstats"}` {
		t.Errorf("commands sent: %q", c)
	}
	if _, err := f.p.diskStats(context.Background(), 7, "xvdd"); !errors.Is(err, libxl.ErrNoStats) {
		t.Errorf("a disk the device model does not have: %v", err)
	}
	// No blkback statistics and no device model: the backend keeps none that virtxend can read.
	if _, err := f.p.diskStats(context.Background(), 8, "xvda"); !errors.Is(err, libxl.ErrNoStats) {
		t.Errorf("no backend: %v", err)
	}
	if _, err := f.p.diskStats(context.Background(), 7, "vda"); !errors.Is(err, libxl.ErrInvalid) {
		t.Errorf("not a Xen disk name: %v", err)
	}
}

func TestDiskStatsQMPErrors(t *testing.T) {
	f := newFakeCounters(t)
	f.qmpServer(9, func(cmd string) []string {
		if strings.Contains(cmd, "qmp_capabilities") {
			return []string{`{"return": {}}`}
		}
		return []string{`{"error": {"class": "GenericError", "desc": "device model busy"}}`}
	})
	if _, err := f.p.diskStats(context.Background(), 9, "xvda"); err == nil || !strings.Contains(err.Error(), "device model busy") {
		t.Errorf("a QMP error: %v", err)
	}
	// A device model that never answers: the query gives up at its deadline instead of hanging the scrape.
	f.qmpServer(10, func(string) []string { return nil })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := f.p.diskStats(ctx, 10, "xvda"); err == nil {
		t.Error("a silent device model answered")
	}
}

func TestNicStats(t *testing.T) {
	f := newFakeCounters(t)
	f.files(filepath.Join(f.p.netClass, "vif3.0", "statistics"), map[string]string{"rx_bytes": "1000", "rx_packets": "10",
		"rx_errors": "1", "rx_dropped": "2", "tx_bytes": "3000", "tx_packets": "30", "tx_errors": "3", "tx_dropped": "4"})
	f.files(filepath.Join(f.p.netClass, "web-eth0", "statistics"), map[string]string{"rx_bytes": "5", "rx_packets": "1",
		"rx_errors": "0", "rx_dropped": "0", "tx_bytes": "6", "tx_packets": "1", "tx_errors": "0", "tx_dropped": "0"})
	got, err := f.p.nicStats(3, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	want := libxl.NicStats{RxBytes: 1000, RxPackets: 10, RxErrs: 1, RxDrop: 2, TxBytes: 3000, TxPackets: 30, TxErrs: 3, TxDrop: 4}
	if got != want {
		t.Errorf("vif3.0: %+v, want %+v", got, want)
	}
	if g := got.Swapped(); g.RxBytes != 3000 || g.TxBytes != 1000 || g.RxDrop != 4 {
		t.Errorf("the guest's view: %+v", g)
	}
	if got, err := f.p.nicStats(3, 1, "web-eth0"); err != nil || got.RxBytes != 5 || got.TxBytes != 6 {
		t.Errorf("a named backend interface: %+v %v", got, err)
	}
	if _, err := f.p.nicStats(3, 1, ""); !errors.Is(err, libxl.ErrNoDevice) {
		t.Errorf("no vif3.1: %v", err)
	}
	for _, bad := range []string{"../vif3.0", ".", ".."} {
		if _, err := f.p.nicStats(3, 0, bad); !errors.Is(err, libxl.ErrInvalid) {
			t.Errorf("interface %q: %v", bad, err)
		}
	}
}

func TestDiskDevNumber(t *testing.T) {
	for name, want := range map[string]int{
		"xvda": 202 << 8, "xvdb": 202<<8 | 16, "xvda1": 202<<8 | 1, "xvdp15": 202<<8 | 15<<4 | 15,
		"xvdq": 1<<28 | 16<<8, "xvdaa": 1<<28 | 26<<8, "xvda16": 1<<28 | 16,
		"hda": 3 << 8, "hdb": 3<<8 | 64, "hdc": 22 << 8, "hdd2": 22<<8 | 64 | 2, "sda": 8 << 8, "sdb3": 8<<8 | 16 | 3,
		"hde": -1, "vda": -1, "xvd": -1, "xvda-1": -1, "xvdA": -1, "": -1,
	} {
		if got := libxl.DiskDevNumber(name); got != want {
			t.Errorf("DiskDevNumber(%q) = %d, want %d", name, got, want)
		}
	}
}
