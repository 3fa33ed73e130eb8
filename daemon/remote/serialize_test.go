package remote

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/google/uuid"

	"github.com/virtxend/virtxend/api/v1alpha1"
	"github.com/virtxend/virtxend/controllers"
	"github.com/virtxend/virtxend/daemon/remote/rpc"
)

func TestActionErrMapsFailures(t *testing.T) {
	tests := []struct {
		res    v1alpha1.ActionResult
		code   rpc.Code
		domain rpc.ErrorDomain
		msg    string
	}{
		{v1alpha1.ActionResult{Reason: v1alpha1.FailureAlreadyRunning, Error: "Domain is already running"},
			rpc.CodeOperationInvalid, rpc.DomainLibxl, "Requested operation is not valid: Domain is already running"},
		{v1alpha1.ActionResult{Reason: v1alpha1.FailureNotRunning, Error: "domain is not running"},
			rpc.CodeOperationInvalid, rpc.DomainDomain, "Requested operation is not valid: domain is not running"},
		{v1alpha1.ActionResult{Reason: v1alpha1.FailureNetworkNotFound, Error: "no network with matching name 'default'"},
			rpc.CodeNoNetwork, domainNetwork, "Network not found: no network with matching name 'default'"},
		{v1alpha1.ActionResult{Reason: v1alpha1.FailureUnsupportedConfig, Error: "unsupported interface type user"},
			rpc.CodeConfigUnsupported, rpc.DomainLibxl, "unsupported configuration: unsupported interface type user"},
		{v1alpha1.ActionResult{Reason: v1alpha1.FailureSaveFile, Error: "failed to create domain save file '/x': denied"},
			rpc.CodeSystemError, rpc.DomainLibxl, "failed to create domain save file '/x': denied"},
		{v1alpha1.ActionResult{Reason: v1alpha1.FailureOperationInvalid, Error: "Domain '3' has to be running because libxenlight will suspend it"},
			rpc.CodeOperationInvalid, rpc.DomainLibxl, "Requested operation is not valid: Domain '3' has to be running because libxenlight will suspend it"},
		{v1alpha1.ActionResult{Error: "a report without a reason"},
			rpc.CodeInternalError, rpc.DomainLibxl, "internal error: a report without a reason"},
	}
	for _, tc := range tests {
		t.Run(string(tc.res.Reason), func(t *testing.T) {
			var re *rpc.Error
			if err := actionErr(&tc.res); !errors.As(err, &re) || re.Code != tc.code || re.Domain != tc.domain || re.Message != tc.msg {
				t.Fatalf("actionErr = %#v, want %d/%d %q", err, tc.code, tc.domain, tc.msg)
			}
		})
	}
}

func TestSaveHeaderErr(t *testing.T) {
	tests := []struct {
		problem controllers.SaveHeaderProblem
		code    rpc.Code
	}{
		{controllers.HeaderBadMagic, rpc.CodeInvalidArg},
		{controllers.HeaderBadVersion, rpc.CodeOperationFailed},
		{controllers.HeaderXMLUnreadable, rpc.CodeOperationFailed},
	}
	for _, tc := range tests {
		err := saveHeaderErr(fmt.Errorf("read: %w", &controllers.SaveHeaderError{Problem: tc.problem, Msg: "m"}))
		if rpc.CodeOf(err) != tc.code {
			t.Errorf("problem %d: code %d, want %d", tc.problem, rpc.CodeOf(err), tc.code)
		}
	}
}

// txXML is a small PV definition for virsh create and define.
func txXML(name, u, devices string) string {
	return fmt.Sprintf(`<domain type='xen'><name>%s</name><uuid>%s</uuid><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type>xen</type><kernel>/boot/vmlinuz</kernel></os><devices>%s</devices></domain>`, name, u, devices)
}

// TestCreateDestroySameName: destroy forgets a transient domain before it returns, so that creating the name
// again at once succeeds (virsh 'create x.xml; destroy x; create x.xml; ...').
func TestCreateDestroySameName(t *testing.T) {
	e := newTxEnv(t)
	xml := txXML("x", uuid.NewString(), "")
	for k := range 30 {
		d, err := e.L.DomainCreateXML(xml, 0)
		if err != nil {
			t.Fatalf("create %d: %v", k, err)
		}
		if err := e.L.DomainDestroy(d); err != nil {
			t.Fatalf("destroy %d: %v", k, err)
		}
		if _, err := e.L.DomainLookupByName("x"); err == nil {
			t.Fatalf("x is still there after destroy %d", k)
		}
	}
}

// TestInvalidConfigFailsAtOnce: a start the reconciler cannot carry out for a terminal reason answers with
// libvirt's error as soon as the reconciler reports it, as does a destroy of that (inactive) domain. The bound
// is the facade's 10 s timeout in these tests: past it the call would answer with the timeout error instead.
func TestInvalidConfigFailsAtOnce(t *testing.T) {
	e := newTxEnv(t)
	xml := txXML("n", uuid.NewString(), `<interface type='network'><source network='default'/></interface>`)
	d, err := e.L.DomainDefineXML(xml)
	if err != nil {
		t.Fatal(err)
	}
	txWantErr(t, e.L.DomainCreate(d), libvirt.ErrNoNetwork, "Network not found: no network with matching name 'default'")
	txWantErr(t, e.L.DomainDestroy(d), libvirt.ErrOperationInvalid, "domain is not running")
	if err := e.L.DomainUndefine(d); err != nil {
		t.Fatal(err)
	}
	_, err = e.L.DomainCreateXML(xml, 0)
	txWantErr(t, err, libvirt.ErrNoNetwork, "Network not found: no network with matching name 'default'")
	if _, err := e.L.DomainLookupByName("n"); err == nil {
		t.Fatal("a transient domain that failed to start is still listed")
	}
}

// TestDefineUndefineRace has goroutines define and undefine one name at once: every define answers with the
// domain, and afterwards NAME.xml exists exactly when the domain is listed as persistent.
func TestDefineUndefineRace(t *testing.T) {
	e := newTxEnv(t)
	u := uuid.NewString()
	xml := txXML("r", u, "")
	w := libvirt.Domain{Name: "r", UUID: libvirt.UUID(uuid.MustParse(u)), ID: -1}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				if g%2 == 0 {
					if _, err := e.L.DomainDefineXML(xml); err != nil {
						t.Errorf("define: %v", err)
						return
					}
				} else if err := e.L.DomainUndefine(w); err != nil && !isNoDomain(err) {
					t.Errorf("undefine: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	_, statErr := os.Stat(e.Defines.Path("r"))
	_, lookErr := e.L.DomainLookupByName("r")
	if (statErr == nil) != (lookErr == nil) {
		t.Fatalf("file: %v; domain: %v", statErr, lookErr)
	}
}

func isNoDomain(err error) bool {
	var le libvirt.Error
	return errors.As(err, &le) && libvirt.ErrorNumber(le.Code) == libvirt.ErrNoDomain
}
