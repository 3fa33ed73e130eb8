package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func str(s string) Value { return Value{Kind: KindString, Str: s} }
func num(n int64) Value  { return Value{Kind: KindInt, Int: n, Minus: n < 0} }
func list(vs ...Value) Value {
	if vs == nil {
		vs = []Value{}
	}
	return Value{Kind: KindList, List: vs}
}

// stripPos drops positions so that tables compare only what was parsed.
func stripPos(v Value) Value {
	v.Line, v.Col = 0, 0
	if v.List != nil {
		l := make([]Value, len(v.List))
		for i, el := range v.List {
			l[i] = stripPos(el)
		}
		v.List = l
	}
	return v
}

func TestParseValues(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]Value
	}{
		{"double quoted", `a = "x y"`, map[string]Value{"a": str("x y")}},
		{"single quoted", `a = 'say "hi"'`, map[string]Value{"a": str(`say "hi"`)}},
		{"empty string", `a = ""`, map[string]Value{"a": str("")}},
		{"no escapes", `a = "c:\n"`, map[string]Value{"a": str(`c:\n`)}},
		{"hash inside string", `a = "x#y" # real comment`, map[string]Value{"a": str("x#y")}},
		{"triple quoted", "a = \"\"\"one\ntwo \"quoted\" 'x'\"\"\"", map[string]Value{"a": str("one\ntwo \"quoted\" 'x'")}},
		{"triple quoted empty", `a = """"""`, map[string]Value{"a": str("")}},
		{"integer", `a = 42`, map[string]Value{"a": num(42)}},
		{"zero", `a = 0`, map[string]Value{"a": num(0)}},
		{"negative", `a = -1`, map[string]Value{"a": num(-1)}},
		{"minus zero", `a = -0`, map[string]Value{"a": {Kind: KindInt, Minus: true}}},
		{"plus", `a = +7`, map[string]Value{"a": num(7)}},
		{"largest", `a = 9223372036854775807`, map[string]Value{"a": num(9223372036854775807)}},
		{"leading zeros are decimal", `a = 0777`, map[string]Value{"a": num(777)}},
		{"list", `a = [ "x", "y" ]`, map[string]Value{"a": list(str("x"), str("y"))}},
		{"empty list", `a = []`, map[string]Value{"a": list()}},
		{"empty list spaced", "a = [ \n ]", map[string]Value{"a": list()}},
		{"trailing comma", `a = ["x",]`, map[string]Value{"a": list(str("x"))}},
		{"multi-line list", "a = [\n  \"x\",\n  'y',\n  3,\n]\nb = 1", map[string]Value{
			"a": list(str("x"), str("y"), num(3)), "b": num(1)}},
		{"comma on next line", "a = [ \"x\"\n , \"y\" ]", map[string]Value{"a": list(str("x"), str("y"))}},
		{"nested list", `a = [ [ 1 ], [] ]`, map[string]Value{"a": list(list(num(1)), list())}},
		{"no spaces", `a="x"`, map[string]Value{"a": str("x")}},
		{"tabs", "\ta\t=\t1\t", map[string]Value{"a": num(1)}},
		{"comment after value", "a = 1 # one\nb = 2#two", map[string]Value{"a": num(1), "b": num(2)}},
		{"semicolons", `a = 1; b = "2" ;c=3;`, map[string]Value{"a": num(1), "b": str("2"), "c": num(3)}},
		{"comments and blank lines", "# head\n\n  # indented\n\na = 1\n\n# tail", map[string]Value{"a": num(1)}},
		{"crlf", "a = 1\r\nb = \"x\"\r\n", map[string]Value{"a": num(1), "b": str("x")}},
		{"key with digits and underscores", `log_level_2 = 1`, map[string]Value{"log_level_2": num(1)}},
		{"no final newline", `a = 1`, map[string]Value{"a": num(1)}},
		{"empty file", ``, map[string]Value{}},
		{"blank file", "\n \n\t\n", map[string]Value{}},
		{"comment only, no newline", `# nothing`, map[string]Value{}},
		{"utf-8 in string", `a = "ĥéllo"`, map[string]Value{"a": str("ĥéllo")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("test.conf", []byte(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got := map[string]Value{}
			for _, e := range f.Entries {
				got[e.Key] = stripPos(e.Value)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // the whole error text
	}{
		{"missing equals", "a = 1\nlog_level 3", "f.conf:2:11: log_level: expected '=' after the setting name, got '3'"},
		{"missing equals at end", "a", "f.conf:1:2: a: expected '=' after the setting name, got end of file"},
		{"dash in key", "log-level = 3", "f.conf:1:4: log: expected '=' after the setting name, got '-'"},
		{"key starts with digit", "\n\n 1a = 3", "f.conf:3:2: expected a setting name, got '1'"},
		{"key starts with underscore", "_a = 3", "f.conf:1:1: expected a setting name, got '_'"},
		{"missing value", "a =\n", "f.conf:1:4: a: expected a value, got end of line"},
		{"missing value at end", "a = ", "f.conf:1:5: a: expected a value, got end of file"},
		{"value on next line", "a =\n  1", "f.conf:1:4: a: expected a value, got end of line"},
		{"bare word", `log_level = debug`, `f.conf:1:13: log_level: expected a value, got "debug" (strings must be quoted)`},
		{"bare boolean", `audit_logging = true`, `f.conf:1:17: audit_logging: expected a value, got "true" (booleans are written 1 or 0)`},
		{"unterminated double", "a = 1\nb = \"abc\nc = 2", `f.conf:2:5: b: unterminated string: no closing " on this line`},
		{"unterminated single", `b = 'abc`, `f.conf:1:5: b: unterminated string: no closing ' on this line`},
		{"unterminated triple", "x = 1\nb = \"\"\"abc\n\ndef", `f.conf:2:5: b: unterminated """ string`},
		{"two values", `a = 1 2`, "f.conf:1:7: a: expected the end of the line after the value, got '2'"},
		{"two strings", `a = "x" "y"`, "f.conf:1:9: a: expected the end of the line after the value, got '\"'"},
		{"number with unit", `a = 10s`, `f.conf:1:5: a: invalid number "10s"`},
		{"float", `a = 1.5`, `f.conf:1:5: a: invalid number "1.5"`},
		{"hex", `a = 0x10`, `f.conf:1:5: a: invalid number "0x10"`},
		{"sign alone", `a = -`, `f.conf:1:5: a: invalid number "-"`},
		{"overflow", `a = 9223372036854775808`, `f.conf:1:5: a: number 9223372036854775808 is out of range`},
		{"unclosed list", "a = [ \"x\",\n \"y\"\n", "f.conf:3:1: a: list opened at line 1 column 5 is not closed with ']'"},
		{"unclosed list after comma", "a = [ \"x\",\n", "f.conf:2:1: a: list opened at line 1 column 5 is not closed with ']'"},
		{"unclosed empty list", "a = [", "f.conf:1:6: a: list opened at line 1 column 5 is not closed with ']'"},
		{"missing comma", "a = [ \"x\"\n  \"y\" ]", "f.conf:2:3: a: expected ',' or ']' in the list opened at line 1, got '\"'"},
		{"list runs into next key", "a = [ \"x\",\n  \"y\"\nb = 1", "f.conf:3:1: a: expected ',' or ']' in the list opened at line 1, got 'b'"},
		{"leading comma", `a = [ , "x" ]`, "f.conf:1:7: a: expected a value, got ','"},
		{"double comma", `a = [ "x",, "y" ]`, "f.conf:1:11: a: expected a value, got ','"},
		{"comment in list", "a = [\n  \"x\", # first\n  \"y\" ]", "f.conf:2:8: a: comments are not allowed inside a list (libvirt rejects them too)"},
		{"bad element", "a = [\n  \"x\",\n  oops ]", `f.conf:3:3: a: expected a value, got "oops" (strings must be quoted)`},
		{"deep nesting", "a = " + strings.Repeat("[", 40), "f.conf:1:37: a: lists nested more than 32 deep"},
		{"column counts bytes", "a = \"ĥé\" x", "f.conf:1:12: a: expected the end of the line after the value, got 'x'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("f.conf", []byte(tt.in))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", f.Entries)
			}
			if f != nil {
				t.Errorf("Parse returned a File along with the error")
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not *Error", err)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

func TestParsePositionsAndOrder(t *testing.T) {
	in := "# c\nb = 1\n  a = [\n \"x\",\n \"y\" ]\nb = 2\n"
	f, err := Parse("f.conf", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range f.Entries {
		keys = append(keys, e.Key)
	}
	if want := []string{"b", "a", "b"}; !reflect.DeepEqual(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	a := f.Entries[1]
	if a.Line != 3 || a.Col != 3 || a.Value.Line != 3 || a.Value.Col != 7 {
		t.Errorf("a at %d:%d, value at %d:%d; want 3:3 and 3:7", a.Line, a.Col, a.Value.Line, a.Value.Col)
	}
	if y := a.Value.List[1]; y.Line != 5 || y.Col != 2 {
		t.Errorf("second element at %d:%d, want 5:2", y.Line, y.Col)
	}
	if e := f.Entries[2]; e.Line != 6 {
		t.Errorf("second b at line %d, want 6 (line counting through a multi-line list)", e.Line)
	}
	// The first of repeated keys wins, as with virConfGetValue.
	if e, ok := f.Lookup("b"); !ok || e.Value.Int != 1 {
		t.Errorf("Lookup(b) = %+v, %v; want the first, 1", e, ok)
	}
	if _, ok := f.Lookup("c"); ok {
		t.Errorf("Lookup(c) found a key that is not there")
	}
}

func TestParseTripleQuotedLines(t *testing.T) {
	f, err := Parse("f.conf", []byte("a = \"\"\"x\ny\nz\"\"\"\nb = oops"))
	if err == nil {
		t.Fatalf("want an error, got %+v", f)
	}
	if !strings.HasPrefix(err.Error(), "f.conf:4:5: b:") {
		t.Errorf("error %q does not point at line 4: lines inside a triple-quoted string were not counted", err)
	}
}
