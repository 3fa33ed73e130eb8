package secondary

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"

	libvirt "github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// The identity parameters of virConnectSetIdentity (VIR_CONNECT_IDENTITY_*), with their types as
// virIdentitySetParameters checks them.
const (
	identUserName    = "user-name"
	identUnixUserID  = "unix-user-id"
	identGroupName   = "group-name"
	identUnixGroupID = "unix-group-id"
	identProcessID   = "process-id"
	identProcessTime = "process-time"
	identSASLUser    = "sasl-user-name"
	identX509DName   = "x509-distinguished-name"
	identSELinux     = "selinux-context"
	identSystemToken = "system.token"
)

// identityTypes are the parameters an identity may carry and their types.
func identityTypes() map[string]uint32 {
	return map[string]uint32{
		identUserName: rpc.TypedParamString, identUnixUserID: rpc.TypedParamULLong,
		identGroupName: rpc.TypedParamString, identUnixGroupID: rpc.TypedParamULLong,
		identProcessID: rpc.TypedParamLLong, identProcessTime: rpc.TypedParamULLong,
		identSASLUser: rpc.TypedParamString, identX509DName: rpc.TypedParamString,
		identSELinux: rpc.TypedParamString, identSystemToken: rpc.TypedParamString,
	}
}

// identityKey is the per-connection key of an identity a client set with CONNECT_SET_IDENTITY.
type identityKey struct{}

// setIdentity is remoteDispatchConnectSetIdentity: a client that speaks for another (libvirt's virtproxyd
// forwarding its own clients) replaces the identity its connection acts with. The parameters are checked as
// virIdentitySetParameters checks them, then become the identity the client's secondary connections are opened
// with. libvirt's daemon ignores the flags; the protocol bounds the list (REMOTE_CONNECT_IDENTITY_PARAMS_MAX).
func (f *Forwarder) setIdentity(_ context.Context, call *rpc.Call, a *libvirt.ConnectSetIdentityArgs) (*struct{}, error) {
	if err := validateParams(a.Params, identityTypes()); err != nil {
		return nil, err
	}
	call.Client.SetValue(identityKey{}, append([]libvirt.TypedParam{}, a.Params...))
	return nil, nil
}

// validateParams is virTypedParamsValidate: every parameter is one of types, of its type, and given once.
func validateParams(params []libvirt.TypedParam, types map[string]uint32) error {
	seen := map[string]bool{}
	for _, p := range params {
		typ, ok := types[p.Field]
		if !ok {
			return rpc.Errorf(rpc.CodeArgumentUnsupported, rpc.DomainNone, "parameter '%s' not supported", p.Field)
		}
		if p.Value.D != typ {
			return rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainNone, "invalid type '%s' for parameter '%s', expected '%s'",
				typeName(p.Value.D), p.Field, typeName(typ))
		}
		if seen[p.Field] {
			return rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainNone, "parameter '%s' occurs multiple times", p.Field)
		}
		seen[p.Field] = true
	}
	return nil
}

// typeName is virTypedParameterTypeToString.
func typeName(t uint32) string {
	switch t {
	case rpc.TypedParamInt:
		return "int"
	case rpc.TypedParamUint:
		return "uint"
	case rpc.TypedParamLLong:
		return "llong"
	case rpc.TypedParamULLong:
		return "ullong"
	case rpc.TypedParamDouble:
		return "double"
	case rpc.TypedParamBoolean:
		return "boolean"
	case rpc.TypedParamString:
		return "string"
	}
	return ""
}

// identityOf is the identity a client's secondary connections pass on: the one it set, else the one the kernel
// gives its socket, as virNetServerClientCreateIdentity builds it (user and group by name and id, process id and
// start time). A client whose peer is unknown passes none, and the daemon then sees virtxend's own.
func identityOf(c *rpc.Client, procRoot string) []libvirt.TypedParam {
	if v, ok := c.Value(identityKey{}).([]libvirt.TypedParam); ok {
		return v
	}
	peer := c.Info().Peer
	if peer == nil {
		return nil
	}
	var params []libvirt.TypedParam
	if u, err := user.LookupId(strconv.FormatUint(uint64(peer.UID), 10)); err == nil {
		params = append(params, rpc.NewTypedParam(identUserName, rpc.TypedParamString, u.Username))
	}
	params = append(params, rpc.NewTypedParam(identUnixUserID, rpc.TypedParamULLong, uint64(peer.UID)))
	if g, err := user.LookupGroupId(strconv.FormatUint(uint64(peer.GID), 10)); err == nil {
		params = append(params, rpc.NewTypedParam(identGroupName, rpc.TypedParamString, g.Name))
	}
	params = append(params,
		rpc.NewTypedParam(identUnixGroupID, rpc.TypedParamULLong, uint64(peer.GID)),
		rpc.NewTypedParam(identProcessID, rpc.TypedParamLLong, int64(peer.PID)))
	if t, err := processStartTime(procRoot, peer.PID); err == nil {
		params = append(params, rpc.NewTypedParam(identProcessTime, rpc.TypedParamULLong, t))
	}
	return params
}

// processStartTime is virProcessGetStartTime on Linux: field 22 of /proc/PID/stat, the clock ticks after boot at
// which the process started, which tells a process from a later one with the same pid.
func processStartTime(procRoot string, pid int32) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", procRoot, pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	end := strings.LastIndexByte(s, ')') // the command name may hold spaces and parentheses
	if end < 0 {
		return 0, fmt.Errorf("parse %s/%d/stat: no command name", procRoot, pid)
	}
	fields := strings.Fields(s[end+1:])
	const startTimeField = 22 - 3 // fields 1 and 2 (pid, comm) precede the cut; the cut starts at field 3
	if len(fields) <= startTimeField {
		return 0, fmt.Errorf("parse %s/%d/stat: %d fields", procRoot, pid, len(fields)+2)
	}
	return strconv.ParseUint(fields[startTimeField], 10, 64)
}
