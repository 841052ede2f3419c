package auditgorm_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// An entry whose stored changes were altered so that they do not decode is
// nothing to undo or to rebuild from: Revert, RevertCorrelation, Restore
// and AsOf refuse, naming it, and write nothing.
func TestRevertAndAsOfRefuseUnreadableEntries(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ttSetup(t, db)
		ctx := auditlog.WithCorrelationID(context.Background(), "job-u")
		it := TTItem{Code: "u", N: 1, Price: "1.25"}
		must(t, db.WithContext(ctx).Create(&it).Error)
		must(t, db.WithContext(ctx).Model(&it).Update("n", 2).Error)
		upd := lastEntry(t, db)
		must(t, db.Exec(`UPDATE auditlog_entries SET changes = '{"n":5}' WHERE id = ?`, upd.ID).Error)
		before := len(entries(t, db))

		for name, err := range map[string]error{
			"Revert":            auditgorm.Revert(ctx, db, upd.ID, auditgorm.RevertOptions{Force: true}),
			"RevertCorrelation": auditgorm.RevertCorrelation(ctx, db, "job-u", auditgorm.RevertOptions{Force: true}),
		} {
			if !errors.Is(err, auditgorm.ErrCannotRevert) || !errors.Is(err, auditstore.ErrUnreadable) {
				t.Errorf("%s of an unreadable entry: %v", name, err)
			}
		}
		_, err := auditgorm.AsOf(ctx, db, &TTItem{ID: it.ID}, time.Now().Add(time.Hour))
		if !errors.Is(err, auditstore.ErrUnreadable) {
			t.Errorf("AsOf over an unreadable entry: %v", err)
		}
		if n := len(entries(t, db)); n != before {
			t.Errorf("refusals wrote %d entries", n-before)
		}
		var got TTItem
		must(t, db.First(&got, it.ID).Error)
		if got.N != 2 {
			t.Errorf("n = %d after refused reverts", got.N)
		}
	})
}
