package defines

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// uuidNamespace is the namespace of the name-based UUIDs given to definitions without one. It is the same as
// package specdir's, so a name maps to one UUID whichever source describes it, and must never change.
var uuidNamespace = uuid.MustParse("2564fcd5-c89c-48f5-b1a4-acce72c770c3")

func nameUUID(name string) string { return uuid.NewSHA1(uuidNamespace, []byte(name)).String() }

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
