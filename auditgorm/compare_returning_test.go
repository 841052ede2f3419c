package auditgorm_test

import (
	"fmt"
	"reflect"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// CrStocked: like Stocked, its own table.
type CrStocked struct {
	ID    uint   `gorm:"primaryKey"`
	Code  string `gorm:"uniqueIndex;size:32"`
	Stock int    `gorm:"default:7"`
	Note  string
}

func crCompare(t *testing.T, run func(db *gorm.DB) (any, error), prep func(db *gorm.DB)) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		plain := testdb.Open(t, db.Dialector.Name())
		must(t, plain.AutoMigrate(&CrStocked{}))
		if prep != nil {
			prep(plain)
		}
		want, wantErr := run(plain)
		reg := setup(t, db, &CrStocked{})
		if prep != nil {
			prep(db)
		}
		must(t, reg.Register(&CrStocked{}))
		got, err := run(db)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("error %v, without auditing %v", err, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("the caller's objects:\n got %+v\nwant %+v (without auditing)", got, want)
		}
		for _, e := range entries(t, db) {
			t.Logf("entry %s %s %s", e.Action, e.ObjectPK, e.Changes)
		}
	})
}

// A raw RETURNING column that is an expression list (two columns).
func TestCrReturningRawTwoColumns(t *testing.T) {
	crCompare(t, func(db *gorm.DB) (any, error) {
		s := CrStocked{Code: "a", Note: "n"}
		err := db.Clauses(clause.Returning{Columns: []clause.Column{{Name: "id, stock", Raw: true}}}).Create(&s).Error
		return s, err
	}, nil)
}

// RETURNING * into a map, the table holding a column the model lacks.
func TestCrReturningStarIntoMap(t *testing.T) {
	crCompare(t, func(db *gorm.DB) (any, error) {
		m := map[string]any{"code": "a", "note": "n"}
		err := db.Model(&CrStocked{}).Clauses(clause.Returning{}).Create(m).Error
		out := map[string]string{}
		for k, v := range m {
			out[k] = fmt.Sprint(v)
		}
		return out, err
	}, func(db *gorm.DB) {
		must(t, db.Exec("ALTER TABLE cr_stockeds ADD COLUMN extra INTEGER DEFAULT 5").Error)
	})
}

// RETURNING * into a map, no extra column.
func TestCrReturningStarIntoMapPlain(t *testing.T) {
	crCompare(t, func(db *gorm.DB) (any, error) {
		m := map[string]any{"code": "a", "note": "n"}
		err := db.Model(&CrStocked{}).Clauses(clause.Returning{}).Create(m).Error
		out := map[string]string{}
		for k, v := range m {
			out[k] = fmt.Sprint(v)
		}
		return out, err
	}, nil)
}

// Named columns into a map.
func TestCrReturningNamedIntoMap(t *testing.T) {
	crCompare(t, func(db *gorm.DB) (any, error) {
		m := map[string]any{"code": "a", "note": "n"}
		err := db.Model(&CrStocked{}).Clauses(clause.Returning{Columns: []clause.Column{{Name: "id"}, {Name: "stock"}}}).Create(m).Error
		out := map[string]string{}
		for k, v := range m {
			out[k] = fmt.Sprint(v)
		}
		return out, err
	}, nil)
}

// CreateInBatches of pointers with RETURNING *.
func TestCrReturningStarInBatches(t *testing.T) {
	crCompare(t, func(db *gorm.DB) (any, error) {
		s := []*CrStocked{{Code: "a"}, {Code: "b", Stock: 3}, {Code: "c"}}
		err := db.Clauses(clause.Returning{}).CreateInBatches(&s, 2).Error
		var out []CrStocked
		for _, p := range s {
			out = append(out, *p)
		}
		return out, err
	}, nil)
}

// CreateInBatches with named columns and an upsert.
func TestCrReturningNamedInBatchesUpsert(t *testing.T) {
	crCompare(t, func(db *gorm.DB) (any, error) {
		if err := db.Create(&CrStocked{Code: "b", Note: "old", Stock: 1}).Error; err != nil {
			return nil, err
		}
		s := []CrStocked{{Code: "a"}, {Code: "b", Note: "new"}, {Code: "c"}}
		err := db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "code"}}, DoUpdates: clause.AssignmentColumns([]string{"note"})},
			clause.Returning{Columns: []clause.Column{{Name: "id"}, {Name: "stock"}}}).CreateInBatches(&s, 2).Error
		return s, err
	}, nil)
}

// A raw expression column aliased to a model column.
func TestCrReturningRawExpr(t *testing.T) {
	crCompare(t, func(db *gorm.DB) (any, error) {
		s := CrStocked{Code: "a", Note: "n"}
		err := db.Clauses(clause.Returning{Columns: []clause.Column{{Name: "stock * 2 AS stock", Raw: true}, {Name: "id"}}}).Create(&s).Error
		return s, err
	}, nil)
}

var _ = auditlog.Disable
