package rpc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"unsafe"

	libvirt "github.com/digitalocean/go-libvirt"
)

// This file is the XDR codec for go-libvirt's generated protocol types. go-libvirt keeps its own codec
// internal, and the standalone go-xdr cannot decode libvirt's typed-parameter union nor bound what a hostile
// peer makes it allocate; this one maps Go types to XDR exactly as libvirt's rpcgen code does:
//
//	bool                          4-byte boolean (any non-zero decodes as true)
//	int8, int16, int32            4-byte int (char and short travel as int)
//	uint8, uint16, uint32         4-byte unsigned int
//	int64, uint64                 8-byte hyper
//	float32, float64              4-byte float, 8-byte double
//	string                        string<>
//	[]byte, [N]byte               opaque<>, opaque[N]
//	[]T, [N]T                     T<>, T[N]
//	*T and slices named Opt*      optional data (T *): a boolean then the value when present; go-libvirt models
//	                              remote_string and remote_domain as OptString and OptDomain, one element at most
//	struct                        its fields in order, unexported ones included
//	libvirt.TypedParamValue       the remote_typed_param_value union: discriminant 1..7, then the value
//
// Decoding never allocates more than the input could describe: every length is checked against the bytes left.
// The protocol's own bounds apply too, both ways (limits.go): a string longer than MaxString, or a field of
// argBounds longer than its bound, fails as libvirt's rpcgen code fails it.

// ErrXDR reports a malformed or truncated XDR body.
var ErrXDR = errors.New("rpc: malformed XDR data")

// Marshal returns the XDR encoding of v.
func Marshal(v any) ([]byte, error) {
	return AppendXDR(nil, v)
}

// AppendXDR appends the XDR encoding of v to dst.
func AppendXDR(dst []byte, v any) ([]byte, error) {
	var e encoder
	return appendXDRWith(&e, dst, v)
}

// appendXDRWith is AppendXDR with the encoder e, which it resets.
func appendXDRWith(e *encoder, dst []byte, v any) ([]byte, error) {
	if v == nil {
		return dst, nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer {
		p := reflect.New(rv.Type())
		p.Elem().Set(rv)
		rv = p
	}
	if rv.IsNil() {
		return dst, nil
	}
	c, err := codecFor(rv.Type().Elem())
	if err != nil {
		return dst, err
	}
	*e = encoder{buf: dst}
	c.enc(e, rv.Elem())
	out, err := e.buf, e.err
	*e = encoder{}
	if err != nil {
		return dst, err
	}
	return out, nil
}

// Unmarshal decodes the XDR data into v, a non-nil pointer. Trailing bytes are ignored, as libvirt ignores them
// (go-libvirt's CONNECT_OPEN carries a spurious trailing field).
func Unmarshal(data []byte, v any) error {
	var d decoder
	return unmarshalWith(&d, data, v)
}

// unmarshalWith is Unmarshal with the decoder d, which it resets.
func unmarshalWith(d *decoder, data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("rpc: unmarshal into %T: not a non-nil pointer", v)
	}
	c, err := codecFor(rv.Type().Elem())
	if err != nil {
		return err
	}
	*d = decoder{b: data}
	c.dec(d, rv.Elem())
	err = d.err
	*d = decoder{}
	return err
}

type encoder struct {
	buf []byte
	err error
}

func (e *encoder) u32(v uint32) { e.buf = binary.BigEndian.AppendUint32(e.buf, v) }
func (e *encoder) u64(v uint64) { e.buf = binary.BigEndian.AppendUint64(e.buf, v) }

func (e *encoder) opaque(b []byte) {
	e.buf = append(e.buf, b...)
	if pad := (4 - len(b)%4) % 4; pad > 0 {
		e.buf = append(e.buf, make([]byte, pad)...)
	}
}

func (e *encoder) fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrXDR}, args...)...)
	}
}

func (d *decoder) left() int { return len(d.b) - d.off }

func (d *decoder) u32() uint32 {
	if d.err != nil {
		return 0
	}
	if d.left() < 4 {
		d.fail("truncated at byte %d", d.off)
		return 0
	}
	v := binary.BigEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v
}

func (d *decoder) u64() uint64 {
	if d.err != nil {
		return 0
	}
	if d.left() < 8 {
		d.fail("truncated at byte %d", d.off)
		return 0
	}
	v := binary.BigEndian.Uint64(d.b[d.off:])
	d.off += 8
	return v
}

// opaque returns the next n bytes (and skips their padding) without copying.
func (d *decoder) opaque(n int) []byte {
	if d.err != nil {
		return nil
	}
	padded := n + (4-n%4)%4
	if n < 0 || padded > d.left() {
		d.fail("length %d exceeds the %d bytes left", n, d.left())
		return nil
	}
	b := d.b[d.off : d.off+n]
	d.off += padded
	return b
}

// count reads an array length and checks it against the bytes left, given each element's minimal wire size
// (elements of size zero are bounded as if they took a byte).
func (d *decoder) count(minSize int) int {
	n := d.u32()
	if d.err != nil {
		return 0
	}
	if uint64(n)*uint64(max(minSize, 1)) > uint64(d.left()) {
		d.fail("array of %d elements exceeds the %d bytes left", n, d.left())
		return 0
	}
	return int(n)
}

type codec struct {
	enc func(*encoder, reflect.Value)
	dec func(*decoder, reflect.Value)
	min int // minimal encoded size, to bound array lengths
}

var (
	codecs     sync.Map // reflect.Type -> *codec
	codecsMu   sync.Mutex
	typedParam = reflect.TypeFor[libvirt.TypedParamValue]()
)

func codecFor(t reflect.Type) (*codec, error) {
	if c, ok := codecs.Load(t); ok {
		return c.(*codec), nil
	}
	codecsMu.Lock()
	defer codecsMu.Unlock()
	building := map[reflect.Type]*codec{}
	c, err := build(t, building)
	if err != nil {
		return nil, err
	}
	for bt, bc := range building {
		codecs.Store(bt, bc)
	}
	return c, nil
}

func build(t reflect.Type, building map[reflect.Type]*codec) (*codec, error) {
	if c, ok := codecs.Load(t); ok {
		return c.(*codec), nil
	}
	if c, ok := building[t]; ok {
		return c, nil // recursive type: filled in below before use
	}
	c := &codec{}
	building[t] = c
	if t == typedParam {
		*c = codec{enc: encTypedParamValue, dec: decTypedParamValue, min: 8}
		return c, nil
	}
	switch t.Kind() {
	case reflect.Bool:
		*c = codec{min: 4,
			enc: func(e *encoder, v reflect.Value) {
				if v.Bool() {
					e.u32(1)
				} else {
					e.u32(0)
				}
			},
			dec: func(d *decoder, v reflect.Value) { v.SetBool(d.u32() != 0) }}
	case reflect.Int8, reflect.Int16, reflect.Int32:
		*c = codec{min: 4,
			enc: func(e *encoder, v reflect.Value) { e.u32(uint32(int32(v.Int()))) },
			dec: func(d *decoder, v reflect.Value) { v.SetInt(int64(int32(d.u32()))) }}
	case reflect.Uint8, reflect.Uint16, reflect.Uint32:
		*c = codec{min: 4,
			enc: func(e *encoder, v reflect.Value) { e.u32(uint32(v.Uint())) },
			dec: func(d *decoder, v reflect.Value) { v.SetUint(uint64(d.u32())) }}
	case reflect.Int64:
		*c = codec{min: 8,
			enc: func(e *encoder, v reflect.Value) { e.u64(uint64(v.Int())) },
			dec: func(d *decoder, v reflect.Value) { v.SetInt(int64(d.u64())) }}
	case reflect.Uint64:
		*c = codec{min: 8,
			enc: func(e *encoder, v reflect.Value) { e.u64(v.Uint()) },
			dec: func(d *decoder, v reflect.Value) { v.SetUint(d.u64()) }}
	case reflect.Float32:
		*c = codec{min: 4,
			enc: func(e *encoder, v reflect.Value) { e.u32(math.Float32bits(float32(v.Float()))) },
			dec: func(d *decoder, v reflect.Value) { v.SetFloat(float64(math.Float32frombits(d.u32()))) }}
	case reflect.Float64:
		*c = codec{min: 8,
			enc: func(e *encoder, v reflect.Value) { e.u64(math.Float64bits(v.Float())) },
			dec: func(d *decoder, v reflect.Value) { v.SetFloat(math.Float64frombits(d.u64())) }}
	case reflect.String:
		*c = codec{min: 4,
			enc: func(e *encoder, v reflect.Value) {
				s := v.String()
				if len(s) > MaxString {
					e.fail(fmt.Errorf("%w: string of %d bytes exceeds the protocol's %d", ErrXDR, len(s), MaxString))
					return
				}
				e.u32(uint32(len(s)))
				e.opaque(unsafe.Slice(unsafe.StringData(s), len(s)))
			},
			dec: func(d *decoder, v reflect.Value) {
				n := d.u32()
				if n > MaxString {
					d.fail("string of %d bytes exceeds the protocol's %d", n, MaxString)
					return
				}
				if b := d.opaque(int(n)); d.err == nil {
					v.SetString(string(b))
				}
			}}
	case reflect.Pointer:
		return c, buildOptional(c, t.Elem(), building, func(v reflect.Value) (reflect.Value, bool) {
			return v.Elem(), !v.IsNil()
		}, func(v reflect.Value) reflect.Value {
			p := reflect.New(t.Elem())
			v.Set(p)
			return p.Elem()
		})
	case reflect.Slice:
		if strings.HasPrefix(t.Name(), "Opt") {
			return c, buildOptional(c, t.Elem(), building, func(v reflect.Value) (reflect.Value, bool) {
				if v.Len() == 0 {
					return reflect.Value{}, false
				}
				return v.Index(0), true
			}, func(v reflect.Value) reflect.Value {
				v.Set(reflect.MakeSlice(t, 1, 1))
				return v.Index(0)
			})
		}
		if t.Elem().Kind() == reflect.Uint8 {
			*c = codec{min: 4,
				enc: func(e *encoder, v reflect.Value) {
					e.u32(uint32(v.Len()))
					e.opaque(v.Bytes())
				},
				dec: func(d *decoder, v reflect.Value) {
					n := d.u32()
					if b := d.opaque(int(n)); d.err == nil {
						v.SetBytes(append([]byte(nil), b...))
					}
				}}
			break
		}
		ec, err := build(t.Elem(), building)
		if err != nil {
			return nil, err
		}
		*c = codec{min: 4,
			enc: func(e *encoder, v reflect.Value) {
				n := v.Len()
				e.u32(uint32(n))
				for i := 0; i < n; i++ {
					ec.enc(e, v.Index(i))
				}
			},
			dec: func(d *decoder, v reflect.Value) {
				n := d.count(ec.min)
				if d.err != nil {
					return
				}
				s := reflect.MakeSlice(t, n, n)
				for i := 0; i < n && d.err == nil; i++ {
					ec.dec(d, s.Index(i))
				}
				v.Set(s)
			}}
	case reflect.Array:
		n := t.Len()
		if t.Elem().Kind() == reflect.Uint8 {
			*c = codec{min: n + (4-n%4)%4,
				enc: func(e *encoder, v reflect.Value) { e.opaque(arrayBytes(v)) },
				dec: func(d *decoder, v reflect.Value) {
					if b := d.opaque(n); d.err == nil {
						copy(arrayBytes(v), b)
					}
				}}
			break
		}
		ec, err := build(t.Elem(), building)
		if err != nil {
			return nil, err
		}
		*c = codec{min: n * ec.min,
			enc: func(e *encoder, v reflect.Value) {
				for i := 0; i < n; i++ {
					ec.enc(e, v.Index(i))
				}
			},
			dec: func(d *decoder, v reflect.Value) {
				for i := 0; i < n && d.err == nil; i++ {
					ec.dec(d, v.Index(i))
				}
			}}
	case reflect.Struct:
		n := t.NumField()
		fields := make([]*codec, n)
		for i := 0; i < n; i++ {
			fc, err := build(t.Field(i).Type, building)
			if err != nil {
				return nil, fmt.Errorf("field %s.%s: %w", t, t.Field(i).Name, err)
			}
			if limit := fieldBound(t, t.Field(i).Name); limit > 0 {
				fc = bounded(fc, t.Field(i).Name, limit)
			}
			fields[i] = fc
			c.min += fc.min
		}
		c.enc = func(e *encoder, v reflect.Value) {
			for i, fc := range fields {
				fc.enc(e, field(v, i))
			}
		}
		c.dec = func(d *decoder, v reflect.Value) {
			for i, fc := range fields {
				if d.err != nil {
					return
				}
				fc.dec(d, field(v, i))
			}
		}
	default:
		delete(building, t)
		return nil, fmt.Errorf("rpc: no XDR mapping for Go type %s", t)
	}
	return c, nil
}

// bounded wraps the codec of a variable-length field (an array or opaque, whose encoding starts with its length)
// with the protocol's bound on that length.
func bounded(c *codec, name string, limit int) *codec {
	return &codec{min: c.min,
		enc: func(e *encoder, v reflect.Value) {
			if v.Len() > limit {
				e.fail(fmt.Errorf("%w: %s of %d elements exceeds the protocol's %d", ErrXDR, name, v.Len(), limit))
				return
			}
			c.enc(e, v)
		},
		dec: func(d *decoder, v reflect.Value) {
			if d.err == nil && d.left() >= 4 {
				if n := binary.BigEndian.Uint32(d.b[d.off:]); n > uint32(limit) {
					d.fail("%s of %d elements exceeds the protocol's %d", name, n, limit)
					return
				}
			}
			c.dec(d, v)
		}}
}

func buildOptional(c *codec, elem reflect.Type, building map[reflect.Type]*codec,
	get func(reflect.Value) (reflect.Value, bool), alloc func(reflect.Value) reflect.Value) error {
	ec, err := build(elem, building)
	if err != nil {
		return err
	}
	*c = codec{min: 4,
		enc: func(e *encoder, v reflect.Value) {
			ev, ok := get(v)
			if !ok {
				e.u32(0)
				return
			}
			e.u32(1)
			ec.enc(e, ev)
		},
		dec: func(d *decoder, v reflect.Value) {
			if d.u32() == 0 || d.err != nil {
				v.SetZero()
				return
			}
			ec.dec(d, alloc(v))
		}}
	return nil
}

// field returns a settable view of field i of the addressable struct v, unexported fields included: libvirt's
// wire carries fields that go-libvirt's generator left unexported (remote_domain_disk_error's error code).
func field(v reflect.Value, i int) reflect.Value {
	f := v.Field(i)
	if f.CanSet() || !f.CanAddr() {
		return f
	}
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
}

func arrayBytes(v reflect.Value) []byte {
	if v.CanAddr() {
		return unsafe.Slice((*byte)(unsafe.Pointer(v.UnsafeAddr())), v.Len())
	}
	b := make([]byte, v.Len())
	reflect.Copy(reflect.ValueOf(b), v)
	return b
}
