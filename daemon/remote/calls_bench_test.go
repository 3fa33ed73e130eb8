package remote

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/digitalocean/go-libvirt"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// benchCalls runs the facade over a simulated host with n running domains and makes one call at a time from a
// raw client on its socket: the packets are encoded once and the replies read into one buffer, so that
// -benchmem counts the daemon's allocations per call (rpc layer and handler) and almost nothing else.
func benchCalls(b *testing.B, n int, proc int32, args func(doms []libvirt.Domain, k int) any) {
	e := newTxEnv(b)
	doms := make([]libvirt.Domain, n)
	for i := range doms {
		doms[i] = e.addWith(fmt.Sprintf("bench-%03d", i), v1alpha1.SourceKindFile, true, func(s *v1alpha1.DomainSpec) {
			s.Memory = resource.MustParse("16Mi")
		})
	}
	nc, err := net.Dial("unix", e.Sock)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	in := make([]byte, 1<<20)
	serial := uint32(0)
	call := func(pkt []byte) {
		if _, err := nc.Write(pkt); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(nc, in[:4]); err != nil {
			b.Fatal(err)
		}
		size := binary.BigEndian.Uint32(in)
		if _, err := io.ReadFull(nc, in[4:size]); err != nil {
			b.Fatal(err)
		}
		if st := binary.BigEndian.Uint32(in[24:]); st != uint32(rpc.StatusOK) {
			b.Fatalf("call %d answered status %d", binary.BigEndian.Uint32(in[12:]), st)
		}
	}
	packet := func(proc int32, a any) []byte {
		serial++
		body, err := rpc.AppendXDR(nil, a)
		if err != nil {
			b.Fatal(err)
		}
		h := rpc.Header{Program: rpc.ProgramRemote, Version: rpc.ProtocolVersion, Procedure: proc, Type: rpc.TypeCall, Serial: serial}
		pkt, err := rpc.AppendPacket(nil, h, body)
		if err != nil {
			b.Fatal(err)
		}
		return pkt
	}
	call(packet(rpc.ProcConnectOpen, &rpc.ConnectOpenArgs{Name: []string{"xen:///system"}}))
	pkts := make([][]byte, min(n, 64))
	for k := range pkts {
		pkts[k] = packet(proc, args(doms, k))
	}
	b.ReportAllocs()
	b.ResetTimer()
	k := 0
	for b.Loop() {
		call(pkts[k%len(pkts)])
		k++
	}
}

// BenchmarkDomainGetInfo is virDomainGetInfo of running domains, spread over them.
func BenchmarkDomainGetInfo(b *testing.B) {
	benchCalls(b, 8, rpc.ProcDomainGetInfo, func(doms []libvirt.Domain, k int) any {
		return &libvirt.DomainGetInfoArgs{Dom: doms[k%len(doms)]}
	})
}

// BenchmarkConnectGetType is the cheapest call there is: the rpc layer's own cost.
func BenchmarkConnectGetType(b *testing.B) {
	benchCalls(b, 1, rpc.ProcConnectGetType, func([]libvirt.Domain, int) any { return nil })
}

// BenchmarkConnectListAllDomains is what `virsh list --all` asks first, over 8 domains and Domain-0.
func BenchmarkConnectListAllDomains(b *testing.B) {
	benchCalls(b, 8, rpc.ProcConnectListAllDomains, func([]libvirt.Domain, int) any {
		return &libvirt.ConnectListAllDomainsArgs{NeedResults: 1}
	})
}
