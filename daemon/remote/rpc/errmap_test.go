package rpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"syscall"
	"testing"

	libvirt "github.com/digitalocean/go-libvirt"
)

// A program's error map sees every error a handler returns, wrapped or not, before it is answered; an error
// it leaves alone is an internal error of the program's domain, as without a map.
func TestProgramErrorMap(t *testing.T) {
	gone := errors.New("the object went away")
	p := newTestFacade().program()
	Register(p, ProcDomainDestroy, func(context.Context, *Call, *libvirt.DomainDestroyArgs) (*struct{}, error) {
		return nil, fmt.Errorf("destroy: %w", gone)
	})
	Register(p, ProcDomainSuspend, func(context.Context, *Call, *libvirt.DomainSuspendArgs) (*struct{}, error) {
		return nil, errors.New("something else")
	})
	p.MapErrors(func(err error) error {
		if errors.Is(err, gone) {
			return NewError(CodeNoDomain, DomainLibxl, "no domain with matching name 'vm1'")
		}
		return err
	})
	srv := NewServer(Options{}, p)
	path := filepath.Join(t.TempDir(), "sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l, ListenerOpts{}) }()
	t.Cleanup(func() { cancel(); <-done; srv.Close() })

	c := dialRaw(t, path)
	c.open(0)
	e := asError(t, c.call(ProgramRemote, ProcDomainDestroy, &libvirt.DomainDestroyArgs{Dom: testDom}, nil))
	if e.Code != CodeNoDomain || e.Message != "Domain not found: no domain with matching name 'vm1'" {
		t.Errorf("mapped error: %d %q", e.Code, e.Message)
	}
	e = asError(t, c.call(ProgramRemote, ProcDomainSuspend, &libvirt.DomainSuspendArgs{Dom: testDom}, nil))
	if e.Code != CodeInternalError || e.Domain != DomainLibxl || e.Message != "internal error: something else" {
		t.Errorf("unmapped error: %d %d %q", e.Code, e.Domain, e.Message)
	}
}

// SystemError words the errno as C's strerror, after the detail, as virReportSystemError does.
func TestSystemError(t *testing.T) {
	err := fmt.Errorf("write x: %w", syscall.ENOSPC)
	e := SystemError(DomainXML, err, "cannot write data to file '%s'", "/etc/libvirt/libxl/web.xml")
	if e.Code != CodeSystemError || e.Domain != DomainXML ||
		e.Message != "cannot write data to file '/etc/libvirt/libxl/web.xml': No space left on device" {
		t.Errorf("%d %d %q", e.Code, e.Domain, e.Message)
	}
	if got := Strerror(errors.New("plain")); got != "plain" {
		t.Errorf("Strerror of an error without an errno: %q", got)
	}
}
