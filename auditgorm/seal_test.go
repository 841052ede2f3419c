package auditgorm_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/auditseal"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// TestConfigSeal runs the sealer in the application: the entries of
// audited writes are sealed within a few rounds and the log verifies.
func TestConfigSeal(t *testing.T) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "example.com/app")
	must(t, err)
	signer, err := note.NewSigner(skey)
	must(t, err)
	verifier, err := note.NewVerifier(vkey)
	must(t, err)
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		reg := auditlog.NewRegistry()
		// The sealer's goroutine may outlive the test: its errors are
		// collected, not reported from there.
		sealErrs := make(chan error, 1)
		defer func() {
			select {
			case err := <-sealErrs:
				t.Errorf("seal: %v", err)
			default:
			}
		}()
		must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg, Seal: &auditgorm.Seal{Signer: signer, Interval: 10 * time.Millisecond, Context: ctx,
			OnError: func(err error) {
				select {
				case sealErrs <- err:
				default:
				}
			}}})))
		must(t, db.AutoMigrate(&Counter{}))
		must(t, reg.Register(&Counter{}))
		// Every column of an entry filled, through each write path: the
		// stored classes are those Verify expects on SQLite.
		wctx := auditlog.WithActor(ctx, auditlog.Actor{ID: "42", Name: "alice"})
		wctx = auditlog.WithRemoteAddr(auditlog.WithCorrelationID(wctx, "req-1"), "192.0.2.1", 443)
		wctx = auditlog.WithExtra(wctx, map[string]any{"ticket": 7})
		wdb := db.WithContext(wctx)
		for i := range 5 {
			must(t, wdb.Create(&Counter{N: i}).Error)
		}
		must(t, wdb.Model(&Counter{}).Where("n < ?", 3).Update("n", 9).Error)
		must(t, wdb.Delete(&Counter{}, "n = ?", 4).Error)
		sqlDB, err := db.DB()
		must(t, err)
		d, err := auditstore.ParseDialect(db.Dialector.Name())
		must(t, err)
		deadline := time.Now().Add(10 * time.Second)
		for {
			rep, err := auditseal.Verify(ctx, sqlDB, d, auditseal.VerifyOptions{Origin: "example.com/app", Verifier: verifier})
			must(t, err)
			if !rep.OK() {
				t.Fatalf("verify: %+v", rep.Problems)
			}
			if rep.Leaves == 9 && rep.Unsealed == 0 && rep.Latest == 9 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("not sealed after 10 s: %+v", rep)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
