//go:build xenlight

package xenlight

import (
	"errors"
	"fmt"

	"github.com/virtxend/virtxend/libxl"
)

// ErrClosed is returned by every method once Close has been called.
var ErrClosed = errors.New("xenlight: hypervisor closed")

// libxl_error codes (libxl_types.idl of Xen 4.17). xenlight.go checks at compile time that they match the C
// header, so that this file stays free of cgo and its mapping can be unit-tested.
const (
	errNonspecific        = -1
	errVersion            = -2
	errFail               = -3
	errNI                 = -4
	errNomem              = -5
	errInval              = -6
	errBadfail            = -7
	errGuestTimedout      = -8
	errTimedout           = -9
	errNoparavirt         = -10
	errNotReady           = -11
	errOseventRegFail     = -12
	errBufferfull         = -13
	errUnknownChild       = -14
	errLockFail           = -15
	errJSONConfigEmpty    = -16
	errDeviceExists       = -17
	errCheckpointDevops   = -18
	errCheckpointDevice   = -19
	errVnumaConfigInvalid = -20
	errDomainNotfound     = -21
	errAborted            = -22
	errNotfound           = -23
	errDomainDestroyed    = -24
	errFeatureRemoved     = -25
	errProtocolErrorQMP   = -26
	errUnknownQMPError    = -27
	errQMPGenericError    = -28
	errQMPCommandNotFound = -29
	errQMPDeviceNotActive = -30
	errQMPDeviceNotFound  = -31
	errQemuAPI            = -32
	errParse              = -1000 // VX_EPARSE in vx.h: libxl's JSON parser refused the input
)

var codeNames = map[int]string{
	errNonspecific:        "non-specific error",
	errVersion:            "wrong version",
	errFail:               "failed",
	errNI:                 "not implemented",
	errNomem:              "out of memory",
	errInval:              "invalid argument",
	errBadfail:            "bad failure",
	errGuestTimedout:      "guest timed out",
	errTimedout:           "timed out",
	errNoparavirt:         "guest has no paravirtualized drivers",
	errNotReady:           "not ready",
	errOseventRegFail:     "os event registration failed",
	errBufferfull:         "buffer full",
	errUnknownChild:       "unknown child",
	errLockFail:           "lock failed",
	errJSONConfigEmpty:    "JSON config empty",
	errDeviceExists:       "device exists",
	errCheckpointDevops:   "checkpoint device ops do not match",
	errCheckpointDevice:   "checkpoint device not supported",
	errVnumaConfigInvalid: "vNUMA config invalid",
	errDomainNotfound:     "domain not found",
	errAborted:            "aborted",
	errNotfound:           "not found",
	errDomainDestroyed:    "domain destroyed",
	errFeatureRemoved:     "feature removed",
	errProtocolErrorQMP:   "QMP protocol error",
	errUnknownQMPError:    "unknown QMP error",
	errQMPGenericError:    "QMP generic error",
	errQMPCommandNotFound: "QMP command not found",
	errQMPDeviceNotActive: "QMP device not active",
	errQMPDeviceNotFound:  "QMP device not found",
	errQemuAPI:            "QEMU API error",
	errParse:              "libxl cannot parse the JSON",
}

// Error is a failed libxenlight call. Code is the libxl_error it returned; Unwrap gives the libxl sentinel
// (libxl.ErrNoDomain, ...) the failure means for callers, when there is one.
type Error struct {
	// Op is the libxl function that failed, e.g. "libxl_domain_pause".
	Op string
	// Code is the libxl_error (negative).
	Code int
	// Err is the sentinel error the failure maps to, or nil.
	Err error
}

// Error names the call and libxl's code.
func (e *Error) Error() string {
	name, ok := codeNames[e.Code]
	if !ok {
		name = "unknown error"
	}
	return fmt.Sprintf("%s: %s (libxl error %d)", e.Op, name, e.Code)
}

// Unwrap returns the sentinel the failure maps to.
func (e *Error) Unwrap() error { return e.Err }

// sentinelFor maps a libxl_error to the sentinel of the libxl package that callers decide on, or nil.
func sentinelFor(code int) error {
	switch code {
	case errDomainNotfound, errDomainDestroyed:
		return libxl.ErrNoDomain
	case errNomem:
		return libxl.ErrNoMemory
	case errInval, errJSONConfigEmpty, errVnumaConfigInvalid, errParse:
		return libxl.ErrInvalid
	case errDeviceExists:
		return libxl.ErrDevExists
	case errNotfound, errQMPDeviceNotFound:
		return libxl.ErrNoDevice
	case errNoparavirt:
		return libxl.ErrBadState
	}
	return nil
}

// newError describes a failed call, with the sentinel its code maps to.
func newError(op string, code int) *Error {
	return &Error{Op: op, Code: code, Err: sentinelFor(code)}
}
