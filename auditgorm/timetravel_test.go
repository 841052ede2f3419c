package auditgorm_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// TTItem is the model of the time-travel tests: a value of each kind, a
// masked, an excluded and an auto-updated field, soft delete and a
// many-to-many relation.
type TTItem struct {
	ID        uint
	Code      string  `gorm:"size:32"`
	N         int     `gorm:"default:0"`
	Price     string  `gorm:"type:decimal(10,2);default:0"`
	Note      *string `gorm:"size:64"`
	At        time.Time
	Ratio     float64
	Secret    string `gorm:"size:32"`
	Internal  int
	UpdatedAt time.Time
	DeletedAt gorm.DeletedAt
	Tags      []TTTag `gorm:"many2many:tt_item_tags"`
}

// TTTag has a repr of its own, so that entries name tags by repr and key.
type TTTag struct {
	ID   uint
	Name string `gorm:"size:32"`
}

func (t TTTag) String() string { return "tag " + t.Name }

func ttSetup(t *testing.T, db *gorm.DB) *auditlog.Registry {
	t.Helper()
	return ttSetupWith(t, db, auditgorm.Config{})
}

// ttSetupWith is ttSetup with the plugin configured by cfg.
func ttSetupWith(t *testing.T, db *gorm.DB, cfg auditgorm.Config) *auditlog.Registry {
	t.Helper()
	reg := auditlog.NewRegistry()
	cfg.Registry = reg
	must(t, db.Use(auditgorm.New(cfg)))
	must(t, db.AutoMigrate(&TTItem{}, &TTTag{}))
	must(t, reg.Register(&TTItem{}, auditlog.Mask("Secret"), auditlog.Exclude("Internal"), auditlog.M2M("Tags")))
	for i := 1; i <= 5; i++ {
		must(t, db.Create(&TTTag{Name: fmt.Sprintf("t%d", i)}).Error)
	}
	return reg
}

// ttInstant returns a moment after every entry written so far and before
// any written later (entry times have microsecond precision).
func ttInstant() time.Time {
	t := time.Now().UTC()
	for !time.Now().After(t.Truncate(time.Microsecond).Add(3 * time.Microsecond)) {
	}
	return t
}

var ttAlwaysUnknown = map[string]auditgorm.Unknown{
	"secret":     auditgorm.UnknownMasked,
	"internal":   auditgorm.UnknownExcluded,
	"updated_at": auditgorm.UnknownNotRecorded,
}

func TestAsOfStates(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ttSetup(t, db)
		ctx := context.Background()
		at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
		note := "first"
		it := TTItem{Code: "a", N: 1, Price: "1.50", Note: &note, At: at, Ratio: 0.5, Secret: "s3cret", Internal: 7}
		before := ttInstant()
		must(t, db.Create(&it).Error)
		t1 := ttInstant()
		must(t, db.Model(&it).Updates(map[string]any{"n": 2, "note": nil}).Error)
		must(t, db.Model(&it).Association("Tags").Append(&TTTag{ID: 2}, &TTTag{ID: 4}))
		t2 := ttInstant()
		must(t, db.Model(&it).Association("Tags").Delete(&TTTag{ID: 2}))
		must(t, db.Delete(&it).Error) // soft
		t3 := ttInstant()
		must(t, db.Unscoped().Model(&TTItem{ID: it.ID}).Update("deleted_at", nil).Error)
		t4 := ttInstant()
		must(t, db.Model(&TTItem{ID: it.ID}).Association("Tags").Clear())
		must(t, db.Unscoped().Delete(&TTItem{ID: it.ID}).Error)
		t5 := ttInstant()

		if _, err := auditgorm.AsOf(ctx, db, &TTItem{ID: it.ID}, before); !errors.Is(err, auditgorm.ErrNotFound) {
			t.Fatalf("before the create: %v, want ErrNotFound", err)
		}
		var got TTItem
		got.ID = it.ID
		got.Secret, got.Internal = "stale", 99
		st, err := auditgorm.AsOf(ctx, db, &got, t1)
		must(t, err)
		if got.Code != "a" || got.N != 1 || (got.Price != "1.50" && got.Price != "1.5") || got.Note == nil || *got.Note != "first" || !got.At.Equal(at) || got.Ratio != 0.5 || got.Tags == nil || len(got.Tags) != 0 {
			t.Fatalf("at t1: %+v", got)
		}
		if got.Secret != "" || got.Internal != 0 || !got.UpdatedAt.IsZero() {
			t.Fatalf("unknown fields are not zeroed: %+v", got)
		}
		if !equalUnknown(st.Unknown, ttAlwaysUnknown) {
			t.Fatalf("unknown at t1: %v", st.Unknown)
		}
		got = TTItem{ID: it.ID}
		st, err = auditgorm.AsOf(ctx, db, &got, t2)
		must(t, err)
		if got.N != 2 || got.Note != nil || len(got.Tags) != 2 || got.Tags[0].ID != 2 || got.Tags[1].ID != 4 {
			t.Fatalf("at t2: %+v", got)
		}
		if fmt.Sprint(st.Related["tags"]) != "[2 4]" {
			t.Fatalf("related at t2: %v", st.Related)
		}
		_, err = auditgorm.AsOf(ctx, db, &TTItem{ID: it.ID}, t3)
		var de *auditgorm.DeletedError
		if !errors.As(err, &de) || !de.Soft {
			t.Fatalf("at t3: %v, want a soft DeletedError", err)
		}
		got = TTItem{ID: it.ID}
		_, err = auditgorm.AsOf(ctx, db, &got, t4)
		must(t, err)
		if got.DeletedAt.Valid || len(got.Tags) != 1 || got.Tags[0].ID != 4 {
			t.Fatalf("restored at t4: %+v", got)
		}
		st, err = auditgorm.AsOf(ctx, db, &TTItem{ID: it.ID}, t5)
		if !errors.As(err, &de) || de.Soft || st == nil || string(st.Values["code"]) != `"a"` {
			t.Fatalf("at t5: %v %+v, want a hard DeletedError with the last state", err, st)
		}
		tl, err := auditgorm.Timeline(ctx, db, &TTItem{ID: it.ID})
		must(t, err)
		var kinds []string
		for _, s := range tl {
			kinds = append(kinds, strconv.FormatBool(s.Deleted))
		}
		if strings.Join(kinds, " ") != "false false false false true false false true" {
			t.Fatalf("timeline deleted flags: %v", kinds)
		}
		// At an entry: the state right after it.
		got = TTItem{ID: it.ID}
		_, err = auditgorm.AsOfEntry(ctx, db, &got, tl[1].Entry)
		must(t, err)
		if got.N != 2 || len(got.Tags) != 0 {
			t.Fatalf("after entry %d: %+v", tl[1].Entry, got)
		}
		if _, err := auditgorm.AsOfEntry(ctx, db, &TTItem{ID: it.ID + 100}, tl[1].Entry); err == nil {
			t.Fatal("an entry of another object was accepted")
		}
	})
}

func equalUnknown(a, b map[string]auditgorm.Unknown) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// An object created before auditing began: what no entry records is
// unknown, what a later entry's old value shows is known.
func TestAsOfBeforeAuditing(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ttSetup(t, db)
		ctx := context.Background()
		it := TTItem{Code: "old", N: 1, Price: "2.00"}
		must(t, db.WithContext(auditlog.Disable(ctx)).Create(&it).Error)
		t0 := ttInstant()
		must(t, db.Model(&it).Update("n", 2).Error)
		t1 := ttInstant()
		must(t, db.Model(&it).Update("code", "new").Error)
		// The object existed then: its first entry is no create, so its
		// state then is unknown, not "it did not exist" (ErrNotFound).
		if _, err := auditgorm.AsOf(ctx, db, &TTItem{ID: it.ID}, t0); !errors.Is(err, auditgorm.ErrBeforeItsEntries) || errors.Is(err, auditgorm.ErrNotFound) {
			t.Fatalf("before the first entry: %v", err)
		}
		got := TTItem{ID: it.ID}
		st, err := auditgorm.AsOf(ctx, db, &got, t1)
		must(t, err)
		if got.N != 2 || got.Code != "old" {
			t.Fatalf("at t1: %+v", got)
		}
		for _, col := range []string{"price", "note", "at", "ratio", "deleted_at", "tags"} {
			if st.Unknown[col] != auditgorm.UnknownBeforeAuditing {
				t.Fatalf("%s: %q, want %q (%v)", col, st.Unknown[col], auditgorm.UnknownBeforeAuditing, st.Unknown)
			}
		}
		if got.Price != "" {
			t.Fatalf("an unknown price was filled: %q", got.Price)
		}
	})
}

// TestAsOfEqualsSnapshots is the property test: a seeded random sequence of
// writes by one writer, the table read after each; AsOf at 50 random
// moments equals the row then, field by field, and names exactly the
// fields it cannot know.
func TestAsOfEqualsSnapshots(t *testing.T) {
	seed := testSeed(t)
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		asOfEqualsSnapshots(t, db, auditgorm.Config{}, seed)
	})
}

// On PostgreSQL with the capture's other paths: the locking read as a
// statement of its own, and the entries written by the Go side.
func TestAsOfEqualsSnapshotsSeparatePaths(t *testing.T) {
	if !slices.Contains(testdb.Names(), "postgres") {
		t.Skip(testdb.PostgresEnv + " is not set")
	}
	t.Parallel()
	seed := testSeed(t)
	asOfEqualsSnapshots(t, testdb.Open(t, "postgres"), auditgorm.Config{SeparatePreSelect: true, SeparateEntries: true}, seed)
}

func asOfEqualsSnapshots(t *testing.T, db *gorm.DB, cfg auditgorm.Config, seed uint64) {
	ops := 150
	if testing.Short() {
		ops = 60
	}
	ttSetupWith(t, db, cfg)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(seed, 3))
	type snapshot struct {
		at   time.Time
		rows map[uint]TTItem
		tags map[uint][]uint
	}
	var snaps []snapshot
	maxID := uint(0)
	for i := 0; i < ops; i++ {
		if err := ttOp(db, r); err != nil && err != errTTRollback && !testdb.Retryable(err) {
			t.Fatalf("op %d: %v", i, err)
		}
		s := snapshot{at: ttInstant(), rows: map[uint]TTItem{}, tags: map[uint][]uint{}}
		var rows []TTItem
		must(t, db.Unscoped().Order("id").Find(&rows).Error)
		for _, row := range rows {
			s.rows[row.ID] = row
			maxID = max(maxID, row.ID)
		}
		var pairs []struct{ TTItemID, TTTagID uint }
		must(t, db.Table("tt_item_tags").Order("tt_item_id, tt_tag_id").Find(&pairs).Error)
		for _, p := range pairs {
			s.tags[p.TTItemID] = append(s.tags[p.TTItemID], p.TTTagID)
		}
		snaps = append(snaps, s)
	}
	checked := 0
	for k := 0; k < 50; k++ {
		s := snaps[r.IntN(len(snaps))]
		for id := uint(1); id <= maxID; id++ {
			got := TTItem{ID: id}
			st, err := auditgorm.AsOf(ctx, db, &got, s.at)
			row, exists := s.rows[id]
			var de *auditgorm.DeletedError
			switch {
			case !exists:
				if !errors.Is(err, auditgorm.ErrNotFound) && !(errors.As(err, &de) && !de.Soft) {
					t.Fatalf("item %d at %s: no row, but AsOf says %v", id, s.at, err)
				}
				continue
			case row.DeletedAt.Valid:
				if !errors.As(err, &de) || !de.Soft {
					t.Fatalf("item %d at %s: soft-deleted, but AsOf says %v", id, s.at, err)
				}
				continue
			case err != nil:
				t.Fatalf("item %d at %s: %v", id, s.at, err)
			}
			checked++
			if !equalUnknown(st.Unknown, ttAlwaysUnknown) {
				t.Fatalf("item %d at %s: unknown %v", id, s.at, st.Unknown)
			}
			want := ttComparable(row)
			if have := ttComparable(got); have != want {
				t.Fatalf("item %d at %s:\nAsOf %s\nrow  %s", id, s.at, have, want)
			}
			var keys []uint
			for _, tg := range got.Tags {
				keys = append(keys, tg.ID)
			}
			sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
			if !slices.Equal(keys, s.tags[id]) {
				t.Fatalf("item %d at %s: tags %v, table %v", id, s.at, keys, s.tags[id])
			}
		}
	}
	if checked < 50 {
		t.Fatalf("only %d states compared", checked)
	}
	t.Logf("%d states compared over %d writes", checked, ops)
}

// ttComparable is the audited fields of an item as text.
func ttComparable(it TTItem) string {
	note := "<nil>"
	if it.Note != nil {
		note = *it.Note
	}
	price := it.Price
	if f, err := strconv.ParseFloat(price, 64); err == nil {
		price = strconv.FormatFloat(f, 'f', 2, 64)
	}
	raw, _ := json.Marshal([]any{it.Code, it.N, price, note, it.At.UTC().Format(time.RFC3339Nano), it.Ratio, it.DeletedAt.Valid})
	return string(raw)
}

var errTTRollback = errors.New("rolled back")

// ttOp runs one random write, in a transaction that sometimes rolls back.
func ttOp(db *gorm.DB, r *rand.Rand) error {
	id := func() uint { return uint(1 + r.IntN(12)) }
	tag := func() *TTTag { return &TTTag{ID: uint(1 + r.IntN(5))} }
	at := time.Date(2026, 1+time.Month(r.IntN(12)), 1+r.IntN(28), r.IntN(24), 0, r.IntN(60), r.IntN(1000)*1000, time.UTC)
	exists := func(tx *gorm.DB, id uint) bool {
		var n int64
		return tx.Unscoped().Model(&TTItem{}).Where("id = ?", id).Count(&n).Error == nil && n > 0
	}
	write := func(tx *gorm.DB) error {
		op := r.IntN(11)
		item := id()
		if op >= 7 && !exists(tx, item) {
			op = 0 // the relation of a missing item: create one instead
		}
		switch op {
		case 0, 1:
			note := fmt.Sprintf("n%d", r.IntN(3))
			return tx.Create(&TTItem{Code: fmt.Sprintf("c%d", r.IntN(50)), N: r.IntN(9), Price: fmt.Sprintf("%d.%02d", r.IntN(99), r.IntN(100)), Note: &note, At: at, Ratio: float64(r.IntN(100)) / 8, Secret: "x", Internal: r.IntN(5)}).Error
		case 2:
			return tx.Model(&TTItem{ID: id()}).Updates(map[string]any{"n": r.IntN(9), "code": fmt.Sprintf("c%d", r.IntN(50))}).Error
		case 3:
			return tx.Model(&TTItem{}).Where("n < ?", r.IntN(5)).Update("n", gorm.Expr("n + 1")).Error
		case 4:
			return tx.Model(&TTItem{ID: id()}).Updates(map[string]any{"note": nil, "at": at, "price": fmt.Sprintf("%d.5", r.IntN(9)), "secret": "y"}).Error
		case 5:
			return tx.Delete(&TTItem{ID: id()}).Error
		case 6:
			return tx.Unscoped().Model(&TTItem{}).Where("id = ? AND deleted_at IS NOT NULL", id()).Update("deleted_at", nil).Error
		case 7:
			return tx.Model(&TTItem{ID: item}).Association("Tags").Append(tag(), tag())
		case 8:
			return tx.Model(&TTItem{ID: item}).Association("Tags").Delete(tag())
		case 9:
			if err := tx.Model(&TTItem{ID: item}).Association("Tags").Clear(); err != nil {
				return err
			}
			return tx.Unscoped().Delete(&TTItem{ID: item}).Error
		default:
			return tx.Model(&TTItem{ID: item}).Association("Tags").Replace(tag())
		}
	}
	if r.IntN(8) == 0 {
		return db.Transaction(func(tx *gorm.DB) error {
			if err := write(tx); err != nil {
				return err
			}
			return errTTRollback
		})
	}
	return write(db)
}

func TestPluginStateRules(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t, "sqlite")
	reg := auditlog.NewRegistry()
	p := auditgorm.New(auditgorm.Config{Registry: reg})
	must(t, db.Use(p))
	must(t, db.AutoMigrate(&TTItem{}, &TTTag{}))
	must(t, reg.Register(&TTItem{}, auditlog.Mask("Secret"), auditlog.Exclude("Internal"), auditlog.M2M("Tags")))
	r, ok := p.StateRules("tt_items")
	if !ok || !equalUnknown(r.Unknown, ttAlwaysUnknown) || fmt.Sprint(r.Relations) != "[tags]" || r.PK != "id" || len(r.Columns) != 11 {
		t.Fatalf("rules: %v %+v", ok, r)
	}
	if keys, ok := r.KeysOf("tags", &auditlog.M2MChange{Operation: auditlog.M2MAdd, Objects: []string{"tag a"}, Keys: []string{"3"}}); !ok || fmt.Sprint(keys) != "[3]" {
		t.Fatalf("keys: %v %v", keys, ok)
	}
	if _, ok := r.KeysOf("tags", &auditlog.M2MChange{Operation: auditlog.M2MAdd, Objects: []string{"tag a"}}); ok {
		t.Fatal("a repr of a model with a String method was taken for a key")
	}
	if _, ok := p.StateRules("no_such_model"); ok {
		t.Fatal("rules for an unknown model")
	}
}
