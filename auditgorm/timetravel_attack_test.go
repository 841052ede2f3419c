// Attack tests of AsOf/Timeline (timetravel.go) and Revert/Restore/
// RevertCorrelation (revert.go). Tests named TestAttackHeld* are cases that
// held (they pass); every other TestAttack* fails on a defect described in
// its comment. Run: go test ./auditgorm -run Attack -count=1
package auditgorm_test

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// Models of the attack tests.

// AtkNote has a nullable field and no soft delete.
type AtkNote struct {
	ID   uint
	Note *string `gorm:"size:64"`
	N    int
}

// AtkFlag has fields with non-zero database defaults.
type AtkFlag struct {
	ID     uint
	Name   string `gorm:"size:32"`
	Active bool   `gorm:"default:true"`
	Level  int    `gorm:"default:5"`
}

// AtkPerson has a self-referential many-to-many relation.
type AtkPerson struct {
	ID      uint
	Name    string       `gorm:"size:32"`
	Friends []*AtkPerson `gorm:"many2many:atk_friendships"`
}

// AtkTime has a time field.
type AtkTime struct {
	ID uint
	At time.Time
	N  int
}

func dumpEntries(t *testing.T, db *gorm.DB) {
	t.Helper()
	for _, e := range entries(t, db) {
		t.Logf("entry %d %s %s %s %s changes=%s", e.ID, e.Timestamp.Format("15:04:05.000000"), e.Action, e.Model, e.ObjectPK, e.Changes)
	}
}

func strp(s string) *string { return &s }

// Regression: fillFromLater crosses a hard delete. The first life of object 1
// (created before auditing, note NULL) is deleted (the delete entry names
// every non-null column, so note was NULL); another object then takes key 1
// by a key change and its note is updated. AsOf in the first life fills the
// second life's note into the first.
func TestAttackAsOfFillFromLaterCrossesHardDelete(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &AtkNote{})
		must(t, reg.Register(&AtkNote{}))
		ctx := context.Background()
		a := AtkNote{ID: 1, N: 1} // note NULL
		must(t, db.WithContext(auditlog.Disable(ctx)).Create(&a).Error)
		must(t, db.Model(&a).Update("n", 2).Error)
		t1 := ttInstant()
		must(t, db.Delete(&AtkNote{ID: 1}).Error) // hard
		t2 := ttInstant()
		b := AtkNote{ID: 7, Note: strp("second life"), N: 9}
		must(t, db.Create(&b).Error)
		must(t, db.Model(&AtkNote{}).Where("id = ?", 7).Update("id", 1).Error)
		must(t, db.Model(&AtkNote{}).Where("id = ?", 1).Update("note", "changed").Error)

		got := AtkNote{ID: 1}
		st, err := auditgorm.AsOf(ctx, db, &got, t1)
		must(t, err)
		if got.Note != nil {
			t.Errorf("AsOf in the first life: note = %q (the second life's value), want nil or unknown; unknown=%v", *got.Note, st.Unknown)
		}
		st, err = auditgorm.AsOf(ctx, db, &AtkNote{ID: 1}, t2)
		var de *auditgorm.DeletedError
		if !errors.As(err, &de) {
			t.Fatalf("at t2: %v", err)
		}
		if raw, ok := st.Values["note"]; ok && string(raw) != "null" {
			t.Errorf("deleted state: note = %s, the second life's value (the delete entry says it was NULL)", raw)
		}
	})
}

// After a key change 5 -> 7, AsOf under the new key never guesses: right
// after the change it names the change (the entry is recorded under key 5),
// and after a later update under 7 what no entry under 7 names is unknown.
// Under the old key it says where the object went.
func TestAttackAsOfAfterKeyChange(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &AtkNote{})
		must(t, reg.Register(&AtkNote{}))
		ctx := context.Background()
		must(t, db.Create(&AtkNote{ID: 5, Note: strp("x"), N: 1}).Error)
		must(t, db.Model(&AtkNote{}).Where("id = ?", 5).Update("id", 7).Error)
		t1 := ttInstant()
		if _, err := auditgorm.AsOf(ctx, db, &AtkNote{ID: 7}, t1); !errors.Is(err, auditgorm.ErrNotFound) {
			t.Errorf("AsOf under the new key right after the key change: %v, want ErrNotFound", err)
		}
		var kc *auditgorm.KeyChangedError
		if _, err := auditgorm.AsOf(ctx, db, &AtkNote{ID: 5}, t1); !errors.As(err, &kc) || kc.To != "7" || !errors.Is(err, auditgorm.ErrNotFound) {
			t.Errorf("AsOf under the old key after the key change: %v, want a KeyChangedError to 7", err)
		}
		must(t, db.Model(&AtkNote{}).Where("id = ?", 7).Update("n", 2).Error)
		got := AtkNote{ID: 7}
		st, err := auditgorm.AsOf(ctx, db, &got, ttInstant())
		must(t, err)
		if got.N != 2 || got.Note != nil || st.Unknown["note"] != auditgorm.UnknownBeforeAuditing {
			t.Errorf("under the new key after a later update: %+v, unknown %v; want n 2 and note unknown", got, st.Unknown)
		}
	})
}

// A key change reverted: under the old key the trail shows the object
// leaving (the entry that brought it back is recorded under the other
// key); AsOf says so instead of calling it missing.
func TestAttackAsOfAfterKeyChangeReverted(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Doc{})
		must(t, reg.Register(&Doc{}))
		ctx := context.Background()
		must(t, db.Create(&Doc{Code: "a", Body: "x"}).Error)
		must(t, db.Model(&Doc{}).Where("code = ?", "a").Update("code", "b").Error)
		must(t, auditgorm.Revert(ctx, db, lastEntry(t, db).ID, auditgorm.RevertOptions{}))
		var kc *auditgorm.KeyChangedError
		if _, err := auditgorm.AsOf(ctx, db, &Doc{Code: "a"}, ttInstant()); !errors.As(err, &kc) || kc.To != "b" {
			t.Errorf("AsOf under key a: %v, want a KeyChangedError to b", err)
		}
		var row Doc
		must(t, db.First(&row, "code = ?", "a").Error)
		if row.Body != "x" {
			t.Fatalf("the revert left %+v", row)
		}
	})
}

// Regression: restoring a hard delete inserts with GORM's Create, which leaves
// zero-valued fields with a default tag to the database default: a row
// deleted with active=false, level=0 comes back active=true, level=5.
func TestAttackRestoreZeroValueWithDefault(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &AtkFlag{})
		must(t, reg.Register(&AtkFlag{}))
		ctx := context.Background()
		f := AtkFlag{Name: "f"}
		must(t, db.Create(&f).Error)
		must(t, db.Model(&f).Updates(map[string]any{"active": false, "level": 0}).Error)
		must(t, db.Delete(&AtkFlag{ID: f.ID}).Error)
		del := lastEntry(t, db)
		if string(del.Changes["active"].Old) != "false" || string(del.Changes["level"].Old) != "0" {
			t.Fatalf("delete entry: %v", del.Changes)
		}
		must(t, auditgorm.Restore(ctx, db, &AtkFlag{ID: f.ID}, auditgorm.RevertOptions{}))
		var got AtkFlag
		must(t, db.First(&got, f.ID).Error)
		if got.Active || got.Level != 0 {
			t.Errorf("restored row: active=%v level=%d, want the delete entry's old values active=false level=0", got.Active, got.Level)
		}
		// and the replay invariant: the restore's create entry vs the table
		cr := lastEntry(t, db)
		t.Logf("restore's create entry: %v", cr.Changes)
	})
}

// Regression: reverting a create checks only the fields its entry names; a
// create entry leaves out NULL fields, so a field that was NULL at the create
// and set since is not checked and the revert deletes the changed object.
func TestAttackRevertCreateIgnoresNullFields(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &AtkNote{})
		must(t, reg.Register(&AtkNote{}))
		ctx := context.Background()
		a := AtkNote{N: 1} // note NULL
		must(t, db.Create(&a).Error)
		create := lastEntry(t, db)
		must(t, db.Model(&a).Update("note", "written since").Error)
		err := auditgorm.Revert(ctx, db, create.ID, auditgorm.RevertOptions{})
		if !errors.Is(err, auditgorm.ErrConflict) {
			var n int64
			must(t, db.Model(&AtkNote{}).Where("id = ?", a.ID).Count(&n).Error)
			t.Errorf("revert of a create whose NULL field changed since: err=%v, rows left %d; want a ConflictError on note", err, n)
		}
	})
}

// Regression: RevertCorrelation skips a later entry on the same link: a job that
// unlinks then re-links tag 1 is reverted newest first; undoing the re-link
// marks the pair, and the undo of the unlink is then skipped as if it were
// the mirrored entry: tag 1 ends unlinked though it was linked before the job.
func TestAttackRevertCorrelationRelinkAfterUnlink(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ttSetup(t, db)
		it := TTItem{Code: "r"}
		must(t, db.Create(&it).Error)
		must(t, db.Model(&it).Association("Tags").Append(&TTTag{ID: 1}))
		job := db.WithContext(auditlog.WithCorrelationID(context.Background(), "job-relink"))
		must(t, job.Model(&it).Association("Tags").Delete(&TTTag{ID: 1}))
		must(t, job.Model(&it).Association("Tags").Append(&TTTag{ID: 1}))
		must(t, auditgorm.RevertCorrelation(context.Background(), db, "job-relink", auditgorm.RevertOptions{}))
		var ts []TTTag
		must(t, db.Model(&TTItem{ID: it.ID}).Association("Tags").Find(&ts))
		if len(ts) != 1 {
			dumpEntries(t, db)
			t.Errorf("after reverting the job: %d tags linked, want 1 (tag 1 was linked before the job)", len(ts))
		}
	})
}

// Regression: a self-referential relation has two join rows per pair of
// objects (1->2 and 2->1); pairKey names both the same, so a job that links
// both directions is reverted only half.
func TestAttackRevertCorrelationSelfReferential(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &AtkPerson{})
		must(t, reg.Register(&AtkPerson{}, auditlog.M2M("Friends")))
		a, b := AtkPerson{Name: "a"}, AtkPerson{Name: "b"}
		must(t, db.Create(&a).Error)
		must(t, db.Create(&b).Error)
		job := db.WithContext(auditlog.WithCorrelationID(context.Background(), "job-friends"))
		must(t, job.Model(&a).Association("Friends").Append(&AtkPerson{ID: b.ID}))
		must(t, job.Model(&b).Association("Friends").Append(&AtkPerson{ID: a.ID}))
		var n int64
		must(t, db.Table("atk_friendships").Count(&n).Error)
		if n != 2 {
			t.Fatalf("%d join rows after the job, want 2", n)
		}
		must(t, auditgorm.RevertCorrelation(context.Background(), db, "job-friends", auditgorm.RevertOptions{}))
		must(t, db.Table("atk_friendships").Count(&n).Error)
		if n != 0 {
			dumpEntries(t, db)
			t.Errorf("after reverting the job: %d join rows left, want 0", n)
		}
	})
}

// times with nanoseconds: the database rounds (PostgreSQL to microseconds,
// MariaDB datetime(3) to milliseconds) while entries truncate.
func TestAttackHeldTimeNanos(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &AtkTime{})
		must(t, reg.Register(&AtkTime{}))
		ctx := context.Background()
		at := time.Date(2026, 3, 1, 10, 0, 0, 999_999_999, time.UTC)
		x := AtkTime{At: at, N: 1}
		must(t, db.Create(&x).Error)
		var row AtkTime
		must(t, db.First(&row, x.ID).Error)
		got := AtkTime{ID: x.ID}
		_, err := auditgorm.AsOf(ctx, db, &got, ttInstant())
		must(t, err)
		if !got.At.Equal(row.At) {
			dumpEntries(t, db)
			t.Errorf("AsOf at = %s, the table holds %s", got.At, row.At)
		}
		at2 := time.Date(2026, 4, 1, 10, 0, 0, 500_000_700, time.UTC)
		must(t, db.Model(&AtkTime{ID: x.ID}).Update("at", at2).Error)
		upd := lastEntry(t, db)
		if err := auditgorm.Revert(ctx, db, upd.ID, auditgorm.RevertOptions{}); err != nil {
			t.Errorf("revert of a time update with nothing changed since: %v", err)
		}
	})
}

// AtkEvoV1 and AtkEvoV2 are one table before and after a migration that
// adds a column with a default.
// Regression: a forced revert of an update whose object has since
// been deleted returns nil having written nothing; the caller is told the
// entry was reverted.
func TestAttackForcedRevertOfVanishedObjectSucceeds(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &AtkNote{})
		must(t, reg.Register(&AtkNote{}))
		ctx := context.Background()
		a := AtkNote{N: 1}
		must(t, db.Create(&a).Error)
		must(t, db.Model(&a).Update("n", 2).Error)
		upd := lastEntry(t, db)
		must(t, db.Delete(&AtkNote{ID: a.ID}).Error)
		before := len(entries(t, db))
		err := auditgorm.Revert(ctx, db, upd.ID, auditgorm.RevertOptions{Force: true})
		if err == nil && len(entries(t, db)) == before {
			t.Errorf("forced revert of an update of a deleted object: nil error, nothing written")
		}
	})
}

// Regression: Restore takes opts.Values for any field, the key
// included: Restore of object 1 creates object 99 and says it reverted the
// delete of 1; a known field is overwritten with the given value.
func TestAttackRestoreValuesOverrideRecorded(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ttSetup(t, db)
		ctx := context.Background()
		it := TTItem{Code: "c", N: 3}
		must(t, db.Create(&it).Error)
		must(t, db.Unscoped().Delete(&TTItem{ID: it.ID}).Error)
		err := auditgorm.Restore(ctx, db, &TTItem{ID: it.ID}, auditgorm.RevertOptions{Values: map[string]any{"Secret": "s", "Internal": 1, "ID": uint(99), "code": "forged"}})
		if err == nil {
			var got TTItem
			err2 := db.Unscoped().First(&got, 99).Error
			t.Errorf("Restore with Values for the key and a recorded field succeeded: object 99 found=%v code=%q; want an error (only fields the entries cannot tell)", err2 == nil, got.Code)
		}
	})
}

// a hard delete of a soft-deleted row is restored soft-deleted.
func TestAttackHeldRestoreHardDeleteOfSoftDeleted(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ttSetup(t, db)
		ctx := context.Background()
		it := TTItem{Code: "c", N: 3, Secret: "s", Internal: 1}
		must(t, db.Create(&it).Error)
		must(t, db.Delete(&it).Error)
		must(t, db.Unscoped().Delete(&TTItem{ID: it.ID}).Error)
		must(t, auditgorm.Restore(ctx, db, &TTItem{ID: it.ID}, auditgorm.RevertOptions{Values: map[string]any{"Secret": "s", "Internal": 1}}))
		var got TTItem
		must(t, db.Unscoped().First(&got, it.ID).Error)
		if !got.DeletedAt.Valid || got.Code != "c" {
			t.Errorf("restored: %+v", got)
		}
		checkAsOfNow(t, db, it.ID)
	})
}

func checkAsOfNow(t *testing.T, db *gorm.DB, id uint) {
	t.Helper()
	var row TTItem
	must(t, db.Unscoped().First(&row, id).Error)
	got := TTItem{ID: id}
	st, err := auditgorm.AsOf(context.Background(), db, &got, ttInstant())
	var de *auditgorm.DeletedError
	if err != nil && !errors.As(err, &de) {
		t.Fatalf("AsOf: %v", err)
	}
	if de != nil {
		if !row.DeletedAt.Valid {
			t.Errorf("AsOf says deleted (%v), the row is not", err)
		}
		return
	}
	if ttComparable(got) != ttComparable(row) {
		t.Errorf("AsOf %s\nrow  %s (unknown %v)", ttComparable(got), ttComparable(row), st.Unknown)
	}
}

// AtkJSON has a JSON column.
type AtkJSON struct {
	ID   uint
	Meta JSONDoc
}

// Regression: a JSON column whose value happens to be an object with
// exactly the keys "$digest" and "$bytes" is read as a digest: AsOf reports
// it "too large" and Revert refuses it as unrevertable, though the entry
// holds the value.
func TestAttackJSONValueLooksLikeDigest(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &AtkJSON{})
		must(t, reg.Register(&AtkJSON{}))
		ctx := context.Background()
		x := AtkJSON{Meta: JSONDoc(`{"a":1}`)}
		must(t, db.Create(&x).Error)
		must(t, db.Model(&x).Update("meta", JSONDoc(`{"$digest":"user data","$bytes":"user data"}`)).Error)
		upd := lastEntry(t, db)
		got := AtkJSON{ID: x.ID}
		st, err := auditgorm.AsOf(ctx, db, &got, ttInstant())
		must(t, err)
		if st.Unknown["meta"] != "" {
			t.Errorf("AsOf: meta unknown %q, though the entry holds it: %s", st.Unknown["meta"], upd.Changes["meta"].New)
		}
		if err := auditgorm.Revert(ctx, db, upd.ID, auditgorm.RevertOptions{}); err != nil {
			t.Errorf("revert: %v", err)
		}
	})
}

// AtkFloat has float fields.
type AtkFloat struct {
	ID uint
	R  float64
	S  float32
}

// NaN and infinities are recorded as text and come back as floats.
func TestAttackHeldFloatNaNInf(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		if db.Dialector.Name() != "postgres" {
			t.Skip("MariaDB has no NaN; SQLite stores NaN as NULL")
		}
		reg := setup(t, db, &AtkFloat{})
		must(t, reg.Register(&AtkFloat{}))
		ctx := context.Background()
		x := AtkFloat{R: math.NaN(), S: 0.1}
		must(t, db.Create(&x).Error)
		got := AtkFloat{ID: x.ID}
		st, err := auditgorm.AsOf(ctx, db, &got, ttInstant())
		must(t, err)
		if !math.IsNaN(got.R) || got.S != 0.1 || len(st.Unknown) != 0 {
			t.Errorf("AsOf: %+v %v", got, st.Unknown)
		}
		must(t, db.Model(&x).Update("r", math.Inf(-1)).Error)
		must(t, auditgorm.Revert(ctx, db, lastEntry(t, db).ID, auditgorm.RevertOptions{}))
		var row AtkFloat
		must(t, db.First(&row, x.ID).Error)
		if !math.IsNaN(row.R) {
			t.Errorf("reverted: %+v", row)
		}
	})
}

// the Book model (embedded struct, serializer:json, JSON column,
// decimal, pointers, soft delete): AsOf equals the row; reverting updates
// and restoring a hard delete bring back the values.
func TestAttackHeldBookRoundTrip(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Book{})
		must(t, reg.Register(&Book{}))
		ctx := context.Background()
		pages := 10
		pub := time.Date(2020, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
		b := Book{Title: "t", Price: "9.90", Secret: "s", Pages: &pages, Published: &pub, Meta: JSONDoc(`{"k":[1,2]}`), Tags: []string{"a", "b"}, Address: Address{City: "c", Street: "s"}}
		must(t, db.Create(&b).Error)
		snap := func() string {
			var r Book
			must(t, db.Unscoped().First(&r, b.ID).Error)
			return bookText(r)
		}
		want := snap()
		got := Book{ID: b.ID}
		st, err := auditgorm.AsOf(ctx, db, &got, ttInstant())
		must(t, err)
		if bookText(got) != want {
			t.Errorf("AsOf:\n%s\nrow\n%s\nunknown %v", bookText(got), want, st.Unknown)
		}
		must(t, db.Model(&b).Updates(map[string]any{"price": "1.00", "pages": nil, "meta": JSONDoc(`{"z":1}`), "addr_city": "d", "published": nil}).Error)
		must(t, auditgorm.Revert(ctx, db, lastEntry(t, db).ID, auditgorm.RevertOptions{}))
		if got := snap(); got != want {
			t.Errorf("after revert:\n%s\nwant\n%s", got, want)
		}
		must(t, db.Unscoped().Delete(&Book{ID: b.ID}).Error)
		must(t, auditgorm.Restore(ctx, db, &Book{ID: b.ID}, auditgorm.RevertOptions{}))
		if got := snap(); got != want {
			t.Errorf("after restore:\n%s\nwant\n%s", got, want)
		}
	})
}

func bookText(b Book) string {
	p := "<nil>"
	if b.Pages != nil {
		p = strconv.Itoa(*b.Pages)
	}
	pub := "<nil>"
	if b.Published != nil {
		pub = b.Published.UTC().String()
	}
	price := strings.TrimRight(strings.TrimRight(b.Price, "0"), ".")
	meta := strings.ReplaceAll(string(b.Meta), " ", "")
	return strings.Join([]string{b.Title, price, p, pub, meta, strings.Join(b.Tags, ","), b.Address.City, b.Address.Street}, "|")
}

// Regression: reverting an update of a field stored with serializer:json fails
// with a database error: the revert writes its old value with
// Updates(map[string]any), which bypasses the field's serializer and sends
// the Go slice as a bind parameter.
func TestAttackRevertSerializerJSONField(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Book{})
		must(t, reg.Register(&Book{}))
		ctx := context.Background()
		b := Book{Title: "t", Tags: []string{"a", "b"}}
		must(t, db.Create(&b).Error)
		must(t, db.Model(&b).Select("Tags").Updates(Book{Tags: []string{"q"}}).Error)
		upd := lastEntry(t, db)
		if err := auditgorm.Revert(ctx, db, upd.ID, auditgorm.RevertOptions{}); err != nil {
			t.Fatalf("revert of a serializer:json field (entry %v): %v", upd.Changes, err)
		}
		var got Book
		must(t, db.First(&got, b.ID).Error)
		if strings.Join(got.Tags, ",") != "a,b" {
			t.Errorf("after the revert: tags %v, want [a b]", got.Tags)
		}
	})
}

// Reverting the create of a hard-delete model whose object has been linked
// since: the create entry knows no links, the revert deletes the row with
// Omit(clause.Associations) and leaves (or trips over) the join rows.
func TestAttackRevertCreateWithLinksSince(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &AtkPerson{})
		must(t, reg.Register(&AtkPerson{}, auditlog.M2M("Friends")))
		ctx := context.Background()
		a, b := AtkPerson{Name: "a"}, AtkPerson{Name: "b"}
		must(t, db.Create(&a).Error)
		create := lastEntry(t, db)
		must(t, db.Create(&b).Error)
		must(t, db.Model(&a).Association("Friends").Append(&AtkPerson{ID: b.ID}))
		err := auditgorm.Revert(ctx, db, create.ID, auditgorm.RevertOptions{})
		var n, rows int64
		must(t, db.Table("atk_friendships").Count(&n).Error)
		must(t, db.Model(&AtkPerson{}).Where("id = ?", a.ID).Count(&rows).Error)
		switch {
		case errors.Is(err, auditgorm.ErrConflict):
			// refused: the object was linked since (acceptable)
		case err != nil:
			t.Errorf("revert of a create linked since: %v (not a ConflictError)", err)
		case rows == 0 && n != 0:
			t.Errorf("revert of a create linked since deleted the row and left %d join rows pointing at it", n)
		}
	})
}

// a key change of a string key is reverted to the old key, and AsOf
// under the old key shows the object back.
func TestAttackHeldRevertKeyChange(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Doc{})
		must(t, reg.Register(&Doc{}))
		ctx := context.Background()
		must(t, db.Create(&Doc{Code: "a", Body: "x"}).Error)
		must(t, db.Model(&Doc{}).Where("code = ?", "a").Update("code", "b").Error)
		mv := lastEntry(t, db)
		must(t, auditgorm.Revert(ctx, db, mv.ID, auditgorm.RevertOptions{}))
		var d Doc
		must(t, db.First(&d, "code = ?", "a").Error)
		if d.Body != "x" {
			t.Errorf("after the revert: %+v", d)
		}
		// reverting it again: the object no longer holds the recorded key
		if err := auditgorm.Revert(ctx, db, mv.ID, auditgorm.RevertOptions{}); !errors.Is(err, auditgorm.ErrConflict) {
			t.Errorf("second revert of the key change: %v", err)
		}
	})
}

// a revert inside the caller's transaction rolls back with it; a
// refused revert leaves the caller's transaction usable.
func TestAttackHeldRevertInCallerTx(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &AtkNote{})
		must(t, reg.Register(&AtkNote{}))
		ctx := context.Background()
		a := AtkNote{N: 1}
		must(t, db.Create(&a).Error)
		must(t, db.Model(&a).Update("n", 2).Error)
		upd := lastEntry(t, db)
		before := len(entries(t, db))
		err := db.Transaction(func(tx *gorm.DB) error {
			must(t, auditgorm.Revert(ctx, tx, upd.ID, auditgorm.RevertOptions{}))
			return errBoom
		})
		if !errors.Is(err, errBoom) || len(entries(t, db)) != before {
			t.Fatalf("rolled back revert: %v, %d entries written", err, len(entries(t, db))-before)
		}
		must(t, db.Model(&a).Update("n", 3).Error)
		must(t, db.Transaction(func(tx *gorm.DB) error {
			if err := auditgorm.Revert(ctx, tx, upd.ID, auditgorm.RevertOptions{}); !errors.Is(err, auditgorm.ErrConflict) {
				t.Errorf("conflicting revert in a tx: %v", err)
			}
			return tx.Model(&AtkNote{ID: a.ID}).Update("n", 4).Error
		}))
		var got AtkNote
		must(t, db.First(&got, a.ID).Error)
		if got.N != 4 {
			t.Errorf("n = %d", got.N)
		}
		// a cancelled ctx: an error, nothing written, the pool usable
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		before = len(entries(t, db))
		if err := auditgorm.Revert(cctx, db, upd.ID, auditgorm.RevertOptions{Force: true}); err == nil {
			t.Errorf("revert with a cancelled ctx succeeded")
		}
		if len(entries(t, db)) != before {
			t.Errorf("a cancelled revert wrote entries")
		}
		must(t, db.Model(&AtkNote{ID: a.ID}).Update("n", 5).Error)
		// an access entry cannot be reverted; an unregistered model is refused
		must(t, auditgorm.LogAccess(ctx, db, &AtkNote{ID: a.ID}))
		if err := auditgorm.Revert(ctx, db, lastEntry(t, db).ID, auditgorm.RevertOptions{Force: true}); !errors.Is(err, auditgorm.ErrCannotRevert) {
			t.Errorf("revert of an access entry: %v", err)
		}
		if _, err := auditgorm.AsOf(ctx, db, &AtkFlag{ID: 1}, time.Now()); err == nil {
			t.Errorf("AsOf of an unregistered model succeeded")
		}
	})
}

// entries with equal timestamps (a fixed clock) are applied in id
// order; AsOfEntry tells them apart.
func TestAttackHeldEqualTimestamps(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := auditlog.NewRegistry()
		fixed := time.Date(2026, 5, 5, 5, 5, 5, 0, time.UTC)
		must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg, Now: func() time.Time { return fixed }})))
		must(t, db.AutoMigrate(&AtkNote{}))
		must(t, reg.Register(&AtkNote{}))
		ctx := context.Background()
		a := AtkNote{N: 1}
		must(t, db.Create(&a).Error)
		must(t, db.Model(&a).Update("n", 2).Error)
		mid := lastEntry(t, db)
		must(t, db.Model(&a).Update("n", 3).Error)
		got := AtkNote{ID: a.ID}
		_, err := auditgorm.AsOf(ctx, db, &got, fixed)
		must(t, err)
		if got.N != 3 {
			t.Errorf("AsOf at the shared time: n=%d want 3", got.N)
		}
		got = AtkNote{ID: a.ID}
		_, err = auditgorm.AsOfEntry(ctx, db, &got, mid.ID)
		must(t, err)
		if got.N != 2 {
			t.Errorf("AsOfEntry(mid): n=%d want 2", got.N)
		}
	})
}

// optimistic-lock versions move forward on a revert.
func TestAttackHeldRevertOptimisticLock(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &RItem{}, &RTag{})
		must(t, reg.Register(&RItem{}))
		ctx := context.Background()
		x := RItem{Code: "a", N: 1}
		must(t, db.Create(&x).Error)
		must(t, db.Model(&x).Updates(map[string]any{"code": "b", "n": 2}).Error)
		upd := lastEntry(t, db)
		var cur RItem
		must(t, db.First(&cur, x.ID).Error)
		must(t, auditgorm.Revert(ctx, db, upd.ID, auditgorm.RevertOptions{}))
		var got RItem
		must(t, db.First(&got, x.ID).Error)
		if got.Code != "a" || got.N != 1 || got.Version.Int64 <= cur.Version.Int64 {
			t.Errorf("after the revert: %+v (version before %d)", got, cur.Version.Int64)
		}
		// the stale object cannot write any more
		res := db.Model(&cur).Update("n", 9)
		if res.Error != nil || res.RowsAffected != 0 {
			t.Errorf("a stale writer after the revert: %v, %d rows", res.Error, res.RowsAffected)
		}
	})
}

// m2m links made from the other side, whose model is registered
// without M2M, are in the item's trail.
func TestAttackHeldLinksFromOtherSide(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &RItem{}, &RTag{})
		must(t, reg.Register(&RItem{}, auditlog.M2M("Tags")))
		must(t, reg.Register(&RTag{}))
		ctx := context.Background()
		it := RItem{Code: "i"}
		must(t, db.Create(&it).Error)
		tag := RTag{Name: "t"}
		must(t, db.Create(&tag).Error)
		must(t, db.Model(&tag).Association("Items").Append(&RItem{ID: it.ID}))
		var linked []RTag
		must(t, db.Model(&RItem{ID: it.ID}).Association("Tags").Find(&linked))
		got := RItem{ID: it.ID}
		st, err := auditgorm.AsOf(ctx, db, &got, ttInstant())
		must(t, err)
		if _, unknown := st.Unknown["tags"]; !unknown && len(got.Tags) != len(linked) {
			dumpEntries(t, db)
			t.Errorf("AsOf: tags %v known, the table links %d", st.Related["tags"], len(linked))
		}
	})
}

// Regression: a JSON column holding a JSON string document ("hello", quotes
// included) is recorded as the JSON value "hello"; setField's candidates
// give the field the text hello (no quotes), whose normalised form, not
// being JSON, is the string "hello" again, so the check passes: AsOf fills
// invalid JSON into the field, and Revert writes it to the column.
func TestAttackJSONStringDocument(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &AtkJSON{})
		must(t, reg.Register(&AtkJSON{}))
		ctx := context.Background()
		x := AtkJSON{Meta: JSONDoc(`"hello"`)}
		must(t, db.Create(&x).Error)
		got := AtkJSON{ID: x.ID}
		st, err := auditgorm.AsOf(ctx, db, &got, ttInstant())
		must(t, err)
		if _, unknown := st.Unknown["meta"]; !unknown && string(got.Meta) != `"hello"` {
			t.Errorf("AsOf: meta = %s (known), the table holds \"hello\"", got.Meta)
		}
		must(t, db.Model(&x).Update("meta", JSONDoc(`{"a":1}`)).Error)
		err = auditgorm.Revert(ctx, db, lastEntry(t, db).ID, auditgorm.RevertOptions{})
		var row AtkJSON
		must(t, db.First(&row, x.ID).Error)
		if err != nil || string(row.Meta) != `"hello"` {
			t.Errorf("revert to the JSON string document: err=%v, column now %s; want \"hello\"", err, row.Meta)
		}
	})
}

// AtkBytes has a []byte field.
type AtkBytes struct {
	ID   uint
	Data []byte
}

// []byte values (base64 in entries) come back exactly in AsOf and
// Revert.
func TestAttackHeldBytes(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &AtkBytes{})
		must(t, reg.Register(&AtkBytes{}))
		ctx := context.Background()
		x := AtkBytes{Data: []byte{0xff, 0x00, 'a'}}
		must(t, db.Create(&x).Error)
		must(t, db.Model(&x).Update("data", []byte("aGk=")).Error)
		got := AtkBytes{ID: x.ID}
		_, err := auditgorm.AsOf(ctx, db, &got, ttInstant())
		must(t, err)
		if string(got.Data) != "aGk=" {
			t.Errorf("AsOf: %q", got.Data)
		}
		must(t, auditgorm.Revert(ctx, db, lastEntry(t, db).ID, auditgorm.RevertOptions{}))
		var row AtkBytes
		must(t, db.First(&row, x.ID).Error)
		if string(row.Data) != "\xff\x00a" {
			t.Errorf("reverted: %q", row.Data)
		}
	})
}
