package auditgorm_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

type UpMove struct {
	ID    uint
	Name  string `gorm:"size:32;uniqueIndex"`
	Price int
}

// An upsert whose DO UPDATE assigns the primary key moves the row it
// collided with: its entry is an update of the old key with the new key
// among its changes, never a create of the new key (which left the old
// row existing forever by the trail). Several rows at once are refused:
// nothing tells which row each new key came from.
func TestUpsertThatMovesTheKey(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &UpMove{})
		must(t, reg.Register(&UpMove{}))
		must(t, db.Create(&UpMove{Name: "a", Price: 1}).Error) // id 1
		must(t, db.Create(&UpMove{Name: "b", Price: 2}).Error) // id 2
		tbl := db.NamingStrategy.TableName("UpMove")
		for _, c := range []struct {
			name   string
			set    clause.Set
			row    UpMove
			pk     string
			change string
		}{
			{"by value", clause.Assignments(map[string]any{"id": 50}), UpMove{Name: "a", Price: 5}, "1", `[1,50]`},
			{"by expression", clause.Assignments(map[string]any{"id": gorm.Expr(tbl + ".id + 100")}), UpMove{Name: "b", Price: 6}, "2", `[2,102]`},
		} {
			before := len(entries(t, db))
			must(t, db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "name"}}, DoUpdates: c.set}).Create(&c.row).Error)
			es := entries(t, db)
			if len(es) != before+1 {
				t.Fatalf("%s: %d new entries", c.name, len(es)-before)
			}
			e := es[len(es)-1]
			if e.Action != auditlog.ActionUpdate || e.ObjectPK != c.pk || string(e.Changes["id"].Old)+","+string(e.Changes["id"].New) != strings.Trim(c.change, "[]") {
				t.Errorf("%s: %s of %s: %s", c.name, e.Action, e.ObjectPK, mustJSON(e.Changes))
			}
			if _, ok := e.Changes["price"]; ok {
				t.Errorf("%s: the price did not change: %s", c.name, mustJSON(e.Changes))
			}
		}
		var ids []uint
		must(t, db.Model(&UpMove{}).Order("id").Pluck("id", &ids).Error)
		if len(ids) != 2 || ids[0] != 50 || ids[1] != 102 {
			t.Fatalf("ids %v", ids)
		}

		// A new key: no collision, a create.
		must(t, db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "name"}}, DoUpdates: clause.Assignments(map[string]any{"id": 70})}).Create(&UpMove{Name: "c", Price: 7}).Error)
		if e := lastEntry(t, db); e.Action != auditlog.ActionCreate || e.Changes["name"].New == nil {
			t.Errorf("a new row: %s of %s: %s", e.Action, e.ObjectPK, mustJSON(e.Changes))
		}

		// Several rows: refused, nothing written.
		before := len(entries(t, db))
		err := db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "name"}}, DoUpdates: clause.Assignments(map[string]any{"id": gorm.Expr(tbl + ".id + 1000")})}).
			Create(&[]UpMove{{Name: "a", Price: 8}, {Name: "b", Price: 9}}).Error
		if err == nil || !strings.Contains(err.Error(), "one row at a time") {
			t.Fatalf("a batch: %v", err)
		}
		ids = nil
		must(t, db.Model(&UpMove{}).Order("id").Pluck("id", &ids).Error)
		if len(entries(t, db)) != before || len(ids) != 3 || !slices.Contains(ids, 50) || !slices.Contains(ids, 102) {
			t.Fatalf("the refused batch wrote: ids %v", ids)
		}
	})
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// An upsert that collides on the key it sends and moves that key: on
// MariaDB it was refused ("collided on a unique key this process had not
// read") and a retry failed alike. It records an update of the row under
// its old key, as on the other databases.
func TestUpsertMovingTheKeyItCollidedOn(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &UpMove{})
		must(t, reg.Register(&UpMove{}))
		must(t, db.Create(&UpMove{ID: 5, Name: "a", Price: 1}).Error)
		tbl := db.NamingStrategy.TableName("UpMove")
		must(t, db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, DoUpdates: clause.Assignments(map[string]any{
			"id": gorm.Expr(tbl+".id + ?", 2_000_000), "price": 3})}).Create(&UpMove{ID: 5, Name: "a", Price: 7}).Error)
		e := lastEntry(t, db)
		if e.Action != auditlog.ActionUpdate || e.ObjectPK != "5" || mustJSON(e.Changes) != `{"id":[5,2000005],"price":[1,3]}` {
			t.Errorf("%s of %s: %s", e.Action, e.ObjectPK, mustJSON(e.Changes))
		}
		var ids []uint
		must(t, db.Model(&UpMove{}).Pluck("id", &ids).Error)
		if len(ids) != 1 || ids[0] != 2_000_005 {
			t.Errorf("ids %v", ids)
		}
	})
}
