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

// Stamped sets a column in its BeforeUpdate hook.
type Stamped struct {
	ID     uint
	Title  string
	Editor string
}

func (s *Stamped) BeforeUpdate(tx *gorm.DB) error {
	tx.Statement.SetColumn("Editor", "hook")
	return nil
}

// Values that model hooks set are captured; a reused statement chain logs
// each step from its own old value; prepared-statement mode works; restoring
// a soft-deleted row is an update of deleted_at back to null.
func TestEdgeCases(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Stamped{}, &Counter{}, &Book{})
		must(t, reg.Register(&Stamped{}))
		must(t, reg.Register(&Counter{}))
		must(t, reg.Register(&Book{}, auditlog.Exclude("UpdatedAt")))

		s := Stamped{Title: "a", Editor: "me"}
		must(t, db.Create(&s).Error)
		must(t, db.Model(&s).Update("title", "b").Error)
		assertChanges(t, expectCount(t, db, 2)[1], `{"title":["a","b"],"editor":["me","hook"]}`)

		c := Counter{}
		must(t, db.Create(&c).Error)
		q := db.Model(&c)
		must(t, q.Update("n", 1).Error)
		must(t, q.Update("n", 2).Error)
		es := expectCount(t, db, 5)
		assertChanges(t, es[3], `{"n":[0,1]}`)
		assertChanges(t, es[4], `{"n":[1,2]}`)

		b := Book{Title: "x"}
		must(t, db.Create(&b).Error)
		must(t, db.Delete(&b).Error)
		must(t, db.Unscoped().Model(&b).Update("deleted_at", nil).Error)
		es = expectCount(t, db, 8)
		if dc := es[7].Changes["deleted_at"]; es[7].Action != auditlog.ActionUpdate || string(dc.New) != "null" || string(dc.Old) == "null" {
			t.Fatalf("restore entry %s %s", es[7].Action, es[7].Changes)
		}
	})
}

func TestPreparedStatements(t *testing.T) {
	t.Parallel()
	base := testdb.Open(t, "sqlite")
	db := base.Session(&gorm.Session{PrepareStmt: true})
	reg := auditlog.NewRegistry()
	p := auditgorm.New(auditgorm.Config{Registry: reg})
	must(t, db.Use(p))
	must(t, db.AutoMigrate(&Counter{}))
	must(t, reg.Register(&Counter{}))
	c := Counter{}
	for i := 1; i <= 3; i++ {
		if i <= 2 {
			c = Counter{}
			must(t, db.Create(&c).Error)
		}
		must(t, db.Model(&c).Update("n", i).Error)
	}
	must(t, db.Transaction(func(tx *gorm.DB) error { return tx.Delete(&c).Error }))
	if es := expectCount(t, db, 6); es[5].Action != auditlog.ActionDelete {
		t.Fatalf("last entry %s", es[5].Action)
	}
	// GORM prepares a statement in a transaction on that transaction only,
	// so the plugin prepares the application's writes it runs, as it does
	// without PrepareStmt.
	if texts := auditgorm.PreparedTexts(p); !hasText(texts, "INSERT INTO `counters`") || !hasText(texts, "UPDATE `counters`") {
		t.Fatalf("the application's statements are not prepared: %q", texts)
	}
}

// Config.Now gives entry timestamps, for imports and tests.
func TestConfigNow(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t, "sqlite")
	reg := auditlog.NewRegistry()
	at := time.Date(2020, 2, 2, 2, 2, 2, 2000, time.UTC)
	must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg, Now: func() time.Time { return at }})))
	must(t, db.AutoMigrate(&Counter{}))
	must(t, reg.Register(&Counter{}))
	c := Counter{}
	must(t, db.Create(&c).Error)
	must(t, auditgorm.LogAccess(context.Background(), db, &c))
	for _, e := range expectCount(t, db, 2) {
		if !e.Timestamp.Equal(at) {
			t.Fatalf("timestamp %v, want %v", e.Timestamp, at)
		}
	}
}
