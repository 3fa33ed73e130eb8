package controllers

import (
	"fmt"
	"testing"

	"github.com/virtxend/virtxend/api/domxml"
	"github.com/virtxend/virtxend/libxl"
)

// BenchmarkLivePortsAcquire measures a graphics port's allocation with 1000 running domains' live definitions.
func BenchmarkLivePortsAcquire(b *testing.B) {
	live := NewMemLiveStore()
	for n := range 1000 {
		spec, err := domxml.Parse([]byte(fmt.Sprintf(`<domain type='xen'><name>d%d</name><memory>65536</memory>
<os><type>hvm</type></os><devices><disk type='file' device='disk'><source file='/x'/><target dev='xvda'/></disk>
<interface type='bridge'><source bridge='br0'/></interface><graphics type='vnc' port='%d'/></devices></domain>`, n, 5900+n)))
		if err != nil {
			b.Fatal(err)
		}
		if err := domxml.ApplyDefaults(spec, domxml.Defaults{}); err != nil {
			b.Fatal(err)
		}
		if err := live.PutLive(&LiveDefinition{UUID: spec.UUID, Domain: *spec, Boot: spec}); err != nil {
			b.Fatal(err)
		}
	}
	ports := NewLivePorts(libxl.NewPortRange(5900, 65535, nil), live)
	b.ResetTimer()
	for range b.N {
		p, err := ports.Acquire()
		if err != nil {
			b.Fatal(err)
		}
		ports.Release(p)
	}
}
