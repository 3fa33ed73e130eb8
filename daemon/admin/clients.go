package admin

import (
	"context"
	"os/user"
	"strconv"

	libvirt "github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// client finds a connected client of s. The error is virNetServerGetClient's; CLIENT_GET_INFO reports its own.
func client(s *Server, id uint64) (*rpc.Client, error) {
	c := s.RPC().Client(id)
	if c == nil {
		return nil, rpc.Errorf(rpc.CodeNoClient, rpc.DomainRPC, "No client with matching ID '%d'", id)
	}
	return c, nil
}

func nonnullClient(info rpc.ClientInfo) NonnullClient {
	return NonnullClient{
		Srv:       NonnullServer{Name: info.Server},
		ID:        info.ID,
		Timestamp: info.Connected.Unix(),
		Transport: uint32(info.Transport),
	}
}

func (h handlers) listClients(_ context.Context, _ *rpc.Call, args *ServerListClientsArgs) (*ServerListClientsRet, error) {
	s, err := h.server(args.Srv.Name)
	if err != nil {
		return nil, err
	}
	if args.NeedResults > ClientListMax {
		return nil, rpc.NewError(rpc.CodeRPC, rpc.DomainRPC, "too many clients requested")
	}
	if err := checkFlags(args.Flags, 0, "adminServerListClients"); err != nil {
		return nil, err
	}
	cs := s.RPC().Clients()
	if len(cs) > ClientListMax {
		cs = cs[:ClientListMax] // more would not fit the reply; libvirt fails the call instead
	}
	ret := &ServerListClientsRet{Ret: uint32(len(cs))}
	if args.NeedResults != 0 {
		ret.Clients = make([]NonnullClient, 0, len(cs))
		for _, c := range cs {
			ret.Clients = append(ret.Clients, nonnullClient(c.Info()))
		}
	}
	return ret, nil
}

func (h handlers) lookupClient(_ context.Context, _ *rpc.Call, args *ServerLookupClientArgs) (*ServerLookupClientRet, error) {
	s, err := h.server(args.Srv.Name)
	if err != nil {
		return nil, err
	}
	if err := checkFlags(args.Flags, 0, "adminServerLookupClient"); err != nil {
		return nil, err
	}
	c, err := client(s, args.ID)
	if err != nil {
		return nil, err
	}
	return &ServerLookupClientRet{Clnt: nonnullClient(c.Info())}, nil
}

func (h handlers) clientInfo(_ context.Context, _ *rpc.Call, args *ClientGetInfoArgs) (*ClientGetInfoRet, error) {
	s, err := h.serverForUpdate(args.Clnt.Srv.Name)
	if err != nil {
		return nil, err
	}
	c := s.RPC().Client(args.Clnt.ID)
	if c == nil {
		return nil, rpc.Errorf(rpc.CodeNoClient, rpc.DomainAdmin, "no client with matching id '%d' found", args.Clnt.ID)
	}
	if err := checkFlags(args.Flags, 0, "adminClientGetInfo"); err != nil {
		return nil, err
	}
	return &ClientGetInfoRet{Params: clientParams(c.Info())}, nil
}

// clientParams is adminClientGetInfo: whether the client is read-only, then its address when it is not on a
// Unix socket, or the identity of the process at the other end when it is. A user or group id without a name
// on this host is reported without the name.
func clientParams(info rpc.ClientInfo) []libvirt.TypedParam {
	ps := []libvirt.TypedParam{rpc.NewTypedParam(ParamClientReadonly, rpc.TypedParamBoolean, info.ReadOnly)}
	if info.Transport != rpc.TransportUnix {
		return append(ps, rpc.NewTypedParam(ParamClientSockAddr, rpc.TypedParamString, info.RemoteAddr))
	}
	if p := info.Peer; p != nil {
		ps = append(ps, rpc.NewTypedParam(ParamClientUnixUserID, rpc.TypedParamInt, int32(p.UID)))
		if u, err := user.LookupId(strconv.FormatUint(uint64(p.UID), 10)); err == nil {
			ps = append(ps, rpc.NewTypedParam(ParamClientUnixUserName, rpc.TypedParamString, u.Username))
		}
		ps = append(ps, rpc.NewTypedParam(ParamClientUnixGroupID, rpc.TypedParamInt, int32(p.GID)))
		if g, err := user.LookupGroupId(strconv.FormatUint(uint64(p.GID), 10)); err == nil {
			ps = append(ps, rpc.NewTypedParam(ParamClientUnixGroupName, rpc.TypedParamString, g.Name))
		}
		ps = append(ps, rpc.NewTypedParam(ParamClientUnixProcessID, rpc.TypedParamInt, p.PID))
	}
	return ps
}

func (h handlers) clientClose(ctx context.Context, _ *rpc.Call, args *ClientCloseArgs) (*struct{}, error) {
	s, err := h.server(args.Clnt.Srv.Name)
	if err != nil {
		return nil, err
	}
	c, err := client(s, args.Clnt.ID)
	if err != nil {
		return nil, err
	}
	if err := checkFlags(args.Flags, 0, "adminClientClose"); err != nil {
		return nil, err
	}
	callLog(ctx).Info("disconnecting a client", "target", s.Name(), "id", c.ID())
	c.Close()
	return nil, nil
}
