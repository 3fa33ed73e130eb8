package rpc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
)

// tracesDir holds the project's packet traces of real virsh sessions, recorded by hack/virshtrace (the format is
// described in package test/virshtrace, which this package cannot import: it imports rpc).
const tracesDir = "../../../test/e2e/testdata/virsh-traces"

// FuzzServePacket feeds arbitrary bytes to one connection of a server running the built-in procedures and a
// few handlers, then checks that the server never panics or hangs, that whatever it sends back is well framed,
// and that it still serves a fresh connection. It is seeded with the client packets of the virsh traces.
func FuzzServePacket(f *testing.F) {
	for _, seed := range traceSeeds(f) {
		f.Add(seed)
	}
	probe := func(h Header, body []byte) []byte {
		b, _ := AppendPacket(nil, h, body)
		return b
	}
	f.Add(append(lengthWord(8), make([]byte, 8)...))
	f.Add(lengthWord(0x7fffffff))
	f.Add(probe(Header{Program: 0x12345678, Version: 1, Procedure: 1, Serial: 9}, nil))
	f.Add(probe(Header{Program: ProgramRemote, Version: 2, Procedure: 3, Serial: 11}, nil))
	f.Add(probe(Header{Program: ProgramKeepalive, Version: 1, Procedure: 1, Type: TypeMessage}, nil))
	f.Add(probe(Header{Program: ProgramRemote, Version: 1, Procedure: ProcDomainSetSchedulerParameters, Serial: 1},
		[]byte{0, 0, 0, 1, 'v', 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 'w', 0, 0, 0, 0, 0, 0, 9}))

	f2 := newTestFacade()
	close(f2.block)
	srv := NewServer(Options{MaxClientRequests: 2, KeepaliveInterval: -1}, fuzzProgram(f2))
	f.Cleanup(func() { srv.Close() })

	f.Fuzz(func(t *testing.T, data []byte) {
		out := bytes.NewReader(serveBytes(t, srv, data, false))
		for out.Len() > 0 {
			// The connection closes at the client's EOF, possibly in the middle of the last reply.
			if _, _, err := ReadPacket(out, nil); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("server sent a broken packet: %v", err)
			}
		}
		// The server still works for somebody else.
		var ret libvirt.AuthListRet
		reply := serveBytes(t, srv, probe(Header{Program: ProgramRemote, Version: 1, Procedure: ProcAuthList, Serial: 1}, nil), true)
		h, body, err := ReadPacket(bytes.NewReader(reply), nil)
		if err != nil || h.Status != StatusOK || Unmarshal(body, &ret) != nil || len(ret.Types) != 1 {
			t.Fatalf("server unusable after the input: %s %v", h, err)
		}
		if n := srv.NumClients(); n != 0 {
			t.Fatalf("%d clients left behind", n)
		}
	})
}

// fuzzProgram has the facade's handlers that return on their own.
func fuzzProgram(f *testFacade) *Program {
	p := f.program()
	p.mu.Lock()
	delete(p.handlers, ProcDomainOpenConsole) // it hands the stream to a test goroutine
	p.mu.Unlock()
	return p
}

// serveBytes serves one connection that sends data and returns what the server sent back: everything until
// the server closed after the client's EOF, or with oneReply the first packet, after which the client leaves.
func serveBytes(t *testing.T, srv *Server, data []byte, oneReply bool) []byte {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]*net.UnixConn, 2)
	for i, fd := range fds {
		file := os.NewFile(uintptr(fd), "socketpair")
		c, err := net.FileConn(file)
		file.Close()
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c.(*net.UnixConn)
	}
	client, server := conns[0], conns[1]
	defer client.Close()
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.ServeConn(context.Background(), server, ListenerOpts{})
	}()
	go func() {
		_, _ = client.Write(data)
		if !oneReply {
			_ = client.CloseWrite()
		}
	}()
	received := make(chan []byte, 1)
	go func() {
		if !oneReply {
			b, _ := io.ReadAll(client)
			received <- b
			return
		}
		_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
		h, body, err := ReadPacket(client, nil)
		if err != nil {
			received <- nil
		} else {
			b, _ := AppendPacket(nil, h, body)
			received <- b
		}
		client.Close()
	}()
	timeout := time.After(10 * time.Second)
	var out []byte
	select {
	case out = <-received:
	case <-timeout:
		t.Fatal("connection neither answered nor closed")
	}
	select {
	case <-served:
	case <-timeout:
		t.Fatalf("server hung on %d bytes of input", len(data))
	}
	return out
}

var traceLine = regexp.MustCompile(`^\s*[\d.]+ (c\d+) C>S len=(\d+)\s+prog=\w+\((0x[0-9a-f]+)\) v=(\d+) proc=(-?\d+)\s+\S+\s+type=(\w+) serial=(\d+) status=(\w+)(?:\s+\|\s*(.*))?$`)

var (
	traceTypes  = map[string]Type{"CALL": TypeCall, "REPLY": TypeReply, "MESSAGE": TypeMessage, "STREAM": TypeStream}
	traceStatus = map[string]Status{"OK": StatusOK, "ERROR": StatusError, "CONTINUE": StatusContinue}
)

// traceSeeds rebuilds the client side of every connection in the traces: headers as logged, bodies from the
// logged hex (zero-padded to the logged length where the trace cut a long body).
func traceSeeds(tb testing.TB) [][]byte {
	files, _ := filepath.Glob(filepath.Join(tracesDir, "*.txt"))
	more, _ := filepath.Glob(filepath.Join(tracesDir, "errors", "*.txt"))
	files = append(files, more...)
	var seeds [][]byte
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		conns := map[string][]byte{}
		var order []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			m := traceLine.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			size, _ := strconv.Atoi(m[2])
			prog, _ := strconv.ParseUint(m[3][2:], 16, 32)
			vers, _ := strconv.Atoi(m[4])
			proc, _ := strconv.Atoi(m[5])
			serial, _ := strconv.Atoi(m[7])
			h := Header{Program: uint32(prog), Version: uint32(vers), Procedure: int32(proc), Type: traceTypes[m[6]], Serial: uint32(serial), Status: traceStatus[m[8]]}
			body := traceBody(m[9], size-HeaderSize)
			pkt, err := AppendPacket(nil, h, body)
			if err != nil {
				continue
			}
			if _, ok := conns[m[1]]; !ok {
				order = append(order, m[1])
			}
			conns[m[1]] = append(conns[m[1]], pkt...)
		}
		f.Close()
		for _, c := range order {
			seeds = append(seeds, conns[c])
		}
	}
	if len(seeds) == 0 {
		tb.Logf("no trace seeds under %s", tracesDir)
	}
	return seeds
}

// traceBody decodes a client packet's "body=HEX" detail, fitted to size bytes.
func traceBody(detail string, size int) []byte {
	size = max(size, 0)
	body, _ := hex.DecodeString(strings.TrimSuffix(strings.TrimPrefix(detail, "body="), "..."))
	if len(body) > size {
		return body[:size]
	}
	return append(body, make([]byte, size-len(body))...)
}

func TestTraceSeedsParse(t *testing.T) {
	// The traces are part of the repository: without them the checkout is broken.
	if _, err := os.Stat(tracesDir); err != nil {
		t.Fatalf("the virsh traces are missing (go run ./hack/virshtrace records them): %v", err)
	}
	seeds := traceSeeds(t)
	if len(seeds) < 50 {
		t.Fatalf("only %d seeds", len(seeds))
	}
	// The first packet of every session is AUTH_LIST, exactly as virsh sends it.
	h, body, err := ReadPacket(strings.NewReader(string(seeds[0])), nil)
	if err != nil || h.Procedure != ProcAuthList || len(body) != 0 {
		t.Fatalf("first packet %s %v", h, err)
	}
}
