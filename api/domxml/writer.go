package domxml

import (
	"bytes"
	"strconv"
)

// attr is one attribute to print; an attribute with an empty value is left out unless keep is set.
type attr struct {
	k, v string
	keep bool
}

// a is an attribute printed only when v is not empty.
func a(k, v string) attr { return attr{k: k, v: v} }

// ak is an attribute printed even when v is empty.
func ak(k, v string) attr { return attr{k: k, v: v, keep: true} }

// au is an optional unsigned attribute.
func au(k string, v *uint32) attr {
	if v == nil {
		return attr{}
	}
	return attr{k: k, v: strconv.FormatUint(uint64(*v), 10)}
}

// writer prints XML the way libvirt's virBuffer code does: two-space indentation, single-quoted attributes,
// empty elements as <x/>, and libvirt's escaping.
type writer struct {
	buf    bytes.Buffer
	indent int
}

func (w *writer) pad() {
	for range w.indent {
		w.buf.WriteString("  ")
	}
}

func (w *writer) startTag(name string, attrs []attr) {
	w.pad()
	w.buf.WriteByte('<')
	w.buf.WriteString(name)
	for _, at := range attrs {
		if at.k == "" || (at.v == "" && !at.keep) {
			continue
		}
		w.buf.WriteByte(' ')
		w.buf.WriteString(at.k)
		w.buf.WriteString("='")
		escape(&w.buf, at.v)
		w.buf.WriteByte('\'')
	}
}

// empty prints <name attrs/>.
func (w *writer) empty(name string, attrs ...attr) {
	w.startTag(name, attrs)
	w.buf.WriteString("/>\n")
}

// text prints <name attrs>value</name>; nothing when value is empty.
func (w *writer) text(name, value string, attrs ...attr) {
	if value == "" {
		return
	}
	w.startTag(name, attrs)
	w.buf.WriteByte('>')
	escape(&w.buf, value)
	w.buf.WriteString("</")
	w.buf.WriteString(name)
	w.buf.WriteString(">\n")
}

// elem prints name with attrs and the children body writes: <name attrs/> when body writes nothing.
func (w *writer) elem(name string, attrs []attr, body func(w *writer)) {
	var child writer
	child.indent = w.indent + 1
	if body != nil {
		body(&child)
	}
	w.startTag(name, attrs)
	if child.buf.Len() == 0 {
		w.buf.WriteString("/>\n")
		return
	}
	w.buf.WriteString(">\n")
	w.buf.Write(child.buf.Bytes())
	w.pad()
	w.buf.WriteString("</")
	w.buf.WriteString(name)
	w.buf.WriteString(">\n")
}

// container prints name with attrs and its children, and nothing at all when there are no children.
func (w *writer) container(name string, attrs []attr, body func(w *writer)) {
	var child writer
	child.indent = w.indent + 1
	body(&child)
	if child.buf.Len() == 0 {
		return
	}
	w.startTag(name, attrs)
	w.buf.WriteString(">\n")
	w.buf.Write(child.buf.Bytes())
	w.pad()
	w.buf.WriteString("</")
	w.buf.WriteString(name)
	w.buf.WriteString(">\n")
}

// escape writes s with libvirt's escaping (virBufferEscapeString): the five XML specials become entities and
// control characters other than tab, newline and carriage return are dropped.
func escape(b *bytes.Buffer, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&apos;")
		default:
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				continue
			}
			b.WriteByte(c)
		}
	}
}
