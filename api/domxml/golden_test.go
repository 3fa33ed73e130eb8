package domxml

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestGolden checks what `virsh dumpxml` shows after `virsh define` of the documents in testdata/: each
// NAME.xml is parsed, completed with ApplyDefaults (seeded) and printed; the output must equal NAME.golden,
// validate against libvirt's schema and read back unchanged.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.xml"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".xml")
		t.Run(name, func(t *testing.T) {
			doc, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			spec, err := Parse(doc)
			if err != nil {
				t.Fatal(err)
			}
			printed, err := Format(spec, Inactive)
			if err != nil {
				t.Fatal(err)
			}
			if err := equivalent(doc, printed); err != nil {
				t.Errorf("Format(Parse(x)) differs from x: %v\n%s", err, printed)
			}
			if err := ApplyDefaults(spec, seeded(7)); err != nil {
				t.Fatal(err)
			}
			got, err := Format(spec, Inactive)
			if err != nil {
				t.Fatal(err)
			}
			golden := strings.TrimSuffix(in, ".xml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (go test -update rewrites it):\n%s", golden, diffLines(want, got))
			}
			if _, err := Parse(got); err != nil {
				t.Errorf("Parse of the golden output: %v", err)
			}
		})
	}
}

// TestGoldenSchema validates the golden files against libvirt's domain schema.
func TestGoldenSchema(t *testing.T) {
	xmllint := needXmllint(t)
	goldens, _ := filepath.Glob(filepath.Join("testdata", "*.golden"))
	for _, g := range goldens {
		doc, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		validate(t, xmllint, doc)
	}
}
