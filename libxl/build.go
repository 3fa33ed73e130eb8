package libxl

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/virtxend/virtxend/api/v1alpha1"
)

// Sentinel errors of the builder. The message of a build error is the text libvirt reports; errors.Is tells the
// libvirt error code the RPC layer answers with.
var (
	// ErrUnsupportedConfig marks what libvirt reports as VIR_ERR_CONFIG_UNSUPPORTED.
	ErrUnsupportedConfig = errors.New("unsupported configuration")
	// ErrInternal marks what libvirt reports as VIR_ERR_INTERNAL_ERROR (it says so for several configurations
	// libxenlight cannot handle, such as disk formats and transient disks).
	ErrInternal = errors.New("internal error")
	// ErrOperationInvalid marks what libvirt reports as VIR_ERR_OPERATION_INVALID.
	ErrOperationInvalid = errors.New("operation invalid")
	// ErrNoFreePort is returned when no graphics port is left.
	ErrNoFreePort = errors.New("no free port")
	// ErrNoNetwork marks a network an <interface type='network'> names that cannot be resolved to a bridge:
	// libvirt's network lookup fails with VIR_ERR_NO_NETWORK.
	ErrNoNetwork = errors.New("network not found")
	// ErrNoStoragePool marks the pool a <disk type='volume'> names, unknown to the storage driver:
	// VIR_ERR_NO_STORAGE_POOL.
	ErrNoStoragePool = errors.New("storage pool not found")
	// ErrNoStorageVol marks the volume a <disk type='volume'> names, unknown in its pool: VIR_ERR_NO_STORAGE_VOL.
	ErrNoStorageVol = errors.New("storage volume not found")
	// ErrDriverUnavailable marks a network or storage driver that cannot be reached (no daemon serves it):
	// libvirt's connection error, VIR_ERR_SYSTEM_ERROR "Failed to connect socket to '...'".
	ErrDriverUnavailable = errors.New("secondary driver unavailable")
)

// BuildError is an error of Build: Msg is libvirt's wording, Kind one of the sentinel errors above.
type BuildError struct {
	Kind error
	Msg  string
}

func (e *BuildError) Error() string { return e.Msg }

// Unwrap returns the sentinel.
func (e *BuildError) Unwrap() error { return e.Kind }

func unsupportedf(format string, args ...any) error {
	return &BuildError{Kind: ErrUnsupportedConfig, Msg: fmt.Sprintf(format, args...)}
}

func internalf(format string, args ...any) error {
	return &BuildError{Kind: ErrInternal, Msg: fmt.Sprintf(format, args...)}
}

func invalidOpf(format string, args ...any) error {
	return &BuildError{Kind: ErrOperationInvalid, Msg: fmt.Sprintf(format, args...)}
}

// BuildResult is what Build produces.
type BuildResult struct {
	// Config is the libxl configuration to create the domain with.
	Config *DomainConfig
	// Spec is the definition as libvirt holds it once libxlBuildDomainConfig ran on it: memory rounded up to whole
	// MiB, graphics ports allocated and default listen addresses filled in, the UEFI loader made explicit, default
	// disk formats, implicit USB controllers and channel socket paths added. It is the live definition to report.
	Spec *v1alpha1.DomainSpec
	// Ports are the graphics ports taken from HostFacts.GraphicsPorts; release them when the domain is gone (or
	// when the start fails).
	Ports []int
	// Warnings are what libvirt only logs (ignored CPU mode, hyperv settings Xen lacks, a FLASK label that did not
	// resolve...).
	Warnings []string
}

// Build turns a domain definition into the libxl configuration libvirt's libxlBuildDomainConfig (libvirt 11.3,
// src/libxl/libxl_conf.c) produces for it on a host described by host. spec is not modified: the definition with
// libvirt's start-time changes is BuildResult.Spec. On error every port taken is released.
//
// spec must have been through domxml.ApplyDefaults (libvirt's parse-time defaults); Build applies the few defaults
// the libxl driver relies on itself where they are missing.
func Build(spec *v1alpha1.DomainSpec, host HostFacts) (*BuildResult, error) {
	b := &builder{
		spec: spec.DeepCopy(),
		host: host,
		cfg:  &DomainConfig{},
	}
	if err := b.build(); err != nil {
		b.releasePorts()
		return nil, err
	}
	return &BuildResult{Config: b.cfg, Spec: b.spec, Ports: b.ports, Warnings: b.warnings}, nil
}

type builder struct {
	spec     *v1alpha1.DomainSpec
	host     HostFacts
	cfg      *DomainConfig
	ports    []int
	warnings []string
	// kind is the guest type; dmType the device model version the video checks assume.
	kind   DomainType
	dmType DeviceModelVersion
}

func (b *builder) warnf(format string, args ...any) {
	b.warnings = append(b.warnings, fmt.Sprintf(format, args...))
}

func (b *builder) releasePorts() {
	for _, p := range b.ports {
		if b.host.GraphicsPorts != nil {
			b.host.GraphicsPorts.Release(p)
		}
	}
	b.ports = nil
}

func (b *builder) acquirePort() (int, error) {
	if b.host.GraphicsPorts == nil {
		return 0, fmt.Errorf("no graphics port allocator: %w", ErrNoFreePort)
	}
	p, err := b.host.GraphicsPorts.Acquire()
	if err != nil {
		return 0, err
	}
	b.ports = append(b.ports, p)
	return p, nil
}

// build follows libxlBuildDomainConfig step by step.
func (b *builder) build() error {
	switch b.spec.OS.Type {
	case "hvm":
		b.kind = DomainTypeHVM
	case "xenpvh":
		b.kind = DomainTypePVH
	case "xen", "linux", "":
		b.kind = DomainTypePV
	default:
		return unsupportedf("unsupported guest os type '%s'", b.spec.OS.Type)
	}
	b.dmType = DeviceModelQemuXen
	if b.kind == DomainTypeHVM && b.spec.Devices.Emulator != "" && b.host.EmulatorType != nil {
		b.dmType = b.host.EmulatorType(b.spec.Devices.Emulator)
	}
	steps := []func() error{
		b.makeCreateInfo,
		b.makeBuildInfo,
		b.makeVnumaList,
		b.makeDiskList,
		b.makeNicList,
		b.makeVfbList,
		b.makeBuildInfoVfb,
		b.makePCIList,
		b.makeUSBControllerList,
		b.makeUSBList,
		b.makeChannelList,
		b.makeVideo,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	var err error
	if b.cfg.OnReboot, err = lifecycleAction(b.spec.OnReboot, ActionRestart); err != nil {
		return err
	}
	if b.cfg.OnPoweroff, err = lifecycleAction(b.spec.OnPoweroff, ActionDestroy); err != nil {
		return err
	}
	b.cfg.OnCrash, err = lifecycleAction(b.spec.OnCrash, ActionDestroy)
	return err
}

// lifecycleAction is libxlActionFromVirLifecycle; an empty action is libvirt's parse default def.
func lifecycleAction(a v1alpha1.LifecycleAction, def ActionOnShutdown) (ActionOnShutdown, error) {
	switch a {
	case "":
		return def, nil
	case v1alpha1.ActionDestroy:
		return ActionDestroy, nil
	case v1alpha1.ActionRestart:
		return ActionRestart, nil
	case v1alpha1.ActionRenameRestart:
		return ActionRestartRename, nil
	case v1alpha1.ActionPreserve:
		return ActionPreserve, nil
	case v1alpha1.ActionCoredumpDestroy:
		return ActionCoredumpDestroy, nil
	case v1alpha1.ActionCoredumpRestart:
		return ActionCoredumpRestart, nil
	}
	return "", unsupportedf("unsupported lifecycle action '%s'", a)
}

// makeCreateInfo is libxlMakeDomCreateInfo.
func (b *builder) makeCreateInfo() error {
	c := &b.cfg.CInfo
	c.Type = b.kind
	f := b.spec.Features
	if b.kind != DomainTypePV && f != nil && f.HAP != nil {
		switch f.HAP.State {
		case "off":
			c.Hap = DefboolFalse
		case "on", "":
			// <hap/> without a state is on (libvirt's tristate parse of a present feature).
			c.Hap = DefboolTrue
		}
	}
	if f != nil && f.Xen != nil && f.Xen.Passthrough != nil {
		switch f.Xen.Passthrough.State {
		case "on", "":
			switch f.Xen.Passthrough.Mode {
			case "sync_pt":
				c.Passthrough = PassthroughSyncPT
			case "share_pt":
				c.Passthrough = PassthroughSharePT
			default:
				c.Passthrough = PassthroughEnabled
			}
		case "off":
			c.Passthrough = PassthroughDisabled
		}
	}
	c.Name = b.spec.Name
	if len(b.spec.SecLabels) > 0 && b.spec.SecLabels[0].Type == "static" && b.host.FlaskSID != nil {
		label := b.spec.SecLabels[0].Label
		if sid, err := b.host.FlaskSID(label); err != nil {
			b.warnf("libxenlight failed to resolve security label '%s'", label)
		} else {
			c.SSIDRef = sid
		}
	}
	if b.spec.UUID != "" {
		u, err := canonicalUUID(b.spec.UUID)
		if err != nil {
			return internalf("libxenlight failed to parse UUID '%s'", b.spec.UUID)
		}
		c.UUID = u
	}
	return nil
}

// canonicalUUID returns the lower-case 8-4-4-4-12 form of a UUID given with or without dashes.
func canonicalUUID(s string) (string, error) {
	if u, ok := v1alpha1.CanonicalUUID(s); ok && strings.TrimSpace(s) == s { // no surrounding blanks here
		return u, nil
	}
	return "", fmt.Errorf("bad uuid %q", s)
}

// parseCPUSet parses libvirt's cpuset syntax ("0-3,^2,8") into the sorted set bits.
func parseCPUSet(s string) (Bitmap, error) {
	set := map[int]bool{}
	var neg []int
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("invalid cpuset %q", s)
		}
		if n, ok := strings.CutPrefix(part, "^"); ok {
			v, err := strconv.Atoi(strings.TrimSpace(n))
			if err != nil || v < 0 {
				return nil, fmt.Errorf("invalid cpuset %q", s)
			}
			neg = append(neg, v)
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		from, err1 := strconv.Atoi(strings.TrimSpace(lo))
		to := from
		var err2 error
		if isRange {
			to, err2 = strconv.Atoi(strings.TrimSpace(hi))
		}
		if err1 != nil || err2 != nil || from < 0 || to < from {
			return nil, fmt.Errorf("invalid cpuset %q", s)
		}
		for i := from; i <= to; i++ {
			set[i] = true
		}
	}
	for _, v := range neg {
		delete(set, v)
	}
	out := make(Bitmap, 0, len(set))
	for i := range set {
		out = append(out, i)
	}
	slices.Sort(out)
	return out, nil
}
