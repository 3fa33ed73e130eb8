package specdir

import (
	"strings"
	"testing"

	"github.com/google/uuid"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/virtxend/virtxend/api/domxml"
	"github.com/virtxend/virtxend/api/v1alpha1"
)

const (
	uuidWeb = "6a1d2c3e-7f40-4b5a-9c61-2e8f0d4b7a10"
	uuidDB  = "0c9f3b52-1d7e-4a8b-b0c4-5e6f7a8b9c02"
)

const xmlBatch = `<!-- a comment, as libvirt writes -->
<domain type='xen'>
  <name>batch</name>
  <uuid>3E4F5A6B-7C8D-4E9F-A0B1-C2D3E4F5A6B7</uuid>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='xenpvh'>xenpvh</type>
    <kernel>/boot/vmlinuz</kernel>
  </os>
</domain>
`

func TestDecodeFile(t *testing.T) {
	type dom struct {
		name, uuid, memory string
		run                v1alpha1.RunStrategy
	}
	tests := []struct {
		name, file, content string
		want                []dom
	}{
		{
			name: "yaml single", file: "web.yaml",
			content: domainYAML("web", uuidWeb, "512Mi"),
			want:    []dom{{"web", uuidWeb, "512Mi", v1alpha1.RunStrategyAlways}},
		},
		{
			name: "yml, name from spec.domain.name, no uuid", file: "web.yml",
			content: "apiVersion: virtxend.io/v1alpha1\nkind: XenDomain\nspec:\n  runStrategy: Manual\n  domain:\n    name: web\n    memory: 1Gi\n    os: {type: xen}\n",
			want:    []dom{{"web", NameUUID("web"), "1Gi", v1alpha1.RunStrategyManual}},
		},
		{
			name: "yaml multi-document with empty documents and comments", file: "two.yaml",
			content: "# leading comment\n---\n" + domainYAML("web", uuidWeb, "512Mi") + "--- # second\n" +
				domainYAML("db", uuidDB, "2Gi") + "---\n# nothing here\n",
			want: []dom{{"web", uuidWeb, "512Mi", v1alpha1.RunStrategyAlways}, {"db", uuidDB, "2Gi", v1alpha1.RunStrategyAlways}},
		},
		{
			name: "XenDomainList with typed items", file: "list.yaml",
			content: "apiVersion: virtxend.io/v1alpha1\nkind: XenDomainList\nitems:\n" +
				"- metadata: {name: web}\n  spec: {domain: {memory: 512Mi, os: {type: xen}}}\n" +
				"- apiVersion: virtxend.io/v1alpha1\n  kind: XenDomain\n  metadata: {name: db}\n  spec: {domain: {uuid: " + uuidDB + ", memory: 2Gi, os: {type: hvm}}}\n",
			want: []dom{{"web", NameUUID("web"), "512Mi", v1alpha1.RunStrategyAlways}, {"db", uuidDB, "2Gi", v1alpha1.RunStrategyAlways}},
		},
		{
			name: "List", file: "list.yml",
			content: "apiVersion: v1\nkind: List\nitems:\n- apiVersion: virtxend.io/v1alpha1\n  kind: XenDomain\n  metadata: {name: web}\n  spec: {domain: {memory: 512Mi, os: {type: xen}}}\n",
			want:    []dom{{"web", NameUUID("web"), "512Mi", v1alpha1.RunStrategyAlways}},
		},
		{
			name: "json single", file: "web.json",
			content: `{"apiVersion":"virtxend.io/v1alpha1","kind":"XenDomain","metadata":{"name":"web"},` +
				`"spec":{"runStrategy":"Halted","domain":{"uuid":"6A1D2C3E7F404B5A9C612E8F0D4B7A10","memory":"512Mi","os":{"type":"xen"}}}}`,
			want: []dom{{"web", uuidWeb, "512Mi", v1alpha1.RunStrategyHalted}},
		},
		{
			name: "json list", file: "list.json",
			content: `{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"virtxend.io/v1alpha1","kind":"XenDomain",` +
				`"metadata":{"name":"db"},"spec":{"domain":{"memory":"2Gi","os":{"type":"hvm"}}}}]}`,
			want: []dom{{"db", NameUUID("db"), "2Gi", v1alpha1.RunStrategyAlways}},
		},
		{
			name: "libvirt xml", file: "batch.xml", content: xmlBatch,
			want: []dom{{"batch", "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7", "256Mi", v1alpha1.RunStrategyAlways}},
		},
		{
			name: "xl.cfg with uuid", file: "web.cfg",
			content: "name = \"web\"\nuuid = \"" + uuidWeb + "\"\nmemory = 512\nkernel = \"/boot/vmlinuz\"\nvif = [ 'bridge=xenbr0' ]\n",
			want:    []dom{{"web", uuidWeb, "512Mi", v1alpha1.RunStrategyAlways}},
		},
		{
			name: "xl.cfg without uuid", file: "db.cfg",
			content: "name = \"db\"\nmemory = 2048\nbuilder = \"hvm\"\n",
			want:    []dom{{"db", NameUUID("db"), "2Gi", v1alpha1.RunStrategyAlways}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/d/" + tt.file
			objs, err := decodeFile(path, []byte(tt.content), domxml.Defaults{HostArch: "x86_64"})
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) != len(tt.want) {
				t.Fatalf("got %d objects, want %d", len(objs), len(tt.want))
			}
			for i, w := range tt.want {
				o := objs[i]
				if o.Name != w.name || o.Spec.Domain.Name != w.name {
					t.Errorf("name %q / spec.domain.name %q, want %q", o.Name, o.Spec.Domain.Name, w.name)
				}
				if o.Spec.Domain.UUID != w.uuid || string(o.UID) != w.uuid {
					t.Errorf("%s: uuid %q uid %q, want %q", w.name, o.Spec.Domain.UUID, o.UID, w.uuid)
				}
				if o.Spec.Domain.Memory.Cmp(resource.MustParse(w.memory)) != 0 {
					t.Errorf("%s: memory %s, want %s", w.name, o.Spec.Domain.Memory.String(), w.memory)
				}
				if o.Spec.RunStrategy != w.run || o.Spec.DriftPolicy != v1alpha1.DriftPolicyEnforce {
					t.Errorf("%s: runStrategy %q driftPolicy %q", w.name, o.Spec.RunStrategy, o.Spec.DriftPolicy)
				}
				if o.Namespace != v1alpha1.LocalNamespace || o.Labels[v1alpha1.LabelSource] != v1alpha1.SourceKindFile ||
					o.Annotations[v1alpha1.AnnotationSource] != "file:"+path {
					t.Errorf("%s: namespace %q labels %v annotations %v", w.name, o.Namespace, o.Labels, o.Annotations)
				}
			}
		})
	}
}

func TestDecodeFileErrors(t *testing.T) {
	tests := []struct {
		name, file, content string
		want                []string // substrings of the error
	}{
		{"unknown field", "web.yaml", strings.Replace(domainYAML("web", "", "1Gi"), "memory:", "memroy:", 1),
			[]string{"/d/web.yaml", `unknown field "spec.domain.memroy"`}},
		{"unknown field in second document", "two.yaml", domainYAML("a", "", "1Gi") + "---\n" + domainYAML("b", "", "1Gi") + "    colour: red\n",
			[]string{"/d/two.yaml", "document 2 (line 11)", `unknown field "spec.domain.colour"`}},
		{"unknown field in a list item", "l.json", `{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"virtxend.io/v1alpha1","kind":"XenDomain","metadata":{"name":"x"},"spec":{"domain":{"memory":"1Gi","os":{"type":"xen"}},"bogus":1}}]}`,
			[]string{"/d/l.json", "items[0]", `unknown field "spec.bogus"`}},
		{"duplicate key", "web.yaml", domainYAML("web", "", "1Gi") + "    memory: 2Gi\n", []string{"/d/web.yaml", "memory"}},
		{"wrong apiVersion", "web.yaml", strings.Replace(domainYAML("web", "", "1Gi"), "virtxend.io/v1alpha1", "virtxend.io/v1", 1),
			[]string{"/d/web.yaml", `apiVersion "virtxend.io/v1"`}},
		{"wrong kind", "web.yaml", strings.Replace(domainYAML("web", "", "1Gi"), "kind: XenDomain", "kind: Pod", 1),
			[]string{"/d/web.yaml", `kind "Pod"`}},
		{"no kind", "web.json", `{"metadata":{"name":"x"}}`, []string{"/d/web.json", "no kind"}},
		{"no name", "web.yaml", strings.Replace(domainYAML("web", "", "1Gi"), "  name: web\n", "  labels: {a: b}\n", 1),
			[]string{"/d/web.yaml", "no domain name"}},
		{"names differ", "web.yaml", strings.Replace(domainYAML("web", "", "1Gi"), "  domain:\n", "  domain:\n    name: other\n", 1),
			[]string{"/d/web.yaml", `"web"`, `"other"`}},
		{"name twice in a file", "two.yaml", domainYAML("a", "", "1Gi") + "---\n" + domainYAML("a", "", "2Gi"),
			[]string{"/d/two.yaml", `"a" is described twice`}},
		{"bad uuid", "web.yaml", domainYAML("web", "not-a-uuid", "1Gi"), []string{"/d/web.yaml", "spec.domain.uuid", "not-a-uuid"}},
		{"bad runStrategy", "web.yaml", strings.Replace(domainYAML("web", "", "1Gi"), "spec:\n", "spec:\n  runStrategy: Sometimes\n", 1),
			[]string{"/d/web.yaml", "spec.runStrategy", "Sometimes"}},
		{"wrong namespace", "web.yaml", strings.Replace(domainYAML("web", "", "1Gi"), "  name: web\n", "  name: web\n  namespace: prod\n", 1),
			[]string{"/d/web.yaml", `"prod"`}},
		{"yaml syntax", "web.yaml", "apiVersion: [\n", []string{"/d/web.yaml", "yaml"}},
		{"nothing in the file", "web.yaml", "# only a comment\n", []string{"/d/web.yaml", "no XenDomain"}},
		{"broken xml", "web.xml", "<domain type='xen'><name>web</name>", []string{"/d/web.xml"}},
		{"broken xl.cfg", "web.cfg", "name = \"web\"\nmemory = [\n", []string{"/d/web.cfg"}},
		{"xl.cfg without a name", "web.cfg", "memory = 512\n", []string{"/d/web.cfg: config value name was missing"}},
		{"xl.cfg with a bad value", "web.cfg", "name = \"web\"\nmemory = \"lots\"\n", []string{"/d/web.cfg", "memory"}},
		{"memory beyond libvirt's limit", "web.yaml", domainYAML("web", "", "64Ei"),
			[]string{"/d/web.yaml: domain \"web\": spec.domain.memory: >= 9223372036854775807: size value too large (at most 9007199254740991Ki)"}},
		{"memory of 8Ei", "web.yaml", domainYAML("web", "", "8Ei"), []string{"/d/web.yaml", "spec.domain.memory", "size value too large"}},
		{"negative memory", "web.yaml", domainYAML("web", "", "-1Gi"), []string{"/d/web.yaml", "spec.domain.memory: -1Gi: memory size must not be negative"}},
		{"vcpus beyond Xen's limit", "web.yaml", domainYAML("web", "", "1Gi") + "    vcpu: {count: 600}\n",
			[]string{"/d/web.yaml", "spec.domain.vcpu.count: 600: requested vcpus is greater than max allowable vcpus for the domain: 600 > 512"}},
		{"vcpus beyond an unsigned int", "web.yaml", domainYAML("web", "", "1Gi") + "    vcpu: {count: 4294967297}\n",
			[]string{"/d/web.yaml", "spec.domain.vcpu.count"}},
		{"xml memory beyond libvirt's limit", "web.xml", "<domain type='xen'><name>web</name><memory unit='b'>9223372036854775807</memory><os><type>hvm</type></os></domain>",
			[]string{"/d/web.xml: size value too large"}},
		{"xml vcpus beyond Xen's limit", "web.xml", "<domain type='xen'><name>web</name><memory>1024</memory><vcpu>200</vcpu><os><type>hvm</type></os></domain>",
			[]string{"/d/web.xml: domain \"web\": requested vcpus is greater than max allowable vcpus for the domain: 200 > 128"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeFile("/d/"+tt.file, []byte(tt.content), domxml.Defaults{HostArch: "x86_64"})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestDecodeIsDeterministic(t *testing.T) {
	a, err := decodeFile("/d/a.yaml", []byte(domainYAML("web", "", "1Gi")), domxml.Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := decodeFile("/d/a.yaml", []byte(domainYAML("web", "", "1Gi")), domxml.Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	if a[0].UID != b[0].UID || a[0].Spec.Domain.UUID != b[0].Spec.Domain.UUID {
		t.Fatalf("uuids differ: %s %s", a[0].UID, b[0].UID)
	}
	cfg := []byte("name = \"web\"\nmemory = 512\nkernel = \"/boot/vmlinuz\"\nvif = [ 'bridge=xenbr0' ]\n")
	c1, err := decodeFile("/d/web.cfg", cfg, domxml.Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	c2, err := decodeFile("/d/web.cfg", cfg, domxml.Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	if c1[0].UID != c2[0].UID || len(c1[0].Spec.Domain.Devices.Interfaces) != 1 ||
		c1[0].Spec.Domain.Devices.Interfaces[0].MAC == "" ||
		c1[0].Spec.Domain.Devices.Interfaces[0].MAC != c2[0].Spec.Domain.Devices.Interfaces[0].MAC {
		t.Fatalf("xl.cfg readings differ: %s %v, %s %v", c1[0].UID, c1[0].Spec.Domain.Devices.Interfaces,
			c2[0].UID, c2[0].Spec.Domain.Devices.Interfaces)
	}
	if u := uuid.MustParse(NameUUID("web")); u.Version() != 5 || NameUUID("web") == NameUUID("db") {
		t.Fatalf("NameUUID: %s", u)
	}
}

func TestRelevant(t *testing.T) {
	for name, want := range map[string]bool{
		"web.yaml": true, "web.yml": true, "web.json": true, "web.xml": true, "WEB.YAML": true,
		".web.yaml": false, "web.yaml~": false, ".web.yaml.swp": false, "web.yaml.swp": false, "#web.yaml#": false,
		"4913": false, "README": false, "web.cfg": true, "WEB.CFG": true, "web.cfg.bak": false, "web.yaml.dpkg-old": false,
	} {
		if got := relevant(name); got != want {
			t.Errorf("relevant(%q) = %v, want %v", name, got, want)
		}
	}
}
