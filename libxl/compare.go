package libxl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// ConfigDiff compares two libxl domain configurations in JSON the way libvirt's tests do: both are parsed and
// printed again in libxl's canonical form (so key order, whitespace, fields spelled out at their IDL default and
// empty sub-objects do not matter), then compared. It returns the differing key paths, each as
// "path: want → got" (an absent side is shown as "(absent)"); none means the configurations are the same.
func ConfigDiff(want, got []byte) ([]string, error) {
	w, err := canonicalTree(want)
	if err != nil {
		return nil, fmt.Errorf("first configuration: %w", err)
	}
	g, err := canonicalTree(got)
	if err != nil {
		return nil, fmt.Errorf("second configuration: %w", err)
	}
	var diffs []string
	diffTree("", w, g, &diffs)
	return diffs, nil
}

func canonicalTree(b []byte) (any, error) {
	var c DomainConfig
	if err := c.UnmarshalJSON(b); err != nil {
		return nil, err
	}
	out, err := marshalIDL(c)
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(out))
	d.UseNumber()
	var t any
	if err := d.Decode(&t); err != nil {
		return nil, err
	}
	return pruneEmpty(t), nil
}

// pruneEmpty drops empty objects, which libxl's generator prints for aggregates at their defaults.
func pruneEmpty(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			e = pruneEmpty(e)
			if m, ok := e.(map[string]any); ok && len(m) == 0 {
				delete(t, k)
				continue
			}
			t[k] = e
		}
	case []any:
		for i := range t {
			t[i] = pruneEmpty(t[i])
		}
	}
	return v
}

func diffTree(path string, w, g any, out *[]string) {
	show := func(v any) string {
		if v == nil {
			return "(absent)"
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	wm, wok := w.(map[string]any)
	gm, gok := g.(map[string]any)
	if wok && gok {
		keys := make([]string, 0, len(wm)+len(gm))
		for k := range wm {
			keys = append(keys, k)
		}
		for k := range gm {
			if _, ok := wm[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			diffTree(path+"/"+k, wm[k], gm[k], out)
		}
		return
	}
	wa, wok := w.([]any)
	ga, gok := g.([]any)
	if wok && gok && len(wa) == len(ga) {
		for i := range wa {
			diffTree(fmt.Sprintf("%s[%d]", path, i), wa[i], ga[i], out)
		}
		return
	}
	if show(w) != show(g) {
		*out = append(*out, fmt.Sprintf("%s: %s → %s", strings.TrimPrefix(path, ""), show(w), show(g)))
	}
}
