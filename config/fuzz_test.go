package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// FuzzParse checks that no input makes the parsers panic, that every error is located, and that whatever
// parses prints back to text that parses to the same entries.
func FuzzParse(f *testing.F) {
	seeds := []string{
		"", "a = 1", `a = "x"`, `a = 'x'`, "a = \"\"\"x\ny\"\"\"", "a = [ \"x\",\n 'y', ]", "a = -1; b = +2",
		"# c\n\na = [ [ 1 ], [] ] # t\r\n", "a = [", "a = \"", "a =", "a", "1", "a = [ , ]", "a = 1 2",
		"log_level = 5", "max_clients = 0\nhypervisor = \"kvm\"", "autoballoon = 2", "a = 99999999999999999999",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	for _, p := range []string{"virtxend.conf", "libxl.conf", "testdata/private.conf"} {
		if data, err := os.ReadFile(filepath.FromSlash(p)); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz.conf", data)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || ce.File != "fuzz.conf" || ce.Line < 1 || ce.Col < 1 {
				t.Fatalf("error not located: %#v", err)
			}
			if n := strings.Count(string(data), "\n") + 1; ce.Line > n {
				t.Fatalf("error at line %d of a %d-line input: %v", ce.Line, n, err)
			}
		} else {
			if text, ok := format(file); ok {
				again, err := Parse("again.conf", []byte(text))
				if err != nil {
					t.Fatalf("printed form %q does not parse: %v", text, err)
				}
				if !sameEntries(file.Entries, again.Entries) {
					t.Fatalf("round trip changed the entries:\n%+v\n%+v", file.Entries, again.Entries)
				}
			}
		}
		for _, parse := range []func() error{
			func() error { _, err := ParseDaemon("fuzz.conf", data); return err },
			func() error { _, err := ParseLibxl("fuzz.conf", data); return err },
		} {
			err := parse()
			if err == nil {
				continue
			}
			errs := []error{err}
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				errs = j.Unwrap()
			}
			for _, e := range errs {
				if _, ok := e.(*Error); !ok {
					t.Fatalf("error %T is not an *Error: %v", e, e)
				}
			}
		}
	})
}

// format prints a File back in conf syntax; ok is false when a string holds something no quoting can carry.
func format(f *File) (string, bool) {
	var b strings.Builder
	for _, e := range f.Entries {
		v, ok := formatValue(e.Value)
		if !ok {
			return "", false
		}
		b.WriteString(e.Key + " = " + v + "\n")
	}
	return b.String(), true
}

func formatValue(v Value) (string, bool) {
	switch v.Kind {
	case KindInt:
		if v.Minus {
			return "-" + strconv.FormatInt(-v.Int, 10), true
		}
		return strconv.FormatInt(v.Int, 10), true
	case KindString:
		s := v.Str
		switch {
		case !strings.ContainsAny(s, "\"\r\n"):
			return `"` + s + `"`, true
		case !strings.ContainsAny(s, "'\r\n"):
			return "'" + s + "'", true
		case !strings.Contains(s, `"""`) && !strings.HasSuffix(s, `"`):
			return `"""` + s + `"""`, true
		}
		return "", false
	case KindList:
		parts := make([]string, len(v.List))
		for i, el := range v.List {
			s, ok := formatValue(el)
			if !ok {
				return "", false
			}
			parts[i] = s
		}
		return "[ " + strings.Join(parts, ", ") + " ]", true
	}
	return "", false
}

func sameEntries(a, b []Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || !reflect.DeepEqual(stripPos(a[i].Value), stripPos(b[i].Value)) {
			return false
		}
	}
	return true
}
