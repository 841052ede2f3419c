package auditgorm_test

import (
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// Unique is the model of TestWriteErrorReportedOnce.
type Unique struct {
	ID   uint
	Name string `gorm:"size:40;uniqueIndex"`
}

// TestWriteErrorReportedOnce: a write the database refuses returns the
// database's error as GORM alone returns it, once, inside GORM's default
// transaction, the caller's and the plugin's own.
func TestWriteErrorReportedOnce(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		must(t, db.AutoMigrate(&Unique{}))
		must(t, db.Create(&Unique{Name: "a"}).Error)
		must(t, db.Create(&Unique{Name: "b"}).Error)
		writes := map[string]func(db *gorm.DB) error{
			"create":       func(db *gorm.DB) error { return db.Create(&Unique{Name: "a"}).Error },
			"batch create": func(db *gorm.DB) error { return db.Create([]Unique{{Name: "c"}, {Name: "a"}}).Error },
			"update":       func(db *gorm.DB) error { return db.Model(&Unique{}).Where("name = ?", "b").Update("name", "a").Error },
		}
		plain := map[string]string{}
		for name, write := range writes {
			err := write(db)
			if err == nil {
				t.Fatalf("%s: no error without the plugin", name)
			}
			plain[name] = err.Error()
		}
		reg := auditlog.NewRegistry()
		must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg})))
		must(t, reg.Register(&Unique{}))
		for name, write := range writes {
			for how, run := range map[string]func() error{
				"default transaction": func() error { return write(db) },
				"own transaction":     func() error { return write(db.Session(&gorm.Session{SkipDefaultTransaction: true})) },
				"caller's transaction": func() error {
					tx := db.Begin()
					defer tx.Rollback()
					return write(tx)
				},
			} {
				if err := run(); err == nil || err.Error() != plain[name] {
					t.Errorf("%s in the %s: %v, want %s", name, how, err, plain[name])
				}
			}
		}
	})
}
