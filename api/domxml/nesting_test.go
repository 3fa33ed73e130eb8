package domxml

import (
	"encoding/xml"
	"errors"
	"strings"
	"testing"

	"github.com/virtxend/virtxend/test/allocbound"
)

// TestParseDepthLimit: libxml2, libvirt's parser, refuses an element with more than 256 elements around it.
func TestParseDepthLimit(t *testing.T) {
	tests := []struct {
		name  string
		depth int // of the whole document, <domain> included
		err   string
	}{
		{"deepest libxml2 accepts", maxDepth + 1, ""},
		{"one deeper", maxDepth + 2, "domain XML: line 1, column 874: Excessive depth in document: 256 use XML_PARSE_HUGE option"},
		{"absurd", 100000, "Excessive depth in document: 256 use XML_PARSE_HUGE option"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// <domain> and <metadata> enclose the chain of <a>.
			_, err := Parse(nestedDoc(tt.depth - 2))
			if tt.err == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			var se *SyntaxError
			if !errors.As(err, &se) || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("Parse: %v, want a *SyntaxError with %q", err, tt.err)
			}
		})
	}
}

// TestSubsetLinear: comparing a document with its reprint costs memory in proportion to its size, however deep it
// nests. The trees are built directly, as the parser would refuse this depth.
func TestSubsetLinear(t *testing.T) {
	const depth = 20000
	in, out := chain(depth), chain(depth)
	size := len("<domain></domain>") + depth*len("<a></a>")
	var err error
	allocbound.Check(t, size, func() { err = subset(in, out, nil) })
	if err != nil {
		t.Fatalf("subset: %v", err)
	}
}

func xmlName(local string) xml.Name { return xml.Name{Local: local} }

// chain is a <domain> with a chain of depth <a> elements below it.
func chain(depth int) *node {
	root := &node{name: xmlName("domain")}
	n := root
	for range depth {
		c := &node{name: xmlName("a")}
		n.children = []*node{c}
		n = c
	}
	return root
}
