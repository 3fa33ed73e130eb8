package v1alpha1

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
)

func TestDomainIdentity(t *testing.T) {
	for _, c := range []struct {
		name, objName, specName, specUUID, uid string
		wantName, wantUUID                     string
	}{
		{"spec wins", "obj", "dom", "6A1D2C3E7F404B5A9C612E8F0D4B7A10", "11111111-2222-4333-8444-555555555555",
			"dom", "6a1d2c3e-7f40-4b5a-9c61-2e8f0d4b7a10"},
		{"object name and uid as fallbacks", "obj", "", "", "11111111-2222-4333-8444-555555555555",
			"obj", "11111111-2222-4333-8444-555555555555"},
		{"an invalid uuid falls back to the uid", "obj", "", "not-a-uuid", "AAAAAAAA-2222-4333-8444-555555555555",
			"obj", "aaaaaaaa-2222-4333-8444-555555555555"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := &XenDomain{}
			d.Name, d.UID = c.objName, types.UID(c.uid)
			d.Spec.Domain.Name, d.Spec.Domain.UUID = c.specName, c.specUUID
			if got := d.DomainName(); got != c.wantName {
				t.Errorf("DomainName = %q, want %q", got, c.wantName)
			}
			if got := d.DomainUUID(); got != c.wantUUID {
				t.Errorf("DomainUUID = %q, want %q", got, c.wantUUID)
			}
		})
	}
	for _, bad := range []string{"", "123", "6a1d2c3e-7f40-4b5a-9c61-2e8f0d4b7a1", "6a1d2c3e-7f40-4b5a-9c61-2e8f0d4b7a10a", "zz1d2c3e7f404b5a9c612e8f0d4b7a10"} {
		if u, ok := CanonicalUUID(bad); ok {
			t.Errorf("CanonicalUUID(%q) = %q, want not a UUID", bad, u)
		}
	}
}

// TestCanonicalUUIDSpellings checks every spelling against the slow path, and that a canonical UUID is returned
// as it is, without a new string.
func TestCanonicalUUIDSpellings(t *testing.T) {
	const want = "6a1d2c3e-7f40-4b5a-9c61-2e8f0d4b7a10"
	for _, in := range []string{want, "6A1D2C3E-7F40-4B5A-9C61-2E8F0D4B7A10", "6a1d2c3e7f404b5a9c612e8f0d4b7a10",
		" 6a1d2c3e-7f40-4b5a-9c61-2e8f0d4b7a10 ", "6a1d2c3e7f40-4b5a-9c61-2e8f0d4b-7a10", "6a1d2c3e-7f40-4B5a-9c61-2e8f0d4b7a10"} {
		if got, ok := CanonicalUUID(in); !ok || got != want {
			t.Errorf("CanonicalUUID(%q) = %q, %v; want %q", in, got, ok, want)
		}
		if IsCanonicalUUID(in) != (in == want) {
			t.Errorf("IsCanonicalUUID(%q) = %v", in, !(in == want))
		}
	}
	for _, bad := range []string{"6a1d2c3e-7f40-4b5a-9c61-2e8f0d4b7a1g", "6a1d2c3e-7f40-4b5a-9c61_2e8f0d4b7a10", "6a1d2c3e-7f40-4b5a-9c612-e8f0d4b7a10"} {
		if IsCanonicalUUID(bad) {
			t.Errorf("IsCanonicalUUID(%q) = true", bad)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = CanonicalUUID(want) }); n != 0 {
		t.Errorf("CanonicalUUID of a canonical UUID allocates %v times", n)
	}
}

// TestSemanticEqual checks the fast path answers as equality.Semantic does, and allocates nothing on equal specs.
func TestSemanticEqual(t *testing.T) {
	a := &DomainSpec{Name: "a", Memory: resource.MustParse("1Gi"), VCPU: &VCPU{Count: 2}, Devices: Devices{Disks: []Disk{{Device: "disk"}}}}
	b := a.DeepCopy()
	if !SemanticEqual(a, b) {
		t.Error("a copy differs")
	}
	b.Memory = resource.MustParse("1024Mi")
	if !SemanticEqual(a, b) {
		t.Error("1Gi and 1024Mi differ")
	}
	b.Devices.Controllers = []Controller{}
	if !SemanticEqual(a, b) {
		t.Error("nil and empty differ")
	}
	b.VCPU.Count = 3
	if SemanticEqual(a, b) {
		t.Error("2 and 3 vcpus are equal")
	}
	c := a.DeepCopy()
	if n := testing.AllocsPerRun(50, func() { SemanticEqual(a, c) }); n != 0 {
		t.Errorf("equal specs: %v allocations", n)
	}
}
