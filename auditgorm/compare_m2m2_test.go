package auditgorm_test

import (
	"context"
	"fmt"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// A join-table insert from maps fills the caller's maps as GORM does:
// on SQLite GORM sets "@id" from LastInsertId; RowsAffected and
// Statement.Result as GORM sets them.
func TestCrJoinMapsAsGORM(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		run := func(db *gorm.DB, audited bool) string {
			if audited {
				reg := auditlog.NewRegistry()
				must(t, reg.Register(&RvOwner{}, auditlog.M2M("Tags")))
				must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg})))
			}
			must(t, db.AutoMigrate(&RvOwner{}, &RvTag{}))
			quiet := db.WithContext(auditlog.Disable(context.Background()))
			must(t, quiet.Create(&RvOwner{ID: 1, Name: "a"}).Error)
			must(t, quiet.Create(&[]RvTag{{Code: "x"}, {Code: "y"}, {Code: "z"}}).Error)
			one := map[string]any{"rv_owner_id": 1, "rv_tag_code": "x"}
			tx := db.Table("rv_owner_tags").Create(one)
			must(t, tx.Error)
			many := []map[string]any{{"rv_owner_id": 1, "rv_tag_code": "y"}, {"rv_owner_id": 1, "rv_tag_code": "z"}}
			tx2 := db.Table("rv_owner_tags").Create(&many)
			must(t, tx2.Error)
			return fmt.Sprintf("one=%v (rows %d) many=%v (rows %d)", one, tx.RowsAffected, many, tx2.RowsAffected)
		}
		want := run(testdb.Open(t, db.Dialector.Name()), false)
		got := run(db, true)
		if got != want {
			t.Errorf("the caller's maps:\n got %s\nwant %s (without auditing)", got, want)
		}
	})
}

// GORM's generic API with WithResult: the sql.Result of a join insert.
type RvOwnerTag struct {
	RvOwnerID uint   `gorm:"primaryKey"`
	RvTagCode string `gorm:"primaryKey;size:32"`
}

func TestCrJoinWithResult(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		run := func(db *gorm.DB, audited bool) string {
			if audited {
				reg := auditlog.NewRegistry()
				must(t, reg.Register(&RvOwner{}, auditlog.M2M("Tags")))
				must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg})))
			}
			must(t, db.AutoMigrate(&RvOwner{}, &RvTag{}))
			quiet := db.WithContext(auditlog.Disable(context.Background()))
			must(t, quiet.Create(&RvOwner{ID: 1, Name: "a"}).Error)
			must(t, quiet.Create(&RvTag{Code: "x"}).Error)
			res := gorm.WithResult()
			must(t, gorm.G[RvOwnerTag](db, res).Create(context.Background(), &RvOwnerTag{RvOwnerID: 1, RvTagCode: "x"}))
			return fmt.Sprintf("result set: %v, rows %d", res.Result != nil, res.RowsAffected)
		}
		want := run(testdb.Open(t, db.Dialector.Name()), false)
		got := run(db, true)
		if got != want {
			t.Errorf("got %s, want %s (without auditing)", got, want)
		}
	})
}
