package domlock

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestLockSerialisesByNameAndByUUID(t *testing.T) {
	tests := []struct {
		name          string
		aName, aUUID  string
		bName, bUUID  string
		wantExclusive bool
	}{
		{"same name", "x", "", "x", "", true},
		{"same uuid, other name", "x", "11111111-1111-1111-1111-111111111111", "y", "11111111-1111-1111-1111-111111111111", true},
		{"uuid compared in lower case", "", "AAAAAAAA-1111-1111-1111-111111111111", "", "aaaaaaaa-1111-1111-1111-111111111111", true},
		{"a name is not a uuid", "11111111-1111-1111-1111-111111111111", "", "", "11111111-1111-1111-1111-111111111111", false},
		{"other domain", "x", "11111111-1111-1111-1111-111111111111", "y", "22222222-2222-2222-2222-222222222222", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tab Table
			unlock, err := tab.Lock(context.Background(), tc.aName, tc.aUUID)
			if err != nil {
				t.Fatal(err)
			}
			u2, ok := tab.TryLock(tc.bName, tc.bUUID)
			if ok == tc.wantExclusive {
				t.Fatalf("TryLock while the other is held = %v, want %v", ok, !tc.wantExclusive)
			}
			if ok {
				u2()
			}
			unlock()
			u3, ok := tab.TryLock(tc.bName, tc.bUUID)
			if !ok {
				t.Fatal("TryLock after unlock failed")
			}
			u3()
		})
	}
}

func TestLockWaitsAndTimesOut(t *testing.T) {
	var tab Table
	unlock, err := tab.Lock(context.Background(), "x", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tab.Lock(ctx, "x", ""); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Lock with an ended context = %v, want ErrTimeout", err)
	}
	got := make(chan error, 1)
	go func() {
		u, err := tab.Lock(context.Background(), "x", "")
		if err == nil {
			u()
		}
		got <- err
	}()
	unlock()
	unlock() // a second call is harmless
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the waiter never got the lock")
	}
}

// TestLockExcludes has many goroutines take overlapping locks; the race detector and the counter check that no
// two hold one key at once and that crossing name/uuid pairs never deadlock.
func TestLockExcludes(t *testing.T) {
	var tab Table
	inside := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	pairs := [][2]string{{"a", "u1"}, {"b", "u1"}, {"a", "u2"}, {"b", "u2"}}
	for i := range 40 {
		wg.Go(func() {
			p := pairs[i%len(pairs)]
			for range 50 {
				unlock, err := tab.Lock(context.Background(), p[0], p[1])
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				inside[p[0]]++
				inside[p[1]]++
				if inside[p[0]] > 1 || inside[p[1]] > 1 {
					t.Errorf("two holders of %v", p)
				}
				mu.Unlock()
				mu.Lock()
				inside[p[0]]--
				inside[p[1]]--
				mu.Unlock()
				unlock()
			}
		})
	}
	wg.Wait()
}
