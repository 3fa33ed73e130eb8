package defines

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/google/uuid"

	"github.com/virtxend/virtxend/api/v1alpha1"
)

// uuidNamespace is the namespace of the name-based UUIDs given to definitions without one. It is the same as
// package specdir's, so a name maps to one UUID whichever source describes it, and must never change.
var uuidNamespace = uuid.MustParse("2564fcd5-c89c-48f5-b1a4-acce72c770c3")

func nameUUID(name string) string { return uuid.NewSHA1(uuidNamespace, []byte(name)).String() }

// canonicalUUID accepts the spellings libvirt accepts and returns the lowercase dashed form.
func canonicalUUID(s string) (string, error) {
	u, err := uuid.Parse(strings.ReplaceAll(strings.TrimSpace(s), "-", ""))
	if err != nil {
		return "", fmt.Errorf("invalid uuid %q", s)
	}
	return u.String(), nil
}

// domainUUID is the identity of an object: its domain UUID (canonical), else its UID. The two are equal for
// defines; comparing domain UUIDs keeps Load right whatever the UIDs are.
func domainUUID(o *v1alpha1.XenDomain) string {
	if u, err := canonicalUUID(o.Spec.Domain.UUID); err == nil {
		return u
	}
	return string(o.UID)
}

// validName applies libvirt's rules for a domain name (non-empty, no newline) plus what a file name needs.
func validName(name string) error {
	switch {
	case name == "":
		return errors.New("domain has no name")
	case name == "." || name == "..", strings.ContainsAny(name, "/\n\x00"):
		return fmt.Errorf("invalid domain name %q", name)
	}
	return nil
}

// seededRand is a deterministic byte stream (SHA-256 in counter mode) standing in for domxml.ApplyDefaults'
// random source, so that a hand-written definition without MAC addresses gets the same ones on every load.
type seededRand struct {
	seed []byte
	ctr  uint64
	buf  []byte
}

func newSeededRand(seed string) io.Reader {
	return &seededRand{seed: []byte("virtxend-defaults\x00" + seed)}
}

// Read fills p; it never fails.
func (r *seededRand) Read(p []byte) (int, error) {
	for n := 0; n < len(p); {
		if len(r.buf) == 0 {
			h := sha256.New()
			h.Write(r.seed)
			var c [8]byte
			binary.BigEndian.PutUint64(c[:], r.ctr)
			h.Write(c[:])
			r.ctr++
			r.buf = h.Sum(nil)
		}
		c := copy(p[n:], r.buf)
		r.buf = r.buf[c:]
		n += c
	}
	return len(p), nil
}
