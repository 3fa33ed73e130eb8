package metrics

import (
	"bufio"
	"context"
	"math"
	"strconv"
	"strings"
)

// Section writes metric families straight in the Prometheus text format (version 0.0.4), after the
// registries' families in the same response. The per-domain families go this way: building a client_golang
// Metric per series, then gathering, sorting, checking and encoding them, cost several times what the
// values themselves do at a thousand domains (45 series each). A Section must not write a family a registry
// also has; it must write each family's samples together, as the format requires.
type Section interface {
	WriteText(ctx context.Context, w *TextWriter) error
}

// TextWriter writes families and samples of the Prometheus text format, formatting values as client_golang's
// encoder does, so that a family reads the same whichever way it was written.
type TextWriter struct {
	w *bufio.Writer
	// pending is the header of the family begun last, written before its first sample only: a family without
	// samples is left out, as a registry leaves it out.
	pending string
	name    string
	num     []byte
}

// NewTextWriter returns a writer onto w.
func NewTextWriter(w *bufio.Writer) *TextWriter {
	return &TextWriter{w: w, num: make([]byte, 0, 32)}
}

// Family begins the family name of type typ ("gauge", "counter") with its help text (one line, no
// backslashes: the texts are the daemon's own).
func (t *TextWriter) Family(name, help, typ string) {
	t.name = name
	t.pending = "# HELP " + name + " " + help + "\n# TYPE " + name + " " + typ + "\n"
}

// Sample writes one sample of the current family: labels is a rendered label set (see labelSet), empty for
// none.
func (t *TextWriter) Sample(labels string, v float64) {
	if t.pending != "" {
		_, _ = t.w.WriteString(t.pending)
		t.pending = ""
	}
	_, _ = t.w.WriteString(t.name)
	if labels != "" {
		_ = t.w.WriteByte('{')
		_, _ = t.w.WriteString(labels)
		_ = t.w.WriteByte('}')
	}
	_ = t.w.WriteByte(' ')
	t.num = appendValue(t.num[:0], v)
	_, _ = t.w.Write(t.num)
	_ = t.w.WriteByte('\n')
}

// appendValue formats v as client_golang's text encoder does.
func appendValue(b []byte, v float64) []byte {
	switch {
	case v == 1:
		return append(b, '1')
	case v == 0:
		return append(b, '0')
	case v == -1:
		return append(b, "-1"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, +1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// labelValueEscaper escapes a label value as the text format wants it.
var labelValueEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)

// labelSet renders name/value pairs (names given in sorted order, as client_golang writes them) as
// `a="x",b="y"`. Sections render a series' labels once and keep them while the series lives.
func labelSet(pairs ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(pairs); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(pairs[i])
		b.WriteString(`="`)
		_, _ = labelValueEscaper.WriteString(&b, pairs[i+1])
		b.WriteByte('"')
	}
	return b.String()
}
