package auditgorm_test

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// Kinds has a field of each kind whose driver values differ between the
// SQLite drivers: a BOOLEAN column (bool from ncruces and mattn, 0 or 1 from
// glebarez), a time (each driver writes its own text), a DATE column, a
// decimal and a blob.
type Kinds struct {
	ID    uint
	On    bool `gorm:"type:boolean"`
	Flag  *bool
	At    time.Time
	Day   *time.Time `gorm:"type:date"`
	Price string     `gorm:"type:decimal(10,2)"`
	Ratio float64
	Blob  []byte
	Note  string
}

// writeKinds makes the same audited writes on db and returns the entries.
func writeKinds(t *testing.T, db *gorm.DB) []auditlog.Entry {
	t.Helper()
	must(t, auditgorm.Migrate(context.Background(), db))
	reg := setup(t, db, &Kinds{})
	must(t, reg.Register(&Kinds{}))
	plusOne := time.FixedZone("+01", 3600)
	at := time.Date(2026, 1, 2, 3, 4, 5, 123_456_000, plusOne)
	day := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	yes := true
	k := Kinds{On: true, Flag: &yes, At: at, Day: &day, Price: "1.50", Ratio: 0.25, Blob: []byte{0, 1, 2}, Note: "n"}
	must(t, db.Create(&k).Error)
	must(t, db.Save(&k).Error) // the same values: no entry
	var loaded Kinds
	must(t, db.First(&loaded, k.ID).Error)
	must(t, db.Save(&loaded).Error) // the same values as read back: no entry
	must(t, db.Model(&k).Updates(map[string]any{
		"on": false, "flag": nil, "at": at.Add(time.Hour),
		"day": day.AddDate(0, 0, 1), "price": "12.5", "ratio": 2, "blob": []byte{3},
	}).Error)
	must(t, db.Model(&k).Update("at", at.Add(time.Hour).UTC()).Error) // the same instant in another zone: no entry
	must(t, db.Delete(&k).Error)
	return expectCount(t, db, 3)
}

// Every SQLite driver linked into the test binary records the same entries
// for the same writes, and reads the entries another driver wrote: an
// application may write with one driver while the auditlog command or the
// UI reads with another.
func TestSameEntriesOnEveryDriver(t *testing.T) {
	drivers := testdb.SQLiteDrivers(t)
	if len(drivers) < 2 {
		t.Fatalf("%d SQLite drivers linked, want at least 2", len(drivers))
	}
	type written struct {
		driver, path string
		entries      []auditlog.Entry
	}
	var all []written
	for _, d := range drivers {
		path := filepath.Join(t.TempDir(), d.Name+".db")
		db := testdb.OpenSQLiteWith(t, d, path, nil)
		es := writeKinds(t, db)
		sqlDB, _ := db.DB()
		must(t, sqlDB.Close())
		all = append(all, written{d.Name, path, es})
	}
	first := all[0]
	want := []map[string]any{
		wantJSON(t, `{"on":[null,true],"flag":[null,true],"at":[null,"2026-01-02T02:04:05.123456Z"],
			"day":[null,"2026-01-02T00:00:00Z"],"price":[null,"1.5"],"ratio":[null,0.25],"blob":[null,"AAEC"],"note":[null,"n"],"id":[null,1]}`),
		wantJSON(t, `{"on":[true,false],"flag":[true,null],"at":["2026-01-02T02:04:05.123456Z","2026-01-02T03:04:05.123456Z"],"day":["2026-01-02T00:00:00Z","2026-01-03T00:00:00Z"],
			"price":["1.5","12.5"],"ratio":[0.25,2],"blob":["AAEC","Aw=="]}`),
	}
	for i, e := range first.entries[:2] {
		if got := changesJSON(t, e); !reflect.DeepEqual(got, want[i]) {
			t.Errorf("%s: entry %d changes %v, want %v", first.driver, i+1, got, want[i])
		}
	}
	for _, w := range all[1:] {
		for i := range w.entries {
			if got, want := changesJSON(t, w.entries[i]), changesJSON(t, first.entries[i]); !reflect.DeepEqual(got, want) {
				t.Errorf("entry %d: %s recorded %v, %s recorded %v", i+1, w.driver, got, first.driver, want)
			}
		}
	}
	// Each file read through every other driver gives the same entries.
	for _, w := range all {
		for _, d := range drivers {
			if d.Name == w.driver {
				continue
			}
			got := entries(t, testdb.OpenSQLiteWith(t, d, w.path, nil))
			if len(got) != len(w.entries) {
				t.Fatalf("%s reads %d entries that %s wrote, want %d", d.Name, len(got), w.driver, len(w.entries))
			}
			for i := range got {
				a, b := got[i], w.entries[i]
				if !a.Timestamp.Equal(b.Timestamp) || a.ID != b.ID || a.Action != b.Action || !reflect.DeepEqual(changesJSON(t, a), changesJSON(t, b)) {
					t.Errorf("%s reads entry %d that %s wrote as %+v, want %+v", d.Name, i+1, w.driver, a, b)
				}
			}
		}
	}
}
