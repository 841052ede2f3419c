package auditgorm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// compact is raw without insignificant space (PostgreSQL's jsonb writes
// some).
func compact(t *testing.T, raw []byte) string {
	t.Helper()
	if raw == nil {
		return ""
	}
	var b bytes.Buffer
	must(t, json.Compact(&b, raw))
	return b.String()
}

type JSONNullRow struct {
	ID uint
	J  JSONDoc
	N  int
}

// TestJSONNullIsNotSQLNull: a JSON column holding the document null and
// one holding SQL NULL were recorded alike (null): a create of the
// document recorded nothing for it, a change from one to the other wrote
// no entry, and replay gave NULL where the table held the document. The
// document is recorded as {"$json": "null"}, and revert writes it back.
func TestJSONNullIsNotSQLNull(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &JSONNullRow{})
		must(t, reg.Register(&JSONNullRow{}))
		isNull := func(id uint) bool {
			var n bool
			must(t, db.Raw("SELECT j IS NULL FROM json_null_rows WHERE id = ?", id).Row().Scan(&n))
			return n
		}
		r := JSONNullRow{J: JSONDoc("null")}
		must(t, db.Create(&r).Error)
		if isNull(r.ID) {
			t.Fatal("the table holds SQL NULL")
		}
		es := expectCount(t, db, 1)
		if got := compact(t, es[0].Changes["j"].New); got != `{"$json":"null"}` {
			t.Errorf("create: j recorded as %s", got)
		}
		must(t, db.Model(&r).Update("j", nil).Error)
		es = expectCount(t, db, 2)
		if c := es[1].Changes["j"]; compact(t, c.Old) != `{"$json":"null"}` || string(c.New) != "null" {
			t.Errorf("document to SQL NULL: %s → %s", c.Old, c.New)
		}
		must(t, db.Model(&r).Update("j", JSONDoc("null")).Error)
		es = expectCount(t, db, 3)
		if c := es[2].Changes["j"]; string(c.Old) != "null" || compact(t, c.New) != `{"$json":"null"}` {
			t.Errorf("SQL NULL to document: %s → %s", c.Old, c.New)
		}
		// Bulk, on PostgreSQL by the entries built in SQL.
		must(t, db.Model(&JSONNullRow{}).Where("id > 0").Update("n", 1).Error)
		must(t, db.Model(&JSONNullRow{}).Where("id > 0").Updates(map[string]any{"j": nil}).Error)
		es = expectCount(t, db, 5)
		if c := es[4].Changes["j"]; compact(t, c.Old) != `{"$json":"null"}` || string(c.New) != "null" {
			t.Errorf("bulk, document to SQL NULL: %s → %s", c.Old, c.New)
		}
		// Reverting that writes the document back.
		must(t, auditgorm.Revert(context.Background(), db, es[4].ID, auditgorm.RevertOptions{}))
		if isNull(r.ID) {
			t.Error("the revert wrote SQL NULL where the document was")
		}
		var back JSONNullRow
		must(t, db.First(&back, r.ID).Error)
		st, err := auditgorm.AsOf(context.Background(), db, &back, es[3].Timestamp)
		must(t, err)
		if string(back.J) != "null" || len(st.Unknown) > 0 {
			t.Errorf("AsOf: %q, %+v", back.J, st)
		}
	})
}

type JSONTextRow struct {
	ID uint
	J  string `gorm:"type:json"`
	N  int
}

// TestJSONEscapedNUL: PostgreSQL's json (not jsonb) keeps the escape
// \u0000 as written; the entry re-encoded the document with it, and the
// entries' jsonb refused it: no such row could be created, updated in that
// column or deleted through GORM. Such a document is recorded as its
// text, on every database.
func TestJSONEscapedNUL(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &JSONTextRow{})
		must(t, reg.Register(&JSONTextRow{}))
		r := JSONTextRow{J: `{"a":"x\u0000y"}`}
		must(t, db.Create(&r).Error)
		es := expectCount(t, db, 1)
		if got := compact(t, es[0].Changes["j"].New); got != `{"$json":"{\"a\":\"x\\u0000y\"}"}` {
			t.Errorf("recorded %s", got)
		}
		must(t, db.Model(&r).Update("n", 1).Error)
		must(t, db.Model(&r).Update("j", `{"b":"\u0000"}`).Error)
		must(t, db.Delete(&r).Error)
		expectCount(t, db, 4)
		must(t, auditgorm.Restore(context.Background(), db, &JSONTextRow{ID: r.ID}, auditgorm.RevertOptions{}))
		var back JSONTextRow
		must(t, db.First(&back, r.ID).Error)
		if back.J != `{"b":"\u0000"}` {
			t.Errorf("restored %q", back.J)
		}
	})
}
