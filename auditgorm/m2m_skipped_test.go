package auditgorm_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// RvOwner is related to RvTag by a string primary key.
type RvOwner struct {
	ID   uint
	Name string
	Tags []RvTag `gorm:"many2many:rv_owner_tags"`
}

type RvTag struct {
	Code string `gorm:"primaryKey;size:32"`
}

// On MariaDB/MySQL (case-insensitive, PAD SPACE collations) appending a tag
// whose key the database compares equal to one the owner already has
// inserts nothing (ON DUPLICATE KEY UPDATE skips it). The append is a
// legitimate no-op: it must succeed and record nothing. A retry cannot
// change that, so a "retry the transaction" error makes the append fail
// forever.
func TestM2MAppendOfPairTheCollationAlreadyHas(t *testing.T) {
	if !contains(testdb.Names(), "mysql") {
		t.Skip(testdb.MySQLEnv + " is not set")
	}
	for _, spelled := range []string{"Go", "go "} {
		t.Run(fmt.Sprintf("%q", spelled), func(t *testing.T) {
			db := testdb.Open(t, "mysql")
			db.Config.DisableForeignKeyConstraintWhenMigrating = true
			reg := setup(t, db, &RvOwner{}, &RvTag{})
			// MariaDB's default collation (the test database's is _bin,
			// which ignores trailing spaces only).
			for _, tbl := range []string{"rv_tags", "rv_owner_tags"} {
				must(t, db.Exec("ALTER TABLE "+tbl+" CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci").Error)
			}
			must(t, reg.Register(&RvOwner{}, auditlog.M2M("Tags")))
			o := RvOwner{Name: "ann", Tags: []RvTag{{Code: "go"}}}
			must(t, db.Create(&o).Error)
			n := len(entries(t, db))
			for attempt := 1; attempt <= 2; attempt++ {
				err := db.Transaction(func(tx *gorm.DB) error {
					return tx.Model(&RvOwner{ID: o.ID}).Association("Tags").Append(&RvTag{Code: spelled})
				})
				if err != nil {
					t.Errorf("attempt %d: append of a pair the owner already has: %v", attempt, err)
				}
			}
			var pairs int64
			must(t, db.WithContext(auditlog.Disable(context.Background())).Table("rv_owner_tags").Count(&pairs).Error)
			if pairs != 1 {
				t.Fatalf("%d pairs, want 1", pairs)
			}
			if got := m2mLog(t, db, n); len(got) != 0 {
				t.Errorf("entries %s for an append that inserted nothing", strings.Join(got, "; "))
			}
		})
	}
}

// RvNocaseTag's key compares without case on SQLite (COLLATE NOCASE, which
// GORM copies to the join table's column).
type RvNocaseOwner struct {
	ID   uint
	Name string
	Tags []RvNocaseTag `gorm:"many2many:rv_nocase_owner_tags"`
}

type RvNocaseTag struct {
	Code string `gorm:"primaryKey;type:text COLLATE NOCASE"`
}

// The same on SQLite: a key column whose collation ignores case.
func TestM2MAppendOfPairTheCollationAlreadyHasSQLite(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db, &RvNocaseOwner{}, &RvNocaseTag{})
	must(t, reg.Register(&RvNocaseOwner{}, auditlog.M2M("Tags")))
	o := RvNocaseOwner{Name: "ann", Tags: []RvNocaseTag{{Code: "go"}}}
	must(t, db.Create(&o).Error)
	n := len(entries(t, db))
	err := db.Model(&RvNocaseOwner{ID: o.ID}).Association("Tags").Append(&RvNocaseTag{Code: "Go"})
	if err != nil {
		t.Errorf("append of a pair the owner already has: %v", err)
	}
	var pairs int64
	must(t, db.WithContext(auditlog.Disable(context.Background())).Table("rv_nocase_owner_tags").Count(&pairs).Error)
	if pairs != 1 {
		t.Fatalf("%d pairs, want 1", pairs)
	}
	if got := m2mLog(t, db, n); len(got) != 0 {
		t.Errorf("entries %s for an append that inserted nothing", strings.Join(got, "; "))
	}
}

// An item belongs to at most one owner's list: the join table has a unique
// index on the item column besides its primary key.
type RvUqOwner struct {
	ID    uint
	Name  string
	Items []RvUqItem `gorm:"many2many:rv_uq_links"`
}

type RvUqItem struct {
	ID   uint
	Name string
}

type RvUqLink struct {
	RvUqOwnerID uint `gorm:"primaryKey"`
	RvUqItemID  uint `gorm:"primaryKey;uniqueIndex"`
}

// Appending an item another owner holds is skipped by the join insert's
// ON CONFLICT DO NOTHING (any unique index: no conflict target) and GORM
// reports no error. Nothing changed: the append must succeed and record
// nothing; no other transaction is involved, so "retry" cannot help.
func TestM2MAppendSkippedByAnotherUniqueIndex(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := auditlog.NewRegistry()
		must(t, reg.Register(&RvUqOwner{}, auditlog.M2M("Items")))
		must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg})))
		must(t, db.SetupJoinTable(&RvUqOwner{}, "Items", &RvUqLink{}))
		must(t, db.AutoMigrate(&RvUqOwner{}, &RvUqItem{}, &RvUqLink{}))
		it := RvUqItem{Name: "x"}
		must(t, db.Create(&it).Error)
		a, b := RvUqOwner{Name: "a", Items: []RvUqItem{it}}, RvUqOwner{Name: "b"}
		must(t, db.Create(&a).Error)
		must(t, db.Create(&b).Error)
		n := len(entries(t, db))
		if err := db.Model(&RvUqOwner{ID: b.ID}).Association("Items").Append(&RvUqItem{ID: it.ID}); err != nil {
			t.Errorf("append skipped by the unique index: %v", err)
		}
		var pairs int64
		must(t, db.WithContext(auditlog.Disable(context.Background())).Table("rv_uq_links").Count(&pairs).Error)
		if pairs != 1 {
			t.Fatalf("%d pairs, want 1", pairs)
		}
		if got := m2mLog(t, db, n); len(got) != 0 {
			t.Errorf("entries %s for an append that inserted nothing", strings.Join(got, "; "))
		}
	})
}
