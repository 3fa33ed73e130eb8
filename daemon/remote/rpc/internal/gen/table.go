package main

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// row is one procedure of the table: what libvirt's sources say about it.
type row struct {
	program  string // remote or admin
	number   int
	name     string   // REMOTE_PROC_CONNECT_OPEN
	generate string   // none, client, server or both
	priority string   // low or high
	acl      []string // connect:getattr, domain:read_secure:VIR_DOMAIN_XML_SECURE, ...
	api      string   // virConnectOpen; empty for procedures that are no public API
}

// parseTable reads the table writeTable writes: comment lines, the header line, then one row per procedure.
func parseTable(name string, data []byte) ([]row, error) {
	var rows []row
	header := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Split(l, "\t")
		if !header {
			if !slices.Equal(f, tableColumns) {
				return nil, fmt.Errorf("%s:%d: columns %q, want %q", name, n, f, tableColumns)
			}
			header = true
			continue
		}
		if len(f) != len(tableColumns) {
			return nil, fmt.Errorf("%s:%d: %d fields, want %d", name, n, len(f), len(tableColumns))
		}
		num, err := strconv.Atoi(f[1])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: procedure number: %w", name, n, err)
		}
		r := row{program: f[0], number: num, name: f[2], generate: f[3], priority: f[4], api: f[6]}
		if f[5] != "" {
			r.acl = strings.Fields(f[5])
		}
		if r.program != "remote" && r.program != "admin" {
			return nil, fmt.Errorf("%s:%d: program %q", name, n, r.program)
		}
		if r.priority != "low" && r.priority != "high" {
			return nil, fmt.Errorf("%s:%d: priority %q", name, n, r.priority)
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no procedures", name)
	}
	return rows, nil
}
