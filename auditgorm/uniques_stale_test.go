package auditgorm_test

import (
	"database/sql"
	"os"
	"strings"
	"testing"
	"time"

	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// StaleMember gets a unique index on its email after the plugin first
// read the table's unique indexes.
type StaleMember struct {
	ID    uint
	Email string `gorm:"size:64"`
	Name  string `gorm:"size:32"`
}

// openMySQLReturning opens an isolated MySQL database whose GORM uses
// RETURNING (MariaDB's) or not (MySQL's, read back), and its pool.
func openMySQLReturning(t *testing.T, returning bool) (*gorm.DB, *sql.DB) {
	t.Helper()
	_, dsn := testdb.OpenWithDSN(t, "mysql")
	db, err := gorm.Open(mysql.New(mysql.Config{DSN: dsn, DisableWithReturning: !returning}), &gorm.Config{Logger: logger.Default.LogMode(logger.Silent)})
	must(t, err)
	sqlDB, err := db.DB()
	must(t, err)
	t.Cleanup(func() { _ = sqlDB.Close() })
	return db, sqlDB
}

// MySQL keeps the unique indexes it read per table, as its DDL commits:
// one another process (or a migration not run through this GORM) adds is
// not seen at once. An upsert that collides on it is not recorded as the
// indexes read before would have it (a create of the row it updated, with
// no old values): one whose affected-row count or returned keys show a
// collision its reads did not foresee is refused, and its retry reads the
// indexes again; one that shows nothing (no key of the known indexes
// sent) is served by indexes read at most uniquesMaxAge before.
func TestUpsertOnAUniqueIndexAddedElsewhere(t *testing.T) {
	if os.Getenv(testdb.MySQLEnv) == "" {
		t.Skip("MySQL only: the other databases read their unique indexes each time, or need none")
	}
	for _, c := range []struct {
		name   string
		rows   func() []StaleMember
		maxAge time.Duration // 0: the plugin's
	}{
		{"one row, a new key", func() []StaleMember { return []StaleMember{{ID: 7, Email: "ann@example.com", Name: "ann (upserted)"}} }, 0},
		{"rows with new keys", func() []StaleMember {
			return []StaleMember{{ID: 7, Email: "ann@example.com", Name: "ann (upserted)"}, {ID: 8, Email: "bob@example.com", Name: "bob"}}
		}, 0},
		{"rows without keys, indexes read again", func() []StaleMember {
			return []StaleMember{{Email: "ann@example.com", Name: "ann (upserted)"}, {Email: "bob@example.com", Name: "bob"}}
		}, time.Millisecond},
		{"rows without keys, read back", func() []StaleMember {
			return []StaleMember{{Email: "ann@example.com", Name: "ann (upserted)"}, {Email: "bob@example.com", Name: "bob"}}
		}, 0},
		{"one row without a key, indexes read again", func() []StaleMember { return []StaleMember{{Email: "ann@example.com", Name: "ann (upserted)"}} }, time.Millisecond},
	} {
		for _, returning := range []bool{true, false} {
			name := c.name + ", RETURNING"
			if !returning {
				name = c.name + ", read back"
			}
			if strings.HasSuffix(c.name, "read back") {
				if returning {
					// Nothing in the statement's rows shows the collision
					// (no key of theirs, a row per row): the indexes are
					// read again after uniquesMaxAge (the case above).
					continue
				}
				name = c.name
			}
			t.Run(name, func(t *testing.T) {
				db, sqlDB := openMySQLReturning(t, returning)
				reg := auditlog.NewRegistry()
				p := auditgorm.New(auditgorm.Config{Registry: reg})
				if c.maxAge > 0 {
					auditgorm.SetUniquesMaxAge(p, c.maxAge)
				}
				must(t, db.Use(p))
				must(t, db.AutoMigrate(&StaleMember{}))
				must(t, reg.Register(&StaleMember{}))
				upsert := func(rows []StaleMember) error {
					return db.Clauses(clause.OnConflict{UpdateAll: true}).Create(&rows).Error
				}
				must(t, upsert([]StaleMember{{ID: 1, Email: "ann@example.com", Name: "ann"}})) // reads the indexes: the primary key alone
				if _, err := sqlDB.Exec("CREATE UNIQUE INDEX idx_stale_email ON stale_members (email)"); err != nil {
					t.Fatal(err)
				}
				time.Sleep(2 * c.maxAge)
				first := upsert(c.rows())
				if first != nil {
					// Refused: the retry knows the index.
					must(t, upsert(c.rows()))
				}
				var members []StaleMember
				must(t, db.Order("id").Find(&members).Error)
				if members[0].ID != 1 || members[0].Name != "ann (upserted)" {
					t.Fatalf("the table holds %+v", members)
				}
				es := entries(t, db)
				var ann []auditlog.Entry
				for _, e := range es {
					if e.ObjectPK == "1" {
						ann = append(ann, e)
					}
				}
				if len(es) != len(members)+1 || len(ann) != 2 || ann[1].Action != auditlog.ActionUpdate || string(ann[1].Changes["name"].Old) != `"ann"` {
					for _, e := range es {
						t.Logf("entry %d: %s %s %s", e.ID, e.Action, e.ObjectPK, e.Changes)
					}
					t.Fatalf("the first upsert returned %v; %d entries for %d rows, want row 1's create and update", first, len(es), len(members))
				}
			})
		}
	}
}

// A batch upsert whose one row updates its own row and another row
// collides on the index added elsewhere and updates a third row, which
// the reads by the known keys do not find: the count alone cannot tell
// (4 = two updates), the sent key missing from the rows read back does.
func TestUpsertOnAUniqueIndexAddedElsewhereUpdatesAnotherRow(t *testing.T) {
	if os.Getenv(testdb.MySQLEnv) == "" {
		t.Skip("MySQL only")
	}
	for _, returning := range []bool{true, false} {
		db, sqlDB := openMySQLReturning(t, returning)
		reg := auditlog.NewRegistry()
		must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg})))
		auditgorm.KeepCatalogReads(db) // within the re-read's 100 ms
		must(t, db.AutoMigrate(&StaleMember{}))
		must(t, reg.Register(&StaleMember{}))
		up := func(rows []StaleMember) error {
			return db.Clauses(clause.OnConflict{UpdateAll: true}).Create(&rows).Error
		}
		must(t, up([]StaleMember{{ID: 1, Email: "ann@x", Name: "ann"}, {ID: 10, Email: "carl@x", Name: "carl"}}))
		_, err := sqlDB.Exec("CREATE UNIQUE INDEX idx_stale_email ON stale_members (email)")
		must(t, err)
		err = up([]StaleMember{{ID: 10, Email: "carl@x", Name: "carl2"}, {ID: 11, Email: "ann@x", Name: "ann2"}})
		if err == nil {
			var rows []StaleMember
			must(t, db.Order("id").Find(&rows).Error)
			n := 0
			for _, e := range entries(t, db) {
				if e.ObjectPK == "1" {
					n++
				}
			}
			if rows[0].Name == "ann2" && n != 2 {
				t.Errorf("RETURNING %v: row 1 was updated to ann2 by the upsert, with no entry", returning)
			}
		}
	}
}
