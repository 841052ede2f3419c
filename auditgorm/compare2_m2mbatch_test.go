package auditgorm_test

import (
	"context"
	"fmt"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

func TestCsJoinMapsInBatches(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		run := func(db *gorm.DB, audited bool) string {
			crM2MOpen(t, db, audited)
			quiet := db.WithContext(auditlog.Disable(context.Background()))
			must(t, quiet.Create(&CrOwner{ID: 1, Name: "o"}).Error)
			must(t, quiet.Create(&[]CrItem{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4}}).Error)
			must(t, quiet.Table("cr_links").Create(map[string]any{"cr_owner_id": 1, "cr_item_id": 2}).Error)
			ms := []map[string]any{{"cr_owner_id": 1, "cr_item_id": 1}, {"cr_owner_id": 1, "cr_item_id": 2}, {"cr_owner_id": 1, "cr_item_id": 3}, {"cr_owner_id": 1, "cr_item_id": 4}}
			tx := db.Table("cr_links").Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(&ms, 3)
			var ids []string
			for _, m := range ms {
				ids = append(ids, fmt.Sprint(m["id"], m["@id"]))
			}
			return fmt.Sprintf("err=%v rows=%d ids=%v", tx.Error, tx.RowsAffected, ids)
		}
		want := run(testdb.Open(t, db.Dialector.Name()), false)
		got := run(db, true)
		if got != want {
			t.Errorf("got  %s\nwant %s (without auditing)", got, want)
		}
		for _, l := range m2mLines(t, db) {
			t.Log(l)
		}
	})
}
