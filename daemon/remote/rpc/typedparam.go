package rpc

import (
	"fmt"
	"math"
	"reflect"

	libvirt "github.com/digitalocean/go-libvirt"
)

// Typed parameter types (virTypedParameterType), the discriminant of libvirt.TypedParamValue.
const (
	// TypedParamInt carries an int32.
	TypedParamInt uint32 = 1
	// TypedParamUint carries a uint32.
	TypedParamUint uint32 = 2
	// TypedParamLLong carries an int64.
	TypedParamLLong uint32 = 3
	// TypedParamULLong carries a uint64.
	TypedParamULLong uint32 = 4
	// TypedParamDouble carries a float64.
	TypedParamDouble uint32 = 5
	// TypedParamBoolean carries an int32 that is 0 or 1.
	TypedParamBoolean uint32 = 6
	// TypedParamString carries a string.
	TypedParamString uint32 = 7
)

// TypedParamValue builds the union value for discriminant typ from a Go value: any integer, float or bool that
// fits, or a string for TypedParamString. The value then carries the Go type go-libvirt decodes to (int32,
// uint32, int64, uint64, float64, int32 for booleans, string).
func TypedParamValue(typ uint32, v any) (libvirt.TypedParamValue, error) {
	bad := fmt.Errorf("rpc: typed parameter of type %d cannot hold %T(%v)", typ, v, v)
	if typ == TypedParamString {
		s, ok := v.(string)
		if !ok {
			return libvirt.TypedParamValue{}, bad
		}
		return libvirt.TypedParamValue{D: typ, I: s}, nil
	}
	// An integer is held as sign and magnitude so that every range check below is exact.
	var neg, isInt bool
	var mag uint64
	var f float64
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		x := rv.Int()
		isInt, neg, mag = true, x < 0, uint64(x)
		if neg {
			mag = ^uint64(x) + 1
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		isInt, mag = true, rv.Uint()
	case reflect.Bool:
		isInt = true
		if rv.Bool() {
			mag = 1
		}
	case reflect.Float32, reflect.Float64:
		f = rv.Float()
	default:
		return libvirt.TypedParamValue{}, bad
	}
	signed := int64(mag)
	if neg {
		signed = -signed
	}
	fits := func(maxPos, maxNeg uint64) bool { return isInt && (!neg && mag <= maxPos || neg && mag <= maxNeg) }
	switch typ {
	case TypedParamInt:
		if fits(math.MaxInt32, 1<<31) {
			return libvirt.TypedParamValue{D: typ, I: int32(signed)}, nil
		}
	case TypedParamUint:
		if fits(math.MaxUint32, 0) {
			return libvirt.TypedParamValue{D: typ, I: uint32(mag)}, nil
		}
	case TypedParamLLong:
		if fits(math.MaxInt64, 1<<63) {
			return libvirt.TypedParamValue{D: typ, I: signed}, nil
		}
	case TypedParamULLong:
		if fits(math.MaxUint64, 0) {
			return libvirt.TypedParamValue{D: typ, I: mag}, nil
		}
	case TypedParamDouble:
		if isInt {
			f = float64(signed)
			if !neg {
				f = float64(mag)
			}
		}
		return libvirt.TypedParamValue{D: typ, I: f}, nil
	case TypedParamBoolean:
		if fits(1, 0) {
			return libvirt.TypedParamValue{D: typ, I: int32(mag)}, nil
		}
	default:
		return libvirt.TypedParamValue{}, fmt.Errorf("rpc: unknown typed parameter type %d", typ)
	}
	return libvirt.TypedParamValue{}, bad
}

// NewTypedParam returns the parameter name of type typ holding v, or panics when v does not fit typ; it is meant
// for values known at compile time (use TypedParamValue otherwise).
func NewTypedParam(name string, typ uint32, v any) libvirt.TypedParam {
	val, err := TypedParamValue(typ, v)
	if err != nil {
		panic(err)
	}
	return libvirt.TypedParam{Field: name, Value: val}
}

func encTypedParamValue(e *encoder, v reflect.Value) {
	tp := v.Interface().(libvirt.TypedParamValue)
	val, err := TypedParamValue(tp.D, tp.I)
	if err != nil {
		e.fail(err)
		return
	}
	e.u32(val.D)
	switch x := val.I.(type) {
	case int32:
		e.u32(uint32(x))
	case uint32:
		e.u32(x)
	case int64:
		e.u64(uint64(x))
	case uint64:
		e.u64(x)
	case float64:
		e.u64(math.Float64bits(x))
	case string:
		e.u32(uint32(len(x)))
		e.opaque([]byte(x))
	}
}

func decTypedParamValue(d *decoder, v reflect.Value) {
	typ := d.u32()
	var val any
	switch typ {
	case TypedParamInt, TypedParamBoolean:
		val = int32(d.u32())
	case TypedParamUint:
		val = d.u32()
	case TypedParamLLong:
		val = int64(d.u64())
	case TypedParamULLong:
		val = d.u64()
	case TypedParamDouble:
		val = math.Float64frombits(d.u64())
	case TypedParamString:
		n := d.u32()
		val = string(d.opaque(int(n)))
	default:
		if d.err == nil {
			d.fail("typed parameter type %d", typ)
		}
		return
	}
	if d.err == nil {
		v.Set(reflect.ValueOf(libvirt.TypedParamValue{D: typ, I: val}))
	}
}
