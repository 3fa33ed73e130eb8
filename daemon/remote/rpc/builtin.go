package rpc

import (
	"context"

	libvirt "github.com/digitalocean/go-libvirt"
)

// Driver features a client probes with CONNECT_SUPPORTS_FEATURE (virDrvFeature).
const (
	FeatureMigrationV2          int32 = 3  // VIR_DRV_FEATURE_MIGRATION_V2
	FeatureMigrationP2P         int32 = 4  // VIR_DRV_FEATURE_MIGRATION_P2P
	FeatureMigrationV3          int32 = 6  // VIR_DRV_FEATURE_MIGRATION_V3
	FeatureFDPassing            int32 = 8  // VIR_DRV_FEATURE_FD_PASSING
	FeatureTypedParamString     int32 = 9  // VIR_DRV_FEATURE_TYPED_PARAM_STRING
	FeatureProgramKeepalive     int32 = 10 // VIR_DRV_FEATURE_PROGRAM_KEEPALIVE
	FeatureXMLMigratable        int32 = 11 // VIR_DRV_FEATURE_XML_MIGRATABLE
	FeatureMigrationOffline     int32 = 12 // VIR_DRV_FEATURE_MIGRATION_OFFLINE
	FeatureMigrationParams      int32 = 13 // VIR_DRV_FEATURE_MIGRATION_PARAMS
	FeatureRemoteEventCallback  int32 = 14 // VIR_DRV_FEATURE_REMOTE_EVENT_CALLBACK
	FeatureRemoteCloseCallback  int32 = 15 // VIR_DRV_FEATURE_REMOTE_CLOSE_CALLBACK
	FeatureNetworkUpdateOrdered int32 = 16 // VIR_DRV_FEATURE_NETWORK_UPDATE_HAS_CORRECT_ORDER
)

// AuthNone is remote_auth_type REMOTE_AUTH_NONE, the only authentication virtxend's Unix sockets use.
const AuthNone libvirt.AuthType = 0

// FeatureFunc answers CONNECT_SUPPORTS_FEATURE for the features the protocol layer does not own.
type FeatureFunc func(ctx context.Context, call *Call, feature int32) (bool, error)

// NewRemoteProgram returns the REMOTE program with the procedures the protocol layer serves itself:
//
//   - AUTH_LIST answers [REMOTE_AUTH_NONE];
//   - CONNECT_SUPPORTS_FEATURE answers VIR_DRV_FEATURE_PROGRAM_KEEPALIVE (also before CONNECT_OPEN) and starts
//     the server's keepalive pings, answers VIR_DRV_FEATURE_REMOTE_CLOSE_CALLBACK, and asks features for the
//     rest (nil answers "unsupported");
//   - CONNECT_REGISTER_CLOSE_CALLBACK and CONNECT_UNREGISTER_CLOSE_CALLBACK record the client's wish
//     (Client.CloseCallbackRegistered);
//   - CONNECT_CLOSE answers and then closes the connection.
//
// Every other procedure answers CodeNoSupport until a handler is registered; registering one for the procedures
// above replaces the built-in. The program requires CONNECT_OPEN (Client.SetOpened) before the procedures not
// marked PreOpen, and turns plain Go errors into internal errors of VIR_FROM_LIBXL.
func NewRemoteProgram(features FeatureFunc) *Program {
	p := NewProgram(ProgramConfig{
		ID:          ProgramRemote,
		Name:        "REMOTE",
		Procedures:  remoteProcInfo,
		RequireOpen: true,
		ErrorDomain: DomainLibxl,
	})
	Register(p, ProcAuthList, func(context.Context, *Call, *struct{}) (*libvirt.AuthListRet, error) {
		return &libvirt.AuthListRet{Types: []libvirt.AuthType{AuthNone}}, nil
	})
	Register(p, ProcConnectSupportsFeature, func(ctx context.Context, call *Call, args *libvirt.ConnectSupportsFeatureArgs) (*libvirt.ConnectSupportsFeatureRet, error) {
		if args.Feature == FeatureProgramKeepalive {
			call.Client.StartKeepalive()
			return &libvirt.ConnectSupportsFeatureRet{Supported: 1}, nil
		}
		if !call.Client.Opened() {
			return nil, ErrNotOpen()
		}
		ok := args.Feature == FeatureRemoteCloseCallback
		if !ok && features != nil {
			var err error
			if ok, err = features(ctx, call, args.Feature); err != nil {
				return nil, err
			}
		}
		if ok {
			return &libvirt.ConnectSupportsFeatureRet{Supported: 1}, nil
		}
		return &libvirt.ConnectSupportsFeatureRet{}, nil
	})
	Register(p, ProcConnectRegisterCloseCallback, func(_ context.Context, call *Call, _ *struct{}) (*struct{}, error) {
		call.Client.closeCallback.Store(true)
		return nil, nil
	})
	Register(p, ProcConnectUnregisterCloseCallback, func(_ context.Context, call *Call, _ *struct{}) (*struct{}, error) {
		call.Client.closeCallback.Store(false)
		return nil, nil
	})
	Register(p, ProcConnectClose, closeHandler)
	return p
}

// NewAdminProgram returns the ADMIN program (virt-admin) with CONNECT_CLOSE served by the protocol layer. The
// program requires CONNECT_OPEN (Client.SetOpened) before the other procedures, and turns plain Go errors into
// internal errors of VIR_FROM_ADMIN.
func NewAdminProgram() *Program {
	p := NewProgram(ProgramConfig{
		ID:          ProgramAdmin,
		Name:        "ADMIN",
		Procedures:  adminProcInfo,
		RequireOpen: true,
		ErrorDomain: DomainAdmin,
	})
	Register(p, AdminProcConnectClose, closeHandler)
	return p
}

func closeHandler(_ context.Context, call *Call, _ *struct{}) (*struct{}, error) {
	call.Client.SetOpened(false)
	call.CloseAfterReply()
	return nil, nil
}

// RemoteProcedures returns the table of the REMOTE program's procedures, ordered by number.
func RemoteProcedures() []ProcInfo { return append([]ProcInfo(nil), remoteProcInfo...) }

// AdminProcedures returns the table of the ADMIN program's procedures, ordered by number.
func AdminProcedures() []ProcInfo { return append([]ProcInfo(nil), adminProcInfo...) }
