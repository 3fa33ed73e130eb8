//go:build ignore

// gentable writes ../../cpuid_table.go from the libxenlight shared library: every string in it (and every suffix,
// as the linker merges string tails) is tried as a cpuid feature name by the cpuidtab tool, and the place libxl
// puts each accepted name is read back from libxl's own JSON.
//
//	go run gentable.go -lib /usr/lib/x86_64-linux-gnu/libxenlight.so.4.17.0 -tool ./cpuidtab -out ../../cpuid_table.go
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
)

func main() {
	lib := flag.String("lib", "", "libxenlight shared library")
	tool := flag.String("tool", "./cpuidtab", "cpuidtab binary")
	out := flag.String("out", "../../cpuid_table.go", "output file")
	flag.Parse()
	data, err := os.ReadFile(*lib)
	if err != nil {
		log.Fatal(err)
	}
	name := regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)
	cands := map[string]bool{}
	for _, s := range regexp.MustCompile(`[\x21-\x7e]{2,}`).FindAll(data, -1) {
		for i := range s {
			if name.Match(s[i:]) {
				cands[string(s[i:])] = true
			}
		}
	}
	var in bytes.Buffer
	for c := range cands {
		in.WriteString(c + "\n")
	}
	cmd := exec.Command(*tool)
	cmd.Stdin, cmd.Stderr = &in, nil
	res, err := cmd.Output()
	if err != nil {
		log.Fatal(err)
	}
	var rows []string
	for line := range strings.SplitSeq(strings.TrimSpace(string(res)), "\n") {
		feat, js, _ := strings.Cut(line, "\t")
		var bi struct {
			CPUID struct {
				CPUID []map[string]any `json:"cpuid"`
				MSR   []struct {
					Index  uint32 `json:"index"`
					Policy string `json:"policy"`
				} `json:"msr"`
			} `json:"cpuid"`
		}
		if err := json.Unmarshal([]byte(js), &bi); err != nil {
			log.Fatal(err)
		}
		var leaf uint32
		sub, reg, policy := "noSubleaf", "", ""
		if len(bi.CPUID.CPUID) == 1 {
			l := bi.CPUID.CPUID[0]
			leaf = uint32(l["leaf"].(float64))
			if s, ok := l["subleaf"]; ok {
				sub = fmt.Sprint(uint32(s.(float64)))
			}
			for _, r := range []string{"eax", "ebx", "ecx", "edx"} {
				if p, ok := l[r].(string); ok {
					reg, policy = "reg"+strings.ToUpper(r), p
				}
			}
		} else if len(bi.CPUID.MSR) == 1 {
			leaf, reg, policy = bi.CPUID.MSR[0].Index, "regMSR", bi.CPUID.MSR[0].Policy
		} else {
			log.Fatalf("%s: unexpected policy %s", feat, js)
		}
		w := len(policy)
		lo, hi := -1, -1
		contiguous := true
		for i := w - 1; i >= 0; i-- {
			if policy[i] != '0' {
				continue
			}
			bit := w - 1 - i
			if lo < 0 {
				lo = bit
			} else if bit != hi+1 {
				contiguous = false
			}
			hi = bit
		}
		if !contiguous {
			continue // family and model are split fields
		}
		rows = append(rows, fmt.Sprintf("%q: {leaf: %#x, subleaf: %s, reg: %s, bit: %d, length: %d},",
			feat, leaf, sub, reg, lo, hi-lo+1))
	}
	slices.Sort(rows)
	var b bytes.Buffer
	b.WriteString("// Code generated from libxenlight 4.17's libxl_cpuid_parse_config by testdata/libxltool; DO NOT EDIT.\n\n")
	b.WriteString("package libxl\n\n")
	b.WriteString("// cpuidFeatures maps the feature names libxl_cpuid_parse_config accepts (Xen 4.17) to their place in the\n")
	b.WriteString("// policy. The split family and model fields are left out.\n")
	b.WriteString("var cpuidFeatures = map[string]cpuidFeature{\n" + strings.Join(rows, "\n") + "\n}\n")
	src, err := format.Source(b.Bytes())
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
}
