package rpc

import (
	"fmt"
	"strings"

	libvirt "github.com/digitalocean/go-libvirt"
)

// This file is the one place where libvirt's error numbers, error domains and message templates live
// (include/libvirt/virterror.h and src/util/virerror.c). The numbers come from go-libvirt's generated constants
// where it exports them, so they cannot drift from libvirt's.

// Code is a libvirt error number (virErrorNumber).
type Code int32

// Error numbers the daemon sends.
const (
	CodeInternalError        = Code(libvirt.ErrInternalError)        // 1
	CodeNoMemory             = Code(libvirt.ErrNoMemory)             // 2
	CodeNoSupport            = Code(libvirt.ErrNoSupport)            // 3
	CodeNoConnect            = Code(libvirt.ErrNoConnect)            // 5
	CodeInvalidConn          = Code(libvirt.ErrInvalidConn)          // 6
	CodeInvalidDomain        = Code(libvirt.ErrInvalidDomain)        // 7
	CodeInvalidArg           = Code(libvirt.ErrInvalidArg)           // 8
	CodeOperationFailed      = Code(libvirt.ErrOperationFailed)      // 9
	CodeXMLError             = Code(libvirt.ErrXMLError)             // 27
	CodeDomExist             = Code(libvirt.ErrDomExist)             // 28
	CodeOperationDenied      = Code(libvirt.ErrOperationDenied)      // 29
	CodeOpenFailed           = Code(libvirt.ErrOpenFailed)           // 30
	CodeXMLDetail            = Code(libvirt.ErrXMLDetail)            // 35
	CodeSystemError          = Code(libvirt.ErrSystemError)          // 38
	CodeRPC                  = Code(libvirt.ErrRPC)                  // 39
	CodeNoDomain             = Code(libvirt.ErrNoDomain)             // 42
	CodeNoNetwork            = Code(libvirt.ErrNoNetwork)            // 43
	CodeAuthFailed           = Code(libvirt.ErrAuthFailed)           // 45
	CodeNoStoragePool        = Code(libvirt.ErrNoStoragePool)        // 49
	CodeNoStorageVol         = Code(libvirt.ErrNoStorageVol)         // 50
	CodeNoNodeDevice         = Code(libvirt.ErrNoNodeDevice)         // 53
	CodeNoSecurityModel      = Code(libvirt.ErrNoSecurityModel)      // 54
	CodeOperationInvalid     = Code(libvirt.ErrOperationInvalid)     // 55
	CodeConfigUnsupported    = Code(libvirt.ErrConfigUnsupported)    // 67
	CodeOperationTimeout     = Code(libvirt.ErrOperationTimeout)     // 68
	CodeNoDomainSnapshot     = Code(libvirt.ErrNoDomainSnapshot)     // 72
	CodeInvalidStream        = Code(libvirt.ErrInvalidStream)        // 73
	CodeArgumentUnsupported  = Code(libvirt.ErrArgumentUnsupported)  // 74
	CodeOperationAborted     = Code(libvirt.ErrOperationAborted)     // 78
	CodeNoDomainMetadata     = Code(libvirt.ErrNoDomainMetadata)     // 80
	CodeOverflow             = Code(libvirt.ErrOverflow)             // 82
	CodeOperationUnsupported = Code(libvirt.ErrOperationUnsupported) // 84
	CodeAgentUnresponsive    = Code(libvirt.ErrAgentUnresponsive)    // 86
	CodeResourceBusy         = Code(libvirt.ErrResourceBusy)         // 87
	CodeAccessDenied         = Code(libvirt.ErrAccessDenied)         // 88
	CodeXMLInvalidSchema     = Code(libvirt.ErrXMLInvalidSchema)     // 92
	CodeNoServer             = Code(libvirt.ErrNoServer)             // 95
	CodeNoClient             = Code(libvirt.ErrNoClient)             // 96
	CodeDeviceMissing        = Code(libvirt.ErrDeviceMissing)        // 99
	CodeNoHostname           = Code(libvirt.ErrNoHostname)           // 108
	CodeMultipleDomains      = Code(libvirt.ErrMultipleDomains)      // 110
)

// codeNames are the names of virterror.h's error numbers, for logs.
var codeNames = map[Code]string{
	CodeInternalError:        "VIR_ERR_INTERNAL_ERROR",
	CodeNoMemory:             "VIR_ERR_NO_MEMORY",
	CodeNoSupport:            "VIR_ERR_NO_SUPPORT",
	CodeNoConnect:            "VIR_ERR_NO_CONNECT",
	CodeInvalidConn:          "VIR_ERR_INVALID_CONN",
	CodeInvalidDomain:        "VIR_ERR_INVALID_DOMAIN",
	CodeInvalidArg:           "VIR_ERR_INVALID_ARG",
	CodeOperationFailed:      "VIR_ERR_OPERATION_FAILED",
	CodeXMLError:             "VIR_ERR_XML_ERROR",
	CodeDomExist:             "VIR_ERR_DOM_EXIST",
	CodeOperationDenied:      "VIR_ERR_OPERATION_DENIED",
	CodeOpenFailed:           "VIR_ERR_OPEN_FAILED",
	CodeXMLDetail:            "VIR_ERR_XML_DETAIL",
	CodeSystemError:          "VIR_ERR_SYSTEM_ERROR",
	CodeRPC:                  "VIR_ERR_RPC",
	CodeNoDomain:             "VIR_ERR_NO_DOMAIN",
	CodeNoNetwork:            "VIR_ERR_NO_NETWORK",
	CodeAuthFailed:           "VIR_ERR_AUTH_FAILED",
	CodeNoStoragePool:        "VIR_ERR_NO_STORAGE_POOL",
	CodeNoStorageVol:         "VIR_ERR_NO_STORAGE_VOL",
	CodeNoNodeDevice:         "VIR_ERR_NO_NODE_DEVICE",
	CodeNoSecurityModel:      "VIR_ERR_NO_SECURITY_MODEL",
	CodeOperationInvalid:     "VIR_ERR_OPERATION_INVALID",
	CodeConfigUnsupported:    "VIR_ERR_CONFIG_UNSUPPORTED",
	CodeOperationTimeout:     "VIR_ERR_OPERATION_TIMEOUT",
	CodeNoDomainSnapshot:     "VIR_ERR_NO_DOMAIN_SNAPSHOT",
	CodeInvalidStream:        "VIR_ERR_INVALID_STREAM",
	CodeArgumentUnsupported:  "VIR_ERR_ARGUMENT_UNSUPPORTED",
	CodeOperationAborted:     "VIR_ERR_OPERATION_ABORTED",
	CodeNoDomainMetadata:     "VIR_ERR_NO_DOMAIN_METADATA",
	CodeOverflow:             "VIR_ERR_OVERFLOW",
	CodeOperationUnsupported: "VIR_ERR_OPERATION_UNSUPPORTED",
	CodeAgentUnresponsive:    "VIR_ERR_AGENT_UNRESPONSIVE",
	CodeResourceBusy:         "VIR_ERR_RESOURCE_BUSY",
	CodeAccessDenied:         "VIR_ERR_ACCESS_DENIED",
	CodeXMLInvalidSchema:     "VIR_ERR_XML_INVALID_SCHEMA",
	CodeNoServer:             "VIR_ERR_NO_SERVER",
	CodeNoClient:             "VIR_ERR_NO_CLIENT",
	CodeDeviceMissing:        "VIR_ERR_DEVICE_MISSING",
	CodeNoHostname:           "VIR_ERR_NO_HOSTNAME",
	CodeMultipleDomains:      "VIR_ERR_MULTIPLE_DOMAINS",
}

// String returns the code's name in virterror.h, e.g. VIR_ERR_NO_SUPPORT, or its number when it has none here.
func (c Code) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return fmt.Sprintf("VIR_ERR_%d", int32(c))
}

// ErrorDomain says which part of libvirt raised an error (virErrorDomain). go-libvirt keeps these unexported.
type ErrorDomain int32

// Error domains the daemon uses.
const (
	DomainNone     ErrorDomain = 0  // VIR_FROM_NONE: libvirt.c, libvirt-host.c
	DomainXen      ErrorDomain = 1  // VIR_FROM_XEN: xen config parsing
	DomainXML      ErrorDomain = 5  // VIR_FROM_XML: XML parsing
	DomainRPC      ErrorDomain = 7  // VIR_FROM_RPC: the protocol layer
	DomainConf     ErrorDomain = 9  // VIR_FROM_CONF: configuration files
	DomainRemote   ErrorDomain = 13 // VIR_FROM_REMOTE: the remote driver and daemon dispatch
	DomainXenXM    ErrorDomain = 15 // VIR_FROM_XENXM: xm config conversion
	DomainStorage  ErrorDomain = 18 // VIR_FROM_STORAGE: the storage driver
	DomainNetwork  ErrorDomain = 19 // VIR_FROM_NETWORK: the network driver
	DomainDomain   ErrorDomain = 20 // VIR_FROM_DOMAIN: domain XML and the virDomain* public API
	DomainSecurity ErrorDomain = 24 // VIR_FROM_SECURITY
	DomainStreams  ErrorDomain = 38 // VIR_FROM_STREAMS
	DomainEvent    ErrorDomain = 40 // VIR_FROM_EVENT
	DomainLibxl    ErrorDomain = 41 // VIR_FROM_LIBXL: the libxl driver
	DomainURI      ErrorDomain = 45 // VIR_FROM_URI
	DomainAuth     ErrorDomain = 46 // VIR_FROM_AUTH
	DomainAccess   ErrorDomain = 55 // VIR_FROM_ACCESS
	DomainAdmin    ErrorDomain = 62 // VIR_FROM_ADMIN
	DomainLogging  ErrorDomain = 63 // VIR_FROM_LOGGING
	DomainXenXL    ErrorDomain = 64 // VIR_FROM_XENXL: xl config conversion
)

// Level is an error's severity (virErrorLevel).
type Level int32

// Error levels.
const (
	LevelNone    Level = 0
	LevelWarning Level = 1
	LevelError   Level = 2
)

// messageTemplates are libvirt's virErrorMsgStrings: the text without detail, then the text with "%s" detail.
// A code missing here renders its detail alone.
var messageTemplates = map[Code][2]string{
	CodeInternalError:        {"internal error", "internal error: %s"},
	CodeNoMemory:             {"out of memory", "out of memory: %s"},
	CodeNoSupport:            {"this function is not supported by the connection driver", "this function is not supported by the connection driver: %s"},
	CodeNoConnect:            {"no connection driver available", "no connection driver available for %s"},
	CodeInvalidConn:          {"invalid connection pointer in", "invalid connection pointer in %s"},
	CodeInvalidDomain:        {"invalid domain pointer in", "invalid domain pointer in %s"},
	CodeInvalidArg:           {"invalid argument", "invalid argument: %s"},
	CodeOperationFailed:      {"operation failed", "operation failed: %s"},
	CodeXMLError:             {"XML description is invalid or not well formed", "XML error: %s"},
	CodeDomExist:             {"this domain exists already", "domain %s exists already"},
	CodeOperationDenied:      {"operation forbidden for read only access", "operation forbidden: %s"},
	CodeOpenFailed:           {"failed to open configuration file", "failed to open configuration file %s"},
	CodeXMLDetail:            {"parser error", "%s"},
	CodeSystemError:          {"system call error", "%s"},
	CodeRPC:                  {"RPC error", "%s"},
	CodeNoDomain:             {"Domain not found", "Domain not found: %s"},
	CodeNoNetwork:            {"Network not found", "Network not found: %s"},
	CodeAuthFailed:           {"authentication failed", "authentication failed: %s"},
	CodeNoStoragePool:        {"Storage pool not found", "Storage pool not found: %s"},
	CodeNoStorageVol:         {"Storage volume not found", "Storage volume not found: %s"},
	CodeNoNodeDevice:         {"Node device not found", "Node device not found: %s"},
	CodeNoSecurityModel:      {"Security model not found", "Security model not found: %s"},
	CodeOperationInvalid:     {"Requested operation is not valid", "Requested operation is not valid: %s"},
	CodeConfigUnsupported:    {"unsupported configuration", "unsupported configuration: %s"},
	CodeOperationTimeout:     {"Timed out during operation", "Timed out during operation: %s"},
	CodeNoDomainSnapshot:     {"Domain snapshot not found", "Domain snapshot not found: %s"},
	CodeInvalidStream:        {"invalid stream pointer", "invalid stream pointer in %s"},
	CodeArgumentUnsupported:  {"argument unsupported", "argument unsupported: %s"},
	CodeOperationAborted:     {"operation aborted", "operation aborted: %s"},
	CodeNoDomainMetadata:     {"metadata not found", "metadata not found: %s"},
	CodeOverflow:             {"numerical overflow", "numerical overflow: %s"},
	CodeOperationUnsupported: {"Operation not supported", "Operation not supported: %s"},
	CodeAgentUnresponsive:    {"Guest agent is not responding", "Guest agent is not responding: %s"},
	CodeResourceBusy:         {"resource busy", "resource busy: %s"},
	CodeAccessDenied:         {"access denied", "access denied: %s"},
	CodeXMLInvalidSchema:     {"XML document failed to validate against schema", "XML document failed to validate against schema: %s"},
	CodeNoServer:             {"Server not found", "Server not found: %s"},
	CodeNoClient:             {"Client not found", "Client not found: %s"},
	CodeDeviceMissing:        {"device not found", "device not found: %s"},
	CodeNoHostname:           {"no hostname found", "no hostname found: %s"},
	CodeMultipleDomains:      {"multiple matching domains found", "multiple matching domains found: %s"},
}

// apiErrorDomain is the domain libvirt's public API reports an API's generic errors from (the VIR_FROM_THIS of
// the file defining it): the domain APIs of libvirt-domain.c use VIR_FROM_DOMAIN, libvirt-admin.c uses
// VIR_FROM_ADMIN, and the host APIs of libvirt.c and libvirt-host.c use VIR_FROM_NONE.
func apiErrorDomain(api string) ErrorDomain {
	switch {
	case strings.HasPrefix(api, "virAdm"):
		return DomainAdmin
	case strings.Contains(api, "Domain"):
		return DomainDomain
	}
	return DomainNone
}
