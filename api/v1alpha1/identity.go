package v1alpha1

import (
	"fmt"
	"strings"
)

// DomainName is the libvirt name of the domain the object describes: spec.domain.name, else the object's name.
func (d *XenDomain) DomainName() string {
	if d.Spec.Domain.Name != "" {
		return d.Spec.Domain.Name
	}
	return d.Name
}

// DomainUUID is the domain's identity, in the lowercase dashed form: spec.domain.uuid, else the object's UID.
// The UID is only a fallback for an object created without a UUID (an API server assigns it, and it is a
// UUID); the ownership marker, adoption and every lookup key on this value, never on metadata.uid itself, so
// that a domain keeps its identity when its object is re-created.
func (d *XenDomain) DomainUUID() string {
	if u, ok := CanonicalUUID(d.Spec.Domain.UUID); ok {
		return u
	}
	return strings.ToLower(string(d.UID))
}

// CanonicalUUID returns s in the lowercase dashed form, accepting the spellings libvirt accepts (dashes
// anywhere or nowhere, any case); ok is false when s is not a UUID.
func CanonicalUUID(s string) (string, bool) {
	if IsCanonicalUUID(s) {
		return s, true // the common case, without a new string: every stored object's UUID is canonical
	}
	var hex [32]byte
	n := 0
	for _, c := range strings.TrimSpace(s) {
		switch {
		case c == '-':
			continue
		case n == len(hex):
			return "", false
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
			hex[n] = byte(c)
		case c >= 'A' && c <= 'F':
			hex[n] = byte(c - 'A' + 'a')
		default:
			return "", false
		}
		n++
	}
	if n != len(hex) {
		return "", false
	}
	h := string(hex[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], true
}

// ParseUUID is CanonicalUUID with libvirt's wording of the error, for the definitions a user writes.
func ParseUUID(s string) (string, error) {
	if u, ok := CanonicalUUID(s); ok {
		return u, nil
	}
	return "", fmt.Errorf("invalid uuid %q", s)
}

// IsCanonicalUUID says whether s is already in the lowercase dashed form (8-4-4-4-12).
func IsCanonicalUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}
