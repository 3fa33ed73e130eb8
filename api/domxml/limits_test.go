package domxml

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"

	v1alpha1 "github.com/virtxend/virtxend/api/v1alpha1"
)

// TestParseNumberBounds: numbers libvirt's parser refuses are refused with its messages, never wrapped or
// truncated.
func TestParseNumberBounds(t *testing.T) {
	doc := func(mem, extra string) string {
		return "<domain type='xen'><name>vm</name>" + mem + "<os><type>hvm</type></os>" + extra + "</domain>"
	}
	tests := []struct {
		name string
		doc  string
		kind error
		want string // exact error; empty when the document parses
		kib  uint64 // memory when it parses
	}{
		{"largest size", doc("<memory unit='KiB'>9007199254740991</memory>", ""), nil, "", MaxMemoryKiB},
		{"largest bytes", doc("<memory unit='b'>9223372036854774784</memory>", ""), nil, "", MaxMemoryKiB},
		{"bytes rounding up beyond", doc("<memory unit='b'>9223372036854775807</memory>", ""), ErrOverflow,
			"size value too large", 0},
		{"KiB beyond", doc("<memory>9007199254740992</memory>", ""), ErrOverflow,
			"value too large: 9007199254740992", 0},
		{"scaled beyond LLONG_MAX", doc("<memory unit='EiB'>8</memory>", ""), ErrOverflow,
			"value too large: 8EiB", 0},
		{"no unit beyond LLONG_MAX", doc("<memory>18014398509481984</memory>", ""), ErrOverflow,
			"value too large: 18014398509481984", 0},
		{"beyond unsigned long long", doc("<memory>99999999999999999999</memory>", ""), ErrInvalid,
			"Invalid value '99999999999999999999' for element or attribute './memory[1]'", 0},
		{"negative", doc("<memory>-1</memory>", ""), ErrInvalid,
			"Invalid value '-1' for element or attribute './memory[1]'", 0},
		{"current beyond", doc("<memory>1024</memory><currentMemory unit='E'>9</currentMemory>", ""), ErrOverflow,
			"value too large: 9E", 0},
		{"numa cell beyond", doc("", "<cpu><numa><cell id='0' cpus='0' memory='8' unit='EiB'/></numa></cpu>"),
			ErrOverflow, "value too large: 8EiB", 0},
		{"vcpus beyond unsigned int", doc("<memory>1024</memory>", "<vcpu>4294967297</vcpu>"), ErrInvalid,
			"maximum vcpus count must be an integer", 0},
		{"current vcpus beyond unsigned int", doc("<memory>1024</memory>", "<vcpu current='4294967297'>2</vcpu>"),
			ErrInvalid, "current vcpus count must be an integer", 0},
		{"vcpus beyond Xen's HVM limit", doc("<memory>1024</memory>", "<vcpu>129</vcpu>"), ErrUnsupported,
			"requested vcpus is greater than max allowable vcpus for the domain: 129 > 128", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, err := Parse([]byte(tt.doc))
			if err == nil {
				err = ApplyDefaults(spec, seeded(1))
			}
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if got := quantityKiB(spec.Memory); got != tt.kib {
					t.Fatalf("memory = %d KiB, want %d", got, tt.kib)
				}
				return
			}
			if err == nil || err.Error() != tt.want || !errors.Is(err, tt.kind) {
				t.Fatalf("error %v, want %q matching %v", err, tt.want, tt.kind)
			}
		})
	}
}

// TestApplyDefaultsRanges: a typed spec (from YAML or JSON) with a quantity that does not fit is refused naming
// the field, instead of being stored as 0 KiB or a wrapped number.
func TestApplyDefaultsRanges(t *testing.T) {
	base := func(mod func(s *v1alpha1.DomainSpec)) *v1alpha1.DomainSpec {
		s := &v1alpha1.DomainSpec{Name: "vm", Memory: resource.MustParse("1Gi"), OS: v1alpha1.OS{Type: "hvm"}}
		mod(s)
		return s
	}
	q := func(s string) *resource.Quantity { v := resource.MustParse(s); return &v }
	tests := []struct {
		name string
		spec *v1alpha1.DomainSpec
		want string // FieldError("spec.domain."); empty when accepted
	}{
		{"64Ei", base(func(s *v1alpha1.DomainSpec) { s.Memory = *q("64Ei") }),
			"spec.domain.memory: >= 9223372036854775807: size value too large (at most 9007199254740991Ki)"},
		{"8Ei", base(func(s *v1alpha1.DomainSpec) { s.Memory = *q("8Ei") }),
			"spec.domain.memory: >= 9223372036854775807: size value too large (at most 9007199254740991Ki)"},
		{"largest", base(func(s *v1alpha1.DomainSpec) { s.Memory = *q("9007199254740991Ki") }), ""},
		{"negative", base(func(s *v1alpha1.DomainSpec) { s.Memory = *q("-1Gi") }),
			"spec.domain.memory: -1Gi: memory size must not be negative"},
		{"current", base(func(s *v1alpha1.DomainSpec) { s.CurrentMemory = q("1e30") }),
			"spec.domain.currentMemory: 1e30: size value too large (at most 9007199254740991Ki)"},
		{"numa sum", base(func(s *v1alpha1.DomainSpec) {
			s.Memory = resource.Quantity{}
			s.CPU = &v1alpha1.CPU{NUMA: &v1alpha1.NUMA{Cells: []v1alpha1.NUMACell{
				{CPUs: "0", Memory: *q("5Ei")}, {CPUs: "1", Memory: *q("5Ei")}}}}
		}), "spec.domain.cpu.numa.cells: 11258999068426240Ki: size value too large (at most 9007199254740991Ki)"},
		{"vcpus hvm", base(func(s *v1alpha1.DomainSpec) { s.VCPU = &v1alpha1.VCPU{Count: 4294967295} }),
			"spec.domain.vcpu.count: 4294967295: requested vcpus is greater than max allowable vcpus for the domain: 4294967295 > 128 (at most 128)"},
		{"vcpus pv", base(func(s *v1alpha1.DomainSpec) { s.OS.Type = "xen"; s.VCPU = &v1alpha1.VCPU{Count: 512} }), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ApplyDefaults(tt.spec, seeded(1))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ApplyDefaults: %v", err)
				}
				return
			}
			var re *RangeError
			if !errors.As(err, &re) {
				t.Fatalf("ApplyDefaults: %v, want a *RangeError", err)
			}
			if got := re.FieldError("spec.domain.").Error(); got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			if strings.Contains(err.Error(), "spec.domain") {
				t.Fatalf("Error() %q names the field; it is libvirt's message", err)
			}
		})
	}
}
