package remote

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/digitalocean/go-libvirt"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtxend/virtxend/api/domxml"
	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/daemon/defines"
	"github.com/virtxend/virtxend/daemon/remote/rpc"
	"github.com/virtxend/virtxend/test/testenv"
	"golang.org/x/sys/unix"
)

// The one map from the layers' errors to libvirt's.
func TestLibvirtErr(t *testing.T) {
	notFound := apierrors.NewNotFound(schema.GroupResource{Group: "virtxend.io", Resource: "xendomains"}, "web")
	_, overflow := domxml.Parse([]byte(strings.Replace(lcXML("big", "", 64), "<memory unit='MiB'>64", "<memory unit='EiB'>64", 1)))
	if !errors.Is(overflow, domxml.ErrOverflow) {
		t.Fatalf("64 EiB of memory: %v, want domxml.ErrOverflow", overflow)
	}
	for _, tc := range []struct {
		name string
		err  error
		code rpc.Code
		msg  string
	}{
		{"store NotFound", notFound, rpc.CodeNoDomain, "Domain not found: no domain with matching name 'web'"},
		{"wrapped NotFound", fmt.Errorf("read domain %q: %w", "web", notFound), rpc.CodeNoDomain, "no domain with matching name 'web'"},
		{"no space", fmt.Errorf("save definition: %w", &defines.FileError{Op: defines.OpWrite, Path: "/etc/libvirt/libxl/web.xml",
			Err: &os.PathError{Op: "write", Path: "/etc/libvirt/libxl/.virtxend-1.tmp", Err: syscall.ENOSPC}}),
			rpc.CodeSystemError, "cannot write data to file '/etc/libvirt/libxl/web.xml': No space left on device"},
		{"overflow", overflow, rpc.CodeOverflow, "numerical overflow: "},
		{"libvirt error kept", rpc.NewError(rpc.CodeOperationInvalid, rpc.DomainLibxl, "x"), rpc.CodeOperationInvalid, "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, err := range []error{internalErr(tc.err), mapCallErr(tc.err)} {
				var e *rpc.Error
				if !errors.As(err, &e) || e.Code != tc.code || !strings.Contains(e.Message, tc.msg) {
					t.Errorf("%v: got %v, want %s containing %q", tc.err, err, tc.code, tc.msg)
				}
			}
		})
	}
	if err := errors.New("other"); mapCallErr(err) != err {
		t.Error("the error map changed an error it knows nothing of")
	}
}

// An undefine between the read and the write of an update (a tuning call racing undefine) is libvirt's "Domain
// not found", not the store's NotFound in its own words.
func TestUpdateOfADomainGoneMeanwhile(t *testing.T) {
	e := newTxEnv(t)
	e.add("gone", "transient", false)
	obj := e.get("gone")
	_, err := e.Facade.update(e.ctx, obj, func(o *v1alpha1.XenDomain) error {
		o.Spec.Domain.Description = "changed"
		cur := e.get("gone")
		cur.Finalizers = nil
		if err := e.Store.Update(e.ctx, cur); err != nil {
			return err
		}
		return e.Store.Delete(e.ctx, cur)
	})
	var re *rpc.Error
	if !errors.As(err, &re) || re.Code != rpc.CodeNoDomain || strings.Contains(re.Message, "virtxend.io") {
		t.Fatalf("update of a deleted object: %v", err)
	}
}

// Clients defining, undefining, starting, tuning and reading one domain at once see libvirt's errors only:
// never the store's "xendomains.virtxend.io ... not found".
func TestRacesAnswerLibvirtErrors(t *testing.T) {
	e := newTxEnv(t)
	const uuid = "5a3c1d2e-0f4b-4c6d-8e9f-a0b1c2d3e4f5"
	d, err := e.L.DomainDefineXML(lcXML("race", uuid, 64))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var leaks []string
	calls := 0
	check := func(err error) {
		var le libvirt.Error
		mu.Lock()
		defer mu.Unlock()
		calls++
		switch {
		case err == nil:
		case !errors.As(err, &le):
			leaks = append(leaks, err.Error())
		case strings.Contains(le.Message, "virtxend.io") || libvirt.ErrorNumber(le.Code) == libvirt.ErrInternalError:
			leaks = append(leaks, fmt.Sprintf("%d %s", le.Code, le.Message))
		}
	}
	loops := []func(l *libvirt.Libvirt, i int){
		func(l *libvirt.Libvirt, _ int) { // define, undefine
			if nd, err := l.DomainDefineXML(lcXML("race", uuid, 64)); err == nil {
				check(l.DomainUndefine(nd))
			} else {
				check(err)
			}
		},
		func(l *libvirt.Libvirt, _ int) { // dominfo
			_, _, _, _, _, err := l.DomainGetInfo(d)
			check(err)
			_, _, err = l.DomainGetState(d, 0)
			check(err)
			_, err = l.DomainGetXMLDesc(d, 0)
			check(err)
			_, err = l.DomainIsPersistent(d)
			check(err)
		},
		func(l *libvirt.Libvirt, i int) { // setmem --config, setvcpus --config, desc --config
			check(l.DomainSetMemoryFlags(d, 32768+1024*uint64(i%8), affectConfig))
			check(l.DomainSetVcpusFlags(d, 1, affectConfig))
			check(l.DomainSetMetadata(d, 0, libvirt.OptString{fmt.Sprint(i)}, nil, nil, affectConfig))
		},
		func(l *libvirt.Libvirt, _ int) { // start, destroy
			check(l.DomainCreate(d))
			check(l.DomainDestroy(d))
		},
	}
	var wg sync.WaitGroup
	for _, loop := range loops {
		l := e.dial()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 150 {
				loop(l, i)
			}
		}()
	}
	wg.Wait()
	if len(leaks) > 0 {
		t.Errorf("%d of %d calls answered other than libvirt does, e.g. %q", len(leaks), calls, leaks[0])
	}
}

// mountTmpfs mounts a tmpfs of size at a new directory for the test, or ends the test when it may not.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0755"); err != nil {
		testenv.Missing(t, "the right to mount a tmpfs ("+err.Error()+")", "the test as root (make test runs it so)")
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// A full disk under defines_dir answers libvirt's system error with the errno's text, for virsh define and for
// a --config change alike; the definition on disk stays as it was.
func TestDefineOnAFullDisk(t *testing.T) {
	dir := mountTmpfs(t, "1m")
	e := newTxEnvIn(t, dir)
	d, err := e.L.DomainDefineXML(lcXML("web", "", 64))
	if err != nil {
		t.Fatal(err)
	}
	fh, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	for buf := make([]byte, 4096); err == nil; {
		_, err = fh.Write(buf)
	}
	fh.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling the tmpfs: %v", err)
	}
	want := "cannot write data to file '" + filepath.Join(dir, "web.xml") + "': No space left on device"
	big := strings.Replace(lcXML("web", domainUUIDOf(t, e, d), 64), "<vcpu>",
		"<description>"+strings.Repeat("d", 64<<10)+"</description><vcpu>", 1)
	_, err = e.L.DomainDefineXML(big)
	txWantErr(t, err, libvirt.ErrSystemError, want)
	txWantErr(t, e.L.DomainSetMetadata(d, 0, libvirt.OptString{strings.Repeat("d", 64<<10)}, nil, nil, affectConfig),
		libvirt.ErrSystemError, want)
	txWantErr(t, e.L.DomainSetMemoryFlags(d, 32768, affectConfig), libvirt.ErrSystemError, "No space left on device")
}

func domainUUIDOf(t *testing.T, e *txEnv, d libvirt.Domain) string {
	t.Helper()
	return e.get(d.Name).Spec.Domain.UUID
}

// Names are accepted up to what the file system takes as NAME.xml; one byte more is libvirt's system error.
func TestDefineLongNames(t *testing.T) {
	e := newTxEnv(t)
	var st unix.Statfs_t
	if err := unix.Statfs(e.Defines.Dir(), &st); err != nil {
		t.Fatal(err)
	}
	longest := int(st.Namelen) - len(".xml")
	for _, n := range []int{227, longest} {
		name := strings.Repeat("a", n)
		d, err := e.L.DomainDefineXML(lcXML(name, "", 64))
		if err != nil {
			t.Fatalf("define a %d-byte name: %v", n, err)
		}
		if err := e.L.DomainSetAutostart(d, 1); err != nil {
			t.Fatalf("autostart a %d-byte name: %v", n, err)
		}
	}
	name := strings.Repeat("a", longest+1)
	_, err := e.L.DomainDefineXML(lcXML(name, "", 64))
	txWantErr(t, err, libvirt.ErrSystemError, "Failed to create file '"+e.Defines.Path(name)+"': File name too long")
	if e.get(name) != nil {
		t.Error("a refused define left an object")
	}
}

// A number too large for libvirt is its VIR_ERR_OVERFLOW, not an XML error.
func TestDefineOverflow(t *testing.T) {
	e := newTxEnv(t)
	xml := strings.Replace(lcXML("big", "", 64), "<memory unit='MiB'>64</memory>", "<memory unit='EiB'>64</memory>", 1)
	_, err := e.L.DomainDefineXML(xml)
	txWantErr(t, err, libvirt.ErrOverflow, "numerical overflow: ")
}

// virsh domif-setlink sends the interface with <link state>: the libxl driver refuses any update of an
// interface by its type, live or persistent.
func TestUpdateInterfaceRefusedByType(t *testing.T) {
	e := newTxEnv(t)
	web := e.add("web", "define", true)
	nic := "<interface type='bridge'><mac address='00:16:3e:00:00:01'/><source bridge='xenbr0'/><link state='down'/></interface>"
	txWantErr(t, e.L.DomainUpdateDeviceFlags(web, nic, libvirt.DomainDeviceModifyLive), libvirt.ErrConfigUnsupported,
		"unsupported configuration: device type 'net' cannot be updated")
	txWantErr(t, e.L.DomainUpdateDeviceFlags(web, nic, libvirt.DomainDeviceModifyConfig), libvirt.ErrConfigUnsupported,
		"unsupported configuration: persistent update of device is not supported")
	txWantErr(t, e.L.DomainUpdateDeviceFlags(web, txDiskXML, libvirt.DomainDeviceModifyLive), libvirt.ErrConfigUnsupported,
		"disk bus 'xen' cannot be updated.")
}

// A live attach of an hdX disk without a bus is on libvirt's default bus for it, ide, which the libxl driver
// does not hot-plug.
func TestLiveAttachDefaultsTheBusFirst(t *testing.T) {
	e := newTxEnv(t)
	hvm := e.addWith("hvm", "define", true, func(s *v1alpha1.DomainSpec) {
		s.OS = v1alpha1.OS{Type: "hvm"}
	})
	disk := "<disk type='file' device='disk'><source file='/var/lib/xen/data.img'/><target dev='hdb'/></disk>"
	txWantErr(t, e.L.DomainAttachDevice(hvm, disk), libvirt.ErrConfigUnsupported, "disk bus 'ide' cannot be hotplugged.")
	txWantErr(t, e.L.DomainDetachDevice(hvm, disk), libvirt.ErrConfigUnsupported, "disk bus 'ide' cannot be hot unplugged.")
	cfg, err := e.HV.DomainConfig(e.info("hvm").DomID)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Disks) != 0 {
		t.Errorf("the refused disk reached the domain: %+v", cfg.Disks)
	}
}

// virsh restore of a FIFO answers at once: opening one would wait for a writer, and its header, once read, is
// not there any more for the restore.
func TestRestoreFromAFIFOAnswers(t *testing.T) {
	e := newTxEnv(t)
	fifo := filepath.Join(t.TempDir(), "image")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	answered := make(chan error, 1)
	go func() { answered <- e.L.DomainRestore(fifo) }()
	ctx, cancel := context.WithTimeout(e.ctx, 2*e.Facade.Timeout) // a hang guard, not a measure
	defer cancel()
	select {
	case err := <-answered:
		txWantErr(t, err, libvirt.ErrSystemError, "Failed to open domain image file '"+fifo+"': not a regular file")
	case <-ctx.Done():
		// A writer for a moment lets the daemon's open return, so that the test can end.
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
		t.Fatal("virsh restore of a FIFO did not answer")
	}
	var list v1alpha1.XenDomainList
	if err := e.Store.List(e.ctx, &list, client.InNamespace(v1alpha1.LocalNamespace)); err != nil || len(list.Items) != 0 {
		t.Errorf("objects after a refused restore: %d, %v", len(list.Items), err)
	}
}
