//go:build xenlight

package xenlight

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/virtxend/virtxend/libxl"
)

var _ libxl.DeviceStats = (*Hypervisor)(nil)

// Where the counters live on a Xen host. Fields of counterPaths rather than constants so that tests point them
// at a fake tree.
type counterPaths struct {
	// backends is where the kernel's Xen backends publish their devices: blkback's vbd-DOMID-DEVNO.
	backends string
	// netClass holds each host interface's kernel statistics (the vif backends' too).
	netClass string
	// qmp is libxl's QMP socket of a domain's device model, which serves qdisk disks: qmp-libxl-DOMID.
	qmp string
}

var defaultCounterPaths = counterPaths{
	backends: "/sys/bus/xen-backend/devices",
	netClass: "/sys/class/net",
	qmp:      "/var/run/xen",
}

// qmpTimeout bounds a statistics query to a device model, which may be busy serving libxl.
const qmpTimeout = 2 * time.Second

// DiskStats reads the counters of the disk vdev: blkback's sysfs statistics when the kernel serves it, else
// QEMU's block statistics (query-blockstats on the device model's QMP socket) for a qdisk.
func (h *Hypervisor) DiskStats(ctx context.Context, domid libxl.DomID, vdev string) (libxl.DiskStats, error) {
	return defaultCounterPaths.diskStats(ctx, domid, vdev)
}

func (p counterPaths) diskStats(ctx context.Context, domid libxl.DomID, vdev string) (libxl.DiskStats, error) {
	devno := libxl.DiskDevNumber(vdev)
	if devno < 0 {
		return libxl.DiskStats{}, fmt.Errorf("disk %q: not a virtual disk name: %w", vdev, libxl.ErrInvalid)
	}
	s, err := readVBD(p.backends, domid, devno)
	if !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	return queryBlockstats(ctx, filepath.Join(p.qmp, fmt.Sprintf("qmp-libxl-%d", domid)), vdev)
}

// NicStats reads the kernel's statistics of the nic's backend interface (vifDOMID.DEVID, or the name the
// configuration gave it).
func (h *Hypervisor) NicStats(_ context.Context, domid libxl.DomID, devid int, ifname string) (libxl.NicStats, error) {
	return defaultCounterPaths.nicStats(domid, devid, ifname)
}

func (p counterPaths) nicStats(domid libxl.DomID, devid int, ifname string) (libxl.NicStats, error) {
	if ifname == "" {
		ifname = fmt.Sprintf("vif%d.%d", domid, devid)
	}
	return readNetClass(p.netClass, ifname)
}

// readVBD reads blkback's statistics of one disk, in the units libvirt reports (bytes from 512-byte sectors).
func readVBD(root string, domid libxl.DomID, devno int) (libxl.DiskStats, error) {
	dir := filepath.Join(root, fmt.Sprintf("vbd-%d-%d", domid, devno), "statistics")
	var s libxl.DiskStats
	for _, f := range []struct {
		name string
		to   *int64
		mul  int64
	}{{"rd_req", &s.RdReqs, 1}, {"wr_req", &s.WrReqs, 1}, {"f_req", &s.FlReqs, 1}, {"oo_req", &s.Errs, 1},
		{"rd_sect", &s.RdBytes, 512}, {"wr_sect", &s.WrBytes, 512}} {
		v, err := readInt(filepath.Join(dir, f.name))
		if err != nil {
			return libxl.DiskStats{}, err
		}
		*f.to = v * f.mul
	}
	return s, nil
}

// readNetClass reads an interface's kernel counters from /sys/class/net/IF/statistics.
func readNetClass(root, ifname string) (libxl.NicStats, error) {
	if ifname == "" || strings.ContainsAny(ifname, "/") || ifname == "." || ifname == ".." {
		return libxl.NicStats{}, fmt.Errorf("interface %q: %w", ifname, libxl.ErrInvalid)
	}
	dir := filepath.Join(root, ifname, "statistics")
	var s libxl.NicStats
	for _, f := range []struct {
		name string
		to   *int64
	}{{"rx_bytes", &s.RxBytes}, {"rx_packets", &s.RxPackets}, {"rx_errors", &s.RxErrs}, {"rx_dropped", &s.RxDrop},
		{"tx_bytes", &s.TxBytes}, {"tx_packets", &s.TxPackets}, {"tx_errors", &s.TxErrs}, {"tx_dropped", &s.TxDrop}} {
		v, err := readInt(filepath.Join(dir, f.name))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return libxl.NicStats{}, fmt.Errorf("interface %s: %w", ifname, libxl.ErrNoDevice)
			}
			return libxl.NicStats{}, err
		}
		*f.to = v
	}
	return s, nil
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	return v, nil
}

// qmpBlockStats is one entry of QEMU's query-blockstats answer, the fields virtxend reports.
type qmpBlockStats struct {
	Device   string `json:"device"`
	Qdev     string `json:"qdev"`
	NodeName string `json:"node-name"`
	Stats    struct {
		RdBytes     int64 `json:"rd_bytes"`
		WrBytes     int64 `json:"wr_bytes"`
		RdOps       int64 `json:"rd_operations"`
		WrOps       int64 `json:"wr_operations"`
		FlOps       int64 `json:"flush_operations"`
		RdTimeNs    int64 `json:"rd_total_time_ns"`
		WrTimeNs    int64 `json:"wr_total_time_ns"`
		FlTimeNs    int64 `json:"flush_total_time_ns"`
		FailedRdOps int64 `json:"failed_rd_operations"`
		FailedWrOps int64 `json:"failed_wr_operations"`
		FailedFlOps int64 `json:"failed_flush_operations"`
	} `json:"stats"`
}

// queryBlockstats asks the device model on the QMP socket at path for its block statistics and returns those
// of the xen-block device vdev (QEMU names it by its vdev: qdev "xvda" or a path ending in it).
func queryBlockstats(ctx context.Context, path, vdev string) (libxl.DiskStats, error) {
	ctx, cancel := context.WithTimeout(ctx, qmpTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return libxl.DiskStats{}, fmt.Errorf("disk %s: neither blkback nor a device model serves it: %w", vdev, libxl.ErrNoStats)
		}
		return libxl.DiskStats{}, fmt.Errorf("disk %s: device model: %w", vdev, err)
	}
	defer c.Close()
	dl, _ := ctx.Deadline()
	_ = c.SetDeadline(dl)
	r := bufio.NewReader(c)
	var entries []qmpBlockStats
	for _, cmd := range []string{"", `{"execute":"qmp_capabilities"}`, `{"execute":"query-blockstats"}`} {
		if cmd != "" {
			if _, err := c.Write([]byte(cmd + "\n")); err != nil {
				return libxl.DiskStats{}, fmt.Errorf("disk %s: qmp: %w", vdev, err)
			}
		}
		if err := qmpReply(r, cmd == "", &entries); err != nil {
			return libxl.DiskStats{}, fmt.Errorf("disk %s: qmp %s: %w", vdev, cmd, err)
		}
	}
	for _, e := range entries {
		if e.Qdev == vdev || e.Device == vdev || strings.HasSuffix(e.Qdev, "/"+vdev) {
			st := e.Stats
			return libxl.DiskStats{RdReqs: st.RdOps, RdBytes: st.RdBytes, WrReqs: st.WrOps, WrBytes: st.WrBytes,
				FlReqs: st.FlOps, Errs: st.FailedRdOps + st.FailedWrOps + st.FailedFlOps, HasTimes: true,
				RdTime: time.Duration(st.RdTimeNs), WrTime: time.Duration(st.WrTimeNs), FlTime: time.Duration(st.FlTimeNs)}, nil
		}
	}
	return libxl.DiskStats{}, fmt.Errorf("disk %s: not among the device model's disks: %w", vdev, libxl.ErrNoStats)
}

// qmpReply reads QMP messages up to the greeting (greeting) or the command's answer, skipping events; a return
// value is decoded into out when it is a list.
func qmpReply(r *bufio.Reader, greeting bool, out *[]qmpBlockStats) error {
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return err
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(line, &m); err != nil {
			return fmt.Errorf("decode %q: %w", line, err)
		}
		switch {
		case greeting && m["QMP"] != nil:
			return nil
		case m["error"] != nil:
			return fmt.Errorf("%s", m["error"])
		case m["return"] != nil:
			if len(m["return"]) > 0 && m["return"][0] == '[' {
				return json.Unmarshal(m["return"], out)
			}
			return nil
		}
	}
}
