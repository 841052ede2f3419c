package auditseal_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/auditseal"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// A signer that panics (the application's: a KMS or HSM client) leaves no
// transaction open: the round's held the sealer's lock (on SQLite the
// database's write lock, which every writer of the application waits for)
// and a connection. Run reports such a round as failed and goes on.
func TestSignerPanicLeavesNoTransaction(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		hs := withSigner(t, f)
		f.insert(t, nil, "m", 3)
		hs.hook = func() error { panic("hsm unplugged") }
		func() {
			defer func() {
				if recover() == nil {
					t.Error("the signer's panic did not reach the caller")
				}
			}()
			_, _ = f.sealer.Round(context.Background())
		}()
		if n := f.db.Stats().InUse; n != 0 {
			t.Errorf("%d connections in use after the signer's panic", n)
		}
		// Run turns it into a failed round, reported, and tries again.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var failed error
		err := f.sealer.Run(ctx, 10*time.Millisecond, func(err error) {
			if failed == nil {
				failed = err
				hs.hook = nil
				return
			}
		})
		if failed == nil || !strings.Contains(failed.Error(), "hsm unplugged") {
			t.Fatalf("Run reported %v", failed)
		}
		if err != context.DeadlineExceeded {
			t.Fatalf("Run: %v", err)
		}
		if res, err := f.sealer.Round(context.Background()); err != nil || res.Size != 3 {
			t.Fatalf("a round after the panic: %+v, %v", res, err)
		}
	})
}

// Sealer.Run takes a positive interval, and New a database and a dialect
// it knows: both said so by panicking.
func TestSealerRefusesBadArguments(t *testing.T) {
	f := open(t, testdb.Open(t, "sqlite"))
	if err := f.sealer.Run(context.Background(), 0, nil); err == nil {
		t.Fatal("Run with a zero interval")
	}
	signer, _ := keys(t, "x")
	if _, err := auditseal.New(nil, "sqlite", signer, origin); err == nil {
		t.Fatal("New with no database")
	}
	if _, err := auditseal.New(f.db, "oracle", signer, origin); err == nil {
		t.Fatal("New with an unknown dialect")
	}
}
