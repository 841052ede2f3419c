package auditgorm_test

import (
	"slices"
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

		// Replayed, the entries give each row's value in the table.
		last := chainHolds(t, db)
		var readings []CReading
		must(t, db.Order("id").Find(&readings).Error)
		for _, r := range readings {
			if got := last["c_readings "+strconv.FormatUint(uint64(r.ID), 10)]["v"]; got != strconv.Itoa(r.V) {
				t.Errorf("reading %d: v is %d, the entries say %s", r.ID, r.V, got)
			}
		}
		var prices []CPrice
		must(t, db.Order("id").Find(&prices).Error)
		for _, p := range prices {
			if got := last["c_prices "+strconv.FormatUint(uint64(p.ID), 10)]["n"]; got != strconv.Itoa(p.N) {
				t.Errorf("price %d: n is %d, the entries say %s", p.ID, p.N, got)
			}
		}
		if db.Dialector.Name() != "sqlite" && len(prices) != 2 {
			t.Errorf("%d prices: 1.005 was stored as 1.01 and collided", len(prices))
		}
	})
}

// chainHolds checks that entries replay: no create of an object that
// exists, no update of one never created, every old value the one the
// entries before left; and that each table holds as many rows as the
// entries create (they delete none). It returns each object's values as the entries leave
// them (JSON), by model and key.
func chainHolds(t *testing.T, db *gorm.DB) map[string]map[string]string {
	t.Helper()
	last := map[string]map[string]string{}
	live := map[string]int{}
	for _, e := range entries(t, db) {
		k := e.Model + " " + e.ObjectPK
		switch e.Action {
		case auditlog.ActionCreate:
			if last[k] != nil {
				t.Fatalf("entry %d creates %s, which exists: %s", e.ID, k, e.Changes)
			}
			last[k] = map[string]string{}
			live[e.Model]++
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
	for table, n := range live {
		var rows int
		must(t, db.Raw("SELECT COUNT(*) FROM "+table).Scan(&rows).Error)
		if rows != n {
			t.Errorf("%s: %d rows, %d created in the entries", table, rows, n)
		}
	}
	return last
}

// CDomainPrice's key is a PostgreSQL domain over numeric(10,2), whose
// modifier is the domain's, not the column's.
type CDomainPrice struct {
	ID     uint
	Amount string `gorm:"type:c_money;uniqueIndex"`
	N      int
}

// CFloats' keys are MySQL floats and doubles with a scale, which round.
type CFloats struct {
	ID uint
	X  float64 `gorm:"type:float(7,2);uniqueIndex"`
	Y  float64 `gorm:"type:double(7,2);uniqueIndex"`
	N  int
}

// The stored value of a domain over a type with a modifier (PostgreSQL),
// and of a float or double with a scale (MySQL), is what an upsert's
// reads compare with.
func TestUpsertCollidesOnTheStoredValueOfEveryType(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		switch db.Dialector.Name() {
		case "postgres":
			must(t, db.Exec("CREATE DOMAIN c_money AS numeric(10,2)").Error)
			reg := setup(t, db, &CDomainPrice{})
			must(t, reg.Register(&CDomainPrice{}))
			up := clause.OnConflict{Columns: []clause.Column{{Name: "amount"}}, DoUpdates: clause.AssignmentColumns([]string{"n"})}
			must(t, db.Create(&CDomainPrice{Amount: "1.01", N: 1}).Error)
			must(t, db.Clauses(up).Create(&CDomainPrice{Amount: "1.005", N: 2}).Error)
		case "mysql":
			reg := setup(t, db, &CFloats{})
			must(t, reg.Register(&CFloats{}))
			up := clause.OnConflict{DoUpdates: clause.AssignmentColumns([]string{"n"})}
			must(t, db.Create(&CFloats{X: 1.01, Y: 5.01, N: 1}).Error)
			must(t, db.Clauses(up).Create(&CFloats{X: 1.006, Y: 7, N: 2}).Error)
			must(t, db.Clauses(up).Create(&CFloats{X: 9, Y: 5.006, N: 3}).Error)
		default:
			t.Skip("SQLite compares by the column's affinity")
		}
		chainHolds(t, db)
	})
}

// A column's type changed by a tool that is not GORM (raw database/sql)
// leaves the cast read before stale: the upsert that reads by it fails,
// and forgets what it read of the table, so that a retry reads the
// catalog again and goes through.
func TestUpsertAfterAColumnTypeChangedElsewhere(t *testing.T) {
	if !slices.Contains(testdb.Names(), "postgres") {
		t.Skip("no PostgreSQL")
	}
	db := testdb.Open(t, "postgres")
	reg := setup(t, db, &CPrice{})
	must(t, reg.Register(&CPrice{}))
	up := clause.OnConflict{Columns: []clause.Column{{Name: "amount"}}, DoUpdates: clause.AssignmentColumns([]string{"n"})}
	must(t, db.Clauses(up).Create(&CPrice{Amount: "1.00", N: 1}).Error)
	sqlDB, err := db.DB()
	must(t, err)
	if _, err := sqlDB.Exec("ALTER TABLE c_prices ALTER COLUMN amount TYPE text"); err != nil {
		t.Fatal(err)
	}
	// The first try fails on the stale cast, the second on pgx's
	// description of the INSERT cached before the change (as without the
	// plugin), the third goes through.
	for i := 0; i < 3; i++ {
		if err = db.Clauses(up).Create(&CPrice{Amount: "EUR 3", N: 2}).Error; err == nil {
			break
		}
	}
	must(t, err)
	chainHolds(t, db)
}
