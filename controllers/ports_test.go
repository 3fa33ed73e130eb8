package controllers

import (
	"testing"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/libxl"
)

// TestLivePorts: a port a live definition holds (a domain a previous daemon started) is not handed out again,
// and comes free with the definition.
func TestLivePorts(t *testing.T) {
	live := NewMemLiveStore()
	port, tls := int32(5900), int32(5902)
	if err := live.PutLive(&LiveDefinition{UUID: "a", Domain: v1alpha1.DomainSpec{Devices: v1alpha1.Devices{
		Graphics: []v1alpha1.Graphics{{Type: "spice", AutoPort: "yes", Port: &port, TLSPort: &tls}},
	}}}); err != nil {
		t.Fatal(err)
	}
	ports := NewLivePorts(libxl.NewPortRange(5900, 5910, nil), live)
	got := []int{}
	for range 2 {
		p, err := ports.Acquire()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p)
	}
	if got[0] != 5901 || got[1] != 5903 {
		t.Errorf("acquired %v, want [5901 5903]", got)
	}
	if err := ports.DeleteLive("A"); err != nil {
		t.Fatal(err)
	}
	if p, _ := ports.Acquire(); p != 5900 {
		t.Errorf("after the domain is gone: %d, want 5900", p)
	}
	ports.Release(5901)
	if p, _ := ports.Acquire(); p != 5901 {
		t.Errorf("after a release: %d, want 5901", p)
	}
	// A definition written through it holds its ports at once.
	held := int32(5904)
	if err := ports.PutLive(&LiveDefinition{UUID: "b", Domain: v1alpha1.DomainSpec{Devices: v1alpha1.Devices{
		Graphics: []v1alpha1.Graphics{{Type: "vnc", Port: &held}},
	}}}); err != nil {
		t.Fatal(err)
	}
	if p, _ := ports.Acquire(); p != 5902 {
		t.Errorf("with 5900, 5901 and 5903 handed out: %d, want 5902", p)
	}
	if p, _ := ports.Acquire(); p != 5905 {
		t.Errorf("with 5900-5903 handed out and 5904 held: %d, want 5905", p)
	}
	if live.Live("b") == nil {
		t.Error("PutLive did not reach the store")
	}
}
