package admin

import (
	"sort"

	libvirt "github.com/digitalocean/go-libvirt"

	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

// typedParamTypeNames are virTypedParameterType's names, as libvirt's error messages spell them.
var typedParamTypeNames = map[uint32]string{
	rpc.TypedParamInt:     "int",
	rpc.TypedParamUint:    "uint",
	rpc.TypedParamLLong:   "llong",
	rpc.TypedParamULLong:  "ullong",
	rpc.TypedParamDouble:  "double",
	rpc.TypedParamBoolean: "boolean",
	rpc.TypedParamString:  "string",
}

func typeName(t uint32) string {
	if n, ok := typedParamTypeNames[t]; ok {
		return n
	}
	return "unknown"
}

// uintParams checks params the way libvirt's virTypedParamsDeserialize and virTypedParamsValidate do for a
// procedure that accepts only the named uint parameters, and returns their values; a name that is absent maps
// to -1, libvirt's "leave alone".
func uintParams(params []libvirt.TypedParam, limit int, names ...string) (map[string]int64, error) {
	if len(params) > limit {
		return nil, rpc.Errorf(rpc.CodeRPC, rpc.DomainNone, "too many parameters '%d' for limit '%d'", len(params), limit)
	}
	sorted := append([]libvirt.TypedParam(nil), params...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Field < sorted[j].Field })
	out := make(map[string]int64, len(names))
	for _, n := range names {
		out[n] = -1
	}
	for i, p := range sorted {
		if _, known := out[p.Field]; !known {
			return nil, rpc.Errorf(rpc.CodeArgumentUnsupported, rpc.DomainNone, "parameter '%s' not supported", p.Field)
		}
		if i > 0 && sorted[i-1].Field == p.Field {
			return nil, rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainNone, "parameter '%s' occurs multiple times", p.Field)
		}
		v, ok := p.Value.I.(uint32)
		if p.Value.D != rpc.TypedParamUint || !ok {
			return nil, rpc.Errorf(rpc.CodeInvalidArg, rpc.DomainNone, "invalid type '%s' for parameter '%s', expected '%s'",
				typeName(p.Value.D), p.Field, typeName(rpc.TypedParamUint))
		}
		out[p.Field] = int64(v)
	}
	return out, nil
}

func uintParam(name string, v uint32) libvirt.TypedParam {
	return rpc.NewTypedParam(name, rpc.TypedParamUint, v)
}
