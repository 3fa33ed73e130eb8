package config

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
)

// A settings struct (Daemon, Libxl) declares its keys with struct tags:
//
//	conf:"name[,uint][,reload][,unset]"
//
// The Go type gives the conf type: string (or a string type) takes a quoted string, bool takes 0 or 1, *bool
// takes 0 or 1 and stays nil when the key is absent, int takes an integer in C int range or, with "uint", in
// C unsigned int range without a minus sign (libvirt's virConfGetValueInt and virConfGetValueUInt), []string
// takes a list of strings. "reload" marks a key whose new value a running daemon applies on SIGHUP; "unset" marks a
// key with no default value, whose line in the shipped file is an example.

// field is one key of a settings struct.
type field struct {
	key      string
	index    int
	unsigned bool
	reload   bool
	unset    bool
}

// fieldsOf lists the keys of a settings struct type in declaration order.
func fieldsOf(t reflect.Type) []field {
	var fs []field
	for i := range t.NumField() {
		tag, ok := t.Field(i).Tag.Lookup("conf")
		if !ok || tag == "-" {
			continue
		}
		parts := strings.Split(tag, ",")
		f := field{key: parts[0], index: i}
		for _, opt := range parts[1:] {
			switch opt {
			case "uint":
				f.unsigned = true
			case "reload":
				f.reload = true
			case "unset":
				f.unset = true
			default:
				panic("config: unknown tag option " + opt + " on " + t.Field(i).Name)
			}
		}
		fs = append(fs, f)
	}
	return fs
}

// decoded is what decode learned besides the values it stored.
type decoded struct {
	lines    map[string]int // key → line of the statement that set it
	errs     []error
	warnings []Warning
}

// decode stores the entries of f into the struct dst points to, which already holds the defaults. Keys
// that are not fields are reported by ignored (a reason, or "" for an unknown key). A key given twice keeps
// its first value, as libvirt does.
func decode(f *File, dst any, ignored func(key string) string) decoded {
	rv := reflect.ValueOf(dst).Elem()
	fields := fieldsOf(rv.Type())
	byKey := make(map[string]field, len(fields))
	for _, fd := range fields {
		byKey[fd.key] = fd
	}
	d := decoded{lines: map[string]int{}}
	first := map[string]int{}
	for _, e := range f.Entries {
		if line, dup := first[e.Key]; dup {
			d.warnings = append(d.warnings, Warning{File: f.Name, Line: e.Line, Key: e.Key,
				Msg: fmt.Sprintf("given again; the value at line %d applies, as in libvirt", line)})
			continue
		}
		first[e.Key] = e.Line
		fd, ok := byKey[e.Key]
		if !ok {
			msg := ignored(e.Key)
			if msg == "" {
				msg = "unknown setting, ignored"
				if s := closest(e.Key, fields); s != "" {
					msg += fmt.Sprintf(" (did you mean %s?)", s)
				}
			}
			d.warnings = append(d.warnings, Warning{File: f.Name, Line: e.Line, Key: e.Key, Msg: msg})
			continue
		}
		d.lines[e.Key] = e.Line
		if line, err := assign(rv.Field(fd.index), fd, e.Value); err != nil {
			d.errs = append(d.errs, &Error{File: f.Name, Line: line, Key: e.Key, Err: err})
		}
	}
	return d
}

// assign converts v to the field's type and stores it. On error it returns the line of the offending value,
// which for a list element may differ from the statement's.
func assign(dst reflect.Value, fd field, v Value) (int, error) {
	switch dst.Kind() {
	case reflect.String:
		if v.Kind != KindString {
			return v.Line, fmt.Errorf("expected a string, got %s", describe(v))
		}
		dst.SetString(v.Str)
	case reflect.Bool:
		b, err := boolOf(v)
		if err != nil {
			return v.Line, err
		}
		dst.SetBool(b)
	case reflect.Pointer: // *bool
		b, err := boolOf(v)
		if err != nil {
			return v.Line, err
		}
		dst.Set(reflect.ValueOf(&b))
	case reflect.Int:
		n, err := intOf(v, fd.unsigned)
		if err != nil {
			return v.Line, err
		}
		dst.SetInt(n)
	case reflect.Slice: // []string
		if v.Kind != KindList {
			return v.Line, fmt.Errorf("expected a list of strings such as [ \"a\", \"b\" ], got %s", describe(v))
		}
		l := make([]string, 0, len(v.List))
		for i, el := range v.List {
			if el.Kind != KindString {
				return el.Line, fmt.Errorf("expected a list of strings, element %d is %s", i+1, describe(el))
			}
			l = append(l, el.Str)
		}
		dst.Set(reflect.ValueOf(l))
	default:
		panic("config: unsupported field type " + dst.Type().String())
	}
	return 0, nil
}

func boolOf(v Value) (bool, error) {
	if v.Kind != KindInt || v.Minus || v.Int < 0 || v.Int > 1 {
		return false, fmt.Errorf("expected 0 or 1, got %s", describe(v))
	}
	return v.Int == 1, nil
}

func intOf(v Value, unsigned bool) (int64, error) {
	switch {
	case v.Kind != KindInt:
		return 0, fmt.Errorf("expected an integer, got %s", describe(v))
	case unsigned && v.Minus:
		return 0, fmt.Errorf("expected a non-negative integer, got %s", describe(v))
	case unsigned && v.Int > math.MaxUint32:
		return 0, fmt.Errorf("%d is out of range 0 to %d", v.Int, uint64(math.MaxUint32))
	case !unsigned && (v.Int > math.MaxInt32 || v.Int < math.MinInt32):
		return 0, fmt.Errorf("%d is out of range %d to %d", v.Int, math.MinInt32, math.MaxInt32)
	}
	return v.Int, nil
}

// describe renders a value for an error message: `string "debug"`, `integer -1`, `a list`.
func describe(v Value) string {
	switch v.Kind {
	case KindString:
		s := v.Str
		if len(s) > 40 {
			s = s[:37] + "..."
		}
		return fmt.Sprintf("string %q", s)
	case KindInt:
		if v.Minus && v.Int == 0 {
			return "integer -0"
		}
		return fmt.Sprintf("integer %d", v.Int)
	case KindList:
		return "a list"
	}
	return "nothing"
}

// diffFields compares two settings structs of the same type key by key.
func diffFields(old, newer any) (applied, needsRestart []string) {
	a, b := reflect.ValueOf(old).Elem(), reflect.ValueOf(newer).Elem()
	for _, fd := range fieldsOf(a.Type()) {
		if reflect.DeepEqual(a.Field(fd.index).Interface(), b.Field(fd.index).Interface()) {
			continue
		}
		if fd.reload {
			applied = append(applied, fd.key)
		} else {
			needsRestart = append(needsRestart, fd.key)
		}
	}
	return applied, needsRestart
}

// rule is a check of a settings struct, tied to the key whose line its error names.
type rule[T any] struct {
	key   string
	check func(*T) error
}

// runRules checks the integer ranges of every key (the parser enforces them, but a value built in code may
// not meet them), then applies rules in order, and locates the errors.
func runRules[T any](v *T, rules []rule[T], file string, lines map[string]int) []error {
	var errs []error
	bad := map[string]bool{}
	rv := reflect.ValueOf(v).Elem()
	for _, fd := range fieldsOf(rv.Type()) {
		if f := rv.Field(fd.index); f.Kind() == reflect.Int {
			n := f.Int()
			if _, err := intOf(Value{Kind: KindInt, Int: n, Minus: n < 0}, fd.unsigned); err != nil {
				errs = append(errs, &Error{File: file, Line: lines[fd.key], Key: fd.key, Err: err})
				bad[fd.key] = true
			}
		}
	}
	for _, r := range rules {
		if bad[r.key] {
			continue
		}
		if err := r.check(v); err != nil {
			errs = append(errs, &Error{File: file, Line: lines[r.key], Key: r.key, Err: err})
		}
	}
	return errs
}

// joinByLine joins decoding errors and rule errors into one error listing them in line order. A key whose
// value had the wrong type kept its default, so the rules do not report it again.
func joinByLine(decodeErrs, ruleErrs []error) error {
	errs := slices.Concat(decodeErrs, ruleErrs)
	slices.SortStableFunc(errs, func(a, b error) int {
		var ea, eb *Error
		errors.As(a, &ea)
		errors.As(b, &eb)
		return ea.Line - eb.Line
	})
	return errors.Join(errs...)
}

// closest suggests a known key for a misspelt one: the nearest within two edits, if any.
func closest(key string, fields []field) string {
	best, bestDist := "", 3
	for _, fd := range fields {
		if d := editDistance(key, fd.key); d < bestDist {
			best, bestDist = fd.key, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
