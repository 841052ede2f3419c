package auditgorm_test

import (
	"bytes"
	"context"
	"log"
	"strings"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// TestRestoreLogsNoError: Restore looks for the row before it writes it
// back; on a deleted row that look-up found nothing, and GORM's logger
// printed "record not found" as an error in the application's log on
// every restore.
func TestRestoreLogsNoError(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Book{})
		must(t, reg.Register(&Book{}))
		b := Book{Title: "dune"}
		must(t, db.Create(&b).Error)
		must(t, db.Unscoped().Delete(&b).Error)
		var out bytes.Buffer
		logged := db.Session(&gorm.Session{Logger: logger.New(log.New(&out, "", 0), logger.Config{LogLevel: logger.Error})})
		must(t, auditgorm.Restore(context.Background(), logged, &Book{ID: b.ID}, auditgorm.RevertOptions{}))
		if strings.Contains(out.String(), "record not found") {
			t.Errorf("the application's log:\n%s", out.String())
		}
		var back Book
		must(t, db.First(&back, b.ID).Error)
		if back.Title != "dune" {
			t.Errorf("restored %+v", back)
		}
	})
}
