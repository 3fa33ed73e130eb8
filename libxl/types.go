package libxl

import (
	"bytes"
	"encoding/json"
	"fmt"
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

// Bitmap mirrors libxl_bitmap: it is printed as the list of its set bit indexes.
type Bitmap []int

// Has reports whether bit i is set.
func (b Bitmap) Has(i int) bool {
	for _, v := range b {
		if v == i {
			return true
		}
	}
	return false
}

var _ json.Marshaler = Defbool(0)
