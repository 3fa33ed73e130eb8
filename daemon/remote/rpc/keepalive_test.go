package rpc

import (
	"testing"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
)

var (
	ping = Header{Program: ProgramKeepalive, Version: 1, Procedure: ProcKeepalivePing, Type: TypeMessage}
	pong = Header{Program: ProgramKeepalive, Version: 1, Procedure: ProcKeepalivePong, Type: TypeMessage}
)

func TestKeepalivePingIsAnswered(t *testing.T) {
	ts := startServer(t, Options{}, ListenerOpts{})
	r := dialRaw(t, ts.path)
	r.send(ping, nil) // before anything else, as rawprobe 4 shows libvirtd answering
	if h, body := r.mustRecv(); h != pong || len(body) != 0 {
		t.Fatalf("got %s", h)
	}
	r.send(pong, nil) // an unsolicited PONG is ignored
	r.open(0)
}

func TestKeepaliveServerPings(t *testing.T) {
	const interval = 50 * time.Millisecond
	ts := startServer(t, Options{KeepaliveInterval: interval, KeepaliveCount: 3}, ListenerOpts{})

	// A client that never probed the feature is never pinged (go-libvirt does not answer pings).
	quiet := dialRaw(t, ts.path)
	quiet.open(0)

	// virsh's handshake: SUPPORTS_FEATURE(PROGRAM_KEEPALIVE) starts the pings.
	alive := dialRaw(t, ts.path)
	var ret libvirt.ConnectSupportsFeatureRet
	if err := alive.call(ProgramRemote, ProcConnectSupportsFeature, &libvirt.ConnectSupportsFeatureArgs{Feature: FeatureProgramKeepalive}, &ret); err != nil || ret.Supported != 1 {
		t.Fatalf("probe: %v %v", ret, err)
	}
	alive.open(0)
	// Answering pings keeps the client for many intervals.
	deadline := time.Now().Add(10 * interval)
	pings := 0
	for time.Now().Before(deadline) {
		h, _ := alive.mustRecv()
		if h != ping {
			t.Fatalf("got %s", h)
		}
		pings++
		alive.send(pong, nil)
	}
	if pings < 3 {
		t.Fatalf("only %d pings", pings)
	}
	// Stop answering: the client gets keepalive_count pings, as libvirt sends them, and is dropped at the next
	// interval.
	start := time.Now()
	unanswered := 0
	for {
		h, _, err := alive.recv()
		if err != nil {
			break
		}
		if h != ping {
			t.Fatalf("got %s", h)
		}
		unanswered++
	}
	if d := time.Since(start); d < 3*interval || d > 40*interval {
		t.Fatalf("dropped after %v", d)
	}
	if unanswered != 3 {
		t.Fatalf("dropped after %d unanswered pings, want keepalive_count = 3", unanswered)
	}
	// The quiet client is still there and was never pinged.
	var typ libvirt.ConnectGetTypeRet
	if err := quiet.call(ProgramRemote, ProcConnectGetType, struct{}{}, &typ); err != nil {
		t.Fatal(err)
	}
}

func TestKeepaliveDisabled(t *testing.T) {
	ts := startServer(t, Options{KeepaliveInterval: -1}, ListenerOpts{})
	r := dialRaw(t, ts.path)
	var ret libvirt.ConnectSupportsFeatureRet
	if err := r.call(ProgramRemote, ProcConnectSupportsFeature, &libvirt.ConnectSupportsFeatureArgs{Feature: FeatureProgramKeepalive}, &ret); err != nil || ret.Supported != 1 {
		t.Fatalf("probe: %v %v", ret, err)
	}
	r.send(ping, nil)
	if h, _ := r.mustRecv(); h != pong {
		t.Fatalf("got %s", h)
	}
}
