// Package virshtrace records and reads the project's virsh packet traces: what real virsh sent to a libvirt RPC
// server and what came back, packet by packet, with virsh's exit code and output.
//
// hack/virshtrace records them from Debian's libvirtd serving its test driver into test/e2e/testdata/virsh-traces
// (errors/ holds the ones taken with faults injected). TestVirshTraces (test/e2e) replays each traced command
// against virtxend through the same Relay and compares; FuzzServePacket (daemon/remote/rpc) seeds from the client
// packets of the files.
//
// A trace file is text. Header lines start with "# ": "# command: ..." (the virsh command line), "# exit code: N",
// "# faults: ..." (Faults.String, when faults were injected), free notes, then "# virsh output:" (or "# virsh
// output (first 25 lines):" when cut) followed by one "#   line" per line virsh printed, then "# packets ..."
// followed by one line per packet or connection event:
//
//	12.345 c1 C>S len=28     prog=REMOTE(0x20008086) v=1 proc=66  REMOTE_PROC_AUTH_LIST  type=CALL serial=0 status=OK
//	12.401 c1 S>C len=152    prog=REMOTE(0x20008086) v=1 proc=122 ...  type=REPLY serial=12 status=ERROR  | ERROR code=1 domain=20 msg='...'
//
// A client packet's detail is its body in hex ("body=...", cut at MaxBodyHex bytes with "..." appended); an error
// reply's detail is its decoded error.
package virshtrace

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// MaxOutputLines is how many lines of virsh's output a trace keeps.
const MaxOutputLines = 25

// MaxBodyHex is how many bytes of a client packet's body a trace keeps (in hex).
const MaxBodyHex = 2048

// Directions of a packet.
const (
	ClientToServer = "C>S"
	ServerToClient = "S>C"
)

// Packet is one packet line of a trace, or a connection event (Event set, most other fields zero).
type Packet struct {
	At      time.Duration // since the relay started
	Conn    string        // c1, c2, ...: the relay's connections in the order they came
	Dir     string        // ClientToServer or ServerToClient
	Event   string        // "connect", "EOF" or "" for a packet
	Len     int           // the packet's length word (length word and header included)
	Program uint32
	Prog    string // REMOTE, KEEPALIVE or the program number in hex
	Version uint32
	Proc    int
	Name    string // the procedure's name, "-" when unknown
	Type    string // CALL, REPLY, MESSAGE, STREAM
	Serial  uint32
	Status  string // OK, ERROR, CONTINUE
	ErrCode int    // the code of an error reply, else -1
	Detail  string // what follows " | "
}

// Trace is one trace file.
type Trace struct {
	Command   string
	Code      int
	Faults    string   // Faults.String of the faults injected, "" for none
	Notes     []string // further header lines, without "# "
	Out       []string // what virsh printed, trailing empty lines removed
	Truncated bool     // Out holds only the first MaxOutputLines lines
	Packets   []Packet
}

var (
	packetRE = regexp.MustCompile(`^\s*([\d.]+) (c\d+) (C>S|S>C) len=(\d+)\s+prog=(\w+)\(0x([0-9a-f]+)\) v=(\d+) proc=(-?\d+)\s+(\S+)\s+type=(\w+) serial=(\d+) status=(\w+)(?:\s+\|\s?(.*))?$`)
	eventRE  = regexp.MustCompile(`^\s*([\d.]+) (c\d+) (?:(C>S|S>C) )?(connect|EOF)$`)
	errRE    = regexp.MustCompile(`ERROR code=(\d+)`)
)

// Load reads and parses the trace file at path.
func Load(path string) (*Trace, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read trace: %w", err)
	}
	tr, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return tr, nil
}

// Parse parses a trace file.
func Parse(b []byte) (*Trace, error) {
	tr := &Trace{Code: -1}
	inOut := false
	for n, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "# command: "):
			tr.Command = strings.TrimPrefix(line, "# command: ")
		case strings.HasPrefix(line, "# exit code: "):
			f := strings.Fields(strings.TrimPrefix(line, "# exit code: "))
			if len(f) > 0 {
				tr.Code, _ = strconv.Atoi(f[0])
			}
		case strings.HasPrefix(line, "# faults: "):
			tr.Faults = strings.TrimPrefix(line, "# faults: ")
		case strings.HasPrefix(line, "# virsh output"):
			inOut = true
			tr.Truncated = strings.Contains(line, "first ")
		case strings.HasPrefix(line, "# packets"):
			inOut = false
		case inOut && strings.HasPrefix(line, "#"):
			tr.Out = append(tr.Out, strings.TrimPrefix(strings.TrimPrefix(line, "#"), "   "))
		case strings.HasPrefix(line, "# "):
			tr.Notes = append(tr.Notes, strings.TrimPrefix(line, "# "))
		case strings.TrimSpace(line) == "":
		default:
			p, err := parsePacket(line)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n+1, err)
			}
			tr.Packets = append(tr.Packets, p)
		}
	}
	if tr.Code < 0 || tr.Command == "" {
		return nil, fmt.Errorf("no command or exit code")
	}
	tr.Out = TrimTrailingEmpty(tr.Out)
	return tr, nil
}

func parsePacket(line string) (Packet, error) {
	ms := func(s string) time.Duration {
		f, _ := strconv.ParseFloat(s, 64)
		return time.Duration(f * float64(time.Millisecond))
	}
	if m := eventRE.FindStringSubmatch(line); m != nil {
		return Packet{At: ms(m[1]), Conn: m[2], Dir: m[3], Event: m[4], ErrCode: -1}, nil
	}
	m := packetRE.FindStringSubmatch(line)
	if m == nil {
		return Packet{}, fmt.Errorf("not a packet: %q", line)
	}
	p := Packet{At: ms(m[1]), Conn: m[2], Dir: m[3], Prog: m[5], Name: m[9], Type: m[10], Status: m[12], Detail: m[13], ErrCode: -1}
	p.Len, _ = strconv.Atoi(m[4])
	prog, _ := strconv.ParseUint(m[6], 16, 32)
	vers, _ := strconv.ParseUint(m[7], 10, 32)
	serial, _ := strconv.ParseUint(m[11], 10, 32)
	p.Program, p.Version, p.Serial = uint32(prog), uint32(vers), uint32(serial)
	p.Proc, _ = strconv.Atoi(m[8])
	if p.Status == "ERROR" {
		if e := errRE.FindStringSubmatch(p.Detail); e != nil {
			p.ErrCode, _ = strconv.Atoi(e[1])
		}
	}
	return p, nil
}

// Format renders the trace as a file.
func (tr *Trace) Format() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# command: %s\n# exit code: %d\n", tr.Command, tr.Code)
	if tr.Faults != "" {
		fmt.Fprintf(&b, "# faults: %s\n", tr.Faults)
	}
	for _, n := range tr.Notes {
		fmt.Fprintf(&b, "# %s\n", n)
	}
	if tr.Truncated {
		fmt.Fprintf(&b, "# virsh output (first %d lines):\n", MaxOutputLines)
	} else {
		b.WriteString("# virsh output:\n")
	}
	for _, l := range tr.Out {
		fmt.Fprintf(&b, "#   %s\n", l)
	}
	b.WriteString("# packets (ms since the relay started; cN: the relay's Nth connection; C>S client to server, S>C server to client):\n")
	for _, p := range tr.Packets {
		b.WriteString(p.line())
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func (p Packet) line() string {
	at := fmt.Sprintf("%10.3f", float64(p.At)/float64(time.Millisecond))
	switch {
	case p.Event != "" && p.Dir != "":
		return fmt.Sprintf("%s %s %s %s", at, p.Conn, p.Dir, p.Event)
	case p.Event != "":
		return fmt.Sprintf("%s %s %s", at, p.Conn, p.Event)
	}
	name := p.Name
	if name == "" {
		name = "-"
	}
	s := fmt.Sprintf("%s %s %s len=%-6d prog=%s(%#08x) v=%d proc=%-3d %-48s type=%s serial=%d status=%s",
		at, p.Conn, p.Dir, p.Len, p.Prog, p.Program, p.Version, p.Proc, name, p.Type, p.Serial, p.Status)
	if p.Detail != "" {
		s += "  | " + p.Detail
	}
	return s
}

// TrimTrailingEmpty drops the blank lines at the end of lines.
func TrimTrailingEmpty(lines []string) []string {
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// CallTokens renders the calls of pkts, per connection: the procedure number of each REMOTE call the client
// sent, with "!code" when its reply was an error; runs of one token are written "316*27", connections are
// separated by " | ".
func CallTokens(pkts []Packet) string {
	errs := map[string]int{}
	key := func(p Packet) string { return p.Conn + "/" + strconv.FormatUint(uint64(p.Serial), 10) }
	for _, p := range pkts {
		if p.Event == "" && p.Dir == ServerToClient && p.Prog == "REMOTE" && p.Type == "REPLY" && p.ErrCode >= 0 {
			errs[key(p)] = p.ErrCode
		}
	}
	var conns []string
	per := map[string][]string{}
	for _, p := range pkts {
		if p.Event != "" || p.Dir != ClientToServer || p.Prog != "REMOTE" || p.Type != "CALL" {
			continue
		}
		if _, ok := per[p.Conn]; !ok {
			conns = append(conns, p.Conn)
		}
		tok := strconv.Itoa(p.Proc)
		if c, ok := errs[key(p)]; ok {
			tok += "!" + strconv.Itoa(c)
		}
		per[p.Conn] = append(per[p.Conn], tok)
	}
	var parts []string
	for _, c := range conns {
		var runs []string
		toks := per[c]
		for k := 0; k < len(toks); {
			n := 1
			for k+n < len(toks) && toks[k+n] == toks[k] {
				n++
			}
			if n > 1 {
				runs = append(runs, fmt.Sprintf("%s*%d", toks[k], n))
			} else {
				runs = append(runs, toks[k])
			}
			k += n
		}
		parts = append(parts, strings.Join(runs, " "))
	}
	return strings.Join(parts, " | ")
}

// KeepaliveCounts counts the keepalive messages of pkts: pings and pongs in each direction.
func KeepaliveCounts(pkts []Packet) (pingCS, pongSC, pingSC, pongCS int) {
	for _, p := range pkts {
		if p.Event != "" || p.Prog != "KEEPALIVE" {
			continue
		}
		switch {
		case p.Dir == ClientToServer && p.Proc == 1:
			pingCS++
		case p.Dir == ServerToClient && p.Proc == 2:
			pongSC++
		case p.Dir == ServerToClient && p.Proc == 1:
			pingSC++
		case p.Dir == ClientToServer && p.Proc == 2:
			pongCS++
		}
	}
	return
}
