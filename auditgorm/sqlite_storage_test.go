package auditgorm_test

import (
	"context"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

type StoredKinds struct {
	ID    uint
	Flag  bool
	Ratio float64
	Count int
	Title string
}

// TestSQLiteTextLeftAsText: SQLite keeps text its column's affinity does
// not convert (text 't' in a boolean column, 'Inf' or '0x1p-2' in a REAL
// one, a BLOB in a TEXT one), and the plugin parsed such text as MySQL's
// (which hands every value over as text), so each was recorded as another
// value (true, +Inf, 0.25, "abc") and a change to it wrote no entry. On
// SQLite a value is recorded as the kind it is stored as.
func TestSQLiteTextLeftAsText(t *testing.T) {
	t.Parallel()
	cases := []struct{ col, from, to string }{
		{"flag", "1", "'t'"},
		{"flag", "0", "'FALSE'"},
		{"ratio", "9e999", "'Inf'"},
		{"ratio", "0.25", "'0x1p-2'"},
		{"ratio", "1000", "'1_000'"},
		{"count", "10", "'0xA'"},
		{"title", "'abc'", "CAST('abc' AS BLOB)"},
		// Text the column converts is the number: no change, no entry.
		{"count", "12", "'12'"},
		{"ratio", "2.5", "' 2.5'"},
	}
	for _, c := range cases {
		t.Run(c.col+" "+c.from+" to "+c.to, func(t *testing.T) {
			t.Parallel()
			db := testdb.Open(t, "sqlite")
			reg := setup(t, db, &StoredKinds{})
			must(t, reg.Register(&StoredKinds{}))
			r := StoredKinds{Title: "x"}
			must(t, db.Create(&r).Error)
			must(t, db.Model(&r).Update(c.col, gorm.Expr(c.from)).Error)
			before := len(entries(t, db))
			must(t, db.Model(&r).Update(c.col, gorm.Expr(c.to)).Error)
			var kind, stored string
			must(t, db.Raw("SELECT typeof("+c.col+"), quote("+c.col+") FROM stored_kinds WHERE id = ?", r.ID).Row().Scan(&kind, &stored))
			var same bool
			must(t, db.Raw("SELECT "+c.col+" IS "+c.from+" FROM stored_kinds WHERE id = ?", r.ID).Row().Scan(&same))
			want := 1
			if same {
				want = 0
			}
			if n := len(entries(t, db)) - before; n != want {
				t.Errorf("%s from %s to %s (stored as %s %s): %d entries, want %d", c.col, c.from, c.to, kind, stored, n, want)
			}
		})
	}
}

// NumbersAsText keeps number fields in TEXT columns: SQLite stores the
// numbers GORM binds as their text.
type NumbersAsText struct {
	ID    uint
	Count int     `gorm:"type:text"`
	Ratio float64 `gorm:"type:varchar(20)"`
}

// TestSQLiteNumberFieldInATextColumn: a column of TEXT affinity stores a
// number as its text, which is the field's number: recorded as one, and
// reverted (the first form of the rule above recorded it as text, and the
// revert said "5" did not convert to int).
func TestSQLiteNumberFieldInATextColumn(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db, &NumbersAsText{})
	must(t, reg.Register(&NumbersAsText{}))
	r := NumbersAsText{Count: 5, Ratio: 1.5}
	must(t, db.Create(&r).Error)
	must(t, db.Model(&r).Updates(map[string]any{"count": 6, "ratio": 2.5}).Error)
	es := expectCount(t, db, 2)
	if c := es[1].Changes["count"]; string(c.Old) != "5" || string(c.New) != "6" {
		t.Errorf("count: %s → %s", c.Old, c.New)
	}
	must(t, auditgorm.Revert(context.Background(), db, es[1].ID, auditgorm.RevertOptions{}))
	var got NumbersAsText
	must(t, db.First(&got, r.ID).Error)
	if got.Count != 5 || got.Ratio != 1.5 {
		t.Fatalf("after the revert: %+v", got)
	}
}
