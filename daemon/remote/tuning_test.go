package remote

import (
	"os"
	"strings"
	"testing"

	"github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/daemon/remote/rpc"
	"github.com/virtxend/virtxend/libxl"
)

func TestTuningMemory(t *testing.T) {
	e := newTxEnv(t)
	web := e.add("web", "define", true)
	off := e.add("off", "define", false)
	tmp := e.add("tmp", "transient", true)
	file := e.add("file", "file", true)

	// Live: the balloon moves, NAME.xml keeps the persistent value.
	if err := e.L.DomainSetMemoryFlags(web, 256<<10, 0); err != nil {
		t.Fatal(err)
	}
	if i := e.info("web"); i.TargetKiB != 256<<10 || i.MaxMemKiB != 512<<10 {
		t.Errorf("after setmem: target %d max %d", i.TargetKiB, i.MaxMemKiB)
	}
	if xml, _ := os.ReadFile(e.Defines.Path("web")); !strings.Contains(string(xml), "<currentMemory unit='KiB'>524288<") {
		t.Errorf("a live change reached web.xml:\n%s", xml)
	}
	// Config: NAME.xml too.
	if err := e.L.DomainSetMemoryFlags(web, 384<<10, affectLive|affectConfig); err != nil {
		t.Fatal(err)
	}
	if xml, _ := os.ReadFile(e.Defines.Path("web")); !strings.Contains(string(xml), "<currentMemory unit='KiB'>393216<") {
		t.Errorf("web.xml lacks the new balloon:\n%s", xml)
	}
	// The ceiling, live: raised without moving the balloon; not below the balloon.
	if err := e.L.DomainSetMemoryFlags(web, 1<<20, memMaximum); err != nil {
		t.Fatal(err)
	}
	if i := e.info("web"); i.MaxMemKiB != 1<<20 || i.TargetKiB != 384<<10 {
		t.Errorf("after setmaxmem: target %d max %d", i.TargetKiB, i.MaxMemKiB)
	}
	txWantErr(t, e.L.DomainSetMemoryFlags(web, 128<<10, memMaximum), libvirt.ErrInternalError, "Failed to set maximum memory")
	// Config of an inactive domain: lowering the ceiling lowers the balloon.
	if err := e.L.DomainSetMemoryFlags(off, 256<<10, memMaximum); err != nil {
		t.Fatal(err)
	}
	if s := e.get("off").Spec.Domain; s.Memory.Value() != 256<<20 || s.CurrentMemory.Value() != 256<<20 {
		t.Errorf("off: memory %s current %s", s.Memory.String(), s.CurrentMemory.String())
	}
	if got, err := e.L.DomainGetMaxMemory(off); err != nil || got != 256<<10 {
		t.Errorf("max memory %d, %v", got, err)
	}

	for _, tc := range []struct {
		name  string
		dom   libvirt.Domain
		kib   uint64
		flags uint32
		code  libvirt.ErrorNumber
		msg   string
	}{
		{"above max", web, 2 << 20, 0, libvirt.ErrInvalidArg, "cannot set memory higher than max memory"},
		{"above max config", off, 300 << 10, affectConfig, libvirt.ErrInvalidArg, "cannot set memory higher than max memory"},
		{"live inactive", off, 128 << 10, affectLive, libvirt.ErrOperationInvalid, "domain is not running"},
		{"transient config", tmp, 128 << 10, affectConfig, libvirt.ErrOperationInvalid, "transient domains do not have any persistent config"},
		{"drop-in", file, 128 << 10, 0, libvirt.ErrOperationInvalid, "/etc/virtxend/domains.d/file.yaml"},
		{"flags", web, 128 << 10, 1 << 4, libvirt.ErrInvalidArg, "unsupported flags (0x10) in function libxlDomainSetMemoryFlags"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			txWantErr(t, e.L.DomainSetMemoryFlags(tc.dom, tc.kib, tc.flags), tc.code, tc.msg)
		})
	}
	// A transient domain changes live.
	if err := e.L.DomainSetMemory(tmp, 200<<10); err != nil {
		t.Fatal(err)
	}
	if i := e.info("tmp"); i.TargetKiB != 200<<10 {
		t.Errorf("tmp target %d", i.TargetKiB)
	}
}

func TestTuningVcpus(t *testing.T) {
	e := newTxEnv(t)
	web := e.add("web", "define", true)
	off := e.add("off", "define", false)

	if err := e.L.DomainSetVcpusFlags(web, 3, affectLive); err != nil {
		t.Fatal(err)
	}
	if i := e.info("web"); i.OnlineVcpus != 3 {
		t.Errorf("online vcpus %d", i.OnlineVcpus)
	}
	// A live change reaches the live definition only: not the config view, not web.xml.
	if xml, _ := os.ReadFile(e.Defines.Path("web")); !strings.Contains(string(xml), "<vcpu placement='static' current='2'>4</vcpu>") {
		t.Errorf("web.xml:\n%s", xml)
	}
	for _, tc := range []struct {
		flags uint32
		want  int32
	}{{0, 3}, {affectLive, 3}, {affectLive | vcpuMaximum, 4}, {affectConfig, 2}, {affectConfig | vcpuMaximum, 4}} {
		if n, err := e.L.DomainGetVcpusFlags(web, tc.flags); err != nil || n != tc.want {
			t.Errorf("GetVcpusFlags(0x%x) = %d, %v; want %d", tc.flags, n, err, tc.want)
		}
	}
	if n, err := e.L.DomainGetMaxVcpus(web); err != nil || n != 4 {
		t.Errorf("GetMaxVcpus = %d, %v", n, err)
	}
	// Config of an inactive domain: the count, then the online vcpus.
	if err := e.L.DomainSetVcpusFlags(off, 3, affectConfig|vcpuMaximum); err != nil {
		t.Fatal(err)
	}
	if v := e.get("off").Spec.Domain.VCPU; v.Count != 3 || v.Current == nil || *v.Current != 2 {
		t.Errorf("off vcpu %+v", v)
	}
	if err := e.L.DomainSetVcpusFlags(off, 3, affectConfig); err != nil {
		t.Fatal(err)
	}
	if v := e.get("off").Spec.Domain.VCPU; v.Count != 3 || v.Current != nil {
		t.Errorf("off vcpu %+v", v)
	}
	if xml, _ := os.ReadFile(e.Defines.Path("off")); !strings.Contains(string(xml), "<vcpu placement='static'>3</vcpu>") {
		t.Errorf("off.xml:\n%s", xml)
	}

	for _, tc := range []struct {
		name  string
		dom   libvirt.Domain
		n     uint32
		flags uint32
		code  libvirt.ErrorNumber
		msg   string
	}{
		{"no flags", web, 2, 0, libvirt.ErrInvalidArg, "invalid flag combination: (0x0)"},
		{"maximum live", web, 2, affectLive | vcpuMaximum, libvirt.ErrInvalidArg, "invalid flag combination: (0x5)"},
		{"zero", web, 0, affectLive, libvirt.ErrInvalidArg, "nvcpus is zero"},
		{"above max", web, 5, affectLive, libvirt.ErrInvalidArg, "requested vcpus is greater than max allowable vcpus for the domain: 5 > 4"},
		{"above host", off, 9, affectConfig | vcpuMaximum, libvirt.ErrInvalidArg, "9 > 8"},
		{"inactive", off, 2, affectLive, libvirt.ErrOperationInvalid, "cannot set vcpus on an inactive domain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			txWantErr(t, e.L.DomainSetVcpusFlags(tc.dom, tc.n, tc.flags), tc.code, tc.msg)
		})
	}
	_, err := e.L.DomainGetVcpusFlags(web, affectLive|affectConfig)
	txWantErr(t, err, libvirt.ErrInvalidArg, "invalid flag combination: (0x3)")
	_, err = e.L.DomainGetVcpusFlags(off, affectLive)
	txWantErr(t, err, libvirt.ErrOperationInvalid, "Domain is not running")
}

func TestTuningVcpuInfoAndPins(t *testing.T) {
	e := newTxEnv(t)
	web := e.add("web", "define", true)

	info, maps, err := e.L.DomainGetVcpus(web, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(info) != 2 || len(maps) != 2 || maps[0] != 0xff || info[1].Number != 1 || info[0].State != vcpuRunning {
		t.Errorf("vcpus %+v maps %x", info, maps)
	}
	// Pinning vcpu 1 to cpu 2, live: the hypervisor has it, NAME.xml does not.
	if err := e.L.DomainPinVcpu(web, 1, []byte{0x04}); err != nil {
		t.Fatal(err)
	}
	vi, err := e.HV.VcpuInfo(e.ctx, e.info("web").DomID)
	if err != nil || len(vi[1].Affinity) != 1 || vi[1].Affinity[0] != 2 {
		t.Errorf("affinity %+v, %v", vi, err)
	}
	maps, n, err := e.L.DomainGetVcpuPinInfo(web, 4, 1, 0)
	if err != nil || n != 4 || maps[0] != 0xff || maps[1] != 0x04 {
		t.Errorf("live pin info %x (%d), %v", maps, n, err)
	}
	// The config view is the persistent definition: neither it nor web.xml holds the live pin.
	maps, _, err = e.L.DomainGetVcpuPinInfo(web, 4, 1, affectConfig)
	if xml, _ := os.ReadFile(e.Defines.Path("web")); err != nil || maps[1] != 0xff || strings.Contains(string(xml), "vcpupin") {
		t.Errorf("config pin info %x, %v; web.xml:\n%s", maps, err, xml)
	}
	// Config: the pin is a <vcpupin> of web.xml, which does not take the live-only pin along.
	if err := e.L.DomainPinVcpuFlags(web, 0, []byte{0x03}, affectConfig); err != nil {
		t.Fatal(err)
	}
	if xml, _ := os.ReadFile(e.Defines.Path("web")); !strings.Contains(string(xml), "<vcpupin vcpu='0' cpuset='0-1'/>") ||
		strings.Contains(string(xml), "<vcpupin vcpu='1'") {
		t.Errorf("web.xml:\n%s", xml)
	}
	txWantErr(t, e.L.DomainPinVcpu(web, 3, []byte{0x01}), libvirt.ErrInvalidArg, "vcpu '3' is not active")
	txWantErr(t, e.L.DomainPinVcpu(web, 0, []byte{0x00}), libvirt.ErrInvalidArg, "Empty cpu list for pinning")
	_, _, err = e.L.DomainGetVcpus(web, maxVcpuInfo+1, 1)
	txWantErr(t, err, libvirt.ErrInternalError, "REMOTE_VCPUINFO_MAX")
	_, _, err = e.L.DomainGetVcpuPinInfo(web, 1024, 1<<14, 0)
	txWantErr(t, err, libvirt.ErrInternalError, "REMOTE_CPUMAPS_MAX")
}

func TestTuningScheduler(t *testing.T) {
	e := newTxEnv(t)
	web := e.add("web", "define", true)
	off := e.add("off", "define", false)

	typ, n, err := e.L.DomainGetSchedulerType(web)
	if err != nil || typ != "credit" || n != 2 {
		t.Fatalf("scheduler %q %d, %v", typ, n, err)
	}
	params, err := e.L.DomainGetSchedulerParametersFlags(web, 2, 0)
	if err != nil || len(params) != 2 || params[0].Field != "weight" || params[0].Value.I != uint32(256) ||
		params[1].Field != "cap" || params[1].Value.I != uint32(0) {
		t.Fatalf("parameters %+v, %v", params, err)
	}
	if err := e.L.DomainSetSchedulerParametersFlags(web, []libvirt.TypedParam{rpc.NewTypedParam("weight", rpc.TypedParamUint, 512)}, 0); err != nil {
		t.Fatal(err)
	}
	// As in libvirt, the weight is set on the running domain only: no definition records it.
	if s := e.get("web").Spec.Domain.CPUTune; s != nil && s.Shares != nil {
		t.Errorf("cputune %+v", s)
	}
	if params, _ := e.L.DomainGetSchedulerParametersFlags(web, 1, 0); len(params) != 1 || params[0].Value.I != uint32(512) {
		t.Errorf("parameters %+v", params)
	}
	// Applied to the running domain, not only to its next start.
	if sp, err := e.HV.SchedParams(e.ctx, libxl.DomID(web.ID)); err != nil || sp.Weight != 512 {
		t.Errorf("the hypervisor has %+v, %v; want weight 512", sp, err)
	}
	// The cap goes to the running domain only (libvirt's XML has no cap); setting one parameter keeps the other.
	if err := e.L.DomainSetSchedulerParametersFlags(web, []libvirt.TypedParam{rpc.NewTypedParam("cap", rpc.TypedParamUint, 150)}, 0); err != nil {
		t.Fatal(err)
	}
	if sp, err := e.HV.SchedParams(e.ctx, libxl.DomID(web.ID)); err != nil || sp != (libxl.SchedParams{Weight: 512, Cap: 150}) {
		t.Errorf("after cap=150 the hypervisor has %+v, %v; want weight 512, cap 150", sp, err)
	}
	if err := e.L.DomainSetSchedulerParametersFlags(web, []libvirt.TypedParam{rpc.NewTypedParam("weight", rpc.TypedParamUint, 1024)}, 0); err != nil {
		t.Fatal(err)
	}
	e.eventually("weight 1024 applied", func() bool {
		sp, err := e.HV.SchedParams(e.ctx, libxl.DomID(web.ID))
		return err == nil && sp == (libxl.SchedParams{Weight: 1024, Cap: 150})
	})
	if params, _ := e.L.DomainGetSchedulerParametersFlags(web, 2, 0); len(params) != 2 || params[1].Value.I != uint32(150) {
		t.Errorf("parameters %+v", params)
	}
	for _, tc := range []struct {
		name   string
		params []libvirt.TypedParam
		code   libvirt.ErrorNumber
		msg    string
	}{
		{"cap over 100 per vcpu", []libvirt.TypedParam{rpc.NewTypedParam("cap", rpc.TypedParamUint, 100*4+1)}, libvirt.ErrInternalError, "cap 401 out of range 0..400 for 4 vcpus"},
		{"cap", []libvirt.TypedParam{rpc.NewTypedParam("cap", rpc.TypedParamUint, 1<<16)}, libvirt.ErrInvalidArg, "cap 65536 is out of range"},
		{"unknown", []libvirt.TypedParam{rpc.NewTypedParam("limit", rpc.TypedParamUint, 50)}, libvirt.ErrArgumentUnsupported, "parameter 'limit' not supported"},
		{"type", []libvirt.TypedParam{rpc.NewTypedParam("weight", rpc.TypedParamULLong, 50)}, libvirt.ErrInvalidArg, "invalid type 'ullong' for parameter 'weight', expected 'uint'"},
		{"range", []libvirt.TypedParam{rpc.NewTypedParam("weight", rpc.TypedParamUint, 0)}, libvirt.ErrInvalidArg, "out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			txWantErr(t, e.L.DomainSetSchedulerParametersFlags(web, tc.params, 0), tc.code, tc.msg)
		})
	}
	_, _, err = e.L.DomainGetSchedulerType(off)
	txWantErr(t, err, libvirt.ErrOperationInvalid, "domain is not running")

	params, np, err := e.L.DomainGetNumaParameters(web, 0, 0)
	if err != nil || len(params) != 0 || np != 2 {
		t.Errorf("numa count %+v %d, %v", params, np, err)
	}
	params, _, err = e.L.DomainGetNumaParameters(web, 2, typedParamStringOK)
	if err != nil || len(params) != 2 || params[0].Value.I != int32(2) || params[1].Value.I != "0" {
		t.Errorf("numa %+v, %v", params, err)
	}
}
