package specdir

import (
	"github.com/google/uuid"
)

// uuidNamespace is the namespace of the name-based UUIDs given to domains whose file has none. It must never
// change: the UUID is the object's UID, which running domains carry in their ownership marker.
var uuidNamespace = uuid.MustParse("2564fcd5-c89c-48f5-b1a4-acce72c770c3")

// NameUUID returns the UUID a domain named name gets when its file has none: a version 5 (SHA-1) UUID of the
// name in a fixed namespace, the same on every host and every run.
func NameUUID(name string) string {
	return uuid.NewSHA1(uuidNamespace, []byte(name)).String()
}
