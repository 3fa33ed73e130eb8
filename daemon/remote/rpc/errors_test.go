package rpc

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	libvirt "github.com/digitalocean/go-libvirt"
)

func TestErrorMessages(t *testing.T) {
	for _, tc := range []struct {
		err    *Error
		code   Code
		domain ErrorDomain
		msg    string
	}{
		{ErrNoSupport("virDomainBlockPeek"), 3, DomainDomain, "this function is not supported by the connection driver: virDomainBlockPeek"},
		{ErrNoSupport("virConnectGetSysinfo"), 3, DomainNone, "this function is not supported by the connection driver: virConnectGetSysinfo"},
		{ErrNoSupport("virAdmServerUpdateTlsFiles"), 3, DomainAdmin, "this function is not supported by the connection driver: virAdmServerUpdateTlsFiles"},
		{ErrReadOnly("virDomainDestroy"), 29, DomainDomain, "operation forbidden: read only access prevents virDomainDestroy"},
		{ErrNotOpen(), 1, DomainRPC, "internal error: hypervisor connection not open"},
		{ErrInvalidFlags(DomainLibxl, 0x4, "libxlDomainCreateWithFlags"), 8, DomainLibxl, "invalid argument: unsupported flags (0x4) in function libxlDomainCreateWithFlags"},
		{Errorf(CodeNoDomain, DomainLibxl, "no domain with matching uuid '%s'", "x"), 42, DomainLibxl, "Domain not found: no domain with matching uuid 'x'"},
		{NewError(CodeNoDomain, DomainLibxl, ""), 42, DomainLibxl, "Domain not found"},
		{Errorf(CodeOperationInvalid, DomainDomain, "domain is not running"), 55, DomainDomain, "Requested operation is not valid: domain is not running"},
		{Errorf(CodeRPC, DomainRPC, "unknown procedure: %d", 9999), 39, DomainRPC, "unknown procedure: 9999"},
		{NewError(Code(1000), DomainNone, "x"), 1000, DomainNone, "x"},
	} {
		if tc.err.Code != tc.code || tc.err.Domain != tc.domain || tc.err.Message != tc.msg || tc.err.Level != LevelError {
			t.Errorf("got %d/%d %q, want %d/%d %q", tc.err.Code, tc.err.Domain, tc.err.Message, tc.code, tc.domain, tc.msg)
		}
	}
}

func TestErrorWireRoundTrip(t *testing.T) {
	dom := testDom
	e := Errorf(CodeNoDomain, DomainLibxl, "no domain with matching name '%s'", "vm1")
	e.Dom = &dom
	e.Str3 = "three"
	back, err := UnmarshalError(MarshalError(e))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, e) {
		t.Fatalf("got %+v, want %+v", back, e)
	}
	// Level defaults to error on the wire.
	back, _ = UnmarshalError(MarshalError(&Error{Code: CodeRPC, Message: "m"}))
	if back.Level != LevelError {
		t.Fatalf("level %d", back.Level)
	}
	// A NULL message decodes as empty rather than failing.
	body, _ := Marshal(&wireError{Code: 1})
	if back, err := UnmarshalError(body); err != nil || back.Message != "" {
		t.Fatalf("%+v %v", back, err)
	}
	if _, err := UnmarshalError([]byte{0, 0}); err == nil {
		t.Fatal("truncated error decoded")
	}
}

func TestAsError(t *testing.T) {
	wrapped := fmt.Errorf("start domain %q: %w", "vm1", Errorf(CodeOperationInvalid, DomainLibxl, "Domain is already running"))
	if e := AsError(wrapped, DomainLibxl); e.Code != CodeOperationInvalid || e.Message != "Requested operation is not valid: Domain is already running" {
		t.Fatalf("got %+v", e)
	}
	if e := AsError(errors.New("libxl exploded"), DomainLibxl); e.Code != CodeInternalError || e.Domain != DomainLibxl || e.Message != "internal error: libxl exploded" {
		t.Fatalf("got %+v", e)
	}
	if CodeOf(wrapped) != CodeOperationInvalid || CodeOf(errors.New("x")) != 0 {
		t.Fatal("CodeOf")
	}
}

// TestErrorCodesMatchLibvirt pins the numbers that clients branch on.
func TestErrorCodesMatchLibvirt(t *testing.T) {
	for code, want := range map[Code]int32{
		CodeInternalError: 1, CodeNoSupport: 3, CodeInvalidArg: 8, CodeOperationFailed: 9, CodeOperationDenied: 29,
		CodeRPC: 39, CodeNoDomain: 42, CodeOperationInvalid: 55, CodeConfigUnsupported: 67, CodeOperationTimeout: 68,
		CodeNoServer: 95, CodeNoClient: 96,
	} {
		if int32(code) != want {
			t.Errorf("code %d, want %d", code, want)
		}
	}
	if libvirt.ErrorNumber(CodeNoSupport) != libvirt.ErrNoSupport {
		t.Error("go-libvirt disagrees")
	}
	for code := range messageTemplates {
		if code <= 0 {
			t.Errorf("template for code %d", code)
		}
	}
}

// TestProcedureTables checks the generated tables against what the traces and libvirt say.
func TestProcedureTables(t *testing.T) {
	p := NewRemoteProgram(nil)
	for _, tc := range []struct {
		proc              int32
		name, api         string
		readOnly, preOpen bool
		message           bool
	}{
		{ProcConnectOpen, "REMOTE_PROC_CONNECT_OPEN", "virConnectOpen", true, true, false},
		{ProcAuthList, "REMOTE_PROC_AUTH_LIST", "virAuthList", true, true, false},
		{ProcConnectSupportsFeature, "REMOTE_PROC_CONNECT_SUPPORTS_FEATURE", "virConnectSupportsFeature", true, true, false},
		{ProcDomainGetXMLDesc, "REMOTE_PROC_DOMAIN_GET_XML_DESC", "virDomainGetXMLDesc", true, false, false},
		{ProcDomainLookupByUUID, "REMOTE_PROC_DOMAIN_LOOKUP_BY_UUID", "virDomainLookupByUUID", true, false, false},
		{ProcConnectListAllDomains, "REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS", "virConnectListAllDomains", true, false, false},
		{ProcDomainCreate, "REMOTE_PROC_DOMAIN_CREATE", "virDomainCreate", false, false, false},
		{ProcDomainSetMemoryFlags, "REMOTE_PROC_DOMAIN_SET_MEMORY_FLAGS", "virDomainSetMemoryFlags", false, false, false},
		{ProcDomainScreenshot, "REMOTE_PROC_DOMAIN_SCREENSHOT", "virDomainScreenshot", false, false, false},
		{ProcDomainBlockPeek, "REMOTE_PROC_DOMAIN_BLOCK_PEEK", "virDomainBlockPeek", false, false, false},
		{ProcConnectDomainEventCallbackRegisterAny, "REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY", "virConnectDomainEventRegisterAny", true, false, false},
		{ProcDomainEventCallbackLifecycle, "REMOTE_PROC_DOMAIN_EVENT_CALLBACK_LIFECYCLE", "virDomainEventCallbackLifecycle", true, false, true},
		{ProcConnectEventConnectionClosed, "REMOTE_PROC_CONNECT_EVENT_CONNECTION_CLOSED", "virConnectEventConnectionClosed", true, false, true},
		{ProcDomainGetPerfEvents, "REMOTE_PROC_DOMAIN_GET_PERF_EVENTS", "virDomainGetPerfEvents", true, false, false},
		{ProcDomainGetFSInfo, "REMOTE_PROC_DOMAIN_GET_FSINFO", "virDomainGetFSInfo", false, false, false},
		{ProcNodeGetCPUMap, "REMOTE_PROC_NODE_GET_CPU_MAP", "virNodeGetCPUMap", true, false, false},
	} {
		info, ok := p.Info(tc.proc)
		if !ok || info.Name != tc.name || info.API != tc.api || info.ReadOnlyOK != tc.readOnly || info.PreOpen != tc.preOpen || info.Message != tc.message {
			t.Errorf("proc %d: %+v", tc.proc, info)
		}
	}
	a := NewAdminProgram()
	if info, ok := a.Info(AdminProcServerListClients); !ok || info.API != "virAdmServerListClients" {
		t.Errorf("admin: %+v", info)
	}
	if n := len(RemoteProcedures()); n < 450 {
		t.Errorf("%d remote procedures", n)
	}
	if n := len(AdminProcedures()); n != 20 {
		t.Errorf("%d admin procedures", n)
	}
}

func TestRegisterRejectsUnencodableTypes(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	Register(NewRemoteProgram(nil), ProcConnectGetType, func(_ context.Context, _ *Call, _ *struct{ M map[string]int }) (*struct{}, error) {
		return nil, nil
	})
}
