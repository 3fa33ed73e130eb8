package xlcfg

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/virtxend/virtxend/config"
)

// confReader reads settings the way libvirt's xenConfig* helpers (xen_common.c) read a virConf: the first of
// repeated keys wins, and each helper accepts the value kinds libvirt accepts.
type confReader struct {
	f *config.File
}

// readConf parses data in libvirt's conf syntax; a syntax error matches ErrSyntax.
func readConf(name string, data []byte) (*confReader, error) {
	f, err := config.Parse(name, data)
	if err != nil {
		return nil, &kindError{kind: ErrSyntax, err: err}
	}
	return &confReader{f: f}, nil
}

// errorAt builds an error of kind about the entry e, located like package config's errors.
func (r *confReader) errorAt(kind error, e config.Entry, format string, args ...any) error {
	return &kindError{kind: kind, err: &config.Error{File: r.f.Name, Line: e.Line, Key: e.Key, Err: fmt.Errorf(format, args...)}}
}

// errorKey is errorAt for a key that may be absent.
func (r *confReader) errorKey(kind error, key, format string, args ...any) error {
	e, ok := r.f.Lookup(key)
	if !ok {
		e = config.Entry{Key: key}
	}
	return r.errorAt(kind, e, format, args...)
}

// has reports whether key is set.
func (r *confReader) has(key string) bool {
	_, ok := r.f.Lookup(key)
	return ok
}

// value returns the value of key.
func (r *confReader) value(key string) (config.Value, bool) {
	e, ok := r.f.Lookup(key)
	return e.Value, ok
}

// getBool is xenConfigGetBool: def when absent; an integer is true when it is not 0, a string when it is "1". A
// negative integer, which libvirt types as signed, or a list is malformed.
func (r *confReader) getBool(key string, def int) (int, error) {
	e, ok := r.f.Lookup(key)
	if !ok {
		return def, nil
	}
	v := e.Value
	switch {
	case v.Kind == config.KindInt && !v.Minus:
		if v.Int != 0 {
			return 1, nil
		}
		return 0, nil
	case v.Kind == config.KindString:
		if v.Str == "1" {
			return 1, nil
		}
		return 0, nil
	}
	return 0, r.errorAt(ErrInvalid, e, "config value %s was malformed", key)
}

// getULong is xenConfigGetULong and xenConfigGetULongLong: def when absent; a non-negative integer, or a string
// holding a decimal number.
func (r *confReader) getULong(key string, def uint64) (uint64, error) {
	e, ok := r.f.Lookup(key)
	if !ok {
		return def, nil
	}
	v := e.Value
	switch {
	case v.Kind == config.KindInt && !v.Minus:
		return uint64(v.Int), nil
	case v.Kind == config.KindString:
		n, err := strconv.ParseUint(strings.TrimLeft(v.Str, " \t\n\r\f\v"), 10, 64)
		if err == nil {
			return n, nil
		}
	}
	return 0, r.errorAt(ErrInvalid, e, "config value %s was malformed", key)
}

// getString is xenConfigGetString and xenConfigCopyStringOpt: the string and whether key is set. A value that is
// not a string is an error (virConfGetValueString).
func (r *confReader) getString(key string) (string, bool, error) {
	e, ok := r.f.Lookup(key)
	if !ok {
		return "", false, nil
	}
	if e.Value.Kind != config.KindString {
		return "", false, r.errorAt(ErrInvalid, e, "expected a string for '%s' parameter, got %s", key, e.Value.Kind)
	}
	return e.Value.Str, true, nil
}

// requireString is xenConfigCopyString: a string that must be set.
func (r *confReader) requireString(key string) (string, error) {
	s, ok, err := r.getString(key)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", invalidf("config value %s was missing", key)
	}
	return s, nil
}

// stringList is virConfGetValueStringList without string compatibility, as xen_common.c uses it: the strings of
// a list. A value that is not a list counts as absent (ok false), as libvirt clears that error; a list holding
// anything but strings is an error.
func (r *confReader) stringList(key string) (items []string, ok bool, err error) {
	e, found := r.f.Lookup(key)
	if !found || e.Value.Kind != config.KindList {
		return nil, false, nil
	}
	for _, v := range e.Value.List {
		if v.Kind != config.KindString {
			return nil, false, r.errorAt(ErrSyntax, e, "expected a string list for '%s' parameter", key)
		}
		items = append(items, v.Str)
	}
	return items, true, nil
}

// stringsOf returns the string elements of a list value, skipping other kinds, as the xl list parsers do.
func stringsOf(v config.Value) []string {
	var out []string
	for _, item := range v.List {
		if item.Kind == config.KindString {
			out = append(out, item.Str)
		}
	}
	return out
}
