package libxl

import (
	"errors"
	"testing"

	"github.com/virtxend/virtxend/api/v1alpha1"
)

// TestBuildResolvesNetworkAndVolume: an <interface type='network'> gets its network's bridge (in the libxl
// config and in the live definition, as libvirt's live XML shows it), a rebuild of the live definition keeps
// that bridge without asking again, and a <disk type='volume'> gets its volume's path.
func TestBuildResolvesNetworkAndVolume(t *testing.T) {
	host := MockHostFacts()
	asked := 0
	host.NetworkBridge = func(n string) (string, error) {
		asked++
		if n != "default" {
			return "", &BuildError{Kind: ErrNoNetwork, Msg: "no network with matching name '" + n + "'"}
		}
		return "virbr0", nil
	}
	host.VolumePath = func(pool, vol string) (string, error) {
		if pool != "p1" || vol != "v1" {
			return "", &BuildError{Kind: ErrNoStorageVol, Msg: "no storage vol with matching name '" + vol + "'"}
		}
		return "/var/lib/libvirt/images/v1", nil
	}
	s := pvSpec()
	s.Devices.Interfaces = []v1alpha1.Interface{{Type: "network", MAC: "00:16:3e:00:00:01",
		Source: &v1alpha1.InterfaceSource{Network: "default"}}}
	s.Devices.Disks = []v1alpha1.Disk{{Type: "volume", Device: "disk", Source: &v1alpha1.DiskSource{Pool: "p1", Volume: "v1"},
		Target: v1alpha1.DiskTarget{Dev: "xvda", Bus: "xen"}}}
	res, err := Build(s, host)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Config.Nics[0].Bridge; got != "virbr0" {
		t.Errorf("nic bridge %q, want virbr0", got)
	}
	if src := res.Spec.Devices.Interfaces[0].Source; src == nil || src.Network != "default" || src.Bridge != "virbr0" {
		t.Errorf("live interface source %+v, want network default, bridge virbr0", src)
	}
	if s.Devices.Interfaces[0].Source.Bridge != "" {
		t.Error("Build wrote the bridge into its input")
	}
	if got := res.Config.Disks[0].PdevPath; got != "/var/lib/libvirt/images/v1" {
		t.Errorf("disk pdev_path %q", got)
	}
	if d := res.Spec.Devices.Disks[0]; d.Type != "volume" || d.Source.Pool != "p1" || d.Source.Volume != "v1" {
		t.Errorf("live disk %+v: the live definition keeps naming the volume", d)
	}
	again, err := Build(res.Spec, host)
	if err != nil {
		t.Fatal(err)
	}
	if asked != 1 || again.Config.Nics[0].Bridge != "virbr0" {
		t.Errorf("rebuild asked the network driver %d times in all, bridge %q", asked, again.Config.Nics[0].Bridge)
	}

	for _, tt := range []struct {
		name   string
		change func(*v1alpha1.DomainSpec, *HostFacts)
		kind   error
		msg    string
	}{
		{"unknown network", func(s *v1alpha1.DomainSpec, _ *HostFacts) { s.Devices.Interfaces[0].Source.Network = "other" },
			ErrNoNetwork, "no network with matching name 'other'"},
		{"no network driver", func(_ *v1alpha1.DomainSpec, h *HostFacts) { h.NetworkBridge = nil },
			ErrNoNetwork, "no network with matching name 'default'"},
		{"unknown volume", func(s *v1alpha1.DomainSpec, _ *HostFacts) { s.Devices.Disks[0].Source.Volume = "v2" },
			ErrNoStorageVol, "no storage vol with matching name 'v2'"},
		{"no storage driver", func(_ *v1alpha1.DomainSpec, h *HostFacts) { h.VolumePath = nil },
			ErrNoStorageVol, "no storage vol with matching name 'v1'"},
	} {
		s2, h2 := s.DeepCopy(), host
		tt.change(s2, &h2)
		_, err := Build(s2, h2)
		var be *BuildError
		if !errors.As(err, &be) || !errors.Is(err, tt.kind) || be.Msg != tt.msg {
			t.Errorf("%s: %v, want %v %q", tt.name, err, tt.kind, tt.msg)
		}
	}
}

func TestPortRangeAcquireExcept(t *testing.T) {
	r := NewPortRange(5900, 5903, func(p int) bool { return p != 5901 })
	p, err := r.AcquireExcept(map[int]bool{5900: true})
	if err != nil || p != 5902 {
		t.Fatalf("AcquireExcept = %d, %v; want 5902 (5900 held, 5901 busy)", p, err)
	}
	if p, _ := r.Acquire(); p != 5900 {
		t.Errorf("Acquire = %d, want 5900", p)
	}
	if _, err := r.AcquireExcept(map[int]bool{5903: true}); !errors.Is(err, ErrNoFreePort) {
		t.Errorf("full range: %v", err)
	}
}
