package auditgorm_test

import (
	"log"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

type mkCard struct {
	Number string `gorm:"primaryKey;size:32"`
	Holder string `gorm:"size:32"`
	Note   string `gorm:"size:32;uniqueIndex"`
}

// An update or delete by a public condition of a model whose key is
// masked: the plugin pins the statement to the keys it read (number IN
// (…)) and reads the rows back by them, and GORM's logger printed every
// matched card number, which the application's statement never named; at
// GORM's default level too, where a statement fails. Those statements are
// logged without their values.
func TestMaskedKeysTheApplicationDidNotWriteAreNotLogged(t *testing.T) {
	for _, separate := range []bool{false, true} {
		testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
			reg := auditlog.NewRegistry()
			must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg, SeparatePreSelect: separate})))
			must(t, db.AutoMigrate(&mkCard{}))
			must(t, reg.Register(&mkCard{}, auditlog.Mask("Number")))
			before := len(entries(t, db))
			must(t, db.Create(&[]mkCard{{Number: "4111111111111111", Holder: "ann", Note: "a"}, {Number: "5500005555555559", Holder: "ann", Note: "b"}}).Error)
			var out lockedBuffer
			for _, level := range []logger.LogLevel{logger.Info, logger.Warn} {
				ldb := db.Session(&gorm.Session{Logger: logger.New(log.New(&out, "", 0), logger.Config{LogLevel: level, SlowThreshold: time.Minute})})
				if level == logger.Warn {
					// Fails on the unique note: GORM logs the failed statement.
					if err := ldb.Model(&mkCard{}).Where("holder = ?", "ann").Update("note", "same").Error; err == nil {
						t.Fatal("the update to one note succeeded")
					}
					continue
				}
				must(t, ldb.Model(&mkCard{}).Where("holder = ?", "ann").Update("holder", "bob").Error)
				must(t, ldb.Model(&mkCard{}).Where("holder = ?", "bob").Update("holder", "ann").Error)
			}
			must(t, db.Session(&gorm.Session{Logger: logger.New(log.New(&out, "", 0), logger.Config{LogLevel: logger.Info})}).
				Where("holder = ?", "ann").Delete(&mkCard{}).Error)
			logged := string(out.Bytes())
			if !strings.Contains(logged, "holder") {
				t.Fatalf("nothing logged: %s", logged)
			}
			for _, line := range strings.Split(logged, "\n") {
				if strings.Contains(line, "4111111111111111") || strings.Contains(line, "5500005555555559") {
					t.Errorf("separate pre-select %v: a masked key the application did not write is logged: %s", separate, line)
				}
			}
			if n := len(entries(t, db)) - before; n != 8 {
				t.Errorf("%d entries", n)
			}
		})
	}
}
