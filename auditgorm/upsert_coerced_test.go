package auditgorm_test

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// CReading's unique key holds a time at millisecond precision: the
// database cuts the nanoseconds an application's time.Time carries.
type CReading struct {
	ID     uint
	Sensor int       `gorm:"uniqueIndex:c_reading_key"`
	At     time.Time `gorm:"uniqueIndex:c_reading_key;precision:3"`
	V      int
}

// CPrice's unique key is a decimal of scale 2: PostgreSQL and MariaDB
// round "1.005" to 1.01 as they store it.
type CPrice struct {
	ID     uint
	Amount string `gorm:"type:numeric(10,2);uniqueIndex"`
	N      int
}

// An upsert collides on the value the database stores, not the one sent:
// where the column rounds or cuts it (a time at lower precision, a decimal
// of smaller scale), the rows it may collide with are read by the sent
// values as the column would store them. Read by the values as sent,
// MariaDB's updates were recorded as creates of rows that existed (their
// old values lost), and a single-row upsert was refused on every try on
// PostgreSQL and MariaDB as if another transaction had inserted the row.
func TestUpsertCollidesOnTheStoredValue(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &CReading{}, &CPrice{})
		must(t, reg.Register(&CReading{}))
		must(t, reg.Register(&CPrice{}))
		at := time.Date(2026, 5, 1, 8, 30, 0, 123456789, time.UTC)
		up := clause.OnConflict{Columns: []clause.Column{{Name: "sensor"}, {Name: "at"}}, DoUpdates: clause.AssignmentColumns([]string{"v"})}
		must(t, db.Clauses(up).Create(&[]CReading{{Sensor: 1, At: at, V: 10}, {Sensor: 2, At: at, V: 20}}).Error)
		must(t, db.Clauses(up).Create(&[]CReading{{Sensor: 1, At: at, V: 11}, {Sensor: 2, At: at, V: 21}}).Error)
		must(t, db.Transaction(func(tx *gorm.DB) error { return tx.Clauses(up).Create(&CReading{Sensor: 1, At: at, V: 12}).Error }))
		must(t, db.Clauses(up).Create(&CReading{Sensor: 2, At: at, V: 22}).Error)

		upN := clause.OnConflict{Columns: []clause.Column{{Name: "amount"}}, DoUpdates: clause.AssignmentColumns([]string{"n"})}
		must(t, db.Create(&CPrice{Amount: "1.01", N: 1}).Error)
		must(t, db.Clauses(upN).Create(&CPrice{Amount: "1.005", N: 2}).Error)
		must(t, db.Transaction(func(tx *gorm.DB) error {
			return tx.Clauses(upN).Create(&[]CPrice{{Amount: "1.005", N: 3}, {Amount: "2.5", N: 1}}).Error
		}))

		es := entries(t, db)
		// Replayed, the entries give each row's value in the table, and
		// every update's old value is what the entries before left.
		last := map[string]map[string]string{}
		for _, e := range es {
			k := e.Model + " " + e.ObjectPK
			switch e.Action {
			case auditlog.ActionCreate:
				if last[k] != nil {
					t.Fatalf("entry %d creates %s, which exists: %s", e.ID, k, e.Changes)
				}
				last[k] = map[string]string{}
			case auditlog.ActionUpdate:
				if last[k] == nil {
					t.Fatalf("entry %d updates %s, which was never created", e.ID, k)
				}
			}
			for col, c := range e.Changes {
				if e.Action == auditlog.ActionUpdate && string(c.Old) != last[k][col] {
					t.Fatalf("entry %d: %s old %s %s, the entries before left %s", e.ID, k, col, c.Old, last[k][col])
				}
				last[k][col] = string(c.New)
			}
		}
		check := func(model string, col string, rows any, val func(i int) (uint, int)) {
			t.Helper()
			must(t, db.Order("id").Find(rows).Error)
			n := 0
			for k := range last {
				if len(k) > len(model) && k[:len(model)+1] == model+" " {
					n++
				}
			}
			for i := 0; ; i++ {
				id, v := val(i)
				if id == 0 {
					if i != n {
						t.Errorf("%s: %d rows, %d objects created in the entries", model, i, n)
					}
					return
				}
				want, _ := json.Marshal(v)
				if got := last[model+" "+strconv.FormatUint(uint64(id), 10)][col]; got != string(want) {
					t.Errorf("%s %d: %s is %d, the entries say %s", model, id, col, v, got)
				}
			}
		}
		var readings []CReading
		check("c_readings", "v", &readings, func(i int) (uint, int) {
			if i < len(readings) {
				return readings[i].ID, readings[i].V
			}
			return 0, 0
		})
		var prices []CPrice
		check("c_prices", "n", &prices, func(i int) (uint, int) {
			if i < len(prices) {
				return prices[i].ID, prices[i].N
			}
			return 0, 0
		})
		if db.Dialector.Name() != "sqlite" && len(prices) != 2 {
			t.Errorf("%d prices: 1.005 was stored as 1.01 and collided", len(prices))
		}
	})
}
