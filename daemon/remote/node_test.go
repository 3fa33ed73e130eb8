package remote

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/libxl"
)

func TestNodeGetInfo(t *testing.T) {
	e := startHostEnv(t, hostSimOptions(t))
	l := e.dial(e.Sock)
	model, mem, cpus, mhz, nodes, sockets, cores, threads, err := l.NodeGetInfo()
	if err != nil {
		t.Fatal(err)
	}
	var name []byte
	for _, c := range model {
		if c == 0 {
			break
		}
		name = append(name, byte(c))
	}
	info, _ := e.HV.HostInfo(context.Background())
	if string(name) != "x86_64" || mem != 16<<20 || cpus != 8 || mhz != int32(info.CPUMHz) || nodes != 2 ||
		sockets != 1 || cores != 4 || threads != 1 {
		t.Errorf("NodeGetInfo = %q %d KiB, %d cpus, %d MHz, %d nodes, %d sockets, %d cores, %d threads",
			name, mem, cpus, mhz, nodes, sockets, cores, threads)
	}
}

func TestNodeFreeMemory(t *testing.T) {
	e := startHostEnv(t, hostSimOptions(t))
	l := e.dial(e.Sock)
	free, err := l.NodeGetFreeMemory()
	// The simulated Domain-0 holds 2 GiB of the 16.
	if want := uint64(14<<20) * 1024; err != nil || free != want {
		t.Fatalf("NodeGetFreeMemory = %d, %v; want %d", free, err, want)
	}
	cells, err := l.NodeGetCellsFreeMemory(0, 8)
	if want := []uint64{7 << 30, 7 << 30}; err != nil || !reflect.DeepEqual(cells, want) {
		t.Errorf("NodeGetCellsFreeMemory(0, 8) = %v, %v; want %v", cells, err, want)
	}
	cells, err = l.NodeGetCellsFreeMemory(1, 1)
	if err != nil || len(cells) != 1 {
		t.Errorf("NodeGetCellsFreeMemory(1, 1) = %v, %v", cells, err)
	}
	_, err = l.NodeGetCellsFreeMemory(2, 1)
	wantHostErr(t, err, libvirt.ErrInternalError, "internal error: start cell 2 out of range (0-1)")
	_, err = l.NodeGetCellsFreeMemory(0, 0)
	wantHostErr(t, err, libvirt.ErrInvalidArg, "invalid argument: maxCells in virNodeGetCellsFreeMemory must be greater than zero")
	_, err = l.NodeGetCellsFreeMemory(0, 2000)
	wantHostErr(t, err, libvirt.ErrRPC, "maxCells > REMOTE_NODE_MAX_CELLS")
}

func TestNodeMemoryStats(t *testing.T) {
	e := startHostEnv(t, hostSimOptions(t))
	l := e.dial(e.Sock)
	params, n, err := l.NodeGetMemoryStats(0, -1, 0)
	if err != nil || n != 4 || len(params) != 0 {
		t.Fatalf("NodeGetMemoryStats(0) = %v, %d, %v", params, n, err)
	}
	params, _, err = l.NodeGetMemoryStats(n, -1, 0)
	var fields []string
	for _, p := range params {
		fields = append(fields, p.Field)
	}
	if err != nil || len(params) != 4 || params[0].Value != 16<<20 || params[1].Value != 14<<20 ||
		strings.Join(fields, " ") != "total free buffers cached" {
		t.Errorf("NodeGetMemoryStats(all cells) = %v, %v; want total 16 GiB, free 14 GiB, buffers, cached", params, err)
	}
	params, _, err = l.NodeGetMemoryStats(2, 1, 0)
	want := []libvirt.NodeGetMemoryStats{{Field: "total", Value: 8 << 20}, {Field: "free", Value: 7 << 20}}
	if err != nil || !reflect.DeepEqual(params, want) {
		t.Errorf("NodeGetMemoryStats(cell 1) = %v, %v; want %v", params, err, want)
	}
	_, _, err = l.NodeGetMemoryStats(4, 1, 0)
	wantHostErr(t, err, libvirt.ErrInvalidArg, "invalid argument: nparams in virHostMemGetStatsLinux must be 2")
	_, _, err = l.NodeGetMemoryStats(2, -1, 0)
	wantHostErr(t, err, libvirt.ErrInvalidArg, "invalid argument: nparams in virHostMemGetStatsLinux must be 4")
	_, _, err = l.NodeGetMemoryStats(2, 2, 0)
	wantHostErr(t, err, libvirt.ErrInvalidArg, "invalid argument: cellNum in virHostMemGetStats must be less than or equal to 1")
	_, _, err = l.NodeGetMemoryStats(2, -1, 4)
	wantHostErr(t, err, libvirt.ErrInvalidArg, "invalid argument: unsupported flags (0x4) in function libxlNodeGetMemoryStats")
}

func TestReadPageCache(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meminfo")
	meminfo := "MemTotal:       16316412 kB\nMemFree:         1180636 kB\nMemAvailable:   11502216 kB\n" +
		"Buffers:          700876 kB\nCached:          9429716 kB\nSwapCached:        10240 kB\n"
	if err := os.WriteFile(path, []byte(meminfo), 0o644); err != nil {
		t.Fatal(err)
	}
	pc, err := readPageCache(path)
	if err != nil || pc != (pageCache{buffers: 700876, cached: 9429716}) {
		t.Errorf("readPageCache = %+v, %v", pc, err)
	}
	if _, err := readPageCache(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("readPageCache of a missing file succeeded")
	}
}

const fakeProcStat = `cpu  100 5 40 1000 7 2 3 0 0 0
cpu0 60 5 20 500 3 1 2 0 0 0
cpu1 40 0 20 500 4 1 1 0 0 0
intr 12345
`

func TestNodeCPUStats(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stat")
	if err := os.WriteFile(path, []byte(fakeProcStat), 0o644); err != nil {
		t.Fatal(err)
	}
	old := procStat
	t.Cleanup(func() { procStat = old })
	procStat = path
	e := startHostEnv(t, hostSimOptions(t))
	l := e.dial(e.Sock)

	params, n, err := l.NodeGetCPUStats(-1, 0, 0)
	if err != nil || n != 4 || len(params) != 0 {
		t.Fatalf("NodeGetCPUStats(nparams 0) = %v, %d, %v", params, n, err)
	}
	const tick = 10_000_000 // ns per USER_HZ tick
	for _, tc := range []struct {
		cpu  int32
		want []libvirt.NodeGetCPUStats
	}{
		{-1, []libvirt.NodeGetCPUStats{{Field: "kernel", Value: 45 * tick}, {Field: "user", Value: 105 * tick},
			{Field: "idle", Value: 1000 * tick}, {Field: "iowait", Value: 7 * tick}}},
		{1, []libvirt.NodeGetCPUStats{{Field: "kernel", Value: 22 * tick}, {Field: "user", Value: 40 * tick},
			{Field: "idle", Value: 500 * tick}, {Field: "iowait", Value: 4 * tick}}},
	} {
		params, _, err := l.NodeGetCPUStats(tc.cpu, n, 0)
		if err != nil || !reflect.DeepEqual(params, tc.want) {
			t.Errorf("NodeGetCPUStats(cpu %d) = %v, %v; want %v", tc.cpu, params, err, tc.want)
		}
	}
	_, _, err = l.NodeGetCPUStats(7, 4, 0)
	wantHostErr(t, err, libvirt.ErrInvalidArg, "invalid argument: Invalid cpuNum in virHostCPUGetStatsLinux")
	_, _, err = l.NodeGetCPUStats(-2, 4, 0)
	wantHostErr(t, err, libvirt.ErrInvalidArg, "invalid argument: cpuNum in virNodeGetCPUStats only accepts -1 as a negative value")
	_, _, err = l.NodeGetCPUStats(-1, 2, 0)
	wantHostErr(t, err, libvirt.ErrInvalidArg, "invalid argument: nparams in virHostCPUGetStatsLinux must be equal or larger than 4")
	_, _, err = l.NodeGetCPUStats(-1, 17, 0)
	wantHostErr(t, err, libvirt.ErrInternalError, "internal error: nparams too large")
}

func TestNodeCPUMap(t *testing.T) {
	opts := hostSimOptions(t)
	opts.CPUs, opts.Nodes = 10, 1
	e := startHostEnv(t, opts)
	l := e.dial(e.Sock)
	m, online, n, err := l.NodeGetCPUMap(1, 1, 0)
	if err != nil || n != 10 || online != 10 || !reflect.DeepEqual(m, []byte{0xff, 0x03}) {
		t.Errorf("NodeGetCPUMap = %x, %d online, %d, %v", m, online, n, err)
	}
	m, online, n, err = l.NodeGetCPUMap(0, 0, 0)
	if err != nil || n != 10 || online != 0 || len(m) != 0 {
		t.Errorf("NodeGetCPUMap(count only) = %x, %d online, %d, %v", m, online, n, err)
	}
	_, _, _, err = l.NodeGetCPUMap(0, 0, 1)
	wantHostErr(t, err, libvirt.ErrInvalidArg, "invalid argument: unsupported flags (0x1) in function libxlNodeGetCPUMap")
}

func TestNodeTopology(t *testing.T) {
	topo := topologyOf(libxl.HostInfo{Nodes: 2, CPUs: 8, CoresPer: 2, ThreadsPer: 2, TotalKiB: 1001, FreeKiB: 11})
	type cpu struct{ id, node, socket, core int }
	var got []cpu
	for _, n := range topo.Nodes {
		for _, c := range n.CPUs {
			got = append(got, cpu{c.ID, n.ID, c.Socket, c.Core})
		}
	}
	want := []cpu{{0, 0, 0, 0}, {1, 0, 0, 0}, {2, 0, 0, 1}, {3, 0, 0, 1}, {4, 1, 1, 0}, {5, 1, 1, 0}, {6, 1, 1, 1}, {7, 1, 1, 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cpus %v, want %v", got, want)
	}
	if s := topo.Nodes[1].CPUs[2].Siblings; !reflect.DeepEqual(s, []int{6, 7}) {
		t.Errorf("siblings of cpu 6 = %v", s)
	}
	if a, b := topo.Nodes[0], topo.Nodes[1]; a.MemKiB != 501 || b.MemKiB != 500 || a.FreeKiB+b.FreeKiB != 11 {
		t.Errorf("memory split %d/%d, free %d/%d", a.MemKiB, b.MemKiB, a.FreeKiB, b.FreeKiB)
	}
	if empty := topologyOf(libxl.HostInfo{}); len(empty.Nodes) != 1 || len(empty.Nodes[0].CPUs) != 0 {
		t.Errorf("a host without cpus: %+v", empty)
	}
}

// A host whose hypervisor reports its nodes: node 1 has no memory (Xen leaves it out), the cpus of nodes 0 and 2
// interleave, cpu 5 is offline (absent), the distances are Xen's.
var hostReported = libxl.HostInfo{Nodes: 3, CPUs: 5, CoresPer: 2, ThreadsPer: 1, TotalKiB: 3 << 20, FreeKiB: 1 << 20,
	Capabilities: "xen-3.0-x86_64",
	NUMA: []libxl.NUMANode{
		{ID: 0, MemKiB: 2 << 20, FreeKiB: 700 << 10, Distances: []int{10, 21, 32}},
		{ID: 2, MemKiB: 1 << 20, FreeKiB: 324 << 10, Distances: []int{32, 21, 10}},
	},
	CPUPlaces: []libxl.CPUPlace{{CPU: 0, Core: 0, Node: 0}, {CPU: 1, Core: 0, Socket: 1, Node: 2}, {CPU: 2, Core: 1, Node: 0},
		{CPU: 3, Core: 1, Socket: 1, Node: 2}, {CPU: 4, Core: 1, Socket: 1, Node: 2}},
}

func TestNodeTopologyReported(t *testing.T) {
	topo := topologyOf(hostReported)
	if topo.Cells != 3 || len(topo.Nodes) != 2 || topo.Nodes[1].ID != 2 || topo.Nodes[1].MemKiB != 1<<20 ||
		topo.Nodes[0].FreeKiB != 700<<10 || !reflect.DeepEqual(topo.Nodes[1].Distances, []int{32, 21, 10}) {
		t.Fatalf("topology %+v", topo)
	}
	type cpu struct{ id, socket, core int }
	var got [][]cpu
	for _, n := range topo.Nodes {
		var cs []cpu
		for _, c := range n.CPUs {
			cs = append(cs, cpu{c.ID, c.Socket, c.Core})
		}
		got = append(got, cs)
	}
	if want := [][]cpu{{{0, 0, 0}, {2, 0, 1}}, {{1, 1, 0}, {3, 1, 1}, {4, 1, 1}}}; !reflect.DeepEqual(got, want) {
		t.Errorf("cpus by node %v, want %v", got, want)
	}
	if s := topo.Nodes[1].CPUs[2].Siblings; !reflect.DeepEqual(s, []int{3, 4}) {
		t.Errorf("siblings of cpu 4 = %v", s)
	}
	if n := topo.node(1); n.ID != 1 || n.MemKiB != 0 || n.FreeKiB != 0 || len(n.CPUs) != 0 {
		t.Errorf("the node without memory: %+v", n)
	}
	if n := topo.node(2); n.FreeKiB != 324<<10 {
		t.Errorf("node 2: %+v", n)
	}
	caps := formatCapabilities("x86_64", hostReported)
	for _, want := range []string{"<cells num='2'>", "<cell id='2'>", "<memory unit='KiB'>1048576</memory>",
		"<sibling id='2' value='32'/>", "<cpu id='4' socket_id='1' die_id='0' cluster_id='0' core_id='1' siblings='3-4'/>"} {
		if !strings.Contains(caps, want) {
			t.Errorf("capabilities lack %q:\n%s", want, caps)
		}
	}
	validateHostXML(t, "capability.rng", patchCapabilitySchema, caps)
}

func TestNodeFormatCPUSet(t *testing.T) {
	for _, tc := range []struct {
		ids  []int
		want string
	}{
		{nil, ""}, {[]int{0}, "0"}, {[]int{0, 1}, "0-1"}, {[]int{0, 2, 3, 4, 7}, "0,2-4,7"},
	} {
		if got := formatCPUSet(tc.ids); got != tc.want {
			t.Errorf("formatCPUSet(%v) = %q, want %q", tc.ids, got, tc.want)
		}
	}
}
