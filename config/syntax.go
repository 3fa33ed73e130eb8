package config

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Kind is the type of a value as written in a conf file.
type Kind int

// The kinds of value libvirt's conf syntax has. Booleans are integers 0 and 1.
const (
	// KindString is a value in single, double or triple double quotes.
	KindString Kind = iota + 1
	// KindInt is a decimal integer, optionally signed.
	KindInt
	// KindList is a bracketed, comma-separated list of values.
	KindList
)

// String names the kind as error messages do.
func (k Kind) String() string {
	switch k {
	case KindString:
		return "string"
	case KindInt:
		return "integer"
	case KindList:
		return "list"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one value as written in a conf file.
type Value struct {
	// Kind says which of Str, Int and List holds the value.
	Kind Kind
	// Str is a String's text, without quotes; there are no escapes.
	Str string
	// Int is an Int's value.
	Int int64
	// Minus records a leading '-'. libvirt types such a number as signed even when it is -0, and settings
	// that take an unsigned integer or a boolean refuse it.
	Minus bool
	// List holds a List's elements; it is non-nil, possibly empty, for a List.
	List []Value
	// Line and Col locate the first character of the value; columns count bytes from 1.
	Line, Col int
}

// Entry is one "key = value" statement.
type Entry struct {
	// Key is the setting's name: a letter followed by letters, digits and underscores.
	Key string
	// Value is what the statement assigns.
	Value Value
	// Line and Col locate the key; columns count bytes from 1.
	Line, Col int
}

// File is a parsed conf file: its statements in order, comments dropped.
type File struct {
	// Name is the name errors are reported under, usually the path.
	Name string
	// Entries are the statements in file order, duplicates included.
	Entries []Entry
}

// Lookup returns the entry for key. When a key is given more than once the first statement wins, as with
// libvirt's virConfGetValue.
func (f *File) Lookup(key string) (Entry, bool) {
	for _, e := range f.Entries {
		if e.Key == key {
			return e, true
		}
	}
	return Entry{}, false
}

// maxListDepth bounds list nesting so that a hostile file cannot exhaust the stack.
const maxListDepth = 32

// Parse reads data in libvirt's conf syntax (the grammar of libvirt's virconf.c, without its VMX and LXC
// variants): statements "key = value" separated by new lines or ';', comments from '#' to the end of a line,
// values that are strings ('single' or "double" quoted on one line, """triple""" quoted across lines, no
// escapes), decimal integers with an optional sign, and lists "[ v, v, ]" that may span lines and end with a
// comma. As in libvirt, a value starts on the line of its '=', and comments are not allowed inside a list.
// A syntax error stops the parse; it is an *Error naming the file, line and column.
func Parse(name string, data []byte) (*File, error) {
	p := &parser{name: name, data: data, line: 1}
	f := &File{Name: name}
	for {
		p.skipBlanksAndEOL()
		if p.eof() {
			return f, nil
		}
		if p.peek() == '#' {
			p.skipComment()
			continue
		}
		e, err := p.statement()
		if err != nil {
			return nil, err
		}
		f.Entries = append(f.Entries, e)
		if err := p.separator(); err != nil {
			return nil, err
		}
		p.key = ""
	}
}

type parser struct {
	name      string
	data      []byte
	pos       int
	line      int
	lineStart int
	key       string // the statement being read, for errors
}

func (p *parser) eof() bool { return p.pos >= len(p.data) }

func (p *parser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.data[p.pos]
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }
func isEOL(c byte) bool   { return c == '\n' || c == '\r' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// advance moves over one byte, counting lines on '\n' as libvirt does.
func (p *parser) advance() {
	if p.data[p.pos] == '\n' {
		p.line++
		p.lineStart = p.pos + 1
	}
	p.pos++
}

func (p *parser) skipBlanks() {
	for !p.eof() && isBlank(p.peek()) {
		p.pos++
	}
}

func (p *parser) skipBlanksAndEOL() {
	for !p.eof() && (isBlank(p.peek()) || isEOL(p.peek())) {
		p.advance()
	}
}

func (p *parser) skipComment() {
	for !p.eof() && !isEOL(p.peek()) {
		p.pos++
	}
}

// colAt is the 1-based column, in bytes as Go's own tools count them, of pos on the current line.
func (p *parser) colAt(pos int) int { return pos - p.lineStart + 1 }

// errorAt reports a syntax error at a position on the current line.
func (p *parser) errorAt(pos int, format string, args ...any) error {
	return &Error{File: p.name, Line: p.line, Col: p.colAt(pos), Key: p.key, Err: fmt.Errorf(format, args...)}
}

// errorAtLine reports a syntax error at a position remembered earlier.
func (p *parser) errorAtLine(line, col int, format string, args ...any) error {
	return &Error{File: p.name, Line: line, Col: col, Key: p.key, Err: fmt.Errorf(format, args...)}
}

// found describes what sits at the current position, for "expected X, got Y" messages.
func (p *parser) found() string {
	if p.eof() {
		return "end of file"
	}
	c := p.peek()
	if isEOL(c) {
		return "end of line"
	}
	r, _ := utf8.DecodeRune(p.data[p.pos:])
	return strconv.QuoteRune(r)
}

func (p *parser) statement() (Entry, error) {
	e := Entry{Line: p.line, Col: p.colAt(p.pos)}
	if !isAlpha(p.peek()) {
		return e, p.errorAt(p.pos, "expected a setting name, got %s", p.found())
	}
	start := p.pos
	for !p.eof() && (isAlpha(p.peek()) || isDigit(p.peek()) || p.peek() == '_') {
		p.pos++
	}
	e.Key = string(p.data[start:p.pos])
	p.key = e.Key
	p.skipBlanks()
	if p.peek() != '=' {
		return e, p.errorAt(p.pos, "expected '=' after the setting name, got %s", p.found())
	}
	p.pos++
	p.skipBlanks()
	v, err := p.value(0)
	if err != nil {
		return e, err
	}
	e.Value = v
	p.skipBlanks()
	if p.peek() == '#' {
		p.skipComment()
	}
	return e, nil
}

// separator consumes what must follow a statement: the end of the line or file, or a ';'.
func (p *parser) separator() error {
	p.skipBlanks()
	switch {
	case p.eof() || isEOL(p.peek()):
		return nil
	case p.peek() == ';':
		p.pos++
		return nil
	}
	return p.errorAt(p.pos, "expected the end of the line after the value, got %s", p.found())
}

func (p *parser) value(depth int) (Value, error) {
	v := Value{Line: p.line, Col: p.colAt(p.pos)}
	if p.eof() || isEOL(p.peek()) {
		return v, p.errorAt(p.pos, "expected a value, got %s", p.found())
	}
	switch c := p.peek(); {
	case c == '"' || c == '\'':
		s, err := p.quoted()
		v.Kind, v.Str = KindString, s
		return v, err
	case c == '[':
		if depth >= maxListDepth {
			return v, p.errorAt(p.pos, "lists nested more than %d deep", maxListDepth)
		}
		l, err := p.list(depth)
		v.Kind, v.List = KindList, l
		return v, err
	case isDigit(c) || c == '-' || c == '+':
		n, minus, err := p.number()
		v.Kind, v.Int, v.Minus = KindInt, n, minus
		return v, err
	}
	return v, p.bareWord()
}

// bareWord explains an unquoted word where a value belongs.
func (p *parser) bareWord() error {
	start := p.pos
	end := start
	for end < len(p.data) && !isBlank(p.data[end]) && !isEOL(p.data[end]) && !strings.ContainsRune("#;,]", rune(p.data[end])) {
		end++
	}
	word := string(p.data[start:end])
	hint := "strings must be quoted"
	switch strings.ToLower(word) {
	case "true", "false", "yes", "no", "on", "off":
		hint = "booleans are written 1 or 0"
	}
	if word == "" {
		return p.errorAt(start, "expected a value, got %s", p.found())
	}
	return p.errorAt(start, "expected a value, got %q (%s)", word, hint)
}

func (p *parser) quoted() (string, error) {
	start := p.pos
	line, col := p.line, p.colAt(start)
	if bytes.HasPrefix(p.data[p.pos:], []byte(`"""`)) {
		p.pos += 3
		end := bytes.Index(p.data[p.pos:], []byte(`"""`))
		if end < 0 {
			return "", p.errorAtLine(line, col, `unterminated """ string`)
		}
		s := string(p.data[p.pos : p.pos+end])
		for p.pos < start+3+end {
			p.advance()
		}
		p.pos += 3
		return s, nil
	}
	q := p.peek()
	p.pos++
	for !p.eof() && p.peek() != q && !isEOL(p.peek()) {
		p.pos++
	}
	if p.peek() != q {
		return "", p.errorAtLine(line, col, "unterminated string: no closing %c on this line", q)
	}
	s := string(p.data[start+1 : p.pos])
	p.pos++
	return s, nil
}

func (p *parser) number() (int64, bool, error) {
	start := p.pos
	minus := p.peek() == '-'
	if minus || p.peek() == '+' {
		p.pos++
	}
	digits := p.pos
	for !p.eof() && isDigit(p.peek()) {
		p.pos++
	}
	end := p.pos
	// Trailing letters, dots or more digits make a word, not a number: say so rather than complaining about
	// a missing separator.
	for !p.eof() && (isAlpha(p.peek()) || isDigit(p.peek()) || p.peek() == '.' || p.peek() == '_') {
		p.pos++
	}
	text := string(p.data[start:p.pos])
	if digits == end || end != p.pos {
		return 0, minus, p.errorAt(start, "invalid number %q", text)
	}
	u, err := strconv.ParseUint(string(p.data[digits:end]), 10, 64)
	if err != nil || u > math.MaxInt64 {
		return 0, minus, p.errorAt(start, "number %s is out of range", text)
	}
	n := int64(u)
	if minus {
		n = -n
	}
	return n, minus, nil
}

func (p *parser) list(depth int) ([]Value, error) {
	line, col := p.line, p.colAt(p.pos)
	p.pos++ // '['
	items := []Value{}
	unclosed := func() error {
		return p.errorAt(p.pos, "list opened at line %d column %d is not closed with ']'", line, col)
	}
	noComment := func() error {
		return p.errorAt(p.pos, "comments are not allowed inside a list (libvirt rejects them too)")
	}
	p.skipBlanksAndEOL()
	for {
		switch {
		case p.eof():
			return nil, unclosed()
		case p.peek() == '#':
			return nil, noComment()
		case p.peek() == ']':
			p.pos++
			return items, nil
		}
		if len(items) > 0 {
			if p.peek() != ',' {
				return nil, p.errorAt(p.pos, "expected ',' or ']' in the list opened at line %d, got %s", line, p.found())
			}
			p.pos++
			p.skipBlanksAndEOL()
			switch {
			case p.eof():
				return nil, unclosed()
			case p.peek() == '#':
				return nil, noComment()
			case p.peek() == ']':
				continue
			}
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		items = append(items, v)
		p.skipBlanksAndEOL()
	}
}
