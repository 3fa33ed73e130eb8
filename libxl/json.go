package libxl

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// The IDL mirror is printed by one reflective encoder that follows libxl's generated *_gen_json functions (see
// gentypes.py): fields in IDL order, a field omitted while it holds its IDL default, aggregates always printed,
// keyed unions as "key.member". Struct tags carry what Go types cannot say:
//
//	libxl:"memkb"       a MemKB field: LIBXL_MEMKB_DEFAULT is a default too
//	libxl:"default=N"   a number whose IDL default N is a default too
//	libxl:"devid"       a libxl_devid: only -1 is the default, 0 is printed
//	libxl:"key"         the key of the keyed union (not printed by itself)
//	libxl:"arm"         a member of the keyed union (a pointer to a struct)

// idlValue is implemented by the builtin types that print themselves.
type idlValue interface {
	isDefault() bool
	appendIDL([]byte) []byte
}

// idlDecoder is implemented by the builtin types that parse themselves.
type idlDecoder interface {
	decodeIDL([]byte) error
}

type fieldInfo struct {
	index   int
	name    string
	devid   bool
	memkb   bool
	key     bool
	arm     bool
	hasDef  bool
	defInt  int64
	defUint uint64
}

type structInfo struct {
	fields []fieldInfo
	byName map[string]int // json name → position in fields
	key    int            // position of the union key in fields, or -1
	arms   map[string]int // member name → position in fields
}

var structInfos sync.Map // reflect.Type → *structInfo

func infoOf(t reflect.Type) *structInfo {
	if si, ok := structInfos.Load(t); ok {
		return si.(*structInfo)
	}
	si := &structInfo{byName: map[string]int{}, key: -1, arms: map[string]int{}}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "" || name == "-" || !sf.IsExported() {
			continue
		}
		f := fieldInfo{index: i, name: name}
		for opt := range strings.SplitSeq(sf.Tag.Get("libxl"), ",") {
			switch {
			case opt == "devid":
				f.devid = true
			case opt == "memkb":
				f.memkb = true
			case opt == "key":
				f.key = true
			case opt == "arm":
				f.arm = true
			case strings.HasPrefix(opt, "default="):
				v := strings.TrimPrefix(opt, "default=")
				f.hasDef = true
				if n, err := strconv.ParseInt(v, 10, 64); err == nil {
					f.defInt, f.defUint = n, uint64(n)
				} else if u, err := strconv.ParseUint(v, 10, 64); err == nil {
					f.defUint = u
				} else {
					panic(fmt.Sprintf("libxl: bad default in tag of %s.%s", t.Name(), sf.Name))
				}
			}
		}
		pos := len(si.fields)
		si.fields = append(si.fields, f)
		si.byName[name] = pos
		if f.key {
			si.key = pos
		}
		if f.arm {
			si.arms[name] = pos
		}
	}
	actual, _ := structInfos.LoadOrStore(t, si)
	return actual.(*structInfo)
}

// marshalIDL prints a struct of the IDL mirror in libxl's compact form.
func marshalIDL(v any) ([]byte, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return nil, fmt.Errorf("libxl: cannot print %T as an IDL struct", v)
	}
	return appendStruct(make([]byte, 0, 1024), rv), nil
}

func isDefaultField(v reflect.Value, f *fieldInfo) bool {
	if f.devid {
		return v.Int() == DevidDefault
	}
	if iv, ok := v.Interface().(idlValue); ok {
		return iv.isDefault()
	}
	if e, ok := v.Interface().(Enumeration); ok {
		return isEnumDefault(e, v.String())
	}
	switch v.Kind() {
	case reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n := v.Int()
		return n == 0 || (f.hasDef && n == f.defInt)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n := v.Uint()
		return n == 0 || (f.hasDef && n == f.defUint) || (f.memkb && n == MemKBDefault)
	case reflect.Slice, reflect.Map:
		return v.Len() == 0
	case reflect.Array:
		return v.IsZero()
	case reflect.Pointer:
		return v.IsNil()
	}
	return false // aggregates are always printed
}

func appendStruct(b []byte, v reflect.Value) []byte {
	si := infoOf(v.Type())
	b = append(b, '{')
	first, unionDone := true, false
	for i := range si.fields {
		f := &si.fields[i]
		if f.key || (f.arm && unionDone) {
			continue
		}
		fv := v.Field(f.index)
		if f.arm {
			unionDone = true
			kf := si.fields[si.key]
			kv := v.Field(kf.index)
			member := kv.String()
			if member == "" {
				member = kv.Interface().(Enumeration).libxlDefault()
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendString(b, kf.name+"."+member)
			b = append(b, ':')
			// A member left nil prints as libxl prints it at its defaults; a member without data as {}.
			if pos, ok := si.arms[member]; ok {
				av := v.Field(si.fields[pos].index)
				if av.IsNil() {
					av = reflect.New(av.Type().Elem())
				}
				b = appendStruct(b, av.Elem())
			} else {
				b = append(b, "{}"...)
			}
			continue
		}
		if isDefaultField(fv, f) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, f.name)
		b = append(b, ':')
		b = appendValue(b, fv)
	}
	return append(b, '}')
}

func appendValue(b []byte, v reflect.Value) []byte {
	if iv, ok := v.Interface().(idlValue); ok {
		return iv.appendIDL(b)
	}
	switch v.Kind() {
	case reflect.String:
		return appendString(b, v.String())
	case reflect.Bool:
		return strconv.AppendBool(b, v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(b, v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.AppendUint(b, v.Uint(), 10)
	case reflect.Slice, reflect.Array:
		b = append(b, '[')
		for i := 0; i < v.Len(); i++ {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, v.Index(i))
		}
		return append(b, ']')
	case reflect.Map:
		keys := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			keys = append(keys, k.String())
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendValue(b, v.MapIndex(reflect.ValueOf(k).Convert(v.Type().Key())))
		}
		return append(b, '}')
	case reflect.Struct:
		return appendStruct(b, v)
	case reflect.Pointer:
		if v.IsNil() {
			return append(b, "{}"...)
		}
		return appendValue(b, v.Elem())
	}
	panic(fmt.Sprintf("libxl: cannot print a %s", v.Type()))
}

// appendString quotes s as yajl does: only '"', '\\' and control characters are escaped; '/' and non-ASCII text
// are written as they are.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		case c < utf8.RuneSelf:
			b = append(b, c)
		default:
			_, n := utf8.DecodeRuneInString(s[i:])
			b = append(b, s[i:i+n]...)
			i += n
			continue
		}
		i++
	}
	return append(b, '"')
}

// unmarshalIDL parses libxl's JSON into a struct of the IDL mirror: fields absent from the JSON keep their IDL
// defaults, keys the mirror does not know are ignored.
func unmarshalIDL(data []byte, out any) error {
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("libxl: cannot parse into %T", out)
	}
	return decodeStruct(data, rv.Elem())
}

func decodeStruct(data []byte, v reflect.Value) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("libxl %s: %w", v.Type().Name(), err)
	}
	si := infoOf(v.Type())
	v.SetZero()
	for _, f := range si.fields {
		if f.devid {
			v.Field(f.index).SetInt(DevidDefault)
		}
	}
	for k, raw := range m {
		if pos, ok := si.byName[k]; ok && !si.fields[pos].key && !si.fields[pos].arm {
			if err := decodeValue(raw, v.Field(si.fields[pos].index)); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			continue
		}
		if si.key < 0 {
			continue
		}
		kf := si.fields[si.key]
		member, ok := strings.CutPrefix(k, kf.name+".")
		if !ok {
			continue
		}
		v.Field(kf.index).SetString(member)
		if pos, ok := si.arms[member]; ok {
			fv := v.Field(si.fields[pos].index)
			p := reflect.New(fv.Type().Elem())
			if err := decodeStruct(raw, p.Elem()); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			fv.Set(p)
		}
	}
	return nil
}

func decodeValue(raw json.RawMessage, v reflect.Value) error {
	if d, ok := v.Addr().Interface().(idlDecoder); ok {
		return d.decodeIDL(raw)
	}
	switch v.Kind() {
	case reflect.Struct:
		return decodeStruct(raw, v)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.Struct {
			break
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return err
		}
		s := reflect.MakeSlice(v.Type(), len(items), len(items))
		for i, it := range items {
			if err := decodeStruct(it, s.Index(i)); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		v.Set(s)
		return nil
	}
	return json.Unmarshal(raw, v.Addr().Interface())
}

// indentLibxl re-indents compact JSON as yajl's beautifier does in libxl: four spaces a level, ": " after keys, and
// an empty object or array printed as an open and close bracket with an empty line between them.
func indentLibxl(src []byte) []byte {
	out := make([]byte, 0, len(src)*3)
	depth := 0
	newline := func(d int) {
		out = append(out, '\n')
		for range d {
			out = append(out, "    "...)
		}
	}
	inString := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		if inString {
			out = append(out, c)
			switch c {
			case '\\':
				i++
				out = append(out, src[i])
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
			out = append(out, c)
		case '{', '[':
			out = append(out, c)
			if i+1 < len(src) && (src[i+1] == '}' || src[i+1] == ']') {
				out = append(out, '\n')
				newline(depth)
				out = append(out, src[i+1])
				i++
				continue
			}
			depth++
			newline(depth)
		case '}', ']':
			depth--
			newline(depth)
			out = append(out, c)
		case ',':
			out = append(out, c)
			newline(depth)
		case ':':
			out = append(out, ':', ' ')
		default:
			out = append(out, c)
		}
	}
	return append(out, '\n')
}
