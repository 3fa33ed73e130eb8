package rpc

import (
	"errors"
	"fmt"
	"syscall"

	libvirt "github.com/digitalocean/go-libvirt"
)

// Error is a libvirt error as an error reply carries it (remote_error, virNetMessageError). Handlers return it,
// directly or wrapped, to answer with a specific code; any other error becomes CodeInternalError.
type Error struct {
	// Code is the error number clients branch on (virsh falls back on CodeNoSupport only, for example).
	Code Code
	// Domain is the part of libvirt that raised the error.
	Domain ErrorDomain
	// Message is the complete text the client prints, template included ("internal error: ...").
	Message string
	// Level is the severity; the zero value is sent as LevelError.
	Level Level
	// Dom optionally names the domain the error is about.
	Dom *libvirt.Domain
	// Str1, Str2 and Str3 are the extra strings of virError; empty means absent.
	Str1, Str2, Str3 string
	// Int1 and Int2 are the extra integers of virError.
	Int1, Int2 int32
	// Net optionally names the network the error is about.
	Net *libvirt.Network
}

// Error returns the message, as virsh prints it after "error: ".
func (e *Error) Error() string { return e.Message }

// NewError builds the error libvirt raises with virReportError(code, "%s", detail) from domain: the message is
// the code's template filled with detail, or the template alone when detail is empty.
func NewError(code Code, domain ErrorDomain, detail string) *Error {
	tmpl, ok := messageTemplates[code]
	if !ok {
		tmpl = [2]string{fmt.Sprintf("unknown error %d", code), "%s"}
	}
	e := &Error{Code: code, Domain: domain, Level: LevelError, Int1: -1, Int2: -1}
	if detail == "" {
		e.Message = tmpl[0]
		e.Str1 = tmpl[0]
		return e
	}
	e.Message = fmt.Sprintf(tmpl[1], detail)
	e.Str1 = tmpl[1]
	e.Str2 = detail
	return e
}

// Errorf is NewError with a formatted detail.
func Errorf(code Code, domain ErrorDomain, format string, args ...any) *Error {
	return NewError(code, domain, fmt.Sprintf(format, args...))
}

// SystemError builds the error libvirt's virReportSystemError raises from domain: VIR_ERR_SYSTEM_ERROR whose
// message is the formatted detail, ": ", and the system's text for the errno err wraps, worded as C's strerror
// ("cannot write data to file '/etc/libvirt/libxl/web.xml': No space left on device").
func SystemError(domain ErrorDomain, err error, format string, args ...any) *Error {
	return Errorf(CodeSystemError, domain, "%s: %s", fmt.Sprintf(format, args...), Strerror(err))
}

// Strerror renders the errno err wraps as C's strerror does (Go's texts are strerror's with a lower-case first
// letter); an error without an errno gives its own text.
func Strerror(err error) string {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err.Error()
	}
	s := errno.Error()
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		s = string(s[0]-'a'+'A') + s[1:]
	}
	return s
}

// ErrNoSupport is the error for a procedure the protocol knows but virtxend does not implement:
// "this function is not supported by the connection driver: virDomainBlockPeek". api is the public API name.
func ErrNoSupport(api string) *Error {
	return NewError(CodeNoSupport, apiErrorDomain(api), api)
}

// ErrReadOnly is the error for a mutating call on a read-only connection:
// "operation forbidden: read only access prevents virDomainDestroy".
func ErrReadOnly(api string) *Error {
	return NewError(CodeOperationDenied, apiErrorDomain(api), "read only access prevents "+api)
}

// ErrNotOpen is the error for a call that needs CONNECT_OPEN first.
func ErrNotOpen() *Error {
	return NewError(CodeInternalError, DomainRPC, "hypervisor connection not open")
}

// ErrInvalidFlags is the error for flags a procedure does not accept, as virCheckFlags raises it.
func ErrInvalidFlags(domain ErrorDomain, flags uint32, api string) *Error {
	return Errorf(CodeInvalidArg, domain, "unsupported flags (0x%x) in function %s", flags, api)
}

func errUnknownProcedure(proc int32) *Error {
	return Errorf(CodeRPC, DomainRPC, "unknown procedure: %d", proc)
}

func errUnknownProgram(h Header) *Error {
	return Errorf(CodeRPC, DomainRPC, "Cannot find program %d version %d", int32(h.Program), int32(h.Version))
}

func errDecode() *Error {
	return NewError(CodeRPC, DomainRPC, "Unable to decode message payload")
}

// errEncode is libvirt's error for a reply that cannot be encoded: past a protocol bound, or over the message
// limit.
func errEncode() *Error {
	return NewError(CodeRPC, DomainRPC, "Unable to encode message payload")
}

// AsError returns err as an *Error: the *Error it wraps, if any, or an internal error from fallback carrying
// err's text.
func AsError(err error, fallback ErrorDomain) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return NewError(CodeInternalError, fallback, err.Error())
}

// CodeOf returns the code of the *Error err wraps, or 0 (VIR_ERR_OK) when it wraps none.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// wireError is remote_error field by field.
type wireError struct {
	Code    int32
	Domain  int32
	Message libvirt.OptString
	Level   int32
	Dom     libvirt.OptDomain
	Str1    libvirt.OptString
	Str2    libvirt.OptString
	Str3    libvirt.OptString
	Int1    int32
	Int2    int32
	Net     libvirt.OptNetwork
}

func opt(s string) libvirt.OptString {
	if s == "" {
		return nil
	}
	return libvirt.OptString{s}
}

func unopt(s libvirt.OptString) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// MarshalError returns the XDR encoding of e as the body of an error reply. The message is always present:
// go-libvirt's client reads it unconditionally.
func MarshalError(e *Error) []byte {
	w := wireError{
		Code:    int32(e.Code),
		Domain:  int32(e.Domain),
		Message: libvirt.OptString{e.Message},
		Level:   int32(e.Level),
		Str1:    opt(e.Str1),
		Str2:    opt(e.Str2),
		Str3:    opt(e.Str3),
		Int1:    e.Int1,
		Int2:    e.Int2,
	}
	if w.Level == int32(LevelNone) {
		w.Level = int32(LevelError)
	}
	if e.Dom != nil {
		w.Dom = libvirt.OptDomain{*e.Dom}
	}
	if e.Net != nil {
		w.Net = libvirt.OptNetwork{*e.Net}
	}
	b, err := Marshal(&w)
	if err != nil {
		panic(fmt.Sprintf("rpc: encode remote_error: %v", err)) // wireError has only encodable fields
	}
	return b
}

// UnmarshalError decodes the body of an error reply.
func UnmarshalError(body []byte) (*Error, error) {
	var w wireError
	if err := Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("decode remote_error: %w", err)
	}
	e := &Error{
		Code:    Code(w.Code),
		Domain:  ErrorDomain(w.Domain),
		Message: unopt(w.Message),
		Level:   Level(w.Level),
		Str1:    unopt(w.Str1),
		Str2:    unopt(w.Str2),
		Str3:    unopt(w.Str3),
		Int1:    w.Int1,
		Int2:    w.Int2,
	}
	if len(w.Dom) > 0 {
		e.Dom = &w.Dom[0]
	}
	if len(w.Net) > 0 {
		e.Net = &w.Net[0]
	}
	return e, nil
}
