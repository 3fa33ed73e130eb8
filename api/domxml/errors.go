package domxml

import (
	"errors"
	"fmt"
)

// ErrInvalid is matched (errors.Is) by every error about XML that is not a valid libvirt domain definition:
// malformed XML, a missing name, a malformed value. The RPC layer maps it to VIR_ERR_XML_ERROR or
// VIR_ERR_XML_DETAIL.
var ErrInvalid = errors.New("invalid domain XML")

// ErrUnsupported is matched (errors.Is) by every error about valid libvirt domain XML that the Xen driver does not
// support: an element, attribute or value outside what libxl honours. The RPC layer maps it to
// VIR_ERR_CONFIG_UNSUPPORTED.
var ErrUnsupported = errors.New("unsupported domain XML")

// ErrOverflow is matched (errors.Is) by every error about a number too large for libvirt (VIR_ERR_OVERFLOW): a
// memory size beyond MaxMemoryKiB. Such an error matches ErrInvalid too.
var ErrOverflow = errors.New("value too large")

// RangeError is a number of a definition that libvirt does not accept: a memory size that does not fit, a vcpu
// count that is not a number or more than Xen gives a domain. Error returns libvirt's message, for the XML path;
// a reader of a typed spec (YAML, JSON) names Field instead. It matches ErrInvalid (ErrOverflow for sizes too
// large) or, for more vcpus than Xen allows, ErrUnsupported.
type RangeError struct {
	Field string // the field below spec.domain, e.g. "memory", "cpu.numa.cells[1].memory"; empty in XML checks
	Value string // the value as given, e.g. "64Ei"
	Limit string // the largest value accepted, when there is one
	Msg   string // libvirt's message, e.g. "size value too large"
	kind  error
}

// Error returns libvirt's message.
func (e *RangeError) Error() string { return e.Msg }

// FieldError returns the error as a reader of a typed spec shows it, naming the field below prefix: with prefix
// "spec.domain.", "spec.domain.memory: 64Ei: size value too large (at most 9007199254740991Ki)". It wraps e.
func (e *RangeError) FieldError(prefix string) error {
	msg := prefix + e.Field + ": " + e.Value + ": " + e.Msg
	if e.Limit != "" {
		msg += " (at most " + e.Limit + ")"
	}
	return &fieldError{msg: msg, err: e}
}

// fieldError is a RangeError worded for a typed spec.
type fieldError struct {
	msg string
	err *RangeError
}

func (e *fieldError) Error() string { return e.msg }
func (e *fieldError) Unwrap() error { return e.err }

// Is matches the error's kind, and ErrInvalid for an overflow.
func (e *RangeError) Is(target error) bool {
	return target == e.kind || (e.kind == ErrOverflow && target == ErrInvalid)
}

// SyntaxError is malformed XML, with the position where the parser stopped (1-based line and column; the column
// counts bytes). It matches ErrInvalid.
type SyntaxError struct {
	Line   int    // 1-based line
	Column int    // 1-based byte column within the line
	Msg    string // what the XML parser found, e.g. "element <memory> closed by </domain>"
}

// Error returns "domain XML: line L, column C: MSG".
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("domain XML: line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

// Is makes a SyntaxError match ErrInvalid.
func (e *SyntaxError) Is(target error) bool { return target == ErrInvalid }

// kindError is an error that matches one of the sentinels while keeping its own message.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == e.kind }

// invalidf returns an error matching ErrInvalid.
func invalidf(format string, args ...any) error {
	return &kindError{kind: ErrInvalid, msg: fmt.Sprintf(format, args...)}
}

// unsupportedf returns an error matching ErrUnsupported.
func unsupportedf(format string, args ...any) error {
	return &kindError{kind: ErrUnsupported, msg: fmt.Sprintf(format, args...)}
}
