package domxml

import (
	"fmt"
	"math"
	"math/bits"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// unitScale returns the multiplier of a libvirt memory unit (virScaleInteger): an empty unit is KiB, "b"/"bytes"
// are bytes, "KB"/"MB"/... powers of 1000 and "k"/"KiB"/"M"/"MiB"/... powers of 1024.
func unitScale(unit string) (uint64, error) {
	if unit == "" {
		return 1024, nil
	}
	u := strings.ToLower(unit)
	switch u {
	case "b", "byte", "bytes":
		return 1, nil
	}
	pos := strings.IndexByte("kmgtpe", u[0])
	if pos < 0 {
		return 0, fmt.Errorf("unknown memory unit %q", unit)
	}
	var base uint64
	switch u[1:] {
	case "", "ib":
		base = 1024
	case "b":
		base = 1000
	default:
		return 0, fmt.Errorf("unknown memory unit %q", unit)
	}
	scale := uint64(1)
	for range pos + 1 {
		scale *= base
	}
	return scale, nil
}

// toKiB scales value by unit and rounds up to whole KiB, as virDomainParseMemory does.
func toKiB(value uint64, unit string) (uint64, error) {
	scale, err := unitScale(unit)
	if err != nil {
		return 0, err
	}
	hi, lo := bits.Mul64(value, scale)
	if hi != 0 || lo > math.MaxInt64 {
		return 0, fmt.Errorf("memory size %d %s is too large", value, unit)
	}
	return (lo + 1023) / 1024, nil
}

// kibQuantity returns a binary quantity of kib KiB.
func kibQuantity(kib uint64) resource.Quantity {
	return *resource.NewQuantity(int64(kib)*1024, resource.BinarySI)
}

// quantityKiB returns the quantity in KiB, rounded up.
func quantityKiB(q resource.Quantity) uint64 {
	v := q.Value()
	if v <= 0 {
		return 0
	}
	return (uint64(v) + 1023) / 1024
}

// parseUint parses a decimal or 0x-prefixed hexadecimal number, as libvirt parses device addresses.
func parseUint(s string) (uint64, error) {
	return strconv.ParseUint(s, 0, 64)
}

// maxCPUSetBit bounds the cpu numbers of a cpuset, as libvirt's bitmaps are bounded.
const maxCPUSetBit = 1 << 16

// canonicalCPUSet parses a libvirt cpuset ("0-3,^2,5") and prints it the way virBitmapFormat does ("0-1,3,5").
func canonicalCPUSet(s string) (string, error) {
	bad := func() (string, error) { return "", invalidf("failed to parse bitmap '%s'", s) }
	set := map[int]bool{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		neg := strings.HasPrefix(item, "^")
		item = strings.TrimPrefix(item, "^")
		lo, hi, isRange := strings.Cut(item, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 || a >= maxCPUSetBit {
			return bad()
		}
		b := a
		if isRange {
			if neg {
				return bad()
			}
			if b, err = strconv.Atoi(hi); err != nil || b < a || b >= maxCPUSetBit {
				return bad()
			}
		}
		for i := a; i <= b; i++ {
			if neg {
				delete(set, i)
			} else {
				set[i] = true
			}
		}
	}
	bits := make([]int, 0, len(set))
	for i := range set {
		bits = append(bits, i)
	}
	sort.Ints(bits)
	var parts []string
	for i := 0; i < len(bits); {
		j := i
		for j+1 < len(bits) && bits[j+1] == bits[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(bits[i]))
		} else {
			parts = append(parts, strconv.Itoa(bits[i])+"-"+strconv.Itoa(bits[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ","), nil
}
