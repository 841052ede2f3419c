package auditgorm_test

import (
	"context"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// Touched is the model of TestUntrackedUpdate: an auto-updated timestamp,
// an excluded field and a masked one.
type Touched struct {
	ID        uint
	Name      string `gorm:"size:40"`
	Hits      int
	Secret    string `gorm:"size:40"`
	UpdatedAt time.Time
	Tags      []TouchedTag `gorm:"many2many:touched_links"`
}

type TouchedTag struct {
	ID   uint
	Name string `gorm:"size:40"`
}

// Computed has a field GORM never writes, which the database could compute.
type Computed struct {
	ID        uint
	Name      string `gorm:"size:40"`
	Shadow    string `gorm:"->;size:40"`
	UpdatedAt time.Time
}

// TestUntrackedUpdate: an update that assigns only columns no update entry
// records (an auto-updated timestamp, an excluded field) runs as it is, one
// statement, and makes no entry; one that assigns a recorded column, a
// masked one included, is captured; so is any update of a model with a
// field the database may compute.
func TestUntrackedUpdate(t *testing.T) {
	for _, kind := range testdb.Names() {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			db, counter := testdb.OpenCounting(t, kind)
			reg := auditlog.NewRegistry()
			hooks := &hookRecorder{}
			must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg, Hooks: hooks})))
			// The creates below read the tables' definitions (SQLite), once
			// for the test: the counts are of the steady state.
			auditgorm.KeepCatalogReads(db)
			must(t, db.AutoMigrate(&Touched{}, &TouchedTag{}, &Computed{}))
			must(t, reg.Register(&Touched{}, auditlog.Exclude("Hits"), auditlog.Mask("Secret"), auditlog.M2M("Tags")))
			must(t, reg.Register(&Computed{}))
			x := Touched{Name: "x"}
			must(t, db.Create(&x).Error)
			c := Computed{Name: "c"}
			must(t, db.Create(&c).Error)
			ctx := context.Background()
			entries := func() int64 {
				var n int64
				must(t, db.Table("auditlog_entries").Count(&n).Error)
				return n
			}
			for _, tc := range []struct {
				name      string
				run       func(db *gorm.DB) error
				untracked bool // runs as the unaudited statement does
				entries   int64
				path      auditgorm.Path
			}{
				{"timestamp", func(db *gorm.DB) error { return db.Model(&x).Update("updated_at", time.Now()).Error }, true, 0, auditgorm.PathUntracked},
				{"excluded", func(db *gorm.DB) error { return db.Model(&Touched{}).Where("name = ?", "x").Update("hits", 3).Error }, true, 0, auditgorm.PathUntracked},
				{"masked", func(db *gorm.DB) error { return db.Model(&x).Update("secret", "s3cret").Error }, false, 1, ""},
				{"recorded", func(db *gorm.DB) error { return db.Model(&x).Update("name", "y").Error }, false, 1, ""},
				{"computed field", func(db *gorm.DB) error { return db.Model(&c).Update("updated_at", time.Now()).Error }, false, 0, ""},
				{"no rows", func(db *gorm.DB) error { return db.Model(&Touched{}).Where("id = ?", 999).Update("hits", 1).Error }, true, 0, auditgorm.PathUntracked},
			} {
				// The statements the write runs audited, then unaudited (a
				// second time, which changes nothing: the same statements).
				e := entries()
				n := counter.Load()
				hooks.take()
				if err := tc.run(db); err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				ran := counter.Load() - n
				made := entries() - e
				n = counter.Load()
				if err := tc.run(db.WithContext(auditlog.Disable(ctx))); err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				plain := counter.Load() - n
				if (tc.untracked && ran != plain) || made != tc.entries {
					t.Errorf("%s: %d statements (%d unaudited), %d entries", tc.name, ran, plain, made)
				}
				if ends, _, _ := hooks.take(); len(ends) != 1 || (tc.path != "" && ends[0].Path != tc.path) || (tc.path == "" && ends[0].Path == auditgorm.PathUntracked) {
					t.Errorf("%s: hooks saw %+v", tc.name, ends)
				}
			}
			// GORM's Append touches the owner's updated_at: that update is
			// untracked, the link is recorded.
			tag := TouchedTag{Name: "t"}
			must(t, db.Create(&tag).Error)
			e := entries()
			must(t, db.WithContext(ctx).Model(&x).Association("Tags").Append(&tag))
			if made := entries() - e; made != 1 {
				t.Errorf("append: %d entries, want 1", made)
			}
			var stored Touched
			must(t, db.First(&stored, x.ID).Error)
			if stored.Hits != 3 || stored.Name != "y" {
				t.Errorf("stored %+v", stored)
			}
		})
	}
}
