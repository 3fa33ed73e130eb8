package libxl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// CPUIDPolicy mirrors libxl_cpuid_policy_list as Xen 4.17 prints it: {"cpuid": [leaves], "msr": [msrs]}. Each
// register policy is a string of 32 characters (64 for an MSR), the first for the highest bit: '1' forces the bit
// on, '0' off, 'x' leaves the default, 'k' keeps the host value, 's' keeps it across migration.
type CPUIDPolicy struct {
	CPUID []CPUIDLeaf
	MSR   []MSRPolicy
}

// CPUIDLeaf is the policy for one CPUID leaf (and subleaf). An empty register policy is not set.
type CPUIDLeaf struct {
	Leaf uint32
	// Subleaf is nil for leaves without subleaves (XEN_CPUID_INPUT_UNUSED).
	Subleaf            *uint32
	EAX, EBX, ECX, EDX string
}

// MSRPolicy is the policy for one MSR.
type MSRPolicy struct {
	Index  uint32
	Policy string
}

type cpuidReg int

const (
	regEAX cpuidReg = iota
	regEBX
	regECX
	regEDX
	regMSR
)

const noSubleaf = ^uint32(0)

type cpuidFeature struct {
	leaf, subleaf uint32
	reg           cpuidReg
	bit, length   int
}

// ErrUnknownCPUFeature is returned by CPUIDPolicy.Set for a feature name libxl does not know.
var ErrUnknownCPUFeature = fmt.Errorf("unknown cpuid feature")

// Set applies "feature=value" as libxl_cpuid_parse_config does: value is a number written in binary into the
// feature's bits, or one of x, k, s for every bit. Entries are created in the order features are first set.
func (p *CPUIDPolicy) Set(feature, value string) error {
	f, ok := cpuidFeatures[feature]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownCPUFeature, feature)
	}
	flags := make([]byte, f.length)
	if n, err := strconv.ParseUint(value, 0, 64); err == nil {
		for i := 0; i < f.length; i++ {
			flags[f.length-1-i] = "01"[(n>>i)&1]
		}
	} else {
		switch {
		case value != "" && strings.ContainsRune("xks", rune(value[0])):
			for i := range flags {
				flags[i] = value[0]
			}
		default:
			return fmt.Errorf("cpuid feature %s: bad value %q", feature, value)
		}
	}
	width := 32
	var reg *string
	if f.reg == regMSR {
		width = 64
		reg = &p.msr(f.leaf).Policy
	} else {
		l := p.leaf(f.leaf, f.subleaf)
		reg = [...]*string{&l.EAX, &l.EBX, &l.ECX, &l.EDX}[f.reg]
	}
	if *reg == "" {
		*reg = strings.Repeat("x", width)
	}
	s := []byte(*reg)
	copy(s[width-f.length-f.bit:], flags)
	*reg = string(s)
	return nil
}

func (p *CPUIDPolicy) leaf(leaf, subleaf uint32) *CPUIDLeaf {
	for i := range p.CPUID {
		l := &p.CPUID[i]
		sub := noSubleaf
		if l.Subleaf != nil {
			sub = *l.Subleaf
		}
		if l.Leaf == leaf && sub == subleaf {
			return l
		}
	}
	l := CPUIDLeaf{Leaf: leaf}
	if subleaf != noSubleaf {
		l.Subleaf = &subleaf
	}
	p.CPUID = append(p.CPUID, l)
	return &p.CPUID[len(p.CPUID)-1]
}

func (p *CPUIDPolicy) msr(index uint32) *MSRPolicy {
	for i := range p.MSR {
		if p.MSR[i].Index == index {
			return &p.MSR[i]
		}
	}
	p.MSR = append(p.MSR, MSRPolicy{Index: index})
	return &p.MSR[len(p.MSR)-1]
}

func (p CPUIDPolicy) isDefault() bool { return len(p.CPUID) == 0 && len(p.MSR) == 0 }

func (p CPUIDPolicy) appendIDL(b []byte) []byte {
	b = append(b, `{"cpuid":[`...)
	for i, l := range p.CPUID {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"leaf":`...)
		b = strconv.AppendUint(b, uint64(l.Leaf), 10)
		if l.Subleaf != nil {
			b = append(b, `,"subleaf":`...)
			b = strconv.AppendUint(b, uint64(*l.Subleaf), 10)
		}
		for j, r := range [...]string{l.EAX, l.EBX, l.ECX, l.EDX} {
			if r != "" {
				b = append(b, ',')
				b = appendString(b, [...]string{"eax", "ebx", "ecx", "edx"}[j])
				b = append(b, ':')
				b = appendString(b, r)
			}
		}
		b = append(b, '}')
	}
	b = append(b, `],"msr":[`...)
	for i, m := range p.MSR {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"index":`...)
		b = strconv.AppendUint(b, uint64(m.Index), 10)
		b = append(b, `,"policy":`...)
		b = appendString(b, m.Policy)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

type cpuidLeafJSON struct {
	Leaf    uint32  `json:"leaf"`
	Subleaf *uint32 `json:"subleaf"`
	EAX     string  `json:"eax"`
	EBX     string  `json:"ebx"`
	ECX     string  `json:"ecx"`
	EDX     string  `json:"edx"`
}

type msrJSON struct {
	Index  uint32 `json:"index"`
	Policy string `json:"policy"`
}

// decodeIDL accepts Xen 4.17's object form and the bare list of leaves older libxl printed.
func (p *CPUIDPolicy) decodeIDL(raw []byte) error {
	var obj struct {
		CPUID []cpuidLeafJSON `json:"cpuid"`
		MSR   []msrJSON       `json:"msr"`
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '[' {
		if err := json.Unmarshal(raw, &obj.CPUID); err != nil {
			return err
		}
	} else if err := json.Unmarshal(raw, &obj); err != nil {
		return err
	}
	*p = CPUIDPolicy{}
	for _, l := range obj.CPUID {
		p.CPUID = append(p.CPUID, CPUIDLeaf(l))
	}
	for _, m := range obj.MSR {
		p.MSR = append(p.MSR, MSRPolicy(m))
	}
	return nil
}

// MarshalJSON prints p as libxl does.
func (p CPUIDPolicy) MarshalJSON() ([]byte, error) { return p.appendIDL(nil), nil }

// UnmarshalJSON reads what libxl prints.
func (p *CPUIDPolicy) UnmarshalJSON(b []byte) error { return p.decodeIDL(b) }
