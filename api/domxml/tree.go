package domxml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"
)

// node is one element of a generic XML tree: what the strictness check compares, independent of any schema.
type node struct {
	name     xml.Name // Space is the namespace URI
	attrs    []xml.Attr
	children []*node
	text     string // character data directly inside the element, trimmed
	line     int
	col      int
}

// attr returns the value of the attribute without namespace named local.
func (n *node) attr(local string) (string, bool) {
	for _, a := range n.attrs {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value, true
		}
	}
	return "", false
}

// setAttr replaces or adds the attribute named local.
func (n *node) setAttr(local, value string) {
	for i, a := range n.attrs {
		if a.Name.Space == "" && a.Name.Local == local {
			n.attrs[i].Value = value
			return
		}
	}
	n.attrs = append(n.attrs, xml.Attr{Name: xml.Name{Local: local}, Value: value})
}

// delAttr removes the attribute named local.
func (n *node) delAttr(local string) {
	out := n.attrs[:0]
	for _, a := range n.attrs {
		if a.Name.Space != "" || a.Name.Local != local {
			out = append(out, a)
		}
	}
	n.attrs = out
}

// child returns the first child element named local (no namespace).
func (n *node) child(local string) *node {
	for _, c := range n.children {
		if c.name.Space == "" && c.name.Local == local {
			return c
		}
	}
	return nil
}

// empty reports whether the element has no attributes, no children and no text.
func (n *node) empty() bool {
	return len(n.attrs) == 0 && len(n.children) == 0 && n.text == ""
}

// maxDepth is how many elements may enclose an element: libxml2 (without XML_PARSE_HUGE, which libvirt does not
// set) refuses a deeper one with the message of errTooDeep. No libvirt document comes near it, and the bound keeps
// the recursive walks over the tree, and the paths in their error messages, small.
const maxDepth = 256

// errTooDeep is libxml2's message for an element nested deeper than maxDepth.
var errTooDeep = "Excessive depth in document: " + strconv.Itoa(maxDepth) + " use XML_PARSE_HUGE option"

// parseTree reads one XML document into a generic tree. Malformed XML, or XML nested deeper than maxDepth, gives a
// *SyntaxError with the position where the parser stopped.
func parseTree(data []byte) (*node, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	var (
		root  *node
		stack []*node
		texts []*strings.Builder
	)
	for {
		line, col := d.InputPos()
		tok, err := d.Token()
		if err == io.EOF {
			if len(stack) > 0 {
				l, c := d.InputPos()
				return nil, &SyntaxError{Line: l, Column: c, Msg: "unexpected end of document: element <" +
					stack[len(stack)-1].name.Local + "> not closed"}
			}
			break
		}
		if err != nil {
			se := syntaxError(d, data, err)
			if se.Msg == "unexpected EOF" && len(stack) > 0 {
				se.Msg = "unexpected end of document: element <" + stack[len(stack)-1].name.Local + "> not closed"
			}
			return nil, se
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root != nil && len(stack) == 0 {
				return nil, &SyntaxError{Line: line, Column: col, Msg: "extra content at the end of the document"}
			}
			if len(stack) > maxDepth {
				return nil, &SyntaxError{Line: line, Column: col, Msg: errTooDeep}
			}
			n := &node{name: t.Name, line: line, col: col}
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
					continue
				}
				n.attrs = append(n.attrs, a)
			}
			if len(stack) == 0 {
				root = n
			} else {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			}
			stack = append(stack, n)
			texts = append(texts, &strings.Builder{})
		case xml.EndElement:
			n := stack[len(stack)-1]
			n.text = strings.TrimSpace(texts[len(texts)-1].String())
			stack = stack[:len(stack)-1]
			texts = texts[:len(texts)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimSpace(t)) != 0 {
					msg := "content outside the root element"
					if root != nil {
						msg = "extra content at the end of the document"
					}
					return nil, &SyntaxError{Line: line, Column: col, Msg: msg}
				}
				continue
			}
			texts[len(texts)-1].Write(t)
		}
	}
	if root == nil {
		return nil, &SyntaxError{Line: 1, Column: 1, Msg: "document is empty"}
	}
	return root, nil
}

// syntaxError turns an encoding/xml error into a *SyntaxError with line and column.
func syntaxError(d *xml.Decoder, data []byte, err error) *SyntaxError {
	line, col := d.InputPos()
	msg := err.Error()
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		msg = se.Msg
		if se.Line > 0 && se.Line != line {
			// The decoder's line is authoritative; find the column within it from the offset.
			line = se.Line
			col = columnAt(data, int(d.InputOffset()), line)
		}
	}
	return &SyntaxError{Line: line, Column: col, Msg: msg}
}

// columnAt returns the 1-based column of offset on the given line, or 1 if the offset is not on it.
func columnAt(data []byte, offset, line int) int {
	if offset > len(data) {
		offset = len(data)
	}
	l := 1 + bytes.Count(data[:offset], []byte{'\n'})
	if l != line {
		return 1
	}
	return offset - bytes.LastIndexByte(data[:offset], '\n')
}

// serializeChildren prints the child elements of n as self-contained XML: every element whose namespace differs
// from its parent's declares it as the default namespace, so no prefix depends on an ancestor.
func serializeChildren(n *node) string {
	if n == nil {
		return ""
	}
	var b bytes.Buffer
	for _, c := range n.children {
		serializeNode(&b, c, "")
	}
	return b.String()
}

func serializeNode(b *bytes.Buffer, n *node, parentSpace string) {
	b.WriteByte('<')
	b.WriteString(n.name.Local)
	if n.name.Space != parentSpace {
		b.WriteString(" xmlns='")
		escape(b, n.name.Space)
		b.WriteByte('\'')
	}
	prefixes := map[string]string{}
	for _, a := range n.attrs {
		name := a.Name.Local
		if a.Name.Space != "" {
			p, ok := prefixes[a.Name.Space]
			if !ok {
				p = "ns" + strconv.Itoa(len(prefixes)+1)
				prefixes[a.Name.Space] = p
				b.WriteString(" xmlns:" + p + "='")
				escape(b, a.Name.Space)
				b.WriteByte('\'')
			}
			name = p + ":" + name
		}
		b.WriteString(" " + name + "='")
		escape(b, a.Value)
		b.WriteByte('\'')
	}
	if len(n.children) == 0 && n.text == "" {
		b.WriteString("/>")
		return
	}
	b.WriteByte('>')
	escape(b, n.text)
	for _, c := range n.children {
		serializeNode(b, c, n.name.Space)
	}
	b.WriteString("</" + n.name.Local + ">")
}
