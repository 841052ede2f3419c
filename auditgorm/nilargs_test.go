package auditgorm_test

import (
	"context"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// Every entry point given a nil context or a nil *gorm.DB returns an
// error: database/sql panicked on a nil context while holding its pool's
// lock, and every later query on the pool waited for ever.
func TestNilContextOrDBIsAnError(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db, &Ctr{})
	must(t, reg.Register(&Ctr{}))
	must(t, db.Create(&Ctr{ID: 1, N: 1}).Error)
	s, err := auditgorm.NewStore(db)
	must(t, err)
	var nilCtx context.Context
	var nilDB *gorm.DB
	page := auditstore.Page{Limit: 10}
	calls := map[string]func() error{
		"History ctx":      func() error { _, err := auditgorm.History(nilCtx, db, &Ctr{ID: 1}, page); return err },
		"History db":       func() error { _, err := auditgorm.History(context.Background(), nilDB, &Ctr{ID: 1}, page); return err },
		"HistoryOf ctx":    func() error { _, err := auditgorm.HistoryOf(nilCtx, db, []any{&Ctr{ID: 1}}, page); return err },
		"ModelHistory ctx": func() error { _, err := auditgorm.ModelHistory(nilCtx, db, &Ctr{}, page); return err },
		"ModelHistory db":  func() error { _, err := auditgorm.ModelHistory(context.Background(), nilDB, &Ctr{}, page); return err },
		"ModelName db":     func() error { _, err := auditgorm.ModelName(nilDB, &Ctr{}); return err },
		"Migrate ctx":      func() error { return auditgorm.Migrate(nilCtx, db) },
		"AsOf db": func() error {
			_, err := auditgorm.AsOf(context.Background(), nilDB, &Ctr{ID: 1}, time.Now())
			return err
		},
		"AsOfEntry db": func() error { _, err := auditgorm.AsOfEntry(context.Background(), nilDB, &Ctr{ID: 1}, 1); return err },
		"Timeline db":  func() error { _, err := auditgorm.Timeline(context.Background(), nilDB, &Ctr{ID: 1}); return err },
		"Restore ctx":  func() error { return auditgorm.Restore(nilCtx, db, &Ctr{ID: 1}, auditgorm.RevertOptions{}) },
		"Restore db": func() error {
			return auditgorm.Restore(context.Background(), nilDB, &Ctr{ID: 1}, auditgorm.RevertOptions{})
		},
		"Store.List":   func() error { _, err := s.List(nilCtx, auditstore.Filter{}, page); return err },
		"Store.Get":    func() error { _, err := s.Get(nilCtx, 1); return err },
		"Store.Count":  func() error { _, err := s.Count(nilCtx, auditstore.Filter{}); return err },
		"Store.Insert": func() error { return s.Insert(nilCtx, nil) },
		"Store.Flush":  func() error { _, err := s.Flush(nilCtx, auditstore.FlushOptions{}); return err },
	}
	for name, call := range calls {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s panicked: %v", name, r)
				}
			}()
			if err := call(); err == nil {
				t.Errorf("%s: no error", name)
			}
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := auditgorm.History(ctx, db, &Ctr{ID: 1}, page); err != nil {
		t.Fatalf("the pool after the calls: %v", err)
	}
}
