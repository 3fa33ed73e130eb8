package xlcfg

import (
	"errors"
	"fmt"
)

// ErrSyntax is matched (errors.Is) by errors about text that is not a valid native configuration: the config
// syntax itself, a disk specification xl cannot read, an entry of the wrong shape. The RPC layer maps it to
// VIR_ERR_CONF_SYNTAX.
var ErrSyntax = errors.New("xen config syntax error")

// ErrUnsupported is matched by errors about valid configuration that libvirt's Xen driver cannot convert: an
// unknown domain type, a disk backend or network type it has no equivalent for. The RPC layer maps it to
// VIR_ERR_CONFIG_UNSUPPORTED.
var ErrUnsupported = errors.New("unsupported xen config")

// ErrInvalid is matched by errors about a malformed value of a known key (a MAC address, a PCI address, a rate).
// libvirt reports these as VIR_ERR_INTERNAL_ERROR.
var ErrInvalid = errors.New("invalid xen config")

// kindError is an error that matches one of the sentinels while keeping its own message and cause.
type kindError struct {
	kind error
	msg  string
	err  error
}

func (e *kindError) Error() string {
	if e.msg == "" && e.err != nil {
		return e.err.Error()
	}
	return e.msg
}

func (e *kindError) Is(target error) bool { return target == e.kind }
func (e *kindError) Unwrap() error        { return e.err }

func syntaxf(format string, args ...any) error {
	return &kindError{kind: ErrSyntax, msg: fmt.Sprintf(format, args...)}
}

func unsupportedf(format string, args ...any) error {
	return &kindError{kind: ErrUnsupported, msg: fmt.Sprintf(format, args...)}
}

func invalidf(format string, args ...any) error {
	return &kindError{kind: ErrInvalid, msg: fmt.Sprintf(format, args...)}
}
