package remote

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/daemon/remote/rpc"
	"github.com/virtxend/virtxend/libxl"
)

// Limits of the remote protocol (remote_protocol.x).
const (
	remoteNodeMaxCells       = 1024 // REMOTE_NODE_MAX_CELLS
	remoteNodeCPUStatsMax    = 16   // REMOTE_NODE_CPU_STATS_MAX
	remoteNodeMemoryStatsMax = 16   // REMOTE_NODE_MEMORY_STATS_MAX
)

// cpuStatsAll and memoryStatsAll are VIR_NODE_CPU_STATS_ALL_CPUS and VIR_NODE_MEMORY_STATS_ALL_CELLS.
const (
	cpuStatsAll    = -1
	memoryStatsAll = -1
)

// procStat is where dom0's kernel reports cpu time (a variable for tests).
var procStat = "/proc/stat"

// clockTicksPerSec is USER_HZ, the unit of /proc/stat: 100 on every architecture Xen runs on.
const clockTicksPerSec = 100

// registerNode: the physical host's resources (virNodeGet*).
func registerNode(f *Facade, p *rpc.Program) {
	rpc.Register(p, rpc.ProcNodeGetInfo, func(ctx context.Context, _ *rpc.Call, _ *struct{}) (*libvirt.NodeGetInfoRet, error) {
		info, err := f.hostInfo(ctx)
		if err != nil {
			return nil, err
		}
		return nodeInfo(f.hostArch(), info), nil
	})
	rpc.Register(p, rpc.ProcNodeGetFreeMemory, func(ctx context.Context, _ *rpc.Call, _ *struct{}) (*libvirt.NodeGetFreeMemoryRet, error) {
		info, err := f.hostInfo(ctx)
		if err != nil {
			return nil, err
		}
		return &libvirt.NodeGetFreeMemoryRet{FreeMem: info.FreeKiB * 1024}, nil
	})
	rpc.Register(p, rpc.ProcNodeGetCellsFreeMemory, f.cellsFreeMemory)
	rpc.Register(p, rpc.ProcNodeGetMemoryStats, f.memoryStats)
	rpc.Register(p, rpc.ProcNodeGetCPUStats, f.cpuStats)
	rpc.Register(p, rpc.ProcNodeGetCPUMap, func(ctx context.Context, _ *rpc.Call, a *libvirt.NodeGetCPUMapArgs) (*libvirt.NodeGetCPUMapRet, error) {
		if err := checkHostFlags(a.Flags, 0, "libxlNodeGetCPUMap"); err != nil {
			return nil, err
		}
		info, err := f.hostInfo(ctx)
		if err != nil {
			return nil, err
		}
		return cpuMap(info.CPUs, a.NeedMap != 0, a.NeedOnline != 0), nil
	})
}

// nodeInfo is libxlDriverNodeGetInfo: libvirt reports one socket whatever the host has (sockets × cores ×
// threads × nodes need not give the cpu count on Xen).
func nodeInfo(arch string, info libxl.HostInfo) *libvirt.NodeGetInfoRet {
	ret := &libvirt.NodeGetInfoRet{
		Memory:  info.TotalKiB,
		Cpus:    int32(info.CPUs),
		Mhz:     int32(info.CPUMHz),
		Nodes:   int32(info.Nodes),
		Sockets: 1,
		Cores:   int32(info.CoresPer),
		Threads: int32(info.ThreadsPer),
	}
	for i := 0; i < len(arch) && i < len(ret.Model)-1; i++ {
		ret.Model[i] = int8(arch[i])
	}
	return ret
}

// cellsFreeMemory is libxlNodeGetCellsFreeMemory behind libvirt's argument checks: the free bytes of up to
// Maxcells NUMA nodes from StartCell on.
func (f *Facade) cellsFreeMemory(ctx context.Context, _ *rpc.Call, a *libvirt.NodeGetCellsFreeMemoryArgs) (*libvirt.NodeGetCellsFreeMemoryRet, error) {
	switch {
	case a.Maxcells > remoteNodeMaxCells:
		return nil, rpc.NewError(rpc.CodeRPC, rpc.DomainRPC, "maxCells > REMOTE_NODE_MAX_CELLS")
	case a.Maxcells <= 0:
		return nil, rpc.NewError(rpc.CodeInvalidArg, rpc.DomainNone, "maxCells in virNodeGetCellsFreeMemory must be greater than zero")
	case a.StartCell < 0:
		return nil, rpc.NewError(rpc.CodeInvalidArg, rpc.DomainNone, "startCell in virNodeGetCellsFreeMemory must be zero or greater")
	}
	info, err := f.hostInfo(ctx)
	if err != nil {
		return nil, err
	}
	topo := topologyOf(info)
	if int(a.StartCell) >= topo.Cells {
		return nil, rpc.Errorf(rpc.CodeInternalError, rpc.DomainLibxl, "start cell %d out of range (0-%d)", a.StartCell, topo.Cells-1)
	}
	ret := &libvirt.NodeGetCellsFreeMemoryRet{Cells: []uint64{}}
	for id := int(a.StartCell); id < min(int(a.StartCell)+int(a.Maxcells), topo.Cells); id++ {
		ret.Cells = append(ret.Cells, topo.node(id).FreeKiB*1024)
	}
	return ret, nil
}

// procMeminfo is where Domain-0's kernel reports its memory use.
const procMeminfo = "/proc/meminfo"

// memoryStats answers virNodeGetMemoryStats, which libvirt's libxl driver lacks, the way libvirt's Linux drivers
// do (virHostMemGetStats): for the whole host "total", "free", "buffers" and "cached" in KiB, for one NUMA node
// "total" and "free", and nparams must be exactly that many. On Xen the totals are the hypervisor's, since
// Domain-0's /proc/meminfo sees only Domain-0's memory; buffers and cached are Domain-0's page cache, the only one
// the host has, read from its /proc/meminfo as libvirt reads them.
func (f *Facade) memoryStats(ctx context.Context, _ *rpc.Call, a *libvirt.NodeGetMemoryStatsArgs) (*libvirt.NodeGetMemoryStatsRet, error) {
	if err := checkHostFlags(a.Flags, 0, "libxlNodeGetMemoryStats"); err != nil {
		return nil, err
	}
	switch {
	case a.Nparams > remoteNodeMemoryStatsMax:
		return nil, rpc.NewError(rpc.CodeInternalError, rpc.DomainRPC, "nparams too large")
	case a.Nparams < 0:
		return nil, rpc.NewError(rpc.CodeInvalidArg, rpc.DomainNone, "nparams in virNodeGetMemoryStats must be zero or greater")
	case a.CellNum < 0 && a.CellNum != memoryStatsAll:
		return nil, rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainNone, "cellNum in virNodeGetMemoryStats only accepts %d as a negative value", memoryStatsAll)
	}
	info, err := f.hostInfo(ctx)
	if err != nil {
		return nil, err
	}
	nstats := 4 // LINUX_NB_MEMORY_STATS_ALL
	total, free := info.TotalKiB, info.FreeKiB
	if a.CellNum != memoryStatsAll {
		topo := topologyOf(info)
		if int(a.CellNum) >= topo.Cells {
			return nil, rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainNone, "cellNum in virHostMemGetStats must be less than or equal to %d", topo.Cells-1)
		}
		n := topo.node(int(a.CellNum))
		total, free, nstats = n.MemKiB, n.FreeKiB, 2 // LINUX_NB_MEMORY_STATS_CELL
	}
	if a.Nparams == 0 {
		return &libvirt.NodeGetMemoryStatsRet{Params: []libvirt.NodeGetMemoryStats{}, Nparams: int32(nstats)}, nil
	}
	if int(a.Nparams) != nstats {
		return nil, rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainNone, "nparams in virHostMemGetStatsLinux must be %d", nstats)
	}
	params := []libvirt.NodeGetMemoryStats{{Field: "total", Value: total}, {Field: "free", Value: free}}
	if nstats == 2 {
		return &libvirt.NodeGetMemoryStatsRet{Params: params}, nil
	}
	cache, err := readPageCache(procMeminfo)
	if err != nil {
		return nil, err
	}
	return &libvirt.NodeGetMemoryStatsRet{Params: append(params,
		libvirt.NodeGetMemoryStats{Field: "buffers", Value: cache.buffers},
		libvirt.NodeGetMemoryStats{Field: "cached", Value: cache.cached})}, nil
}

// pageCache is the page cache of a /proc/meminfo, in KiB.
type pageCache struct{ buffers, cached uint64 }

// readPageCache reads the Buffers and Cached lines of a /proc/meminfo file.
func readPageCache(path string) (pageCache, error) {
	file, err := os.Open(path)
	if err != nil {
		return pageCache{}, rpc.Errorf(rpc.CodeSystemError, rpc.DomainNone, "cannot open %s: %v", path, err)
	}
	defer file.Close()
	var pc pageCache
	found := 0
	sc := bufio.NewScanner(file)
	for sc.Scan() && found < 2 {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		v, err := strconv.ParseUint(fields[1], 10, 64)
		if err != nil {
			continue
		}
		switch fields[0] {
		case "Buffers:":
			pc.buffers = v
			found++
		case "Cached:":
			pc.cached = v
			found++
		}
	}
	if found == 0 {
		return pageCache{}, rpc.NewError(rpc.CodeInternalError, rpc.DomainNone, "no available memory line found")
	}
	return pc, nil
}

// cpuStats answers virNodeGetCPUStats, which libvirt's libxl driver lacks, the way libvirt's Linux drivers do
// (virHostCPUGetStatsLinux): kernel (system, irq and softirq), user (with nice), idle and iowait in nanoseconds,
// read from /proc/stat. On Xen that is Domain-0's kernel: the times and the cpu numbers are Domain-0's vcpus, not
// the physical cpus the hypervisor schedules; on the simulated host they are the machine's.
func (f *Facade) cpuStats(_ context.Context, _ *rpc.Call, a *libvirt.NodeGetCPUStatsArgs) (*libvirt.NodeGetCPUStatsRet, error) {
	const nstats = 4
	if err := checkHostFlags(a.Flags, 0, "libxlNodeGetCPUStats"); err != nil {
		return nil, err
	}
	switch {
	case a.Nparams > remoteNodeCPUStatsMax:
		return nil, rpc.NewError(rpc.CodeInternalError, rpc.DomainRPC, "nparams too large")
	case a.Nparams < 0:
		return nil, rpc.NewError(rpc.CodeInvalidArg, rpc.DomainNone, "nparams in virNodeGetCPUStats must be zero or greater")
	case a.CPUNum < 0 && a.CPUNum != cpuStatsAll:
		return nil, rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainNone, "cpuNum in virNodeGetCPUStats only accepts %d as a negative value", cpuStatsAll)
	}
	ticks, err := readCPUTicks(procStat, int(a.CPUNum))
	if err != nil {
		return nil, err
	}
	if a.Nparams == 0 {
		return &libvirt.NodeGetCPUStatsRet{Params: []libvirt.NodeGetCPUStats{}, Nparams: nstats}, nil
	}
	if a.Nparams < nstats {
		return nil, rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainNone, "nparams in virHostCPUGetStatsLinux must be equal or larger than %d", nstats)
	}
	ns := func(t uint64) uint64 { return t * (1_000_000_000 / clockTicksPerSec) }
	return &libvirt.NodeGetCPUStatsRet{Params: []libvirt.NodeGetCPUStats{
		{Field: "kernel", Value: ns(ticks.system + ticks.irq + ticks.softirq)},
		{Field: "user", Value: ns(ticks.user + ticks.nice)},
		{Field: "idle", Value: ns(ticks.idle)},
		{Field: "iowait", Value: ns(ticks.iowait)},
	}}, nil
}

// cpuTicks is one cpu line of /proc/stat, in clock ticks.
type cpuTicks struct{ user, nice, system, idle, iowait, irq, softirq uint64 }

// readCPUTicks reads the line of cpu (cpuStatsAll: the "cpu" line, the sum of all cpus) from a /proc/stat file.
func readCPUTicks(path string, cpu int) (cpuTicks, error) {
	prefix := "cpu "
	if cpu != cpuStatsAll {
		prefix = fmt.Sprintf("cpu%d ", cpu)
	}
	file, err := os.Open(path)
	if err != nil {
		return cpuTicks{}, rpc.Errorf(rpc.CodeSystemError, rpc.DomainNone, "cannot open %s: %v", path, err)
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		var v [7]uint64
		fields := strings.Fields(line)[1:]
		n := 0
		for ; n < len(v) && n < len(fields); n++ {
			x, err := strconv.ParseUint(fields[n], 10, 64)
			if err != nil {
				break
			}
			v[n] = x
		}
		if n < 4 {
			continue
		}
		return cpuTicks{user: v[0], nice: v[1], system: v[2], idle: v[3], iowait: v[4], irq: v[5], softirq: v[6]}, nil
	}
	return cpuTicks{}, rpc.NewError(rpc.CodeInvalidArg, rpc.DomainNone, "Invalid cpuNum in virHostCPUGetStatsLinux")
}

// cpuMap is virNodeGetCPUMap for a host whose cpus are all online: the map has one bit per cpu, lowest first.
func cpuMap(cpus int, needMap, needOnline bool) *libvirt.NodeGetCPUMapRet {
	ret := &libvirt.NodeGetCPUMapRet{Ret: int32(cpus)}
	if needMap {
		ret.Cpumap = make([]byte, (cpus+7)/8)
		for i := range cpus {
			ret.Cpumap[i/8] |= 1 << (i % 8)
		}
	}
	if needOnline {
		ret.Online = uint32(cpus)
	}
	return ret
}

// hostTopology is the host as libxl_get_numainfo and libxl_get_cpu_topology describe it.
type hostTopology struct {
	// Nodes are the NUMA nodes with memory, by ascending id; Cells is one more than the largest node id.
	Nodes []numaNode
	Cells int
}

// numaNode is one NUMA node: its memory, its free memory and its cpus.
type numaNode struct {
	ID              int
	MemKiB, FreeKiB uint64
	// Distances are the node's distances to every node, by node id (10 to itself).
	Distances []int
	CPUs      []hostCPU
}

// hostCPU is one physical cpu.
type hostCPU struct {
	ID, Socket, Core int
	// Siblings are the cpus of the same core (hyperthreads), the cpu itself included.
	Siblings []int
}

// topologyOf is the host's layout. When the hypervisor reports its NUMA nodes and cpus, it is built from them
// as libxlCapsInitNuma does: each node with memory, its present cpus, and as siblings of a cpu the cpus of the
// node on the same socket and core. Otherwise it is laid out from HostInfo the way Xen numbers a host: cpus fill
// the nodes in order, cores their sockets and threads their cores; memory (total and free) is spread evenly.
func topologyOf(info libxl.HostInfo) hostTopology {
	if len(info.NUMA) > 0 {
		return reportedTopology(info)
	}
	nodes := max(info.Nodes, 1)
	threads := max(info.ThreadsPer, 1)
	cores := max(info.CoresPer, 1)
	t := hostTopology{Nodes: make([]numaNode, nodes), Cells: nodes}
	for n := range t.Nodes {
		node := &t.Nodes[n]
		node.ID = n
		node.MemKiB = evenShare(info.TotalKiB, nodes, n)
		node.FreeKiB = evenShare(info.FreeKiB, nodes, n)
		node.Distances = make([]int, nodes)
		for m := range node.Distances {
			node.Distances[m] = 20
		}
		node.Distances[n] = 10
	}
	cpus := max(info.CPUs, 0)
	for i := range cpus {
		node := &t.Nodes[i*nodes/cpus]
		node.CPUs = append(node.CPUs, hostCPU{ID: i, Socket: i / (cores * threads), Core: (i / threads) % cores})
	}
	t.findSiblings()
	return t
}

// reportedTopology is topologyOf for a host whose NUMA nodes and cpus the hypervisor reported.
func reportedTopology(info libxl.HostInfo) hostTopology {
	t := hostTopology{Nodes: make([]numaNode, len(info.NUMA)), Cells: info.Nodes}
	at := map[int]int{} // node id -> index in t.Nodes
	for i, n := range info.NUMA {
		t.Nodes[i] = numaNode{ID: n.ID, MemKiB: n.MemKiB, FreeKiB: n.FreeKiB, Distances: n.Distances}
		at[n.ID] = i
		t.Cells = max(t.Cells, n.ID+1)
	}
	for _, c := range info.CPUPlaces {
		if i, ok := at[c.Node]; ok {
			t.Nodes[i].CPUs = append(t.Nodes[i].CPUs, hostCPU{ID: c.CPU, Socket: c.Socket, Core: c.Core})
		}
	}
	t.findSiblings()
	return t
}

// node is the node of that id; a node without memory (not in Nodes) has no memory and no cpus, as libvirt
// reports it.
func (t hostTopology) node(id int) numaNode {
	for _, n := range t.Nodes {
		if n.ID == id {
			return n
		}
	}
	return numaNode{ID: id}
}

// findSiblings gives each cpu as siblings the cpus of its node on the same socket and core, itself included.
func (t hostTopology) findSiblings() {
	for n := range t.Nodes {
		cs := t.Nodes[n].CPUs
		for i := range cs {
			for _, c := range cs {
				if c.Socket == cs[i].Socket && c.Core == cs[i].Core {
					cs[i].Siblings = append(cs[i].Siblings, c.ID)
				}
			}
		}
	}
}

// evenShare is node i's part of total split over n nodes, the remainder going to the first nodes.
func evenShare(total uint64, n, i int) uint64 {
	share := total / uint64(n)
	if uint64(i) < total%uint64(n) {
		share++
	}
	return share
}

// formatCPUSet is virBitmapFormat for a sorted list: ranges as "a-b", separated by commas.
func formatCPUSet(ids []int) string {
	var b strings.Builder
	for i := 0; i < len(ids); {
		j := i
		for j+1 < len(ids) && ids[j+1] == ids[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if j > i {
			fmt.Fprintf(&b, "%d-%d", ids[i], ids[j])
		} else {
			fmt.Fprintf(&b, "%d", ids[i])
		}
		i = j + 1
	}
	return b.String()
}

// hostInfo asks the hypervisor about the host, as libxl_get_physinfo.
func (f *Facade) hostInfo(ctx context.Context) (libxl.HostInfo, error) {
	info, err := f.HV.HostInfo(ctx)
	if err != nil {
		return libxl.HostInfo{}, rpc.Errorf(rpc.CodeInternalError, rpc.DomainLibxl, "libxl_get_physinfo_info failed: %v", err)
	}
	return info, nil
}

// hostArch is virArchFromHost: the architecture Domain-0 runs, in libvirt's spelling.
func (f *Facade) hostArch() string {
	if f.Facts.Arch != "" {
		return f.Facts.Arch
	}
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "386":
		return "i686"
	case "arm64":
		return "aarch64"
	case "arm":
		return "armv7l"
	}
	return runtime.GOARCH
}

// checkHostFlags is virCheckFlags: flags outside allowed fail with libvirt's message naming the driver function.
func checkHostFlags(flags, allowed uint32, function string) error {
	if extra := flags &^ allowed; extra != 0 {
		return rpc.ErrInvalidFlags(rpc.DomainLibxl, extra, function)
	}
	return nil
}
