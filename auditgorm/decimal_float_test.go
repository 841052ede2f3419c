package auditgorm_test

import (
	"context"
	"encoding/json"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// DecFloat keeps numbers of DECIMAL columns in Go number fields.
type DecFloat struct {
	ID    uint
	Price float64 `gorm:"type:decimal(10,2)"`
	Qty   int     `gorm:"type:numeric(10,0)"`
	Label string  `gorm:"type:decimal(10,2)"`
}

// A number field on a DECIMAL column is recorded as a number on every
// database (SQLite keeps such a column's values as INTEGER or REAL, the
// others return text), and AsOf, Revert and Restore read it back; also
// from entries that recorded it as text, as SQLite's did before.
func TestDecimalColumnOfANumberField(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := auditlog.NewRegistry()
		must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg})))
		must(t, db.AutoMigrate(&DecFloat{}))
		must(t, reg.Register(&DecFloat{}))
		ctx := context.Background()
		d := DecFloat{Price: 10, Qty: 3, Label: "1.50"}
		must(t, db.Create(&d).Error)
		must(t, db.Model(&d).Updates(map[string]any{"price": 12.5, "qty": 4}).Error)
		must(t, db.Model(&d).Update("price", 19.99).Error)
		es := entries(t, db)
		if len(es) != 3 {
			t.Fatalf("%d entries", len(es))
		}
		for _, c := range []struct {
			e        int
			col      string
			old, new string
		}{{0, "price", "null", "10"}, {0, "qty", "null", "3"}, {0, "label", "null", `"1.5"`}, {1, "price", "10", "12.5"}, {1, "qty", "3", "4"}, {2, "price", "12.5", "19.99"}} {
			ch := es[c.e].Changes[c.col]
			if string(ch.Old) != c.old || (string(ch.New) != c.new && !(c.col == "label" && string(ch.New) == `"1.50"`)) {
				t.Errorf("entry %d %s: %s → %s, want %s → %s", c.e, c.col, ch.Old, ch.New, c.old, c.new)
			}
		}
		at := ttInstant()

		// Entries written before numbers were recorded as numbers on
		// SQLite hold the text: the first update's, rewritten so.
		old, err := json.Marshal(auditlog.Changes{"price": {Old: json.RawMessage(`"10"`), New: json.RawMessage(`"12.5"`)}, "qty": {Old: json.RawMessage(`"3"`), New: json.RawMessage(`"4"`)}})
		must(t, err)
		must(t, db.Exec("UPDATE "+auditstore.Table+" SET changes = ? WHERE id = ?", string(old), es[1].ID).Error)

		for _, when := range []struct {
			name  string
			price float64
			qty   int
			entry int
		}{{"after the first update", 12.5, 4, 1}, {"now", 19.99, 4, 2}} {
			var got DecFloat
			got.ID = d.ID
			tm := at
			if when.entry == 1 {
				tm = es[1].Timestamp
			}
			st, err := auditgorm.AsOf(ctx, db, &got, tm)
			must(t, err)
			if got.Price != when.price || got.Qty != when.qty || len(st.Unknown) > 1 {
				t.Errorf("AsOf %s: %+v, unknown %v", when.name, got, st.Unknown)
			}
		}

		// Revert the last update, then the first (text) one.
		must(t, auditgorm.Revert(ctx, db, es[2].ID, auditgorm.RevertOptions{}))
		must(t, auditgorm.Revert(ctx, db, es[1].ID, auditgorm.RevertOptions{}))
		var now DecFloat
		must(t, db.First(&now, d.ID).Error)
		if now.Price != 10 || now.Qty != 3 {
			t.Fatalf("after the reverts: %+v", now)
		}
		// Deleted for good, then restored from its entries.
		must(t, db.Unscoped().Delete(&now).Error)
		must(t, auditgorm.Restore(ctx, db, &DecFloat{ID: d.ID}, auditgorm.RevertOptions{}))
		var back DecFloat
		must(t, db.First(&back, d.ID).Error)
		if back.Price != 10 || back.Qty != 3 {
			t.Fatalf("restored: %+v", back)
		}
	})
}
