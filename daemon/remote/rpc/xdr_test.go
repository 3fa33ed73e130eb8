package rpc

import (
	"errors"
	"math"
	"reflect"
	"testing"

	libvirt "github.com/digitalocean/go-libvirt"
)

func TestXDREncoding(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    any
		want string
	}{
		{"int32", int32(-2), "ff ff ff fe"},
		{"char travels as int", int8(-1), "ff ff ff ff"},
		{"uchar travels as uint", uint8(7), "00 00 00 07"},
		{"hyper", int64(-1), "ff ff ff ff ff ff ff ff"},
		{"bool", true, "00 00 00 01"},
		{"double", 1.5, "3f f8 00 00 00 00 00 00"},
		{"string padded", "abcde", "00 00 00 05 61 62 63 64 65 00 00 00"},
		{"opaque", []byte{1, 2}, "00 00 00 02 01 02 00 00"},
		{"uuid", libvirt.UUID{1}, "01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"},
		{"absent string", libvirt.OptString(nil), "00 00 00 00"},
		{"present string", libvirt.OptString{"a"}, "00 00 00 01 00 00 00 01 61 00 00 00"},
		{"pointer", &struct{ P *int32 }{P: new(int32)}, "00 00 00 01 00 00 00 00"},
		{"char array", &struct{ M [2]int8 }{M: [2]int8{1, 2}}, "00 00 00 01 00 00 00 02"},
		{"domain", &testDom, "00 00 00 03 76 6d 31 00 2a 7b d3 a5 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 0d"},
		{"typed param", libvirt.TypedParam{Field: "w", Value: libvirt.TypedParamValue{D: TypedParamUint, I: uint32(256)}},
			"00 00 00 01 77 00 00 00 00 00 00 02 00 00 01 00"},
		{"disk error keeps go-libvirt's unexported field", &libvirt.DomainDiskError{Disk: "x"},
			"00 00 00 01 78 00 00 00 00 00 00 00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if got := hexdump(b); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
			// and back
			want := reflect.ValueOf(tc.v)
			if want.Kind() == reflect.Pointer {
				want = want.Elem()
			}
			out := reflect.New(want.Type())
			if err := Unmarshal(b, out.Interface()); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(out.Elem().Interface(), want.Interface()) {
				t.Fatalf("round trip: got %#v, want %#v", out.Elem().Interface(), want.Interface())
			}
		})
	}
}

func TestXDRRoundTripProtocolTypes(t *testing.T) {
	for _, v := range []any{
		&libvirt.ConnectListAllDomainsRet{Domains: []libvirt.Domain{testDom, {Name: "vm2", ID: -1}}, Ret: 2},
		&libvirt.NodeGetInfoRet{Model: [32]int8{'x', '8', '6'}, Memory: 1 << 40, Cpus: 8, Mhz: 3000, Nodes: 1, Sockets: 1, Cores: 4, Threads: 2},
		&libvirt.DomainGetInfoRet{State: 1, MaxMem: 1 << 20, Memory: 1 << 19, NrVirtCPU: 2, CPUTime: 123},
		&libvirt.NodeGetSecurityModelRet{Model: []int8{'s', 0}, Doi: []int8{'0', 0}},
		&libvirt.DomainGetSchedulerParametersRet{Params: []libvirt.TypedParam{
			NewTypedParam("a", TypedParamInt, int32(math.MinInt32)),
			NewTypedParam("b", TypedParamULLong, uint64(math.MaxUint64)),
			NewTypedParam("c", TypedParamString, ""),
			NewTypedParam("d", TypedParamBoolean, false),
			NewTypedParam("e", TypedParamDouble, math.Inf(-1)),
		}},
		&libvirt.DomainEventCallbackLifecycleMsg{CallbackID: 3, Msg: libvirt.DomainEventLifecycleMsg{Dom: testDom, Event: 2, Detail: 1}},
		&wireError{Code: 3, Message: libvirt.OptString{"m"}, Dom: libvirt.OptDomain{testDom}, Net: libvirt.OptNetwork{{Name: "n"}}},
	} {
		b, err := Marshal(v)
		if err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		out := reflect.New(reflect.TypeOf(v).Elem())
		if err := Unmarshal(b, out.Interface()); err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		if !reflect.DeepEqual(out.Interface(), v) {
			t.Fatalf("%T: got %#v, want %#v", v, out.Interface(), v)
		}
	}
}

// TestXDRGoLibvirtConnectOpen decodes what go-libvirt's client sends for CONNECT_OPEN: a 3-byte "padding" whose
// first byte, read as the optional string's boolean, is 0x01000000.
func TestXDRGoLibvirtConnectOpen(t *testing.T) {
	b, err := Marshal(&struct {
		Padding [3]byte
		Name    string
		Flags   uint32
	}{Padding: [3]byte{1}, Name: "xen:///system", Flags: 1})
	if err != nil {
		t.Fatal(err)
	}
	var args ConnectOpenArgs
	if err := Unmarshal(b, &args); err != nil {
		t.Fatal(err)
	}
	if len(args.Name) != 1 || args.Name[0] != "xen:///system" || args.Flags != libvirt.ConnectRo {
		t.Fatalf("got %+v", args)
	}
}

func TestXDRRejectsHostileInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		into any
	}{
		{"huge string", []byte{0x7f, 0xff, 0xff, 0xff, 'a'}, new(string)},
		{"huge array", []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, new([]libvirt.Domain)},
		{"huge array of empty structs", []byte{0xff, 0xff, 0xff, 0xff}, new([]struct{})},
		{"truncated hyper", []byte{0, 0, 0, 1}, new(uint64)},
		{"truncated struct", []byte{0, 0, 0, 3, 'v', 'm'}, new(libvirt.Domain)},
		{"bad typed param", []byte{0, 0, 0, 1, 'x', 0, 0, 0, 0, 0, 0, 9}, new(libvirt.TypedParam)},
		{"missing padding", []byte{0, 0, 0, 1, 'x'}, new(string)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Unmarshal(tc.in, tc.into); !errors.Is(err, ErrXDR) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func TestXDRUnsupportedTypes(t *testing.T) {
	for _, v := range []any{map[string]int{}, make(chan int), struct{ F func() }{}, 3} {
		if _, err := Marshal(v); err == nil {
			t.Errorf("%T encoded", v)
		}
	}
}

func TestTypedParamValueRanges(t *testing.T) {
	for _, tc := range []struct {
		typ  uint32
		v    any
		want any // nil: refused
	}{
		{TypedParamInt, 5, int32(5)},
		{TypedParamInt, int64(math.MaxInt32 + 1), nil},
		{TypedParamInt, int64(math.MinInt32), int32(math.MinInt32)},
		{TypedParamInt, uint64(math.MaxUint64), nil},
		{TypedParamUint, -1, nil},
		{TypedParamUint, uint64(math.MaxUint32), uint32(math.MaxUint32)},
		{TypedParamLLong, uint64(math.MaxUint64), nil},
		{TypedParamLLong, int64(math.MinInt64), int64(math.MinInt64)},
		{TypedParamULLong, -1, nil},
		{TypedParamULLong, uint64(math.MaxUint64), uint64(math.MaxUint64)},
		{TypedParamDouble, 2, float64(2)},
		{TypedParamDouble, "x", nil},
		{TypedParamBoolean, true, int32(1)},
		{TypedParamBoolean, 2, nil},
		{TypedParamString, "s", "s"},
		{TypedParamString, 1, nil},
		{99, 1, nil},
	} {
		got, err := TypedParamValue(tc.typ, tc.v)
		if tc.want == nil {
			if err == nil {
				t.Errorf("type %d accepted %T(%v)", tc.typ, tc.v, tc.v)
			}
			continue
		}
		if err != nil || got.I != tc.want || got.D != tc.typ {
			t.Errorf("type %d from %T(%v): got %#v, %v", tc.typ, tc.v, tc.v, got, err)
		}
	}
}

func BenchmarkXDRDomainListReply(b *testing.B) {
	ret := &libvirt.ConnectListAllDomainsRet{Ret: 100}
	for i := 0; i < 100; i++ {
		ret.Domains = append(ret.Domains, libvirt.Domain{Name: "domain-name", ID: int32(i)})
	}
	b.ReportAllocs()
	buf := make([]byte, 0, 8192)
	for b.Loop() {
		out, err := AppendXDR(buf[:0], ret)
		if err != nil {
			b.Fatal(err)
		}
		var back libvirt.ConnectListAllDomainsRet
		if err := Unmarshal(out, &back); err != nil {
			b.Fatal(err)
		}
	}
}
