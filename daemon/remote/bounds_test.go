package remote

import (
	"os"
	"runtime"
	"testing"

	"github.com/virtxend/virtxend/api/deffile"
)

// The persistent definition a --config change starts from is read within deffile.MaxSize: a NAME.xml grown
// past it (here a sparse 64 MiB file) costs no more memory than a small one, and the object's own definition
// is used instead.
func TestPersistentSpecReadIsBounded(t *testing.T) {
	e := newTxEnv(t)
	e.add("web", "define", false)
	obj := e.get("web")
	const size = 4 * deffile.MaxSize
	if err := os.Truncate(e.Defines.Path("web"), size); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	spec := e.Facade.persistentSpec(obj)
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > deffile.MaxSize/2 {
		t.Errorf("reading a %d MiB NAME.xml allocated %d MiB", size>>20, got>>20)
	}
	if spec == nil || spec.Name != "web" {
		t.Errorf("persistent definition %+v, want the object's", spec)
	}
}
