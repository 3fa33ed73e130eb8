package rpc

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"
)

// ProcInfo describes one procedure of a program, as the generated tables record it.
type ProcInfo struct {
	// Number is the procedure number.
	Number int32
	// Name is the protocol's name, e.g. REMOTE_PROC_DOMAIN_DESTROY.
	Name string
	// API is the public API the procedure serves, e.g. virDomainDestroy; error messages name it.
	API string
	// ReadOnlyOK allows the procedure on a read-only connection.
	ReadOnlyOK bool
	// PreOpen allows the procedure before the connection is opened (authentication, feature probes, open).
	PreOpen bool
	// Priority marks libvirt's high-priority procedures (informational: every call gets its own goroutine).
	Priority bool
	// Inline serves the procedure on the goroutine that reads the connection instead of a goroutine of its own:
	// the cheapest round trip, for handlers that only read memory and never wait (see the Inline option).
	Inline bool
	// Message marks a server-to-client event message, which a client cannot call.
	Message bool
}

// Handler serves one procedure from the XDR body of a call and returns the XDR body of the reply. Returning an
// error (an *Error, or anything wrapping one) sends an error reply instead.
type Handler func(ctx context.Context, call *Call, body []byte) ([]byte, error)

// appendHandler is the internal form of every handler: it appends the reply body to dst.
type appendHandler func(ctx context.Context, call *Call, body, dst []byte) ([]byte, error)

// ProcOption adjusts the flags of a registered procedure.
type ProcOption func(*ProcInfo)

// ReadOnlyOK overrides whether the procedure is allowed on read-only connections.
func ReadOnlyOK(ok bool) ProcOption { return func(i *ProcInfo) { i.ReadOnlyOK = ok } }

// PreOpen overrides whether the procedure is allowed before the connection is opened.
func PreOpen(ok bool) ProcOption { return func(i *ProcInfo) { i.PreOpen = ok } }

// Inline serves the procedure on the connection's reading goroutine. Only for handlers that return at once,
// whatever happens elsewhere (they read memory, take no lock held across slow work and wait for nothing): while
// one runs, that client's next packets are not read. The *Call and the arguments such a handler gets are reused
// by later inline calls: it must not keep them once it returned (what it copied out of them, strings included,
// is its own).
func Inline() ProcOption { return func(i *ProcInfo) { i.Inline = true } }

type procEntry struct {
	info   ProcInfo
	handle appendHandler
}

// Program is one RPC program (REMOTE, ADMIN): its procedure table and the handlers registered for it. Register
// handlers before the server starts serving; a procedure of the table without a handler answers
// CodeNoSupport, a procedure outside the table answers CodeRPC "unknown procedure".
type Program struct {
	id          uint32
	version     uint32
	name        string
	requireOpen bool
	errDomain   ErrorDomain
	table       map[int32]ProcInfo

	mu       sync.RWMutex
	handlers map[int32]*procEntry
	errMap   func(error) error
}

// ProgramConfig describes a program to NewProgram.
type ProgramConfig struct {
	// ID is the program number.
	ID uint32
	// Version is the program version (ProtocolVersion when zero).
	Version uint32
	// Name names the program in logs.
	Name string
	// Procedures is the table of procedures the protocol defines.
	Procedures []ProcInfo
	// RequireOpen refuses procedures without PreOpen until Client.SetOpened.
	RequireOpen bool
	// ErrorDomain is the domain of the internal errors made from plain Go errors returned by handlers.
	ErrorDomain ErrorDomain
}

// NewProgram returns a program with no handlers.
func NewProgram(cfg ProgramConfig) *Program {
	p := &Program{
		id:          cfg.ID,
		version:     cfg.Version,
		name:        cfg.Name,
		requireOpen: cfg.RequireOpen,
		errDomain:   cfg.ErrorDomain,
		table:       make(map[int32]ProcInfo, len(cfg.Procedures)),
		handlers:    make(map[int32]*procEntry),
	}
	if p.version == 0 {
		p.version = ProtocolVersion
	}
	for _, info := range cfg.Procedures {
		p.table[info.Number] = info
	}
	return p
}

// ID returns the program number.
func (p *Program) ID() uint32 { return p.id }

// Version returns the program version.
func (p *Program) Version() uint32 { return p.version }

// Name returns the program's name.
func (p *Program) Name() string { return p.name }

// Info returns what the protocol table says about proc.
func (p *Program) Info(proc int32) (ProcInfo, bool) {
	info, ok := p.table[proc]
	return info, ok
}

// Effective returns what is in force for proc: the flags of its registered handler (which may override the
// table's), else the table's.
func (p *Program) Effective(proc int32) (ProcInfo, bool) {
	info, _, ok := p.lookup(proc)
	return info, ok
}

// Implemented reports whether a handler is registered for proc.
func (p *Program) Implemented(proc int32) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.handlers[proc] != nil
}

// MapErrors makes the program answer every error a handler returns through fn first: the one place where the
// errors of the layers below (a store's NotFound, a file's errno...) become libvirt's. An error fn returns that
// wraps no *Error is answered as an internal error, as without fn. Set it before serving, like the handlers.
func (p *Program) MapErrors(fn func(error) error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errMap = fn
}

// mapError is err as the program's error map makes it.
func (p *Program) mapError(err error) error {
	p.mu.RLock()
	fn := p.errMap
	p.mu.RUnlock()
	if fn == nil {
		return err
	}
	return fn(err)
}

// Handle registers a raw handler for proc, replacing any earlier one.
func (p *Program) Handle(proc int32, h Handler, opts ...ProcOption) {
	p.register(proc, func(ctx context.Context, call *Call, body, dst []byte) ([]byte, error) {
		out, err := h(ctx, call, body)
		if err != nil {
			return dst, err
		}
		return append(dst, out...), nil
	}, opts)
}

func (p *Program) register(proc int32, h appendHandler, opts []ProcOption) {
	info, ok := p.table[proc]
	if !ok {
		info = ProcInfo{Number: proc, Name: fmt.Sprintf("%s_PROC_%d", p.name, proc), API: fmt.Sprintf("procedure %d", proc)}
	}
	for _, o := range opts {
		o(&info)
	}
	info.Message = false
	p.mu.Lock()
	defer p.mu.Unlock()
	p.handlers[proc] = &procEntry{info: info, handle: h}
}

func (p *Program) lookup(proc int32) (ProcInfo, *procEntry, bool) {
	p.mu.RLock()
	e := p.handlers[proc]
	p.mu.RUnlock()
	if e != nil {
		return e.info, e, true
	}
	info, ok := p.table[proc]
	if !ok || info.Message {
		return ProcInfo{}, nil, false
	}
	return info, nil, true
}

// Register registers fn for proc: the call body is decoded into a new A, and the *R fn returns is encoded as the
// reply (a nil *R encodes R's zero value). Use struct{} for a procedure without arguments or return values.
// It panics when A or R has no XDR mapping, which is a programming error.
func Register[A, R any](p *Program, proc int32, fn func(ctx context.Context, call *Call, args *A) (*R, error), opts ...ProcOption) {
	for _, t := range []reflect.Type{reflect.TypeFor[A](), reflect.TypeFor[R]()} {
		if _, err := codecFor(t); err != nil {
			panic(fmt.Sprintf("rpc: register procedure %d: %v", proc, err))
		}
	}
	// An inline handler keeps nothing of its call once it returned (Inline): its arguments' record is reused.
	argsPool := sync.Pool{New: func() any { return new(A) }}
	p.register(proc, func(ctx context.Context, call *Call, body, dst []byte) ([]byte, error) {
		var args *A
		if call.Info.Inline {
			var zero A
			args = argsPool.Get().(*A)
			*args = zero
			defer argsPool.Put(args)
		} else {
			args = new(A)
		}
		if err := unmarshalWith(&call.dec, body, args); err != nil {
			call.decodeErr = err
			return dst, errDecode()
		}
		ret, err := fn(ctx, call, args)
		if err != nil {
			return dst, err
		}
		if ret == nil {
			ret = new(R)
		}
		out, err := appendXDRWith(&call.enc, dst, ret)
		if err != nil {
			call.encodeErr = err
			return dst, errEncode()
		}
		return out, nil
	}, opts)
}

// Call is one procedure call being served. A handler owns it until it returns.
type Call struct {
	// Client is the connection the call came from.
	Client *Client
	// Header is the call's header.
	Header Header
	// Info describes the procedure.
	Info ProcInfo

	program    *Program
	streams    []*Stream
	closeAfter bool
	decodeErr  error // why the arguments did not decode, for the log
	encodeErr  error // why the reply did not encode, for the log
	held       int   // bytes of the call counted against the connection's budget until its reply
	start      time.Time
	buf        *[]byte // the reply's buffer, from replyBufs, until the reply is queued
	enc        encoder // Register's encoder and decoder, here so that they cost no allocation of their own
	dec        decoder
}

// procName names the call's procedure for logs and metrics, also when the program or procedure is unknown.
func (c *Call) procName() string {
	if c.Info.Name != "" {
		return c.Info.Name
	}
	return fmt.Sprintf("program %#x procedure %d", c.Header.Program, c.Header.Procedure)
}

// CloseAfterReply closes the connection once the reply is written, as libvirt does for CONNECT_CLOSE.
func (c *Call) CloseAfterReply() { c.closeAfter = true }
