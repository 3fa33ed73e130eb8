package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/libxl"
)

// reconcileLive keeps the running domain at its live definition: for a declarative source it first takes into
// the live definition the spec changes Xen can apply to a running domain (the rest waits for the next start and
// is reported in RestartRequired); then it compares the domain with the live definition (drift) and applies a
// requested pause or resume. The spec of a define or a transient domain never reaches the running domain here:
// as in libvirt, it is the persistent definition, used at the next start.
func (r *XenDomainReconciler) reconcileLive(ctx context.Context, s *scope) error {
	if s.dom == nil || !s.dom.Owned() {
		return nil
	}
	if err := r.ensureLive(ctx, s); err != nil {
		return err
	}
	// The usual case (a reconcile that changed nothing, every domain after a restart): the domain was booted from
	// this very spec, so nothing is to be applied live and nothing waits for a restart; one comparison tells.
	same := v1alpha1.SemanticEqual(s.live.Boot, s.spec)
	if declarative(s.obj) && !same {
		next := bootWithLive(s.live.Boot, s.spec)
		if !v1alpha1.SemanticEqual(next, s.live.Boot) {
			live := applyLiveFields(&s.live.Domain, s.built)
			if err := r.applyLive(ctx, s, live, nil); err != nil {
				return err
			}
			s.live.Boot = next
			if err := r.putLive(s); err != nil {
				return err
			}
			s.log.Info("spec change applied to the running domain")
		}
	}
	s.restartFields = nil
	if !same {
		s.restartFields = restartFields(s.live.Boot, s.spec)
	}

	info := s.dom.Info
	want := liveWantOf(&s.live.Domain)
	if diffs := want.diff(info); len(diffs) > 0 {
		s.drift = diffs
		r.metrics().DriftDetected(s.obj.Spec.DriftPolicy != v1alpha1.DriftPolicyReport)
		if s.obj.Spec.DriftPolicy != v1alpha1.DriftPolicyReport {
			s.log.Info("drift: putting the domain back to its live definition", "drift", diffs)
			r.Events.record(s, corev1.EventTypeNormal, EventReasonDriftCorrected, "put back to its live definition: "+strings.Join(diffs, "; "))
			if err := r.setResources(ctx, s, want); err != nil {
				return err
			}
			s.drift = nil
		}
	}
	if err := r.applyPaused(ctx, s); err != nil {
		return err
	}
	if s.dom.Marker.Generation != s.obj.Generation || s.dom.Marker.Paused != s.obj.Spec.Paused ||
		s.dom.Marker.Source != s.obj.Labels[v1alpha1.LabelSource] {
		return r.updateMarker(ctx, s)
	}
	return nil
}

// applyPaused pauses or resumes the domain as spec.paused asks. A request (spec.paused differs from what the
// marker recorded) is carried out; otherwise a difference is drift.
func (r *XenDomainReconciler) applyPaused(ctx context.Context, s *scope) error {
	info := s.dom.Info
	paused := info.State == libxl.StatePaused
	want := s.obj.Spec.Paused
	if paused == want || (info.State != libxl.StateRunning && info.State != libxl.StatePaused) {
		return nil
	}
	if s.dom.Marker.Paused == want {
		s.drift = append(s.drift, map[bool]string{true: "paused, want running", false: "running, want paused"}[paused])
		r.metrics().DriftDetected(s.obj.Spec.DriftPolicy != v1alpha1.DriftPolicyReport)
		if s.obj.Spec.DriftPolicy == v1alpha1.DriftPolicyReport {
			return nil
		}
		s.drift = s.drift[:len(s.drift)-1]
	}
	var err error
	if want {
		err = r.HV.PauseDomain(ctx, info.DomID)
	} else {
		err = r.HV.UnpauseDomain(ctx, info.DomID)
	}
	if errors.Is(err, libxl.ErrBadState) {
		// The observation was older than the domain: it is in another state already, perhaps the one wanted. As
		// libvirt's suspend and resume, a domain already there is left alone, without an event or an error.
		ob, rerr := r.refresh(ctx, s)
		if rerr != nil {
			return rerr
		}
		if ob != nil && (ob.Info.State == libxl.StatePaused) == want {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", map[bool]string{true: "pause", false: "resume"}[want], err)
	}
	if want {
		r.Events.emit(s, EventSuspended, DetailSuspendedPaused)
	} else {
		r.Events.emit(s, EventResumed, DetailResumedUnpaused)
	}
	_, err = r.refresh(ctx, s)
	return err
}

// setLive carries out a SetLive action: the running domain and its live definition take the requested
// definition and scheduler parameters; the spec stays as it is.
func (r *XenDomainReconciler) setLive(ctx context.Context, s *scope, a *v1alpha1.DomainAction) error {
	if err := r.ensureLive(ctx, s); err != nil {
		return err
	}
	live := s.live.Domain.DeepCopy()
	if a.Definition != nil {
		live = a.Definition.DeepCopy()
		live.Name, live.UUID = s.live.Domain.Name, s.live.Domain.UUID
	}
	if err := r.applyLive(ctx, s, live, a.Sched); err != nil {
		return err
	}
	return r.putLive(s)
}

// applyLive brings the running domain from its live definition to live (memory, online vcpus and their pins,
// the scheduler weight, disks and network interfaces) and sched, and makes live its live definition (the
// caller stores it).
func (r *XenDomainReconciler) applyLive(ctx context.Context, s *scope, live *v1alpha1.DomainSpec, sched *v1alpha1.SchedSettings) error {
	old := &s.live.Domain
	id := s.dom.Info.DomID
	if err := r.setResources(ctx, s, liveWantOf(live)); err != nil {
		return err
	}
	devicesChanged := !equality.Semantic.DeepEqual(old.Devices.Disks, live.Devices.Disks) ||
		!equality.Semantic.DeepEqual(old.Devices.Interfaces, live.Devices.Interfaces)
	pinsChanged := !equality.Semantic.DeepEqual(pins(old), pins(live))
	if devicesChanged || pinsChanged {
		b, err := r.Build(live, false)
		if err != nil {
			return fmt.Errorf("invalid live definition: %w", err)
		}
		if b.Release != nil {
			b.Release()
		}
		networkBridges(live, b.Spec)
		if devicesChanged {
			if err := r.hotplug(ctx, s, b.Config); err != nil {
				return err
			}
			s.liveCfg = b.Config
		}
		if pinsChanged {
			if err := r.pinVcpus(ctx, s, b.Config); err != nil {
				return err
			}
		}
	}
	weight := libxl.KeepSchedParam
	if w := shares(live); w != shares(old) && w > 0 {
		weight = int(w)
	}
	capPct := libxl.KeepSchedParam
	if sched != nil {
		if sched.Weight > 0 {
			weight = int(sched.Weight)
		}
		if sched.Cap != nil {
			capPct = int(*sched.Cap)
		}
	}
	if weight != libxl.KeepSchedParam || capPct != libxl.KeepSchedParam {
		if err := r.HV.SetSchedParams(ctx, id, libxl.SchedParams{Weight: weight, Cap: capPct}); err != nil {
			return fmt.Errorf("Failed to set scheduler parameters for domain '%d' with libxenlight: %w", id, err)
		}
	}
	r.fillRuntime(ctx, id, live)
	s.live.Domain = *live
	if _, err := r.refresh(ctx, s); err != nil {
		return err
	}
	if s.dom == nil {
		return errNotRunning
	}
	return r.updateMarker(ctx, s)
}

// setResources sets the memory ceiling and target and the online vcpus of the running domain to want, exactly:
// only a start rounds memory (libvirt passes the target of a live change to libxl_set_memory_target as is).
func (r *XenDomainReconciler) setResources(ctx context.Context, s *scope, want liveWant) error {
	info := s.dom.Info
	id := info.DomID
	setMax := func() error {
		if want.max != info.MaxMemKiB {
			if err := r.HV.SetMaxMemory(ctx, id, want.max); err != nil {
				return fmt.Errorf("Failed to set maximum memory for domain '%d' with libxenlight: %w", id, err)
			}
		}
		return nil
	}
	if want.max >= info.TargetKiB { // raise the ceiling before the target, lower it after
		if err := setMax(); err != nil {
			return err
		}
	}
	if want.target != info.TargetKiB {
		if err := r.HV.SetMemoryTarget(ctx, id, want.target); err != nil {
			return fmt.Errorf("Failed to set memory for domain '%d' with libxenlight: %w", id, err)
		}
	}
	if want.max < info.TargetKiB {
		if err := setMax(); err != nil {
			return err
		}
	}
	if want.vcpus != info.OnlineVcpus && want.vcpus <= info.MaxVcpus {
		if err := r.HV.SetVcpusOnline(ctx, id, want.vcpus); err != nil {
			return fmt.Errorf("Failed to set vcpus for domain '%d' with libxenlight: %w", id, err)
		}
	}
	_, err := r.refresh(ctx, s)
	if err == nil && s.dom == nil {
		err = errNotRunning
	}
	return err
}

// pinVcpus applies the vcpu pins of cfg. libxl's cpu bitmaps span whole bytes: only the host's cpus are handed on.
func (r *XenDomainReconciler) pinVcpus(ctx context.Context, s *scope, cfg *libxl.DomainConfig) error {
	if len(cfg.BInfo.VcpuHardAffinity) == 0 {
		return nil
	}
	host, err := r.HV.HostInfo(ctx)
	if err != nil {
		return fmt.Errorf("read host cpus: %w", err)
	}
	for vcpu, mask := range cfg.BInfo.VcpuHardAffinity {
		var cpus []int
		for _, c := range mask {
			if c < host.CPUs {
				cpus = append(cpus, c)
			}
		}
		if vcpu < s.dom.Info.MaxVcpus && len(cpus) > 0 {
			if err := r.HV.PinVcpu(ctx, s.dom.Info.DomID, vcpu, cpus); err != nil {
				return fmt.Errorf("pin vcpu %d: %w", vcpu, err)
			}
		}
	}
	return nil
}

func pins(d *v1alpha1.DomainSpec) []v1alpha1.VCPUPin {
	if d.CPUTune == nil {
		return nil
	}
	return d.CPUTune.VCPUPins
}

func shares(d *v1alpha1.DomainSpec) uint32 {
	if d.CPUTune == nil || d.CPUTune.Shares == nil {
		return 0
	}
	return *d.CPUTune.Shares
}

// ensureLive loads the live definition of the running domain into s.live. A domain without one (started by a
// virtxend that kept none, or whose state directory was lost) gets one derived from the spec and from what Xen
// reports of the domain now, so that nothing is changed on it.
func (r *XenDomainReconciler) ensureLive(ctx context.Context, s *scope) error {
	if s.live != nil {
		return nil
	}
	id := s.dom.Info.DomID
	if r.Live != nil {
		if l := r.Live.Live(s.obj.DomainUUID()); l != nil && l.DomID == id && l.UID == s.obj.UID {
			s.live = l
			return nil
		}
	}
	live := s.built.DeepCopy()
	if live == nil { // the spec does not build: describe the domain from it and from Xen
		live = s.spec.DeepCopy()
	}
	info := s.dom.Info
	if info.MaxMemKiB > 0 {
		live.Memory = kibQuantity(info.MaxMemKiB)
	}
	if info.TargetKiB > 0 {
		q := kibQuantity(info.TargetKiB)
		live.CurrentMemory = &q
	}
	if live.VCPU != nil && info.OnlineVcpus > 0 {
		live.VCPU.Current = nil
		if n := uint32(info.OnlineVcpus); n != live.VCPU.Count {
			live.VCPU.Current = &n
		}
	}
	r.fillRuntime(ctx, id, live)
	s.live = r.newLive(s, live)
	s.log.Info("no live definition kept for the running domain: derived from its spec and the hypervisor", "domid", id)
	return r.putLive(s)
}

// recordLive makes the live definition of the domain this reconcile just started or restored from the spec.
func (r *XenDomainReconciler) recordLive(ctx context.Context, s *scope) error {
	live := s.built.DeepCopy() // a start had a config, so the spec built
	r.fillRuntime(ctx, s.dom.Info.DomID, live)
	s.live = r.newLive(s, live)
	s.restartFields = nil
	return r.putLive(s)
}

func (r *XenDomainReconciler) newLive(s *scope, live *v1alpha1.DomainSpec) *LiveDefinition {
	return &LiveDefinition{
		UUID: strings.ToLower(s.obj.DomainUUID()), UID: s.obj.UID, Object: s.obj.Name,
		Source: s.obj.Labels[v1alpha1.LabelSource], DomID: s.dom.Info.DomID,
		Domain: *live, Boot: s.spec.DeepCopy(),
	}
}

func (r *XenDomainReconciler) putLive(s *scope) error {
	if r.Live == nil {
		return nil
	}
	s.live.Source = s.obj.Labels[v1alpha1.LabelSource]
	if err := r.Live.PutLive(s.live); err != nil {
		return fmt.Errorf("keep the live definition: %w", err)
	}
	return nil
}

// dropLive forgets the live definition of a domain that no longer runs.
func (r *XenDomainReconciler) dropLive(ctx context.Context, uuid string) {
	if r.Live == nil || r.Live.Live(uuid) == nil {
		return
	}
	if err := r.Live.DeleteLive(uuid); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "remove the live definition of a stopped domain", "uuid", uuid)
	}
}

// fillRuntime gives a live definition what only the running domain has: the host-side names of its network
// interfaces and the ptys of its consoles and serial ports (libxlConsoleCallback); a console whose target is a
// serial port is that serial port.
func (r *XenDomainReconciler) fillRuntime(ctx context.Context, id libxl.DomID, spec *v1alpha1.DomainSpec) {
	for i := range spec.Devices.Interfaces {
		if spec.Devices.Interfaces[i].Target == "" {
			spec.Devices.Interfaces[i].Target = fmt.Sprintf("vif%d.%d", id, i)
		}
	}
	FillPtys(ctx, r.HV, id, &spec.Devices)
}

// FillPtys sets the pty paths of the pty consoles and serial ports of the running domain id that have none yet.
func FillPtys(ctx context.Context, hv libxl.Reader, id libxl.DomID, devs *v1alpha1.Devices) {
	set := func(c *v1alpha1.Chardev, kind libxl.ConsoleKind) {
		if c.Type != "pty" || (len(c.Sources) > 0 && c.Sources[0].Path != "") {
			return
		}
		port := 0
		if c.Target != nil && c.Target.Port != nil {
			port = int(*c.Target.Port)
		}
		if path, err := hv.ConsolePath(ctx, id, kind, port); err == nil && path != "" {
			c.Sources = []v1alpha1.ChardevSource{{Path: path}}
		}
	}
	for i := range devs.Serials {
		set(&devs.Serials[i], libxl.ConsoleSerial)
	}
	for i := range devs.Consoles {
		c := &devs.Consoles[i]
		if i == 0 && c.Target != nil && c.Target.Type == "serial" && len(devs.Serials) > 0 {
			if c.Type == "pty" && devs.Serials[0].Type == "pty" {
				c.Sources = slices.Clone(devs.Serials[0].Sources)
			}
			continue
		}
		set(c, libxl.ConsolePV)
	}
}

// liveWant is what a live definition asks of the running domain's resources.
type liveWant struct {
	target, max uint64
	vcpus       int
}

// liveWantOf reads the resources of a live definition exactly as they are written (not rounded).
func liveWantOf(d *v1alpha1.DomainSpec) liveWant {
	max := quantityKiB(d.Memory)
	target := max
	if d.CurrentMemory != nil {
		if c := quantityKiB(*d.CurrentMemory); c > 0 && c < max {
			target = c
		}
	}
	vcpus := 1
	if d.VCPU != nil && d.VCPU.Count > 0 {
		vcpus = int(d.VCPU.Count)
		if d.VCPU.Current != nil && *d.VCPU.Current > 0 && int(*d.VCPU.Current) < vcpus {
			vcpus = int(*d.VCPU.Current)
		}
	}
	return liveWant{target: target, max: max, vcpus: vcpus}
}

func (w liveWant) diff(info libxl.DomainInfo) []string {
	var d []string
	if info.MaxMemKiB != w.max {
		d = append(d, fmt.Sprintf("maximum memory %d KiB, want %d KiB", info.MaxMemKiB, w.max))
	}
	if info.TargetKiB != w.target {
		d = append(d, fmt.Sprintf("memory target %d KiB, want %d KiB", info.TargetKiB, w.target))
	}
	if info.OnlineVcpus != w.vcpus && w.vcpus <= info.MaxVcpus {
		d = append(d, fmt.Sprintf("%d vcpus online, want %d", info.OnlineVcpus, w.vcpus))
	}
	return d
}

func quantityKiB(q resource.Quantity) uint64 {
	if q.Sign() <= 0 {
		return 0
	}
	return uint64(q.Value()) / 1024
}

func kibQuantity(kib uint64) resource.Quantity {
	return *resource.NewQuantity(int64(kib)*1024, resource.BinarySI)
}
