package audittest_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/audittest"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

type Book struct {
	ID    uint
	Title string
	Price int
}

func open(t *testing.T, clock *audittest.Clock) *gorm.DB {
	t.Helper()
	db := testdb.OpenSQLiteFile(t, filepath.Join(t.TempDir(), "app.db"), &gorm.Config{})
	reg := auditlog.NewRegistry()
	if err := reg.Register(&Book{}); err != nil {
		t.Fatal(err)
	}
	cfg := auditgorm.Config{Registry: reg}
	if clock != nil {
		cfg.Now = clock.Now
	}
	if err := db.Use(auditgorm.New(cfg)); err != nil {
		t.Fatal(err)
	}
	if err := auditgorm.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	if err := db.AutoMigrate(&Book{}); err != nil {
		t.Fatal(err)
	}
	return db
}

// recorder is a testing.TB that records failures instead of stopping.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	failed []string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatal(args ...any) {
	r.mu.Lock()
	r.failed = append(r.failed, fmt.Sprint(args...))
	r.mu.Unlock()
}
func (r *recorder) Fatalf(format string, args ...any) { r.Fatal(fmt.Sprintf(format, args...)) }

func TestRequireEntry(t *testing.T) {
	t.Parallel()
	clock := audittest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	db := open(t, clock)
	b := Book{Title: "Dune", Price: 10}
	if err := db.Create(&b).Error; err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	if err := db.Model(&b).Update("price", 12).Error; err != nil {
		t.Fatal(err)
	}
	all := audittest.Entries(t, db)
	if len(all) != 2 || all[0].Action != auditlog.ActionCreate || !all[1].Timestamp.Equal(time.Date(2026, 1, 2, 4, 4, 5, 0, time.UTC)) {
		t.Fatalf("entries %+v", all)
	}
	e := audittest.RequireEntry(t, db, &Book{}, b.ID, auditlog.ActionUpdate, audittest.Changes{"price": {10, 12}})
	if e.ID != all[1].ID {
		t.Fatalf("got entry %d", e.ID)
	}
	audittest.RequireEntry(t, db, "books", "1", auditlog.ActionCreate, audittest.Changes{"id": {nil, 1}, "title": {nil, "Dune"}, "price": {nil, 10.0}})
	audittest.RequireEntry(t, db, &Book{}, 1, auditlog.ActionCreate, nil)

	for _, c := range []struct {
		name    string
		model   any
		pk      any
		action  auditlog.Action
		changes audittest.Changes
		want    string
	}{
		{"wrong new value", &Book{}, 1, auditlog.ActionUpdate, audittest.Changes{"price": {10, 13}}, "price: 10 → 12, want 10 → 13"},
		{"missing field", &Book{}, 1, auditlog.ActionUpdate, audittest.Changes{"price": {10, 12}, "title": {"a", "b"}}, "title: missing"},
		{"extra field", &Book{}, 1, auditlog.ActionUpdate, audittest.Changes{}, "price: unexpected 10 → 12"},
		{"no such action", &Book{}, 1, auditlog.ActionDelete, nil, "no delete entry for books 1"},
		{"no such object", &Book{}, 2, auditlog.ActionCreate, nil, "the object has no entries"},
		{"nil model", nil, 1, auditlog.ActionCreate, nil, "model is nil"},
	} {
		r := &recorder{TB: t}
		audittest.RequireEntry(r, db, c.model, c.pk, c.action, c.changes)
		if len(r.failed) == 0 || !strings.Contains(r.failed[0], c.want) {
			t.Errorf("%s: failures %q, want one containing %q", c.name, r.failed, c.want)
		}
	}
}

func TestClock(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := audittest.NewClock(start)
	c.Advance(time.Minute)
	if !c.Now().Equal(start.Add(time.Minute)) {
		t.Fatal(c.Now())
	}
	c.Set(start)
	if !c.Now().Equal(start) {
		t.Fatal(c.Now())
	}
}

// Ledger has a composite key, a big number and a time.
type Ledger struct {
	Branch int   `gorm:"primaryKey;autoIncrement:false"`
	No     int   `gorm:"primaryKey;autoIncrement:false"`
	Big    int64 // beyond float64's exact integers
	At     time.Time
}

// RequireEntry compares what the entry records, not an approximation: a
// composite key given as its values, integers beyond 2^53 exactly, and a
// time in any zone as the instant it is.
func TestRequireEntryExactly(t *testing.T) {
	t.Parallel()
	db := testdb.OpenSQLiteFile(t, filepath.Join(t.TempDir(), "app.db"), &gorm.Config{})
	reg := auditlog.NewRegistry()
	if err := reg.Register(&Ledger{}); err != nil {
		t.Fatal(err)
	}
	if err := db.Use(auditgorm.New(auditgorm.Config{Registry: reg})); err != nil {
		t.Fatal(err)
	}
	if err := auditgorm.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	if err := db.AutoMigrate(&Ledger{}); err != nil {
		t.Fatal(err)
	}
	paris := time.FixedZone("CET", 3600)
	at := time.Date(2026, 1, 2, 10, 0, 0, 0, paris)
	l := Ledger{Branch: 7, No: 2, Big: 1<<53 + 1, At: at}
	if err := db.Create(&l).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Model(&l).Update("big", int64(1<<53+3)).Error; err != nil {
		t.Fatal(err)
	}
	audittest.RequireEntry(t, db, &Ledger{}, []int{7, 2}, auditlog.ActionUpdate, audittest.Changes{"big": {int64(1<<53 + 1), int64(1<<53 + 3)}})
	audittest.RequireEntry(t, db, &Ledger{}, [2]int{7, 2}, auditlog.ActionCreate,
		audittest.Changes{"branch": {nil, 7}, "no": {nil, 2}, "big": {nil, int64(1<<53 + 1)}, "at": {nil, at}})
	for _, c := range []struct {
		name    string
		action  auditlog.Action
		changes audittest.Changes
	}{
		{"a big number off by one", auditlog.ActionUpdate, audittest.Changes{"big": {int64(1<<53 + 1), int64(1<<53 + 2)}}},
		{"another instant", auditlog.ActionCreate,
			audittest.Changes{"branch": {nil, 7}, "no": {nil, 2}, "big": {nil, int64(1<<53 + 1)}, "at": {nil, at.Add(time.Microsecond)}}},
	} {
		r := &recorder{TB: t}
		audittest.RequireEntry(r, db, &Ledger{}, []int{7, 2}, c.action, c.changes)
		if len(r.failed) == 0 {
			t.Errorf("%s: no failure", c.name)
		}
	}
}

// An entry that does not decode as stored fails RequireEntry, naming it,
// rather than passing its zero fields off as values: its create, with
// changes not JSON, would otherwise read as a create that changed nothing.
func TestRequireEntryFailsOnUnreadableEntries(t *testing.T) {
	t.Parallel()
	db := open(t, nil)
	if err := db.Create(&Book{Title: "Dune", Price: 10}).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(`UPDATE auditlog_entries SET changes = 'x'`).Error; err != nil {
		t.Fatal(err)
	}
	r := &recorder{TB: t}
	audittest.RequireEntry(r, db, &Book{}, 1, auditlog.ActionCreate, nil)
	if len(r.failed) == 0 || !strings.Contains(r.failed[0], "entry 1: changes:") {
		t.Errorf("RequireEntry over an unreadable entry: %q", r.failed)
	}
}

type event struct {
	At   time.Time `gorm:"primaryKey"`
	Card string    `gorm:"primaryKey"`
	V    int
}

// A key given as a value is named as the model's entries name it: a time
// key on SQLite with its offset (the entry of the row at 03:04:05+01:00
// was looked for as 02:04:05Z, and not found), a masked key masked.
func TestRequireEntryOfAKeyAsTheModelNamesIt(t *testing.T) {
	db := testdb.OpenSQLiteFile(t, filepath.Join(t.TempDir(), "app.db"), &gorm.Config{})
	reg := auditlog.NewRegistry()
	if err := reg.Register(&event{}, auditlog.Mask("Card")); err != nil {
		t.Fatal(err)
	}
	if err := db.Use(auditgorm.New(auditgorm.Config{Registry: reg})); err != nil {
		t.Fatal(err)
	}
	if err := auditgorm.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	if err := db.AutoMigrate(&event{}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600))
	if err := db.Create(&event{At: at, Card: "4111111111111111", V: 1}).Error; err != nil {
		t.Fatal(err)
	}
	e := audittest.RequireEntry(t, db, &event{}, []any{at, "4111111111111111"}, auditlog.ActionCreate, nil)
	if want := `["2026-01-02T03:04:05+01:00","************1111"]`; e.ObjectPK != want {
		t.Errorf("the entry names %s, want %s", e.ObjectPK, want)
	}
	type card struct {
		Number string `gorm:"primaryKey"`
	}
	if err := reg.Register(&card{}, auditlog.Mask("Number")); err != nil {
		t.Fatal(err)
	}
	if err := db.AutoMigrate(&card{}); err != nil {
		t.Fatal(err)
	}
	if err := db.Create(&card{Number: "5500005555555559"}).Error; err != nil {
		t.Fatal(err)
	}
	if e := audittest.RequireEntry(t, db, &card{}, "5500005555555559", auditlog.ActionCreate, nil); e.ObjectPK != "************5559" {
		t.Errorf("a masked key given as its text: %s", e.ObjectPK)
	}
	if key, err := auditgorm.ObjectKey(db, &event{}, []any{at}); err == nil {
		t.Errorf("a key of one value for two columns: %q", key)
	}
}
