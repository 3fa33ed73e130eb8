package defines

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virtxend/virtxend/api/domxml"
	"github.com/virtxend/virtxend/test/libvirtsrc"
	"github.com/virtxend/virtxend/test/testenv"
)

// savedCorpus saves a few corpus definitions through a Store and returns their files.
func savedCorpus(t *testing.T) []string {
	t.Helper()
	s := New(t.TempDir(), Options{})
	var files []string
	for _, fn := range []string{"test-paravirt-cmdline.xml", "test-fullvirt-ovmf.xml", "test-pvh-type.xml", "test-channel-unix.xml", "test-fullvirt-vnuma.xml"} {
		data, err := os.ReadFile(filepath.Join(corpus(t), fn))
		if err != nil {
			t.Fatal(err)
		}
		spec, err := domxml.Parse(data)
		if err != nil {
			t.Fatalf("%s: %v", fn, err)
		}
		spec.Name = strings.TrimSuffix(fn, ".xml")
		spec.UUID = ""
		if err := s.Save(spec); err != nil {
			t.Fatal(err)
		}
		files = append(files, s.Path(spec.Name))
	}
	return files
}

// TestSavedFilesValidate checks the files Save writes against libvirt's domain schema.
func TestSavedFilesValidate(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		testenv.Missing(t, "xmllint (Debian package libxml2-utils)", "make test-deps")
	}
	schema := libvirtsrc.Path(t, "src/conf/schemas/domain.rng")
	for _, f := range savedCorpus(t) {
		if out, err := exec.Command(xmllint, "--noout", "--relaxng", schema, f).CombinedOutput(); err != nil {
			t.Errorf("%s does not validate: %v\n%s", filepath.Base(f), err, out)
		}
	}
}

// TestLibvirtReadsSavedFiles has a real libvirt (virsh on the test driver) define the files Save writes.
func TestLibvirtReadsSavedFiles(t *testing.T) {
	virsh, err := exec.LookPath("virsh")
	if err != nil {
		testenv.Missing(t, "virsh (Debian package libvirt-clients)", "make test-deps")
	}
	var cmds []string
	for _, f := range savedCorpus(t) {
		cmds = append(cmds, "define "+f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, virsh, "-c", "test:///default", strings.Join(cmds, "; ")).CombinedOutput()
	if err != nil || strings.Count(string(out), "defined from") != len(cmds) {
		t.Fatalf("virsh: %v\n%s", err, out)
	}
}
