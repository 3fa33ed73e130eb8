package virshtrace

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// Keepalive faults.
const (
	// KeepaliveIgnore: the server never answers a ping nor sends one (the relay answers the server's pings in the
	// client's place, so the server keeps the connection).
	KeepaliveIgnore = "ignore"
	// KeepaliveError: the server answers a ping with an error reply, as a server that does not know the
	// keepalive program would.
	KeepaliveError = "error"
)

// Faults is what a Relay does instead of forwarding: the injected misbehaviour of a server.
type Faults struct {
	// Fail answers these REMOTE procedures with an error of this code instead of forwarding them.
	Fail map[int32]rpc.Code
	// FailFeatures answers every CONNECT_SUPPORTS_FEATURE with VIR_ERR_NO_SUPPORT.
	FailFeatures bool
	// Features answers CONNECT_SUPPORTS_FEATURE for these features with this value.
	Features map[int32]int32
	// Keepalive is "", KeepaliveIgnore or KeepaliveError.
	Keepalive string
}

// String renders f for a trace's "# faults:" line: "fail 66=3,122=1; features 14=0; fail-features; keepalive
// ignore", the parts present in that order, "" for none.
func (f Faults) String() string {
	var parts []string
	pairs := func(m map[int32]int64) string {
		keys := make([]int, 0, len(m))
		for k := range m {
			keys = append(keys, int(k))
		}
		sort.Ints(keys)
		var s []string
		for _, k := range keys {
			s = append(s, fmt.Sprintf("%d=%d", k, m[int32(k)]))
		}
		return strings.Join(s, ",")
	}
	if len(f.Fail) > 0 {
		m := map[int32]int64{}
		for k, v := range f.Fail {
			m[k] = int64(v)
		}
		parts = append(parts, "fail "+pairs(m))
	}
	if len(f.Features) > 0 {
		m := map[int32]int64{}
		for k, v := range f.Features {
			m[k] = int64(v)
		}
		parts = append(parts, "features "+pairs(m))
	}
	if f.FailFeatures {
		parts = append(parts, "fail-features")
	}
	if f.Keepalive != "" {
		parts = append(parts, "keepalive "+f.Keepalive)
	}
	return strings.Join(parts, "; ")
}

// injectedDomain is the error domain of the injected errors: virsh prints only their message, and a fixed
// domain keeps recordings comparable.
const injectedDomain = rpc.ErrorDomain(20)

// intercept decides what the relay does with a packet from the client: forward it (intercepted false), drop it
// (nil header) or answer it itself.
func (f Faults) intercept(h rpc.Header, body []byte) (*rpc.Header, []byte, bool) {
	errReply := func(code rpc.Code, domain rpc.ErrorDomain, msg string) (*rpc.Header, []byte, bool) {
		rh := h
		rh.Type, rh.Status = rpc.TypeReply, rpc.StatusError
		return &rh, rpc.MarshalError(&rpc.Error{Code: code, Domain: domain, Message: msg, Level: rpc.LevelError,
			Int1: -1, Int2: -1}), true
	}
	if h.Program == rpc.ProgramKeepalive && h.Procedure == rpc.ProcKeepalivePing {
		switch f.Keepalive {
		case KeepaliveIgnore:
			return nil, nil, true
		case KeepaliveError:
			return errReply(rpc.CodeRPC, rpc.ErrorDomain(7), fmt.Sprintf("Cannot find program %d version 1", rpc.ProgramKeepalive))
		}
		return nil, nil, false
	}
	if h.Program != rpc.ProgramRemote || h.Type != rpc.TypeCall {
		return nil, nil, false
	}
	if h.Procedure == rpc.ProcConnectSupportsFeature && len(body) >= 4 {
		if f.FailFeatures {
			return errReply(rpc.CodeNoSupport, injectedDomain, "this function is not supported by the connection driver: virConnectSupportsFeature")
		}
		if v, ok := f.Features[int32(binary.BigEndian.Uint32(body))]; ok {
			rh := h
			rh.Type = rpc.TypeReply
			return &rh, binary.BigEndian.AppendUint32(nil, uint32(v)), true
		}
	}
	if code, ok := f.Fail[h.Procedure]; ok {
		return errReply(code, injectedDomain, fmt.Sprintf("this function is not supported by the connection driver: proc %d (injected)", h.Procedure))
	}
	return nil, nil, false
}

// Relay is a unix-socket proxy in front of an RPC server: it parses every packet with rpc.ReadPacket, records
// it, and injects its Faults.
type Relay struct {
	// Sock is the socket clients connect to.
	Sock   string
	target string
	f      Faults
	names  func(prog uint32, proc int32) string
	start  time.Time
	ln     net.Listener
	wg     sync.WaitGroup

	mu    sync.Mutex
	pkts  []Packet
	conns []net.Conn
	n     int
}

// NewRelay listens on sock and relays each connection to the server listening on target. names, when not nil,
// names procedures in the recorded packets.
func NewRelay(sock, target string, f Faults, names func(prog uint32, proc int32) string) (*Relay, error) {
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	r := &Relay{Sock: sock, target: target, f: f, names: names, start: time.Now(), ln: ln}
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

// Close stops the relay and closes its connections.
func (r *Relay) Close() {
	r.ln.Close()
	r.mu.Lock()
	for _, c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// Packets returns what the relay recorded so far.
func (r *Relay) Packets() []Packet {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Packet(nil), r.pkts...)
}

func (r *Relay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("unix", r.target)
		if err != nil {
			c.Close()
			continue
		}
		r.mu.Lock()
		r.n++
		p := &relayPair{r: r, id: "c" + strconv.Itoa(r.n), client: c, server: s}
		r.conns = append(r.conns, c, s)
		r.pkts = append(r.pkts, Packet{At: time.Since(r.start), Conn: p.id, Event: "connect", ErrCode: -1})
		r.mu.Unlock()
		r.wg.Add(2)
		go p.clientToServer()
		go p.serverToClient()
	}
}

func (r *Relay) event(conn, dir, what string) {
	r.mu.Lock()
	r.pkts = append(r.pkts, Packet{At: time.Since(r.start), Conn: conn, Dir: dir, Event: what, ErrCode: -1})
	r.mu.Unlock()
}

func (r *Relay) record(conn, dir string, h rpc.Header, body []byte) {
	p := Packet{At: time.Since(r.start), Conn: conn, Dir: dir, Len: rpc.HeaderSize + len(body), Program: h.Program,
		Version: h.Version, Proc: int(h.Procedure), Serial: h.Serial, ErrCode: -1, Name: "-"}
	switch h.Program {
	case rpc.ProgramRemote:
		p.Prog = "REMOTE"
	case rpc.ProgramKeepalive:
		p.Prog = "KEEPALIVE"
	default:
		p.Prog = fmt.Sprintf("%#x", h.Program)
	}
	if r.names != nil {
		if n := r.names(h.Program, h.Procedure); n != "" {
			p.Name = n
		}
	}
	p.Type = map[rpc.Type]string{rpc.TypeCall: "CALL", rpc.TypeReply: "REPLY", rpc.TypeMessage: "MESSAGE",
		rpc.TypeStream: "STREAM"}[h.Type]
	if p.Type == "" {
		p.Type = "TYPE" + strconv.Itoa(int(h.Type))
	}
	p.Status = map[rpc.Status]string{rpc.StatusOK: "OK", rpc.StatusError: "ERROR", rpc.StatusContinue: "CONTINUE"}[h.Status]
	if p.Status == "" {
		p.Status = "STATUS" + strconv.Itoa(int(h.Status))
	}
	switch {
	case h.Type == rpc.TypeReply && h.Status == rpc.StatusError:
		if e, err := rpc.UnmarshalError(body); err == nil {
			p.ErrCode = int(e.Code)
			p.Detail = fmt.Sprintf("ERROR code=%d domain=%d msg=%s", e.Code, e.Domain, strconv.Quote(e.Message))
		}
	case dir == ClientToServer && len(body) > 0:
		b := body
		if len(b) > MaxBodyHex {
			b = b[:MaxBodyHex]
		}
		p.Detail = "body=" + hex.EncodeToString(b)
		if len(b) < len(body) {
			p.Detail += "..."
		}
	}
	r.mu.Lock()
	r.pkts = append(r.pkts, p)
	r.mu.Unlock()
}

// relayPair is one client connection and its connection to the server.
type relayPair struct {
	r              *Relay
	id             string
	client, server net.Conn
	cmu, smu       sync.Mutex
	once           sync.Once
}

func (p *relayPair) shut() {
	p.once.Do(func() { p.client.Close(); p.server.Close() })
}

func (p *relayPair) toClient(h rpc.Header, body []byte) error {
	p.cmu.Lock()
	defer p.cmu.Unlock()
	return rpc.WritePacket(p.client, h, body)
}

func (p *relayPair) toServer(h rpc.Header, body []byte) error {
	p.smu.Lock()
	defer p.smu.Unlock()
	return rpc.WritePacket(p.server, h, body)
}

// eof records how a side's stream ended: only a clean end (or the relay's own closing) counts as EOF.
func (p *relayPair) eof(dir string, err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		p.r.event(p.id, dir, "EOF")
	}
}

func (p *relayPair) clientToServer() {
	defer p.r.wg.Done()
	defer p.shut()
	for {
		h, body, err := rpc.ReadPacket(p.client, nil)
		if err != nil {
			p.eof(ClientToServer, err)
			return
		}
		p.r.record(p.id, ClientToServer, h, body)
		rh, rbody, intercepted := p.r.f.intercept(h, body)
		if !intercepted {
			if p.toServer(h, body) != nil {
				return
			}
			continue
		}
		if rh == nil { // dropped
			continue
		}
		p.r.record(p.id, ServerToClient, *rh, rbody)
		if p.toClient(*rh, rbody) != nil {
			return
		}
	}
}

func (p *relayPair) serverToClient() {
	defer p.r.wg.Done()
	defer p.shut()
	for {
		h, body, err := rpc.ReadPacket(p.server, nil)
		if err != nil {
			p.eof(ServerToClient, err)
			return
		}
		p.r.record(p.id, ServerToClient, h, body)
		if p.r.f.Keepalive != "" && h.Program == rpc.ProgramKeepalive {
			// The faulty server never pings: the relay answers the server's pings in the client's place.
			if h.Procedure == rpc.ProcKeepalivePing {
				pong := rpc.Header{Program: rpc.ProgramKeepalive, Version: rpc.ProtocolVersion,
					Procedure: rpc.ProcKeepalivePong, Type: rpc.TypeMessage}
				p.r.record(p.id, ClientToServer, pong, nil)
				if p.toServer(pong, nil) != nil {
					return
				}
			}
			continue
		}
		if p.toClient(h, body) != nil {
			return
		}
	}
}
