package auditgorm_test

import (
	"context"
	"database/sql"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// Stocked has columns the database fills (a key, a default) for a
// caller's RETURNING to bring back.
type Stocked struct {
	ID    uint   `gorm:"primaryKey"`
	Code  string `gorm:"uniqueIndex;size:32"`
	Stock int    `gorm:"default:7"`
	Note  string
}

// A create with the caller's own RETURNING fills the caller's objects as it
// does without the plugin (every column with RETURNING *, the columns named
// otherwise, a batch and upserts included), and its entries record the rows
// as stored.
func TestCreateWithCallersReturning(t *testing.T) {
	for _, c := range []struct {
		name string
		run  func(db *gorm.DB) (any, error)
	}{
		{"one, every column", func(db *gorm.DB) (any, error) {
			s := Stocked{Code: "a", Note: "n"}
			err := db.Clauses(clause.Returning{}).Create(&s).Error
			return s, err
		}},
		{"one, named columns", func(db *gorm.DB) (any, error) {
			s := Stocked{Code: "a", Note: "n"}
			err := db.Clauses(clause.Returning{Columns: []clause.Column{{Name: "id"}, {Name: "stock"}}}).Create(&s).Error
			return s, err
		}},
		{"batch, every column", func(db *gorm.DB) (any, error) {
			s := []Stocked{{Code: "a"}, {Code: "b", Stock: 3}}
			err := db.Clauses(clause.Returning{}).Create(&s).Error
			return s, err
		}},
		{"batch upsert, every column", func(db *gorm.DB) (any, error) {
			if err := db.Create(&Stocked{Code: "a", Note: "old"}).Error; err != nil {
				return nil, err
			}
			s := []Stocked{{Code: "a", Note: "new"}, {Code: "b"}}
			err := db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "code"}}, DoUpdates: clause.AssignmentColumns([]string{"note"})}, clause.Returning{}).Create(&s).Error
			return s, err
		}},
		{"upsert do nothing, every column", func(db *gorm.DB) (any, error) {
			if err := db.Create(&Stocked{Code: "a", Note: "old"}).Error; err != nil {
				return nil, err
			}
			s := []Stocked{{Code: "a", Note: "new"}, {Code: "b"}}
			err := db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "code"}}, DoNothing: true}, clause.Returning{}).Create(&s).Error
			return s, err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
				plain := testdb.Open(t, db.Dialector.Name())
				must(t, plain.AutoMigrate(&Stocked{}))
				want, wantErr := c.run(plain)
				reg := setup(t, db, &Stocked{})
				must(t, reg.Register(&Stocked{}))
				got, err := c.run(db)
				if (err != nil) != (wantErr != nil) {
					t.Fatalf("error %v, without auditing %v", err, wantErr)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("the caller's objects:\n got %+v\nwant %+v (without auditing)", got, want)
				}
				var rows []Stocked
				must(t, db.Order("code").Find(&rows).Error)
				for _, r := range rows {
					var es []auditlog.Entry
					for _, e := range entries(t, db) {
						if e.ObjectPK == strconv.FormatUint(uint64(r.ID), 10) {
							es = append(es, e)
						}
					}
					if len(es) == 0 {
						t.Fatalf("no entry for row %+v", r)
					}
					last := es[len(es)-1].Changes
					if c := last["stock"]; c.New != nil && string(c.New) != strconv.Itoa(r.Stock) {
						t.Errorf("row %+v: the entry records stock %s", r, c.New)
					}
					if c := last["note"]; c.New != nil && string(c.New) != `"`+r.Note+`"` {
						t.Errorf("row %+v: the entry records note %s", r, c.New)
					}
				}
			})
		})
	}
}

// An upsert with the caller's RETURNING whose conflicting row another
// transaction inserted after the plugin looked for it (READ COMMITTED
// locks no gap) updated that row: it is not recorded as a create. On
// PostgreSQL the statement tells inserted rows from updated ones; before,
// the caller's RETURNING sent the capture to a read-back, which cannot.
func TestUpsertWithCallersReturningRace(t *testing.T) {
	if !contains(testdb.Names(), "postgres") {
		t.Skip(testdb.PostgresEnv + " is not set")
	}
	for _, c := range []struct {
		name  string
		oc    clause.OnConflict
		batch bool
	}{
		{"do nothing", clause.OnConflict{Columns: []clause.Column{{Name: "code"}}, DoNothing: true}, false},
		{"update all", clause.OnConflict{Columns: []clause.Column{{Name: "code"}}, UpdateAll: true}, false},
		{"batch update all", clause.OnConflict{Columns: []clause.Column{{Name: "code"}}, UpdateAll: true}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			db, counter := testdb.OpenCounting(t, "postgres")
			reg := setup(t, db, &Doc{})
			must(t, reg.Register(&Doc{}))
			base, err := db.DB()
			must(t, err)
			ctx, raced := interleave(t, counter, func(q string) bool {
				return strings.HasPrefix(q, "SELECT") && strings.Contains(q, `"docs"`)
			}, func(ctx context.Context) error {
				_, err := base.ExecContext(ctx, "INSERT INTO docs (code, body) VALUES ('k1', 'theirs')")
				return err
			})
			err = db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
				q := tx.Clauses(c.oc, clause.Returning{})
				if c.batch {
					return q.Create(&[]Doc{{Code: "k1", Body: "mine"}, {Code: "k2", Body: "mine"}}).Error
				}
				return q.Create(&Doc{Code: "k1", Body: "mine"}).Error
			}, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
			counter.AfterQuery(nil)
			if err != nil && !strings.Contains(err.Error(), "retry the transaction") {
				t.Fatal(err)
			}
			var d Doc
			must(t, db.First(&d, "code = ?", "k1").Error)
			for _, e := range entries(t, db) {
				// DO NOTHING reads nothing before the insert, which returns
				// the rows it inserted: no other transaction comes between.
				if e.ObjectPK == "k1" && *raced {
					t.Errorf("entry %s of k1 %s, a row another transaction inserted (stored: %q; the upsert: %v)", e.Action, e.Changes, d.Body, err)
				}
			}
		})
	}
}
