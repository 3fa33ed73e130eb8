package domxml

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	v1alpha1 "github.com/virtxend/virtxend/api/v1alpha1"
)

// The bounds on the numbers of a definition, checked in one place for every source: the XML parser checks the
// text as libvirt's parser does (checkNumbers, with libvirt's messages), and ApplyDefaults, which every source
// goes through (XML, YAML and JSON files, defines, RPC calls, xl.cfg), checks the typed spec (checkRanges, naming
// the field), so a quantity that does not fit never reaches the hypervisor as a wrapped or truncated number.

// MaxMemoryKiB is the largest memory size libvirt accepts: virDomainParseMemory scales the value to bytes, caps
// it at LLONG_MAX (virMemoryMaxValue on 64-bit hosts) and refuses a size that is not below LLONG_MAX bytes
// rounded up to KiB.
const MaxMemoryKiB = 1<<53 - 1

// maxMemory is MaxMemoryKiB as a quantity: the largest memory size a spec may give.
var maxMemory = *resource.NewQuantity(MaxMemoryKiB*1024, resource.BinarySI)

// clamped is the value the quantity parser gives a binary quantity too large for an int64.
var clamped = *resource.NewQuantity(1<<63-1, resource.BinarySI)

// Xen's limits on a domain's vcpus (Xen 4.17, as libvirt advertises them in its domain capabilities): HVM guests,
// and PVH guests, which Xen builds as HVM containers, get HVM_MAX_VCPUS; PV guests MAX_VIRT_CPUS.
const (
	maxVCPUsHVM = 128
	maxVCPUsPV  = 512
)

// MaxVCPUs returns the most vcpus Xen gives a domain of the os type (hvm, xen, xenpvh) of a spec.
func MaxVCPUs(osType string) uint32 {
	if osType == "xen" || osType == "linux" {
		return maxVCPUsPV
	}
	return maxVCPUsHVM
}

// parseMemory is virDomainParseMemory: the decimal text scaled by unit (virScaleInteger, KiB without a unit),
// rounded up to KiB. xpath names the value in libvirt's messages ("./memory[1]").
func parseMemory(text, unit, xpath string) (uint64, error) {
	v, err := strconv.ParseUint(strings.TrimSpace(text), 10, 64)
	if err != nil {
		return 0, &RangeError{kind: ErrInvalid, Value: text,
			Msg: fmt.Sprintf("Invalid value '%s' for element or attribute '%s'", text, xpath)}
	}
	scale, err := unitScale(unit)
	if err != nil {
		return 0, invalidf("unknown suffix '%s'", unit)
	}
	const llongMax = 1<<63 - 1
	if v != 0 && v > llongMax/scale {
		return 0, &RangeError{kind: ErrOverflow, Value: text + unit, Msg: fmt.Sprintf("value too large: %d%s", v, unit)}
	}
	kib := (v*scale + 1023) / 1024
	if kib > MaxMemoryKiB {
		return 0, &RangeError{kind: ErrOverflow, Value: text + unit, Msg: "size value too large"}
	}
	return kib, nil
}

// checkNumbers checks, before the document is decoded, the numbers libvirt's parser reads with its own bounds: the
// memory sizes and the vcpu counts. Decoding would otherwise wrap them or report them without saying which.
func checkNumbers(root *node) error {
	for _, c := range root.children {
		if c.name.Space != "" {
			continue
		}
		switch c.name.Local {
		case "memory", "currentMemory", "maxMemory":
			unit, _ := c.attr("unit")
			if _, err := parseMemory(c.text, unit, "./"+c.name.Local+"[1]"); err != nil {
				return err
			}
		case "vcpu":
			// virStrToLong_ui: a count must fit an unsigned int.
			if _, err := strconv.ParseUint(c.text, 10, 32); err != nil {
				return &RangeError{kind: ErrInvalid, Value: c.text, Msg: "maximum vcpus count must be an integer"}
			}
			if v, ok := c.attr("current"); ok {
				if _, err := strconv.ParseUint(v, 10, 32); err != nil {
					return &RangeError{kind: ErrInvalid, Value: v, Msg: "current vcpus count must be an integer"}
				}
			}
		case "cpu":
			numa := c.child("numa")
			if numa == nil {
				continue
			}
			for _, cell := range numa.children {
				mem, ok := cell.attr("memory")
				if cell.name.Space != "" || cell.name.Local != "cell" || !ok {
					continue
				}
				unit, _ := cell.attr("unit")
				if _, err := parseMemory(mem, unit, "./@memory"); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// checkRanges checks the numbers of a typed spec, wherever it came from: memory sizes within MaxMemoryKiB and
// not negative, vcpus within what Xen gives the domain's type. The os type must be known (defaultOS).
func checkRanges(spec *v1alpha1.DomainSpec) error {
	mem := func(field string, q *resource.Quantity) error {
		switch {
		case q.Sign() < 0:
			return &RangeError{kind: ErrInvalid, Field: field, Value: q.String(), Msg: "memory size must not be negative"}
		case q.Cmp(maxMemory) > 0:
			v := q.String()
			if q.Cmp(clamped) == 0 {
				// The quantity parser stores any binary quantity beyond int64 as its maximum ("64Ei" included).
				v = ">= " + v
			}
			return &RangeError{kind: ErrOverflow, Field: field, Value: v, Limit: maxMemory.String(),
				Msg: "size value too large"}
		}
		return nil
	}
	if err := mem("memory", &spec.Memory); err != nil {
		return err
	}
	if spec.CurrentMemory != nil {
		if err := mem("currentMemory", spec.CurrentMemory); err != nil {
			return err
		}
	}
	if spec.CPU != nil && spec.CPU.NUMA != nil {
		var total uint64
		for i := range spec.CPU.NUMA.Cells {
			c := &spec.CPU.NUMA.Cells[i]
			if err := mem(fmt.Sprintf("cpu.numa.cells[%d].memory", i), &c.Memory); err != nil {
				return err
			}
			// The cells give the memory size when <memory> is missing: their sum must fit too.
			if total += quantityKiB(c.Memory); total > MaxMemoryKiB {
				return &RangeError{kind: ErrOverflow, Field: "cpu.numa.cells", Value: fmt.Sprintf("%dKi", total),
					Limit: maxMemory.String(), Msg: "size value too large"}
			}
		}
	}
	if v := spec.VCPU; v != nil {
		if limit := MaxVCPUs(spec.OS.Type); v.Count > limit {
			return &RangeError{kind: ErrUnsupported, Field: "vcpu.count", Value: strconv.FormatUint(uint64(v.Count), 10),
				Limit: strconv.FormatUint(uint64(limit), 10),
				Msg: fmt.Sprintf("requested vcpus is greater than max allowable vcpus for the domain: %d > %d",
					v.Count, limit)}
		}
	}
	return nil
}
