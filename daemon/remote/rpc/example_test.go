package rpc_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	libvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"

	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// Example serves CONNECT_OPEN and CONNECT_GET_TYPE and calls them with go-libvirt; everything else answers
// VIR_ERR_NO_SUPPORT.
func Example() {
	remote := rpc.NewRemoteProgram(nil)
	rpc.Register(remote, rpc.ProcConnectOpen, func(_ context.Context, call *rpc.Call, args *rpc.ConnectOpenArgs) (*struct{}, error) {
		if args.Flags&libvirt.ConnectRo != 0 {
			call.Client.SetReadOnly()
		}
		call.Client.SetOpened(true)
		return nil, nil
	})
	rpc.Register(remote, rpc.ProcConnectGetType, func(context.Context, *rpc.Call, *struct{}) (*libvirt.ConnectGetTypeRet, error) {
		return &libvirt.ConnectGetTypeRet{Type: "Xen"}, nil
	})
	srv := rpc.NewServer(rpc.Options{Name: "virtxend"}, remote)
	defer srv.Close()

	dir, _ := os.MkdirTemp("", "rpc-example")
	defer os.RemoveAll(dir)
	l, err := net.Listen("unix", filepath.Join(dir, "virtxend-sock"))
	if err != nil {
		fmt.Println(err)
		return
	}
	go srv.Serve(context.Background(), l, rpc.ListenerOpts{})

	nc, _ := net.Dial("unix", l.Addr().String())
	client := libvirt.NewWithDialer(dialers.NewAlreadyConnected(nc))
	if err := client.ConnectToURI("xen:///system"); err != nil {
		fmt.Println(err)
		return
	}
	defer client.Disconnect()
	typ, _ := client.ConnectGetType()
	fmt.Println(typ)
	_, err = client.ConnectGetHostname()
	fmt.Println(err)
	// Output:
	// Xen
	// this function is not supported by the connection driver: virConnectGetHostname
}
