package libxl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
)

// Defbool mirrors libxl_defbool: a tri-state whose zero value is "default" and is omitted from JSON, as libxl's
// generator omits it. It marshals to the strings libxl prints, "True" and "False".
type Defbool int8

// The three states of a Defbool.
const (
	DefboolDefault Defbool = 0
	DefboolTrue    Defbool = 1
	DefboolFalse   Defbool = -1
)

// NewDefbool returns the Defbool for b.
func NewDefbool(b bool) Defbool {
	if b {
		return DefboolTrue
	}
	return DefboolFalse
}

// IsDefault reports whether d was never set.
func (d Defbool) IsDefault() bool { return d == DefboolDefault }

// Val returns d's value, or def when d is at its default.
func (d Defbool) Val(def bool) bool {
	switch d {
	case DefboolTrue:
		return true
	case DefboolFalse:
		return false
	}
	return def
}

// MarshalJSON prints d as libxl does.
func (d Defbool) MarshalJSON() ([]byte, error) {
	switch d {
	case DefboolTrue:
		return []byte(`"True"`), nil
	case DefboolFalse:
		return []byte(`"False"`), nil
	}
	return []byte(`"<default>"`), nil
}

// UnmarshalJSON accepts what libxl prints ("True", "False", "<default>") and JSON booleans.
func (d *Defbool) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch string(b) {
	case `"True"`, `"true"`, `true`:
		*d = DefboolTrue
	case `"False"`, `"false"`, `false`:
		*d = DefboolFalse
	case `"<default>"`, `null`:
		*d = DefboolDefault
	default:
		return fmt.Errorf("libxl defbool: unexpected value %s", b)
	}
	return nil
}

func (d Defbool) isDefault() bool { return d == DefboolDefault }

func (d Defbool) appendIDL(b []byte) []byte {
	v, _ := d.MarshalJSON()
	return append(b, v...)
}

// Bitmap mirrors libxl_bitmap: it is printed as the list of its set bit indexes, in ascending order.
type Bitmap []int

// Has reports whether bit i is set.
func (b Bitmap) Has(i int) bool {
	return slices.Contains(b, i)
}

// BitmapRange returns a Bitmap with bits [from, to) set.
func BitmapRange(from, to int) Bitmap {
	if to <= from {
		return nil
	}
	b := make(Bitmap, 0, to-from)
	for i := from; i < to; i++ {
		b = append(b, i)
	}
	return b
}

func (b Bitmap) isDefault() bool { return len(b) == 0 }

func (b Bitmap) appendIDL(out []byte) []byte {
	s := slices.Clone(b)
	slices.Sort(s)
	s = slices.Compact(s)
	out = append(out, '[')
	for i, v := range s {
		if i > 0 {
			out = append(out, ',')
		}
		out = strconv.AppendInt(out, int64(v), 10)
	}
	return append(out, ']')
}

// MemKBDefault is LIBXL_MEMKB_DEFAULT: a memory size libxl computes itself. The Go zero value means the same.
const MemKBDefault = ^uint64(0)

// MaxGrantDefault is LIBXL_MAX_GRANT_DEFAULT: the grant limits Xen's command line sets. The Go zero value means the
// same.
const MaxGrantDefault = ^uint32(0)

// DevidDefault is the libxl_devid default: libxl picks the device id.
const DevidDefault = -1

var (
	_ json.Marshaler   = Defbool(0)
	_ json.Unmarshaler = (*Defbool)(nil)
)

// KeyValueList mirrors libxl_key_value_list: string pairs printed as a JSON object in their order.
type KeyValueList []KeyValue

// KeyValue is one pair of a KeyValueList.
type KeyValue struct {
	Key, Value string
}

func (l KeyValueList) isDefault() bool { return len(l) == 0 }

func (l KeyValueList) appendIDL(b []byte) []byte {
	b = append(b, '{')
	for i, kv := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, kv.Key)
		b = append(b, ':')
		b = appendString(b, kv.Value)
	}
	return append(b, '}')
}

// decodeIDL reads a JSON object of strings keeping the order of its keys.
func (l *KeyValueList) decodeIDL(raw []byte) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("libxl key_value_list: want an object, got %s", raw)
	}
	*l = nil
	for d.More() {
		k, err := d.Token()
		if err != nil {
			return err
		}
		var v string
		if err := d.Decode(&v); err != nil {
			return err
		}
		*l = append(*l, KeyValue{Key: k.(string), Value: v})
	}
	return nil
}
