package auditgorm_test

import (
	"fmt"
	"sort"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

func mapsText(ms []map[string]any) string {
	var out []string
	for _, m := range ms {
		var ks []string
		for k, v := range m {
			ks = append(ks, fmt.Sprintf("%s=%v", k, v))
		}
		sort.Strings(ks)
		out = append(out, fmt.Sprint(ks))
	}
	return fmt.Sprint(out)
}

func extraCol(t *testing.T) func(db *gorm.DB) {
	return func(db *gorm.DB) {
		must(t, db.Exec("ALTER TABLE cr_stockeds ADD COLUMN extra INTEGER DEFAULT 5").Error)
	}
}

func TestCsStarDoNothingSlice(t *testing.T) {
	crCompare(t, func(db *gorm.DB) (any, error) {
		if err := db.Create(&CrStocked{Code: "b", Note: "old"}).Error; err != nil {
			return nil, err
		}
		s := []CrStocked{{Code: "a"}, {Code: "b", Note: "new"}, {Code: "c"}}
		tx := db.Clauses(clause.OnConflict{DoNothing: true}, clause.Returning{}).Create(&s)
		return fmt.Sprintf("%+v rows %d", s, tx.RowsAffected), tx.Error
	}, extraCol(t))
}

func TestCsStarDoUpdateStruct(t *testing.T) {
	crCompare(t, func(db *gorm.DB) (any, error) {
		if err := db.Create(&CrStocked{Code: "b", Note: "old", Stock: 3}).Error; err != nil {
			return nil, err
		}
		s := CrStocked{Code: "b", Note: "new"}
		tx := db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "code"}}, DoUpdates: clause.AssignmentColumns([]string{"note"})}, clause.Returning{}).Create(&s)
		return fmt.Sprintf("%+v rows %d", s, tx.RowsAffected), tx.Error
	}, extraCol(t))
}

func TestCsStarMapsSlice(t *testing.T) {
	crCompare(t, func(db *gorm.DB) (any, error) {
		ms := []map[string]any{{"code": "a", "note": "n"}, {"code": "b", "note": "m"}}
		tx := db.Model(&CrStocked{}).Clauses(clause.Returning{}).Create(&ms)
		return fmt.Sprintf("%s rows %d", mapsText(ms), tx.RowsAffected), tx.Error
	}, extraCol(t))
}

func TestCsStarMapsDoNothing(t *testing.T) {
	crCompare(t, func(db *gorm.DB) (any, error) {
		if err := db.Create(&CrStocked{Code: "b", Note: "old"}).Error; err != nil {
			return nil, err
		}
		ms := []map[string]any{{"code": "a", "note": "n"}, {"code": "b", "note": "m"}}
		tx := db.Model(&CrStocked{}).Clauses(clause.OnConflict{DoNothing: true}, clause.Returning{}).Create(&ms)
		return fmt.Sprintf("%s rows %d", mapsText(ms), tx.RowsAffected), tx.Error
	}, extraCol(t))
}

func TestCsStarStructInBatchesDoNothing(t *testing.T) {
	crCompare(t, func(db *gorm.DB) (any, error) {
		if err := db.Create(&CrStocked{Code: "b", Note: "old"}).Error; err != nil {
			return nil, err
		}
		s := []CrStocked{{Code: "a"}, {Code: "b", Note: "new"}, {Code: "c"}}
		tx := db.Clauses(clause.OnConflict{DoNothing: true}, clause.Returning{}).CreateInBatches(&s, 2)
		return fmt.Sprintf("%+v rows %d", s, tx.RowsAffected), tx.Error
	}, extraCol(t))
}

// The caller's RETURNING naming a column "*" (not raw): GORM quotes it and
// the database refuses it.
func TestCsReturningQuotedStar(t *testing.T) {
	crCompare(t, func(db *gorm.DB) (any, error) {
		s := CrStocked{Code: "a"}
		tx := db.Clauses(clause.Returning{Columns: []clause.Column{{Name: "*"}}}).Create(&s)
		return fmt.Sprintf("%+v rows %d", s, tx.RowsAffected), tx.Error
	}, nil)
}

// RETURNING * where the table's first columns are not the model's.
func TestCsStarReorderedTable(t *testing.T) {
	crCompare(t, func(db *gorm.DB) (any, error) {
		s := []CrStocked{{Code: "a", Note: "x"}, {Code: "b", Stock: 2}}
		tx := db.Clauses(clause.Returning{}).Create(&s)
		return fmt.Sprintf("%+v rows %d", s, tx.RowsAffected), tx.Error
	}, func(db *gorm.DB) {
		must(t, db.Exec("ALTER TABLE cr_stockeds ADD COLUMN note2 TEXT DEFAULT 'q'").Error)
		must(t, db.Exec("ALTER TABLE cr_stockeds ADD COLUMN stock2 INTEGER DEFAULT 9").Error)
	})
}
