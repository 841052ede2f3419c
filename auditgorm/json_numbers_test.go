package auditgorm_test

import (
	"context"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// RatesDoc holds a JSON-serialized map: encoding/json writes a float64
// below 1e-6 or from 1e21 with an exponent (1e-07), which PostgreSQL's
// jsonb (the entries' changes there, and a jsonb column) stores as
// 0.0000001.
type RatesDoc struct {
	ID    uint
	Rates map[string]float64 `gorm:"serializer:json"`
	Doc   *string            `gorm:"type:json"`
}

// RatesB is RatesDoc's map in a jsonb column (PostgreSQL).
type RatesB struct {
	ID    uint
	Rates map[string]float64 `gorm:"serializer:json;type:jsonb"`
}

// TestJSONNumbersAsJSONBStoresThem: a JSON document's numbers were
// recorded as written (1e-07), and PostgreSQL's entries (jsonb) stored
// them as numeric prints them (0.0000001): time travel called the value
// unreadable, a revert was refused or said the value did not convert, and
// an update of 1 to 1e0 recorded [1] → [1]. Numbers are recorded as
// numeric prints them, on every database; a number jsonb cannot hold
// (1e200000) made the write fail on PostgreSQL, and is recorded as the
// document's text.
func TestJSONNumbersAsJSONBStoresThem(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &RatesDoc{})
		must(t, reg.Register(&RatesDoc{}))
		ctx := context.Background()
		r := RatesDoc{Rates: map[string]float64{"fee": 0.5}}
		must(t, db.Create(&r).Error)
		must(t, db.Model(&r).Select("rates").Updates(RatesDoc{Rates: map[string]float64{"fee": 1e-7, "cap": 1e21}}).Error)
		must(t, db.Model(&r).Select("rates").Updates(RatesDoc{Rates: map[string]float64{"fee": 0.25}}).Error)
		es := expectCount(t, db, 3)
		if c := es[1].Changes["rates"]; string(c.New) != `{"cap":1000000000000000000000,"fee":0.0000001}` && string(c.New) != `{"cap": 1000000000000000000000, "fee": 0.0000001}` {
			t.Errorf("the update recorded %s", c.New)
		}
		var then RatesDoc
		then.ID = r.ID
		st, err := auditgorm.AsOfEntry(ctx, db, &then, es[1].ID)
		must(t, err)
		if len(st.Unknown) > 0 || then.Rates["fee"] != 1e-7 || then.Rates["cap"] != 1e21 {
			t.Errorf("as of the update: %v, unknown %v", then.Rates, st.Unknown)
		}
		must(t, auditgorm.Revert(ctx, db, es[2].ID, auditgorm.RevertOptions{}))
		var back RatesDoc
		must(t, db.First(&back, r.ID).Error)
		if back.Rates["fee"] != 1e-7 || back.Rates["cap"] != 1e21 {
			t.Fatalf("after the revert: %v", back.Rates)
		}
		// The revert's own entry, undone at once: no conflict.
		es = entries(t, db)
		must(t, auditgorm.Revert(ctx, db, es[len(es)-1].ID, auditgorm.RevertOptions{}))

		// Two spellings of one number are one document.
		must(t, db.Model(&r).Update("doc", `[1]`).Error)
		n := len(entries(t, db))
		must(t, db.Model(&r).Update("doc", `[1e0]`).Error)
		if es := entries(t, db); len(es) != n {
			t.Errorf("[1] → [1e0] recorded %s", es[len(es)-1].Changes)
		}
		must(t, db.Model(&r).Update("doc", `[1.0]`).Error)
		if es := entries(t, db); len(es) != n+1 || string(es[n].Changes["doc"].New) != `[1.0]` {
			t.Errorf("[1e0] → [1.0]: %d entries since, %v", len(es)-n, es[len(es)-1].Changes)
		}

		// A number PostgreSQL's numeric cannot hold: the document's text.
		if db.Dialector.Name() != "mysql" { // MariaDB's JSON check refuses it
			huge := RatesDoc{Doc: ptrText(`[1e200000]`)}
			must(t, db.Create(&huge).Error)
			es := entries(t, db)
			if c := es[len(es)-1].Changes["doc"]; !strings.Contains(string(c.New), `"$json"`) {
				t.Errorf("the create of [1e200000] recorded %s", c.New)
			}
			must(t, db.Delete(&huge).Error)
		}
	})
}

// TestJSONBNumbersReadBack: on a jsonb column PostgreSQL itself stores
// 1e-07 as 0.0000001; the entry of the create, time travel and revert
// agree with it.
func TestJSONBNumbersReadBack(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		if db.Dialector.Name() != "postgres" {
			t.Skip("jsonb is PostgreSQL's")
		}
		reg := setup(t, db, &RatesB{})
		must(t, reg.Register(&RatesB{}))
		ctx := context.Background()
		r := RatesB{Rates: map[string]float64{"fee": 1e-7}}
		must(t, db.Create(&r).Error)
		must(t, db.Model(&r).Select("rates").Updates(RatesB{Rates: map[string]float64{"fee": 0.5}}).Error)
		es := expectCount(t, db, 2)
		var then RatesB
		then.ID = r.ID
		st, err := auditgorm.AsOfEntry(ctx, db, &then, es[0].ID)
		must(t, err)
		if len(st.Unknown) > 0 || then.Rates["fee"] != 1e-7 {
			t.Errorf("as of the create: %v, unknown %v", then.Rates, st.Unknown)
		}
		must(t, auditgorm.Revert(ctx, db, es[1].ID, auditgorm.RevertOptions{}))
	})
}

func ptrText(s string) *string { return &s }
