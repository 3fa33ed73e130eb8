package xlcfg

import (
	"bytes"
	"strconv"
	"strings"
)

// confValue is one value of a configuration being written: a string, an integer or a list.
type confValue struct {
	str    string
	num    int64
	isNum  bool
	isList bool
	list   []confValue
}

func strValue(s string) confValue { return confValue{str: s} }

func listValue(items ...string) confValue {
	v := confValue{isList: true}
	for _, s := range items {
		v.list = append(v.list, strValue(s))
	}
	return v
}

// confDoc is a configuration being written, with libvirt's virConfSetValue semantics: setting a key again
// replaces its value where it stands, a new key goes at the end.
type confDoc struct {
	keys []string
	vals []confValue
}

func (d *confDoc) set(key string, v confValue) {
	for i, k := range d.keys {
		if k == key {
			d.vals[i] = v
			return
		}
	}
	d.keys = append(d.keys, key)
	d.vals = append(d.vals, v)
}

func (d *confDoc) setString(key, s string) { d.set(key, strValue(s)) }

func (d *confDoc) setInt(key string, n int64) { d.set(key, confValue{num: n, isNum: true}) }

func (d *confDoc) setBool(key string, b bool) {
	n := int64(0)
	if b {
		n = 1
	}
	d.setInt(key, n)
}

// bytes writes the configuration as virConfWriteMem does: one "key = value" line per setting.
func (d *confDoc) bytes() []byte {
	var b bytes.Buffer
	for i, k := range d.keys {
		b.WriteString(k)
		b.WriteString(" = ")
		writeValue(&b, d.vals[i])
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// writeValue is virConfSaveValue. There are no escapes in the syntax, so a string is double-quoted, single-quoted
// when it holds a double quote, and triple-quoted when it holds a newline or both kinds of quote (a string that
// then ends in a double quote cannot be read back, by libvirt or package config).
func writeValue(b *bytes.Buffer, v confValue) {
	switch {
	case v.isNum:
		b.WriteString(strconv.FormatInt(v.num, 10))
	case v.isList:
		b.WriteString("[ ")
		for i, item := range v.list {
			if i > 0 {
				b.WriteString(", ")
			}
			writeValue(b, item)
		}
		b.WriteString(" ]")
	case strings.ContainsRune(v.str, '\n'):
		b.WriteString(`"""` + v.str + `"""`)
	case !strings.ContainsRune(v.str, '"'):
		b.WriteString(`"` + v.str + `"`)
	case !strings.ContainsRune(v.str, '\''):
		b.WriteString("'" + v.str + "'")
	default:
		b.WriteString(`"""` + v.str + `"""`)
	}
}
