package rpc

import libvirt "github.com/digitalocean/go-libvirt"

// ConnectOpenArgs is remote_connect_open_args as clients send it. go-libvirt's generated
// libvirt.ConnectOpenArgs carries a spurious trailing NewMAC string that no client sends, so decoding a real
// CONNECT_OPEN into it fails; decode into this instead. go-libvirt's own client marks the name present with a
// non-1 boolean, which the codec accepts as libvirt does.
type ConnectOpenArgs struct {
	// Name is the URI the client asked for, absent for the default.
	Name libvirt.OptString
	// Flags holds VIR_CONNECT_RO and friends.
	Flags libvirt.ConnectFlags
}
