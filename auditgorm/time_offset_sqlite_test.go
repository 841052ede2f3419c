package auditgorm_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

type tzEvent struct {
	At time.Time `gorm:"primaryKey"`
	V  int
	T  time.Time
}

// SQLite stores a time as text with its offset: as a key, one instant at
// two offsets is two rows. Entries named both by the UTC instant: the two
// rows shared a history, and a revert of one row's change wrote the
// other.
func TestTimesKeepTheirOffsetOnSQLite(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db, &tzEvent{})
	must(t, reg.Register(&tzEvent{}))
	ctx := context.Background()
	plus1 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600))
	utc := plus1.UTC()
	must(t, db.Create(&tzEvent{At: utc, V: 2, T: utc}).Error)
	must(t, db.Create(&tzEvent{At: plus1, V: 1, T: utc}).Error)
	must(t, db.Model(&tzEvent{At: plus1}).Update("v", 2).Error)
	upd := lastEntry(t, db)
	if upd.ObjectPK != "2026-01-02T03:04:05+01:00" {
		t.Errorf("the +01:00 row's entry names %q", upd.ObjectPK)
	}
	for _, at := range []time.Time{plus1, utc} {
		page, err := auditgorm.History(ctx, db, &tzEvent{At: at}, auditstore.Page{})
		must(t, err)
		if n := map[bool]int{true: 2, false: 1}[at == plus1]; len(page.Entries) != n {
			t.Errorf("history of %s: %d entries, want %d", at, len(page.Entries), n)
		}
	}
	must(t, auditgorm.Revert(ctx, db, upd.ID, auditgorm.RevertOptions{}))
	var rows []struct {
		At string
		V  int
	}
	must(t, db.Raw("SELECT CAST(at AS TEXT) AS at, v FROM tz_events ORDER BY rowid").Scan(&rows).Error)
	if len(rows) != 2 || rows[0].V != 2 || rows[1].V != 1 {
		t.Errorf("after the revert of the +01:00 row's change: %+v", rows)
	}
	state := tzEvent{At: plus1}
	_, err := auditgorm.AsOf(ctx, db, &state, time.Now().Add(time.Hour))
	must(t, err)
	if state.V != 1 || !state.At.Equal(plus1) {
		t.Errorf("the +01:00 row as of now: %+v", state)
	}
	// A key's offset changed is a key changed; another time's is no
	// change, as on the other databases.
	must(t, db.Model(&tzEvent{At: utc}).Update("t", plus1).Error)
	if e := lastEntry(t, db); e.ID != upd.ID+1 || e.Action.String() != "update" || e.ObjectPK != "2026-01-02T03:04:05+01:00" {
		t.Errorf("the same instant at another offset: %s of %s: %s", e.Action, e.ObjectPK, mustJSON(e.Changes))
	}
	must(t, db.Model(&tzEvent{At: utc}).Update("at", utc.Add(time.Hour).In(time.FixedZone("Y", -7200))).Error)
	if e := lastEntry(t, db); e.ObjectPK != "2026-01-02T02:04:05Z" || mustJSON(e.Changes) != `{"at":["2026-01-02T02:04:05Z","2026-01-02T01:04:05-02:00"]}` {
		t.Errorf("a key moved to another offset: %s of %s", mustJSON(e.Changes), e.ObjectPK)
	}
}
