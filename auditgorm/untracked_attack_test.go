package auditgorm_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/plugin/optimisticlock"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// Touchy has an auto-updated timestamp, an excluded field and a soft
// delete.
type Touchy struct {
	ID        uint
	Name      string `gorm:"size:40"`
	Hits      int
	UpdatedAt time.Time
	Milli     int64 `gorm:"autoUpdateTime:milli"`
	DeletedAt gorm.DeletedAt
}

// Versioned has an optimistic-lock version next to its timestamp.
type Versioned struct {
	ID        uint
	Name      string `gorm:"size:40"`
	UpdatedAt time.Time
	Version   optimisticlock.Version
}

// TestUntrackedExprAssignsOther: an assignment of a timestamp whose SQL
// also assigns a recorded column changes that column; the capture must see
// it, as it sees any other change.
func TestUntrackedExprAssignsOther(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Touchy{})
		must(t, reg.Register(&Touchy{}, auditlog.Exclude("Hits")))
		x := Touchy{Name: "x"}
		must(t, db.Create(&x).Error)
		must(t, db.Model(&x).Update("updated_at", gorm.Expr("?, name = ?", time.Now(), "y")).Error)
		must(t, db.Model(&x).Update("hits", gorm.Expr("1, name = ?", "z")).Error)
		must(t, db.Model(&x).Where("id = ?", x.ID).Clauses(clause.Set{{Column: clause.Column{Name: "hits"}, Value: clause.Expr{SQL: "2, name = ?", Vars: []any{"w"}}}}).Updates(map[string]any{}).Error)
		var now Touchy
		must(t, db.First(&now, x.ID).Error)
		if now.Name != "w" {
			t.Fatalf("stored name %q", now.Name)
		}
		es := expectCount(t, db, 4)
		for i, want := range []string{`["x","y"]`, `["y","z"]`, `["z","w"]`} {
			if got := changesJSON(t, es[i+1])["name"]; fmt.Sprint(got) != fmt.Sprint(wantJSON(t, `{"a":`+want+`}`)["a"]) {
				t.Errorf("entry %d: %s, want name %s", i+1, es[i+1].Changes, want)
			}
		}
	})
}

// TestUntrackedHolds: updates the skip must leave to the capture, or may
// take, and what it must keep of GORM's own rules.
func TestUntrackedHolds(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Touchy{}, &Versioned{}, &Touched{}, &TouchedTag{})
		must(t, reg.Register(&Touchy{}, auditlog.Exclude("Hits")))
		must(t, reg.Register(&Versioned{}))
		must(t, reg.Register(&Touched{}, auditlog.Include("Name", "UpdatedAt")))
		count := func() int {
			var n int64
			must(t, db.Table("auditlog_entries").Count(&n).Error)
			return int(n)
		}
		x := Touchy{Name: "x"}
		must(t, db.Create(&x).Error)
		v := Versioned{Name: "v"}
		must(t, db.Create(&v).Error)
		tc := Touched{Name: "t"}
		must(t, db.Create(&tc).Error)
		n := count()

		// Optimistic locking adds version = version + 1: recorded.
		must(t, db.Model(&v).Update("updated_at", time.Now()).Error)
		if got := count() - n; got != 1 {
			t.Errorf("version bump: %d entries, want 1", got)
		}
		n = count()
		// UpdatedAt named in Include is recorded.
		must(t, db.Model(&tc).Update("updated_at", time.Now().Add(time.Hour)).Error)
		if got := count() - n; got != 1 {
			t.Errorf("included updated_at: %d entries, want 1", got)
		}
		n = count()
		// No WHERE: refused as GORM refuses it, soft-delete scope or not.
		if err := db.Model(&Touchy{}).Update("updated_at", time.Now()).Error; !errors.Is(err, gorm.ErrMissingWhereClause) {
			t.Errorf("global timestamp update: %v", err)
		}
		if err := db.Model(&Touchy{}).Unscoped().UpdateColumn("hits", 4).Error; !errors.Is(err, gorm.ErrMissingWhereClause) {
			t.Errorf("global unscoped update: %v", err)
		}
		// A struct update whose fields are zero assigns the timestamps only.
		must(t, db.Model(&x).Updates(Touchy{Name: ""}).Error)
		must(t, db.Model(&x).Select("updated_at", "milli").Updates(&Touchy{Name: "ignored"}).Error)
		must(t, db.Model(&x).Omit("name").Updates(map[string]any{"name": "ignored", "hits": 9}).Error)
		if got := count() - n; got != 0 {
			t.Errorf("timestamps alone: %d entries", got)
		}
		// Select of a recorded column with the timestamp is recorded.
		must(t, db.Model(&x).Select("name", "updated_at").Updates(map[string]any{"name": "x2"}).Error)
		if got := count() - n; got != 1 {
			t.Errorf("selected name: %d entries, want 1", got)
		}
		n = count()
		// A reused statement keeps no SET of the update before it.
		q := db.Model(&x).Where("id = ?", x.ID)
		must(t, q.Update("hits", 11).Error)
		must(t, q.Update("name", "x3").Error)
		var now Touchy
		must(t, db.First(&now, x.ID).Error)
		if now.Name != "x3" || now.Hits != 11 {
			t.Errorf("stored %+v", now)
		}
		if got := count() - n; got != 1 {
			t.Errorf("reused statement: %d entries, want 1", got)
		}
		n = count()
		// A later callback's SetColumn of a recorded column is recorded.
		must(t, db.Callback().Update().Before("gorm:update").Register("app:rename", func(tx *gorm.DB) {
			if tx.Statement.Schema != nil && tx.Statement.Schema.Table == "touchies" {
				tx.Statement.SetColumn("Name", "cb")
			}
		}))
		must(t, db.Model(&Touchy{}).Where("id = ?", x.ID).Update("hits", 12).Error)
		must(t, db.Callback().Update().Remove("app:rename"))
		if got := count() - n; got != 1 {
			t.Errorf("callback's column: %d entries, want 1", got)
		}
		// A soft-deleted row is out of scope; Unscoped reaches it.
		must(t, db.Delete(&x).Error)
		n = count()
		res := db.Model(&Touchy{}).Where("id = ?", x.ID).Update("hits", 13)
		must(t, res.Error)
		if res.RowsAffected != 0 {
			t.Errorf("soft-deleted row updated: %d", res.RowsAffected)
		}
		must(t, db.Unscoped().Model(&Touchy{}).Where("id = ?", x.ID).Update("name", "gone").Error)
		if got := count() - n; got != 1 {
			t.Errorf("unscoped update: %d entries, want 1", got)
		}
		// DryRun runs nothing.
		must(t, db.Session(&gorm.Session{DryRun: true}).Model(&v).Update("updated_at", time.Now()).Error)
	})
}

// OnUpdate has a recorded column the database sets on every update
// (MariaDB's ON UPDATE CURRENT_TIMESTAMP).
type OnUpdate struct {
	ID        uint
	Name      string    `gorm:"size:40"`
	Changed   time.Time `gorm:"type:timestamp(6);not null;default:CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)"`
	UpdatedAt time.Time
}

// TestUntrackedOnUpdateColumn: on MariaDB a column declared ON UPDATE
// changes with any update; an update of the timestamp alone changes that
// recorded column, and its entry must be written.
func TestUntrackedOnUpdateColumn(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		if db.Dialector.Name() != "mysql" {
			t.Skip("ON UPDATE is MariaDB's")
		}
		reg := setup(t, db, &OnUpdate{})
		must(t, reg.Register(&OnUpdate{}))
		x := OnUpdate{Name: "x"}
		must(t, db.Omit("changed").Create(&x).Error)
		var before OnUpdate
		must(t, db.First(&before, x.ID).Error)
		time.Sleep(5 * time.Millisecond)
		must(t, db.Model(&x).Update("updated_at", time.Now().Add(time.Minute)).Error)
		var after OnUpdate
		must(t, db.First(&after, x.ID).Error)
		if after.Changed.Equal(before.Changed) {
			t.Fatalf("changed stayed %v", after.Changed)
		}
		es := expectCount(t, db, 2)
		if _, ok := es[1].Changes["changed"]; !ok {
			t.Fatalf("entry %s", es[1].Changes)
		}
	})
}

// TestUntrackedAppendStaysUntracked: the owner's timestamp update GORM's
// Association sends still runs untracked: its value is bound, not SQL.
func TestUntrackedAppendStaysUntracked(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := auditlog.NewRegistry()
		hooks := &hookRecorder{}
		must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg, Hooks: hooks})))
		must(t, db.AutoMigrate(&Touched{}, &TouchedTag{}))
		must(t, reg.Register(&Touched{}, auditlog.M2M("Tags")))
		x := Touched{Name: "x"}
		must(t, db.Create(&x).Error)
		tag := TouchedTag{Name: "t"}
		must(t, db.Create(&tag).Error)
		hooks.take()
		must(t, db.Model(&x).Association("Tags").Append(&tag))
		ends, _, _ := hooks.take()
		var paths []auditgorm.Path
		for _, e := range ends {
			paths = append(paths, e.Path)
		}
		if !slices.Contains(paths, auditgorm.PathUntracked) {
			t.Fatalf("append took %v", paths)
		}
	})
}
