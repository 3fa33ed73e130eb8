package domxml

import (
	"os"
	"path/filepath"
	"testing"
)

func benchDoc(b *testing.B) []byte {
	b.Helper()
	doc, err := os.ReadFile(filepath.Join("testdata", "hvm-everything.xml"))
	if err != nil {
		b.Fatal(err)
	}
	return doc
}

func BenchmarkParse(b *testing.B) {
	doc := benchDoc(b)
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if _, err := Parse(doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFormat(b *testing.B) {
	spec, err := Parse(benchDoc(b))
	if err != nil {
		b.Fatal(err)
	}
	if err := ApplyDefaults(spec, seeded(1)); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Format(spec, Inactive); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkApplyDefaults(b *testing.B) {
	spec, err := Parse(benchDoc(b))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		s := spec.DeepCopy()
		if err := ApplyDefaults(s, seeded(1)); err != nil {
			b.Fatal(err)
		}
	}
}
