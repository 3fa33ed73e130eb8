package remote

import (
	"context"
	"net/url"
	"strings"

	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// connURI is the per-connection key under which the URI a client opened is kept.
type connURI struct{}

// VIR_CONNECT_RO: the client asked for a read-only connection.
const connectRO = 1

// registerConnect: opening and closing the connection.
func registerConnect(f *Facade, p *rpc.Program) {
	rpc.Register(p, rpc.ProcConnectOpen, func(ctx context.Context, call *rpc.Call, a *rpc.ConnectOpenArgs) (*struct{}, error) {
		name := ""
		if len(a.Name) > 0 {
			name = a.Name[0]
		}
		uri, err := openURI(name)
		if err != nil {
			return nil, err
		}
		if uint32(a.Flags)&connectRO != 0 {
			call.Client.SetReadOnly()
		}
		call.Client.SetValue(connURI{}, uri)
		call.Client.SetOpened(true)
		return nil, nil
	}, rpc.PreOpen(true), rpc.ReadOnlyOK(true))
}

// openURI checks the URI a client opens: virtxend serves the xen driver's system instance only.
func openURI(name string) (string, error) {
	if name == "" {
		return "xen:///system", nil
	}
	u, err := url.Parse(name)
	if err != nil {
		return "", rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainURI, "could not parse connection URI '%s'", name)
	}
	scheme := strings.SplitN(u.Scheme, "+", 2)[0]
	if scheme != "xen" {
		return "", rpc.NewError(rpc.CodeNoConnect, rpc.DomainNone, name) // "no connection driver available for NAME"
	}
	if u.Host != "" && u.Host != "localhost" {
		return "", rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainLibxl, "libxenlight driver only supports local connections, not '%s'", name)
	}
	switch u.Path {
	case "", "/", "/system":
		return "xen:///system", nil
	}
	return "", rpc.Errorf(rpc.CodeInternalError, rpc.DomainLibxl, "unexpected Xen URI path '%s', try xen:///system", u.Path)
}

// SupportsFeature answers CONNECT_SUPPORTS_FEATURE for the features the protocol layer leaves to the driver.
// The migration features are libvirt's libxl driver's (see migrationFeatures).
func (f *Facade) SupportsFeature(_ context.Context, _ *rpc.Call, feature int32) (bool, error) {
	switch feature {
	case rpc.FeatureTypedParamString, rpc.FeatureRemoteEventCallback:
		return true, nil
	}
	if migrationFeatures[feature] {
		return true, nil
	}
	return false, nil
}
