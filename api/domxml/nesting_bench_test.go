package domxml

import (
	"fmt"
	"strings"
	"testing"
)

// nestedDoc is a valid definition whose <metadata> holds one application element nested depth deep: the shape
// that made parsing and comparing quadratic in the document's size.
func nestedDoc(depth int) []byte {
	var b strings.Builder
	b.WriteString("<domain type='xen'><name>deep</name><memory>524288</memory><os><type>hvm</type></os><metadata>")
	b.WriteString(strings.Repeat("<a xmlns='urn:x'>", 1))
	b.WriteString(strings.Repeat("<a>", depth-1))
	b.WriteString(strings.Repeat("</a>", depth))
	b.WriteString("</metadata></domain>")
	return []byte(b.String())
}

// BenchmarkParseNested parses definitions nested ever deeper; time and bytes per op must grow linearly with the
// depth (and stop growing where the depth limit refuses the document).
func BenchmarkParseNested(b *testing.B) {
	for _, depth := range []int{100, 1000, 10000, 100000} {
		doc := nestedDoc(depth)
		b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				_, _ = Parse(doc)
			}
		})
	}
}

// BenchmarkSubsetNested compares trees nested beyond what the parser accepts: the comparison itself must stay
// linear in the depth.
func BenchmarkSubsetNested(b *testing.B) {
	for _, depth := range []int{1000, 10000, 100000} {
		in, out := chain(depth), chain(depth)
		b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := subset(in, out, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
