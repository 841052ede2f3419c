package auditgorm_test

import (
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

type RvMove struct {
	ID   uint
	Name string `gorm:"size:32"`
}

// The upsert collides on the key and moves the row away from it: nothing
// the statement sent finds the row afterwards.
func TestUpsertMovesOffTheKeyItCollidedOn(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &RvMove{})
		must(t, reg.Register(&RvMove{}))
		must(t, db.Create(&RvMove{ID: 1, Name: "a"}).Error)
		n := len(entries(t, db))
		err := db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, DoUpdates: clause.Assignments(map[string]any{"id": gorm.Expr("rv_moves.id + 100")})}).Create(&RvMove{ID: 1, Name: "b"}).Error
		t.Logf("upsert: %v", err)
		var rows []RvMove
		must(t, db.Find(&rows).Error)
		t.Logf("rows %+v", rows)
		es := entries(t, db)[n:]
		for _, e := range es {
			t.Logf("%s %s %s", e.Action, e.ObjectPK, mustJSON(e.Changes))
		}
		if err == nil && len(rows) == 1 && rows[0].ID == 101 && (len(es) != 1 || es[0].Action != auditlog.ActionUpdate || es[0].ObjectPK != "1") {
			t.Errorf("row 1 moved to 101; %d entries", len(es))
		}
	})
}

// DO UPDATE assigns the key the target column already equals: nothing
// moves, but several rows at once are refused.
func TestUpsertBatchListingTheKeyColumn(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &RvMove{})
		must(t, reg.Register(&RvMove{}))
		must(t, db.Create(&RvMove{ID: 1, Name: "a"}).Error)
		rows := []RvMove{{ID: 1, Name: "b"}, {ID: 2, Name: "c"}}
		err := db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, DoUpdates: clause.AssignmentColumns([]string{"id", "name"})}).Create(&rows).Error
		if err != nil {
			t.Fatalf("batch upsert refused: %v", err)
		}
	})
}
