package specdir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/virtxend/virtxend/api/domxml"
	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/api/xlcfg"
)

const (
	kindDomain     = "XenDomain"
	kindDomainList = "XenDomainList"
	kindList       = "List"
)

// decodeFile turns one file into the objects it describes, complete with identity, defaults, labels and
// annotations. The error names the file and, for YAML, the document.
func decodeFile(path string, data []byte, defaults domxml.Defaults) ([]*v1alpha1.XenDomain, error) {
	objs, err := decodeRaw(path, data)
	if err != nil {
		// Some parsers (yaml's duplicate keys) write several lines; the error ends up in one log line, one
		// event and one annotation.
		lines := strings.Split(err.Error(), "\n")
		for i := range lines {
			lines[i] = strings.TrimSpace(lines[i])
		}
		return nil, fmt.Errorf("%s: %s", path, strings.Join(lines, " "))
	}
	seen := make(map[string]bool, len(objs))
	out := make([]*v1alpha1.XenDomain, 0, len(objs))
	for _, o := range objs {
		obj, err := complete(o.obj, path, defaults)
		if err != nil {
			return nil, fmt.Errorf("%s: %s%w", path, o.where, err)
		}
		if seen[obj.Name] {
			return nil, fmt.Errorf("%s: %sdomain %q is described twice in this file", path, o.where, obj.Name)
		}
		seen[obj.Name] = true
		out = append(out, obj)
	}
	return out, nil
}

// rawObject is a decoded object and where in its file it came from ("document 2 (line 14): items[1]: ").
type rawObject struct {
	obj   *v1alpha1.XenDomain
	where string
}

func decodeRaw(path string, data []byte) ([]rawObject, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".xml":
		spec, err := domxml.Parse(data)
		if err != nil {
			return nil, err
		}
		return []rawObject{{obj: &v1alpha1.XenDomain{
			ObjectMeta: metav1.ObjectMeta{Name: spec.Name},
			Spec:       v1alpha1.XenDomainSpec{Domain: *spec},
		}}}, nil
	case ".json":
		return decodeObjects(data, "")
	case ".cfg":
		spec, err := parseXL(data)
		if err != nil {
			return nil, err
		}
		return []rawObject{{obj: &v1alpha1.XenDomain{
			ObjectMeta: metav1.ObjectMeta{Name: spec.Name},
			Spec:       v1alpha1.XenDomainSpec{Domain: *spec},
		}}}, nil
	}
	docs := splitYAML(data)
	var out []rawObject
	var nonEmpty int
	js := make([][]byte, len(docs))
	for i, d := range docs {
		j, err := yaml.YAMLToJSONStrict(d.data)
		if err != nil {
			return nil, fmt.Errorf("%s%w", d.where(len(docs) > 1), err)
		}
		if !isNull(j) {
			js[i] = j
			nonEmpty++
		}
	}
	for i, j := range js {
		if j == nil {
			continue
		}
		objs, err := decodeObjects(j, docs[i].where(nonEmpty > 1))
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	if len(out) == 0 {
		return nil, errors.New("no XenDomain in the file")
	}
	return out, nil
}

func isNull(j []byte) bool {
	j = bytes.TrimSpace(j)
	return len(j) == 0 || string(j) == "null"
}

// yamlDoc is one document of a multi-document YAML file.
type yamlDoc struct {
	index, line int
	data        []byte
}

func (d yamlDoc) where(multi bool) string {
	if !multi {
		return ""
	}
	return fmt.Sprintf("document %d (line %d): ", d.index, d.line)
}

// splitYAML splits a YAML stream at "---" lines, keeping track of where each document starts.
func splitYAML(data []byte) []yamlDoc {
	var docs []yamlDoc
	start, startLine, line := 0, 1, 1
	for i := 0; i < len(data); line++ {
		end := len(data)
		if j := bytes.IndexByte(data[i:], '\n'); j >= 0 {
			end = i + j
		}
		l := bytes.TrimRight(data[i:end], " \t\r")
		if bytes.HasPrefix(l, []byte("---")) && (len(l) == 3 || l[3] == ' ' || l[3] == '\t') {
			docs = append(docs, yamlDoc{index: len(docs) + 1, line: startLine, data: data[start:i]})
			start, startLine = i+3, line
		}
		i = end + 1
	}
	return append(docs, yamlDoc{index: len(docs) + 1, line: startLine, data: data[start:]})
}

// decodeObjects decodes one JSON document: a XenDomain, a XenDomainList or a List of XenDomain.
func decodeObjects(j []byte, where string) ([]rawObject, error) {
	var head metav1.TypeMeta
	if err := json.Unmarshal(j, &head); err != nil {
		return nil, fmt.Errorf("%s%w", where, err)
	}
	gv := v1alpha1.GroupVersion.String()
	switch head.Kind {
	case kindDomain:
		if head.APIVersion != gv {
			return nil, fmt.Errorf("%sapiVersion %q: want %q", where, head.APIVersion, gv)
		}
		obj := &v1alpha1.XenDomain{}
		if err := decodeStrict(j, obj); err != nil {
			return nil, fmt.Errorf("%s%w", where, err)
		}
		return []rawObject{{obj: obj, where: where}}, nil
	case kindDomainList, kindList:
		if head.Kind == kindDomainList && head.APIVersion != gv {
			return nil, fmt.Errorf("%sapiVersion %q: want %q", where, head.APIVersion, gv)
		}
		var list struct {
			metav1.TypeMeta `json:",inline"`
			Metadata        json.RawMessage   `json:"metadata,omitempty"`
			Items           []json.RawMessage `json:"items"`
		}
		if err := decodeStrict(j, &list); err != nil {
			return nil, fmt.Errorf("%s%w", where, err)
		}
		out := make([]rawObject, 0, len(list.Items))
		for i, it := range list.Items {
			w := fmt.Sprintf("%sitems[%d]: ", where, i)
			var ih metav1.TypeMeta
			if err := json.Unmarshal(it, &ih); err != nil {
				return nil, fmt.Errorf("%s%w", w, err)
			}
			// Items of a typed list may leave their kind out, as the API server does.
			typedItem := head.Kind == kindDomainList && ih.Kind == "" && ih.APIVersion == ""
			if !typedItem && (ih.Kind != kindDomain || ih.APIVersion != gv) {
				return nil, fmt.Errorf("%skind %q apiVersion %q: want kind %q apiVersion %q", w, ih.Kind, ih.APIVersion, kindDomain, gv)
			}
			obj := &v1alpha1.XenDomain{}
			if err := decodeStrict(it, obj); err != nil {
				return nil, fmt.Errorf("%s%w", w, err)
			}
			out = append(out, rawObject{obj: obj, where: w})
		}
		return out, nil
	case "":
		return nil, fmt.Errorf("%sno kind: want %s, %s or %s", where, kindDomain, kindDomainList, kindList)
	default:
		return nil, fmt.Errorf("%skind %q: want %s, %s or %s", where, head.Kind, kindDomain, kindDomainList, kindList)
	}
}

// parseXL reads an xl.cfg file as libvirt's domxml-from-native xen-xl does. What the file leaves out and libvirt
// generates (MAC addresses) is drawn from a stream seeded by the domain's name, so that every reading of the same
// file gives the same domain; without uuid= the domain's UUID is NameUUID(name), as for a YAML file. The first
// reading finds the name, and tells a UUID of the file (the same in both readings) from a generated one.
func parseXL(data []byte) (*v1alpha1.DomainSpec, error) {
	first, err := xlcfg.Options{Defaults: domxml.Defaults{Rand: domxml.SeededRand("xl.cfg name")}}.ParseXL(data)
	if err != nil {
		return nil, err
	}
	if err := validName(first.Name); err != nil {
		return nil, err
	}
	spec, err := xlcfg.Options{Defaults: domxml.Defaults{Rand: domxml.SeededRand(NameUUID(first.Name))}}.ParseXL(data)
	if err != nil {
		return nil, err
	}
	if spec.UUID != first.UUID {
		spec.UUID = NameUUID(spec.Name)
	}
	return spec, nil
}

// decodeStrict decodes JSON case-sensitively and refuses unknown and duplicate fields, naming them by path
// (unknown field "spec.domain.memroy").
func decodeStrict(j []byte, v any) error {
	strict, err := sigsjson.UnmarshalStrict(j, v, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	return nil
}

// complete builds the object the store gets from a decoded one: identity (name, UUID as UID), the loader's
// defaults, domxml's implicit defaults, the source label and annotation. Only name, labels and annotations are
// taken from the file's metadata; status and spec.action are dropped.
func complete(in *v1alpha1.XenDomain, path string, defaults domxml.Defaults) (*v1alpha1.XenDomain, error) {
	name := in.Name
	switch dn := in.Spec.Domain.Name; {
	case name == "":
		name = dn
	case dn != "" && dn != name:
		return nil, fmt.Errorf("metadata.name %q and spec.domain.name %q differ", name, dn)
	}
	if err := validName(name); err != nil {
		return nil, err
	}
	if ns := in.Namespace; ns != "" && ns != v1alpha1.LocalNamespace {
		return nil, fmt.Errorf("domain %q: metadata.namespace %q: local domains live in %q", name, ns, v1alpha1.LocalNamespace)
	}
	spec := *in.Spec.DeepCopy()
	spec.Action = nil
	spec.Domain.Name = name
	if spec.Domain.UUID == "" {
		spec.Domain.UUID = NameUUID(name)
	} else {
		u, err := v1alpha1.ParseUUID(spec.Domain.UUID)
		if err != nil {
			return nil, fmt.Errorf("domain %q: spec.domain.uuid: %w", name, err)
		}
		spec.Domain.UUID = u
	}
	if spec.RunStrategy == "" {
		spec.RunStrategy = v1alpha1.RunStrategyAlways
	}
	if spec.DriftPolicy == "" {
		spec.DriftPolicy = v1alpha1.DriftPolicyEnforce
	}
	switch spec.RunStrategy {
	case v1alpha1.RunStrategyAlways, v1alpha1.RunStrategyRerunOnFailure, v1alpha1.RunStrategyManual, v1alpha1.RunStrategyHalted:
	default:
		return nil, fmt.Errorf("domain %q: spec.runStrategy %q: want Always, RerunOnFailure, Manual or Halted", name, spec.RunStrategy)
	}
	switch spec.DriftPolicy {
	case v1alpha1.DriftPolicyEnforce, v1alpha1.DriftPolicyReport:
	default:
		return nil, fmt.Errorf("domain %q: spec.driftPolicy %q: want Enforce or Report", name, spec.DriftPolicy)
	}
	d := defaults
	d.Rand = domxml.SeededRand(spec.Domain.UUID)
	if err := domxml.ApplyDefaults(&spec.Domain, d); err != nil {
		// A YAML or JSON file names the field; an XML file gets libvirt's message, as virsh define would.
		var re *domxml.RangeError
		if ext := strings.ToLower(filepath.Ext(path)); errors.As(err, &re) && re.Field != "" && ext != ".xml" && ext != ".cfg" {
			err = re.FieldError("spec.domain.")
		}
		return nil, fmt.Errorf("domain %q: %w", name, err)
	}

	out := &v1alpha1.XenDomain{
		TypeMeta: metav1.TypeMeta{Kind: kindDomain, APIVersion: v1alpha1.GroupVersion.String()},
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   v1alpha1.LocalNamespace,
			UID:         types.UID(spec.Domain.UUID),
			Labels:      make(map[string]string, len(in.Labels)+1),
			Annotations: make(map[string]string, len(in.Annotations)+1),
		},
		Spec: spec,
	}
	for k, v := range in.Labels {
		out.Labels[k] = v
	}
	for k, v := range in.Annotations {
		if k != v1alpha1.AnnotationSourceError {
			out.Annotations[k] = v
		}
	}
	out.Labels[v1alpha1.LabelSource] = v1alpha1.SourceKindFile
	out.Annotations[v1alpha1.AnnotationSource] = v1alpha1.SourceKindFile + ":" + path
	return out, nil
}

// validName applies libvirt's rules for a domain name (it must be non-empty and have no newline) plus what a
// name needs to be usable as a file name.
func validName(name string) error {
	switch {
	case name == "":
		return errors.New("no domain name: set metadata.name (or spec.domain.name, or <name> in XML)")
	case name == "." || name == "..", strings.ContainsAny(name, "/\n\x00"):
		return fmt.Errorf("invalid domain name %q", name)
	}
	return nil
}
