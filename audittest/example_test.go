//go:build !auditlog_mattn

// The example opens SQLite with the default driver, ncruces, which a test
// binary built with -tags auditlog_mattn cannot hold beside mattn.

package audittest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3/gormlite"
	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/audittest"
)

// In an application's test: a fixed clock for entry timestamps, then one
// assertion per write.
func Example() {
	dir, _ := os.MkdirTemp("", "audittest")
	defer os.RemoveAll(dir)
	db, _ := gorm.Open(gormlite.Open(filepath.Join(dir, "app.db")), &gorm.Config{})
	reg := auditlog.NewRegistry()
	_ = reg.Register(&Book{})
	clock := audittest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	_ = db.Use(auditgorm.New(auditgorm.Config{Registry: reg, Now: clock.Now}))
	_ = auditgorm.Migrate(context.Background(), db)
	_ = db.AutoMigrate(&Book{})

	b := Book{Title: "Dune", Price: 10}
	db.Create(&b)
	clock.Advance(time.Hour)
	db.Model(&b).Update("price", 12)

	checkPriceChange(printer{}, db, b.ID)
	// Output: update 2026-01-02T04:04:05Z
}

// checkPriceChange is what a test asserts; in a test, t is the test's own.
func checkPriceChange(t testing.TB, db *gorm.DB, id uint) {
	e := audittest.RequireEntry(t, db, &Book{}, id, auditlog.ActionUpdate, audittest.Changes{"price": {10, 12}})
	fmt.Println(e.Action, e.Timestamp.Format(time.RFC3339))
}

// printer stands in for a test's t here: it prints failures.
type printer struct{ testing.TB }

func (printer) Helper()                           {}
func (printer) Fatal(args ...any)                 { fmt.Println(args...) }
func (printer) Fatalf(format string, args ...any) { fmt.Printf(format+"\n", args...) }
