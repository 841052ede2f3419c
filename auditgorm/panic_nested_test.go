package auditgorm_test

import (
	"context"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// Fused's String panics on "boom": the capture of a statement that writes
// one runs it for the entry's repr.
type Fused struct {
	ID      uint
	OwnerID uint
	Name    string
}

func (f Fused) String() string {
	if f.Name == "boom" {
		panic("fused")
	}
	return f.Name
}

type FusedOwner struct {
	ID    uint
	Name  string
	Fuses []Fused `gorm:"foreignKey:OwnerID"`
}

type FusedRef struct {
	ID      uint
	Name    string
	FusedID uint
	Fused   Fused
}

type FusedSet struct {
	ID    uint
	Name  string
	Fuses []Fused `gorm:"many2many:fused_set_fuses"`
}

// HookBomb's BeforeUpdate panics.
type HookBomb struct {
	ID   uint
	Name string
}

func (h *HookBomb) BeforeUpdate(*gorm.DB) error {
	if h.Name == "boom" {
		panic("hook")
	}
	return nil
}

// TestPanicInANestedStatementLeaksNothing: a capture that panicked in a
// statement GORM nests in another's transaction to save its associations
// (a has-many child, a belongs-to parent, a many-to-many append's join
// rows) left that transaction open: it held its connection and locks for
// ever (on SQLite the write lock, so every later write failed). So did a
// panic in a model's hook, as GORM leaves it. The transaction is rolled
// back, and nothing of the write is committed.
func TestPanicInANestedStatementLeaksNothing(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		db.Config.DisableForeignKeyConstraintWhenMigrating = true
		reg := setup(t, db, &Fused{}, &FusedOwner{}, &FusedRef{}, &FusedSet{}, &HookBomb{})
		must(t, reg.Register(&Fused{}))
		must(t, reg.Register(&FusedOwner{}))
		must(t, reg.Register(&FusedRef{}))
		must(t, reg.Register(&FusedSet{}, auditlog.M2M("Fuses")))
		must(t, reg.Register(&HookBomb{}))
		sqlDB, err := db.DB()
		must(t, err)
		quiet := db.WithContext(auditlog.Disable(context.Background()))
		boom := Fused{Name: "boom"}
		must(t, quiet.Create(&boom).Error)
		set := FusedSet{Name: "s"}
		must(t, quiet.Create(&set).Error)
		hb := HookBomb{Name: "boom"}
		must(t, quiet.Create(&hb).Error)
		before := len(entries(t, db))
		for _, w := range []struct {
			name  string
			write func(ctx context.Context) error
		}{
			{"has-many", func(ctx context.Context) error {
				return db.WithContext(ctx).Create(&FusedOwner{Name: "o", Fuses: []Fused{{Name: "boom"}}}).Error
			}},
			{"belongs-to", func(ctx context.Context) error {
				return db.WithContext(ctx).Create(&FusedRef{Name: "r", Fused: Fused{Name: "boom"}}).Error
			}},
			{"many-to-many append", func(ctx context.Context) error {
				return db.WithContext(ctx).Model(&set).Association("Fuses").Append(&boom)
			}},
			{"a hook", func(ctx context.Context) error {
				return db.WithContext(ctx).Model(&hb).Update("name", "x").Error
			}},
		} {
			// Cancelled at the end of each case, so that a transaction left
			// open is rolled back by database/sql and the test's cleanup
			// does not wait for it.
			ctx, cancel := context.WithCancel(context.Background())
			panicked := func() (p any) {
				defer func() { p = recover() }()
				_ = w.write(ctx)
				return nil
			}()
			if panicked == nil {
				t.Errorf("%s: no panic", w.name)
			}
			if st := sqlDB.Stats(); st.InUse != 0 {
				t.Errorf("%s: after the panic, %d connections in use (a transaction left open)", w.name, st.InUse)
			}
			cancel()
			wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := db.WithContext(wctx).Create(&FusedOwner{Name: "after " + w.name}).Error; err != nil {
				t.Errorf("%s: the next write: %v", w.name, err)
			}
			wcancel()
		}
		var owners, refs, links int64
		must(t, db.Model(&FusedOwner{}).Where("name = ?", "o").Count(&owners).Error)
		must(t, db.Model(&FusedRef{}).Count(&refs).Error)
		must(t, db.Table("fused_set_fuses").Count(&links).Error)
		var still HookBomb
		must(t, db.First(&still, hb.ID).Error)
		if owners+refs+links != 0 || still.Name != "boom" {
			t.Errorf("a write that panicked was committed: %d owners, %d refs, %d links, hook bomb %q", owners, refs, links, still.Name)
		}
		if n := len(entries(t, db)) - before; n != 4 { // the four writes after
			t.Errorf("%d entries since, want the 4 of the writes after the panics", n)
		}
	})
}
