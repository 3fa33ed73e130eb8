package xlcfg

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// kibQuantity is a memory size of kib KiB.
func kibQuantity(kib uint64) resource.Quantity {
	return *resource.NewQuantity(int64(kib)*1024, resource.BinarySI)
}

// quantityKiB is a memory size in KiB, rounded up.
func quantityKiB(q resource.Quantity) uint64 {
	b := q.Value()
	if b <= 0 {
		return 0
	}
	return (uint64(b) + 1023) / 1024
}

// mibUp is VIR_DIV_UP(kib, 1024): KiB to MiB, rounded up.
func mibUp(kib uint64) int64 { return int64((kib + 1023) / 1024) }

func ptr[T any](v T) *T { return &v }

func u32val(p *uint32) uint32 {
	if p == nil {
		return 0
	}
	return *p
}

// parseBitmap is virBitmapParse: a comma-separated list of numbers, ranges "a-b" and exclusions "^n", applied in
// order; every number must be below size.
func parseBitmap(s string, size int) ([]int, error) {
	set := map[int]bool{}
	bad := func() ([]int, error) { return nil, fmt.Errorf("failed to parse bitmap '%s'", s) }
	num := func(t string) (int, bool) {
		n, err := strconv.Atoi(t)
		return n, err == nil && n >= 0 && n < size && !strings.HasPrefix(t, "+")
	}
	for _, tok := range strings.Split(s, ",") {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			return bad()
		}
		if strings.HasPrefix(tok, "^") {
			n, ok := num(strings.TrimSpace(tok[1:]))
			if !ok {
				return bad()
			}
			delete(set, n)
			continue
		}
		lo, hi, isRange := strings.Cut(tok, "-")
		a, ok := num(strings.TrimSpace(lo))
		if !ok {
			return bad()
		}
		b := a
		if isRange {
			if b, ok = num(strings.TrimSpace(hi)); !ok || b < a {
				return bad()
			}
		}
		for i := a; i <= b; i++ {
			set[i] = true
		}
	}
	out := make([]int, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Ints(out)
	return out, nil
}

// formatBitmap is virBitmapFormat: runs of consecutive bits as "a-b", others as "n".
func formatBitmap(bits []int) string {
	var b strings.Builder
	for i := 0; i < len(bits); {
		j := i
		for j+1 < len(bits) && bits[j+1] == bits[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(bits[i]))
		if j > i {
			b.WriteString("-" + strconv.Itoa(bits[j]))
		}
		i = j + 1
	}
	return b.String()
}

// canonicalCPUSet parses and reprints a cpuset the way libvirt prints it.
func canonicalCPUSet(s string) (string, error) {
	bits, err := parseBitmap(s, 4096)
	if err != nil {
		return "", err
	}
	return formatBitmap(bits), nil
}

// canonicalUUID is virUUIDParse then virUUIDFormat: 32 hex digits, with dashes and spaces anywhere between
// them, leading spaces and trailing white space.
func canonicalUUID(s string) (string, bool) {
	cur := strings.TrimLeft(s, " ")
	var digits []byte
	for len(digits) < 32 {
		if cur == "" {
			return "", false
		}
		c := cur[0]
		if c == '-' || c == ' ' {
			cur = cur[1:]
			continue
		}
		if len(cur) < 2 || !isHex(cur[0]) || !isHex(cur[1]) {
			return "", false
		}
		digits = append(digits, cur[0], cur[1])
		cur = cur[2:]
	}
	if strings.TrimSpace(cur) != "" {
		return "", false
	}
	d := strings.ToLower(string(digits))
	return d[0:8] + "-" + d[8:12] + "-" + d[12:16] + "-" + d[16:20] + "-" + d[20:32], true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// canonicalMAC is virMacAddrParse then virMacAddrFormat: six groups of one or two hex digits separated by ':'.
func canonicalMAC(s string) (string, bool) {
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return "", false
	}
	var b strings.Builder
	for i, p := range parts {
		if len(p) < 1 || len(p) > 2 || !isHex(p[0]) || !isHex(p[len(p)-1]) {
			return "", false
		}
		n, _ := strconv.ParseUint(p, 16, 8)
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02x", n)
	}
	return b.String(), true
}

// ipFamily returns the family libvirt records for an address, or false when s is not a numeric address.
func ipFamily(s string) (string, bool) {
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil || a.Zone() != "":
		return "", false
	case a.Is4():
		return "ipv4", true
	}
	return "ipv6", true
}
