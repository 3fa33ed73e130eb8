package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The files of libvirt's source tree the table is written from, relative to its top.
const (
	remoteProtocolX = "src/remote/remote_protocol.x"
	adminProtocolX  = "src/admin/admin_protocol.x"
	publicSyms      = "src/libvirt_public.syms"
	adminPublicSyms = "src/admin/libvirt_admin_public.syms"
)

// program describes one of libvirt's RPC programs as its sources spell it.
type program struct {
	// table is the program's name in the table's first column.
	table string
	// enum is the XDR enum listing the procedures, procPrefix the prefix of their names.
	enum, procPrefix string
	// protocol and syms are the protocol definition and the public symbol list.
	protocol, syms string
	// symPrefix is what the public API names start with.
	symPrefix string
}

var programs = []program{
	{"remote", "remote_procedure", "REMOTE_PROC_", remoteProtocolX, publicSyms, "vir"},
	{"admin", "admin_procedure", "ADMIN_PROC_", adminProtocolX, adminPublicSyms, "virAdm"},
}

var (
	// An annotation line of a procedure's comment: " * @acl: domain:write". libvirt writes a few without the
	// space ("@generate:both"). The enum's leading comment documents them as " * - @generate: ...", which this
	// does not match.
	annotationRE = regexp.MustCompile(`^\*\s*@([a-z]+):\s*(.*?)\s*$`)
	enumValueRE  = regexp.MustCompile(`^([A-Z][A-Z0-9_]*)\s*=\s*([0-9]+)\s*,?$`)
	symRE        = regexp.MustCompile(`^(vir[A-Za-z0-9_]+)\s*;`)
)

// fromLibvirt reads the procedures of both programs from the libvirt source tree at dir.
func fromLibvirt(dir string) ([]row, error) {
	var rows []row
	for _, p := range programs {
		r, err := readProgram(dir, p)
		if err != nil {
			return nil, err
		}
		rows = append(rows, r...)
	}
	return rows, nil
}

func readProgram(dir string, p program) ([]row, error) {
	x, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p.protocol)))
	if err != nil {
		return nil, fmt.Errorf("read the %s protocol: %w", p.table, err)
	}
	rows, err := parseProtocol(p, x)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.protocol, err)
	}
	s, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p.syms)))
	if err != nil {
		return nil, fmt.Errorf("read the %s public symbols: %w", p.table, err)
	}
	syms, err := parseSyms(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.syms, err)
	}
	if err := nameAPIs(p, rows, syms); err != nil {
		return nil, fmt.Errorf("%s: %w", p.syms, err)
	}
	return rows, nil
}

// parseProtocol reads the procedure enum of a protocol definition, with the annotations of the comment that
// precedes each procedure.
func parseProtocol(p program, x []byte) ([]row, error) {
	var rows []row
	var ann map[string][]string
	in := false
	seen := map[int]string{}
	sc := bufio.NewScanner(bytes.NewReader(x))
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		if !in {
			in = strings.HasPrefix(l, "enum "+p.enum+" ")
			continue
		}
		switch {
		case strings.HasPrefix(l, "};"):
			if len(rows) == 0 {
				return nil, fmt.Errorf("enum %s has no procedures", p.enum)
			}
			slices.SortFunc(rows, func(a, b row) int { return a.number - b.number })
			return rows, nil
		case strings.HasPrefix(l, "/*"):
			// Each procedure's annotations are the ones of the comment right above it.
			ann = map[string][]string{}
		case annotationRE.MatchString(l):
			m := annotationRE.FindStringSubmatch(l)
			if ann == nil {
				return nil, fmt.Errorf("line %d: annotation outside a comment", n)
			}
			ann[m[1]] = append(ann[m[1]], m[2])
		case enumValueRE.MatchString(l):
			m := enumValueRE.FindStringSubmatch(l)
			num, err := strconv.Atoi(m[2])
			if err != nil {
				return nil, fmt.Errorf("line %d: procedure number: %w", n, err)
			}
			if !strings.HasPrefix(m[1], p.procPrefix) {
				return nil, fmt.Errorf("line %d: %s does not start with %s", n, m[1], p.procPrefix)
			}
			if prev, dup := seen[num]; dup {
				return nil, fmt.Errorf("line %d: %s and %s are both number %d", n, prev, m[1], num)
			}
			seen[num] = m[1]
			r, err := annotated(p, m[1], num, ann)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			rows = append(rows, r)
			ann = nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !in {
		return nil, fmt.Errorf("no enum %s", p.enum)
	}
	return nil, fmt.Errorf("enum %s is not closed", p.enum)
}

// annotated makes the row of one procedure from its annotations. @generate is required of every procedure and
// @acl of every REMOTE one (libvirt's build refuses a protocol without them); @priority defaults to low, as
// libvirt's dispatch generator has it.
func annotated(p program, name string, num int, ann map[string][]string) (row, error) {
	r := row{program: p.table, number: num, name: name, priority: "low"}
	one := func(key string) (string, error) {
		switch v := ann[key]; len(v) {
		case 0:
			return "", nil
		case 1:
			return v[0], nil
		default:
			return "", fmt.Errorf("%s: %d @%s annotations", name, len(v), key)
		}
	}
	var err error
	if r.generate, err = one("generate"); err != nil {
		return row{}, err
	}
	switch r.generate {
	case "none", "client", "server", "both":
	default:
		return row{}, fmt.Errorf("%s: @generate %q", name, r.generate)
	}
	prio, err := one("priority")
	if err != nil {
		return row{}, err
	}
	switch prio {
	case "":
	case "low", "high":
		r.priority = prio
	default:
		return row{}, fmt.Errorf("%s: @priority %q", name, prio)
	}
	for _, a := range ann["acl"] {
		if a == "" || strings.ContainsAny(a, " \t") {
			return row{}, fmt.Errorf("%s: @acl %q", name, a)
		}
	}
	r.acl = ann["acl"]
	if p.table == "remote" && len(r.acl) == 0 {
		return row{}, fmt.Errorf("%s: no @acl", name)
	}
	return r, nil
}

// parseSyms lists the symbols of a linker version script, in order.
func parseSyms(s []byte) ([]string, error) {
	var syms []string
	sc := bufio.NewScanner(bytes.NewReader(s))
	for sc.Scan() {
		l, _, _ := strings.Cut(sc.Text(), "#")
		if m := symRE.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			syms = append(syms, m[1])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(syms) == 0 {
		return nil, fmt.Errorf("no symbols")
	}
	return syms, nil
}

// nameAPIs fills in the public API of each procedure. A procedure and its API are the same words, which the
// procedure name spells in capitals between underscores and the API in camel case with libvirt's own
// capitalization (virDomainGetXMLDesc, virNWFilterLookupByName, virDomainSetBlockIoTune): they match letter for
// letter once case and underscores are set aside.
//
// The *_CALLBACK_* procedures are the wire form that libvirt's remote driver uses, when the daemon supports
// it, for the API named without CALLBACK (REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY carries
// virConnectDomainEventRegisterAny), so they take that API when nothing matches them directly.
//
// The rest (authentication, migration steps, event messages, the feature probe) are not public APIs; their
// column stays empty.
func nameAPIs(p program, rows []row, syms []string) error {
	bySpelling := map[string]string{}
	for _, s := range syms {
		k, ok := strings.CutPrefix(s, p.symPrefix)
		if !ok {
			continue
		}
		k = strings.ToLower(k)
		if prev, dup := bySpelling[k]; dup && prev != s {
			return fmt.Errorf("%s and %s are spelled alike", prev, s)
		}
		bySpelling[k] = s
	}
	for i := range rows {
		words := strings.Split(strings.ToLower(strings.TrimPrefix(rows[i].name, p.procPrefix)), "_")
		if api, ok := bySpelling[strings.Join(words, "")]; ok {
			rows[i].api = api
			continue
		}
		if j := slices.Index(words, "callback"); j >= 0 {
			if api, ok := bySpelling[strings.Join(slices.Delete(words, j, j+1), "")]; ok {
				rows[i].api = api
			}
		}
	}
	return nil
}

// writeTableFile writes the table to path; the whole table is formatted before the file is touched.
func writeTableFile(path string, rows []row) error {
	var b bytes.Buffer
	if err := writeTable(&b, rows); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// tableHeader opens the table: what it is, where it comes from, how to regenerate it.
const tableHeader = `# The procedures of libvirt's REMOTE and ADMIN RPC programs, written by internal/gen -from-libvirt from the
# release hack/libvirt-src.sh pins: numbers, names and @generate, @priority and @acl annotations from
# src/remote/remote_protocol.x and src/admin/admin_protocol.x; the public API of each procedure from
# src/libvirt_public.syms and src/admin/libvirt_admin_public.syms (empty: none). acl lists the @acl
# annotations, space-separated. Regenerate, do not edit (from daemon/remote/rpc):
#   go run ./internal/gen -from-libvirt "$(../../../hack/libvirt-src.sh)" -table internal/gen/procs.tsv
`

// tableColumns names the columns, in order.
var tableColumns = []string{"program", "number", "name", "generate", "priority", "acl", "api"}

func writeTable(w io.Writer, rows []row) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(tableHeader)
	bw.WriteString(strings.Join(tableColumns, "\t") + "\n")
	for _, r := range rows {
		fmt.Fprintf(bw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n",
			r.program, r.number, r.name, r.generate, r.priority, strings.Join(r.acl, " "), r.api)
	}
	return bw.Flush()
}
