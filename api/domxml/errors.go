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
