package auditgorm_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// KeySrc is a table an update computes keys from.
type KeySrc struct {
	ID uint
	V  string `gorm:"size:64"`
}

// A key computed from another table's row, which another transaction
// changes between the plugin's read and the write: the read computed a key
// ("b") that another row holds, the write stored another ("c"). Read back
// by the computed key, the other row's values were recorded as the changed
// row's. The statement is refused instead. Where the write returns its rows
// (PostgreSQL, SQLite) nothing is read back, except with the caller's own
// RETURNING on PostgreSQL.
func TestKeyComputedFromChangedRows(t *testing.T) {
	for _, name := range testdb.Names() {
		if name == "sqlite" {
			continue // one writer at a time
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db, counter := testdb.OpenCounting(t, name)
			reg := setup(t, db, &Doc{}, &KeySrc{})
			must(t, reg.Register(&Doc{}))
			quiet := db.WithContext(auditlog.Disable(context.Background()))
			must(t, quiet.Create(&Doc{Code: "a", Body: "mine"}).Error)
			must(t, quiet.Create(&Doc{Code: "b", Body: "unrelated"}).Error)
			must(t, quiet.Create(&KeySrc{ID: 1, V: "b"}).Error)
			base, err := db.DB()
			must(t, err)
			ctx, fired := interleave(t, counter, func(q string) bool {
				return strings.HasPrefix(q, "SELECT") && strings.Contains(q, "docs")
			}, func(ctx context.Context) error {
				_, err := base.ExecContext(ctx, "UPDATE key_srcs SET v = 'c' WHERE id = 1")
				return err
			})
			err = db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
				q := tx.Model(&Doc{})
				if name == "postgres" {
					q = tx.Model(&[]Doc{}).Clauses(clause.Returning{})
				}
				return q.Where("code = ?", "a").Update("code", gorm.Expr("(SELECT v FROM key_srcs WHERE id = 1)")).Error
			}, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
			counter.AfterQuery(nil)
			if !*fired {
				t.Fatal("the other transaction did not change the key's source")
			}
			if err == nil || !strings.Contains(err.Error(), "cannot be audited") {
				t.Errorf("the update: %v, want a refusal", err)
			}
			for _, e := range entries(t, db) {
				if strings.Contains(e.Changes.String(), "unrelated") {
					t.Errorf("an entry records the values of another row: %s %s %s", e.Action, e.ObjectPK, e.Changes)
				}
			}
		})
	}
}
