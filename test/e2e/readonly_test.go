package e2e

import (
	"net"
	"testing"
	"time"

	"github.com/virtxend/virtxend/daemon/remote"
	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// TestReadOnlySocketRefusesEveryMutation walks every procedure of the REMOTE program on the read-only socket:
// each one that changes something must be refused with VIR_ERR_OPERATION_DENIED before it runs, and each read
// must not be refused for being on the read-only socket.
func TestReadOnlySocketRefusesEveryMutation(t *testing.T) {
	i := startInstance(t)
	c, err := net.DialTimeout("unix", i.SockRO, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	serial := uint32(0)
	call := func(proc int32, body []byte) (rpc.Header, []byte) {
		t.Helper()
		serial++
		h := rpc.Header{Program: rpc.ProgramRemote, Version: rpc.ProtocolVersion, Procedure: proc, Type: rpc.TypeCall, Serial: serial}
		if err := rpc.WritePacket(c, h, body); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			rh, rb, err := rpc.ReadPacket(c, nil)
			if err != nil {
				t.Fatalf("procedure %d: %v", proc, err)
			}
			if rh.Type == rpc.TypeReply && rh.Serial == serial {
				return rh, rb
			}
		}
	}
	open, _ := rpc.Marshal(&rpc.ConnectOpenArgs{Name: []string{"xen:///system"}})
	if h, b := call(rpc.ProcConnectOpen, open); h.Status != rpc.StatusOK {
		e, _ := rpc.UnmarshalError(b)
		t.Fatalf("CONNECT_OPEN on the read-only socket: %v", e)
	}
	// The flags in force are the table's, as the facade's registrations adjust them (libvirt's public API
	// refuses some procedures on read-only connections although their ACL only reads).
	prog := rpc.NewRemoteProgram(nil)
	(&remote.Facade{}).Register(prog)
	denied, reads := 0, 0
	for _, p := range rpc.RemoteProcedures() {
		if eff, ok := prog.Effective(p.Number); ok {
			p = eff
		}
		if p.Message || p.PreOpen || p.Number == rpc.ProcConnectClose {
			continue
		}
		h, b := call(p.Number, nil) // no arguments: a refusal must come before they are decoded
		var code rpc.Code
		if h.Status == rpc.StatusError {
			e, err := rpc.UnmarshalError(b)
			if err != nil {
				t.Fatalf("%s: bad error body: %v", p.Name, err)
			}
			code = e.Code
		}
		if !p.ReadOnlyOK {
			denied++
			if code != rpc.CodeOperationDenied {
				t.Errorf("%s (%s) on the read-only socket: code %d, want %d (operation denied)", p.Name, p.API, code, rpc.CodeOperationDenied)
			}
			continue
		}
		reads++
		if code == rpc.CodeOperationDenied {
			t.Errorf("%s (%s) is a read but was refused on the read-only socket", p.Name, p.API)
		}
	}
	t.Logf("read-only socket: %d mutating procedures refused, %d reads allowed", denied, reads)
	if denied < 100 {
		t.Fatalf("only %d mutating procedures walked: the table looks wrong", denied)
	}
}
