package auditgorm_test

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/sqlcount"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// NPOwner's items are joined by np_links, a join table made by hand
// without any key: a pair can be held twice.
type NPOwner struct {
	ID    uint
	Name  string
	Items []NPItem `gorm:"many2many:np_links"`
}

type NPItem struct {
	ID   uint
	Name string
}

func (i NPItem) String() string { return i.Name }

// NoteOwner's items are joined by NoteLink: the pair as primary key, a
// column of its own, no soft delete.
type NoteOwner struct {
	ID    uint
	Name  string
	Items []NoteItem `gorm:"many2many:note_links"`
}

type NoteItem struct {
	ID   uint
	Name string
}

func (i NoteItem) String() string { return i.Name }

type NoteLink struct {
	NoteOwnerID uint `gorm:"primaryKey"`
	NoteItemID  uint `gorm:"primaryKey"`
	Note        string
}

// raceOwnerLabel is a row of RaceOwner's join table, written directly.
type raceOwnerLabel struct {
	RaceOwnerID uint `gorm:"primaryKey"`
	RaceLabelID uint `gorm:"primaryKey"`
}

func (raceOwnerLabel) TableName() string { return "race_owner_labels" }

// A pair written by two transactions at once, neither holding a row of it
// when the other reads: another transaction appends the pair (through the
// plugin, with its entry) right before this write inserts it, after it
// has read that the pair is not there. Whatever the two do to
// the pair, the entries must leave the relation as the table holds it:
//   - an upsert that soft deletes the pair must not leave the other's add
//     standing while the row it added is soft deleted (before, the upsert
//     found no row before it, a soft-deleted one after, and recorded
//     nothing: replay kept a pair the table had not);
//   - an upsert that revives it, or a second append into a join table that
//     can hold a pair twice, must not record a second add.
//
// On PostgreSQL the pair is held for the transaction before it is read;
// MariaDB's locking read of a pair not there locks its gap under
// REPEATABLE READ; under READ COMMITTED, where it locks none, the write
// is refused if another transaction may have added a pair since.
func TestM2MPairWrittenByTwoTransactions(t *testing.T) {
	var names []string
	for _, n := range testdb.Names() {
		if n != "sqlite" { // one writer at a time: nothing can come in between
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		t.Skip(testdb.PostgresEnv + " and " + testdb.MySQLEnv + " are not set")
	}
	type scenario struct {
		name  string
		setup func(t *testing.T, db *gorm.DB) (owner, item uint, join string, appendPair func(*gorm.DB) error)
		write func(tx *gorm.DB, owner, item uint) error
		// foundRows: on MySQL only, over a connection with
		// clientFoundRows=true, whose count takes a pair found for one
		// inserted.
		foundRows bool
	}
	gone := func() gorm.DeletedAt { return gorm.DeletedAt{Time: time.Now(), Valid: true} }
	upsert := clause.OnConflict{Columns: []clause.Column{{Name: "soft_owner_id"}, {Name: "soft_item_id"}}, DoUpdates: clause.AssignmentColumns([]string{"deleted_at"})}
	soft := func(t *testing.T, db *gorm.DB) (uint, uint, string, func(*gorm.DB) error) {
		softJoin(t, db)
		o, it := SoftOwner{Name: "o"}, SoftItem{Name: "a"}
		must(t, db.Create(&o).Error)
		must(t, db.Create(&it).Error)
		return o.ID, it.ID, "soft_links", func(tx *gorm.DB) error {
			return tx.Model(&SoftOwner{ID: o.ID}).Association("Items").Append(&SoftItem{ID: it.ID})
		}
	}
	scenarios := []scenario{
		{"upsert soft deleting the pair", soft, func(tx *gorm.DB, o, it uint) error {
			return tx.Clauses(upsert).Create(&SoftLink{SoftOwnerID: o, SoftItemID: it, DeletedAt: gone()}).Error
		}, false},
		{"upsert reviving the pair", soft, func(tx *gorm.DB, o, it uint) error {
			return tx.Clauses(upsert).Create(&SoftLink{SoftOwnerID: o, SoftItemID: it}).Error
		}, false},
		{"Table(join) upsert soft deleting the pair", soft, func(tx *gorm.DB, o, it uint) error {
			return tx.Table("soft_links").Clauses(upsert).Create(map[string]any{"soft_owner_id": o, "soft_item_id": it, "deleted_at": time.Now()}).Error
		}, false},
		{"append, soft delete and no key on the pair", func(t *testing.T, db *gorm.DB) (uint, uint, string, func(*gorm.DB) error) {
			o, a, _ := idJoin(t, db)
			return o, a, "id_links", func(tx *gorm.DB) error {
				return tx.Model(&IDOwner{ID: o}).Association("Items").Append(&IDItem{ID: a})
			}
		}, func(tx *gorm.DB, o, it uint) error {
			return tx.Model(&IDOwner{ID: o}).Association("Items").Append(&IDItem{ID: it})
		}, false},
		{"append, no key on the pair", func(t *testing.T, db *gorm.DB) (uint, uint, string, func(*gorm.DB) error) {
			typ := "bigint"
			if db.Dialector.Name() == "mysql" {
				typ = "bigint unsigned"
			}
			must(t, db.Exec("CREATE TABLE np_links (np_owner_id "+typ+" NOT NULL, np_item_id "+typ+" NOT NULL)").Error)
			auditJoin(t, db, &NPOwner{}, nil, &NPItem{})
			o, it := NPOwner{Name: "o"}, NPItem{Name: "a"}
			must(t, db.Create(&o).Error)
			must(t, db.Create(&it).Error)
			return o.ID, it.ID, "np_links", func(tx *gorm.DB) error {
				return tx.Model(&NPOwner{ID: o.ID}).Association("Items").Append(&NPItem{ID: it.ID})
			}
		}, func(tx *gorm.DB, o, it uint) error {
			return tx.Model(&NPOwner{ID: o}).Association("Items").Append(&NPItem{ID: it})
		}, false},
		{"upsert assigning a column, the other an append that holds nothing", func(t *testing.T, db *gorm.DB) (uint, uint, string, func(*gorm.DB) error) {
			// The append's insert returns the pairs it inserted on
			// PostgreSQL, and counts them on MariaDB: it reads nothing
			// first, and takes the pair's lock as it inserts it.
			auditJoin(t, db, &NoteOwner{}, &NoteLink{}, &NoteItem{})
			o, it := NoteOwner{Name: "o"}, NoteItem{Name: "a"}
			must(t, db.Create(&o).Error)
			must(t, db.Create(&it).Error)
			return o.ID, it.ID, "note_links", func(tx *gorm.DB) error {
				return tx.Model(&NoteOwner{ID: o.ID}).Association("Items").Append(&NoteItem{ID: it.ID})
			}
		}, func(tx *gorm.DB, o, it uint) error {
			up := clause.OnConflict{Columns: []clause.Column{{Name: "note_owner_id"}, {Name: "note_item_id"}}, DoUpdates: clause.AssignmentColumns([]string{"note"})}
			return tx.Clauses(up).Create(&NoteLink{NoteOwnerID: o, NoteItemID: it, Note: "x"}).Error
		}, false},
		{"append, a GORM join table, clientFoundRows", func(t *testing.T, db *gorm.DB) (uint, uint, string, func(*gorm.DB) error) {
			reg := setup(t, db, &RaceOwner{}, &RaceLabel{})
			must(t, reg.Register(&RaceOwner{}, auditlog.M2M("Labels")))
			o, l := RaceOwner{Name: "o"}, RaceLabel{Name: "a"}
			must(t, db.Create(&o).Error)
			must(t, db.Create(&l).Error)
			return o.ID, l.ID, "race_owner_labels", func(tx *gorm.DB) error {
				return tx.Model(&RaceOwner{ID: o.ID}).Association("Labels").Append(&RaceLabel{ID: l.ID})
			}
		}, func(tx *gorm.DB, o, l uint) error {
			// Not an append, whose upsert of the label would hold the
			// label's row, which the other's append upserts too.
			return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&raceOwnerLabel{RaceOwnerID: o, RaceLabelID: l}).Error
		}, true},
	}
	for _, name := range names {
		levels := []sql.IsolationLevel{sql.LevelReadCommitted}
		if name == "mysql" {
			levels = append(levels, sql.LevelRepeatableRead)
		}
		for _, level := range levels {
			for _, sc := range scenarios {
				if sc.foundRows && name != "mysql" {
					continue
				}
				t.Run(fmt.Sprintf("%s/%s/%s", name, level, sc.name), func(t *testing.T) {
					t.Parallel()
					db, counter := testdb.OpenCounting(t, name)
					if sc.foundRows {
						_, dsn := testdb.OpenWithDSN(t, name)
						dsn += "&clientFoundRows=true"
						sqlDB, err := sql.Open("mysql", dsn)
						must(t, err)
						t.Cleanup(func() { _ = sqlDB.Close() })
						var pool *sqlcount.Pool
						pool, counter = sqlcount.Wrap(sqlDB)
						db, err = gorm.Open(testdb.Dialector(t, name, pool, dsn), &gorm.Config{Logger: logger.Discard})
						must(t, err)
					}
					o, it, join, appendPair := sc.setup(t, db)
					if name == "mysql" {
						// Foreign keys would make the other transaction's
						// insert wait for rows this one read: an application
						// without them has the race.
						dropForeignKeys(t, db, join)
					}
					n := len(entries(t, db))
					var (
						once  sync.Once
						other func() error
					)
					counter.BeforeStatement(func(ctx context.Context, q string) {
						if ctx.Value(raceKey{}) == nil || !strings.HasPrefix(q, "INSERT") || !strings.Contains(q, join) {
							return
						}
						once.Do(func() {
							other = otherTransaction(t, db, name, appendPair)
						})
					})
					ctx := context.WithValue(context.Background(), raceKey{}, true)
					err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
						return sc.write(tx, o, it)
					}, &sql.TxOptions{Isolation: level})
					counter.BeforeStatement(nil)
					if other == nil {
						t.Fatalf("the write inserted into %s no row: %v", join, err)
					}
					checkRace(t, err, other())
					live := livePairsOf(t, db, join)
					replayed, err := replayPair(m2mLog(t, db, n), fmt.Sprint(o, "/", it))
					if err != nil {
						t.Fatalf("%v; the table holds %q", err, live)
					}
					if replayed != live {
						t.Fatalf("the entries leave the relation %q, the table holds %q", replayed, live)
					}
				})
			}
		}
	}
}

// BothOwner and BothItem are the two sides of a relation whose join model
// has soft delete.
type BothOwner struct {
	ID    uint
	Name  string
	Items []BothItem `gorm:"many2many:both_links"`
}

type BothItem struct {
	ID     uint
	Name   string
	Owners []BothOwner `gorm:"many2many:both_links"`
}

type BothLink struct {
	BothOwnerID uint `gorm:"primaryKey"`
	BothItemID  uint `gorm:"primaryKey"`
	DeletedAt   gorm.DeletedAt
}

// Two services on one database, one auditing both sides of a relation,
// the other the owner's side only, hold a pair alike: the locks were named
// by the first side a registry had (sorted by type), so the two took
// different ones, and an upsert soft deleting the pair left the other's
// add standing again.
func TestM2MPairHeldWhateverTheRegistration(t *testing.T) {
	for _, name := range testdb.Names() {
		if name == "sqlite" {
			continue // one writer at a time
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db, counter := testdb.OpenCounting(t, name)
			reg := auditlog.NewRegistry()
			must(t, reg.Register(&BothOwner{}, auditlog.M2M("Items")))
			must(t, reg.Register(&BothItem{}, auditlog.M2M("Owners")))
			must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg})))
			must(t, db.SetupJoinTable(&BothOwner{}, "Items", &BothLink{}))
			must(t, db.SetupJoinTable(&BothItem{}, "Owners", &BothLink{}))
			must(t, db.AutoMigrate(&BothOwner{}, &BothItem{}, &BothLink{}))
			sqlDB, err := db.DB()
			must(t, err)
			db2, err := gorm.Open(testdb.Dialector(t, name, sqlDB, ""), &gorm.Config{Logger: logger.Discard})
			must(t, err)
			reg2 := auditlog.NewRegistry()
			must(t, reg2.Register(&BothOwner{}, auditlog.M2M("Items")))
			must(t, db2.Use(auditgorm.New(auditgorm.Config{Registry: reg2})))
			must(t, db2.SetupJoinTable(&BothOwner{}, "Items", &BothLink{}))
			o, it := BothOwner{Name: "o"}, BothItem{Name: "a"}
			must(t, db.Create(&o).Error)
			must(t, db.Create(&it).Error)
			if name == "mysql" {
				dropForeignKeys(t, db, "both_links")
			}
			n := len(entries(t, db))
			var (
				once  sync.Once
				other func() error
			)
			counter.BeforeStatement(func(ctx context.Context, q string) {
				if ctx.Value(raceKey{}) != nil && strings.HasPrefix(q, "INSERT") && strings.Contains(q, "both_links") {
					once.Do(func() {
						other = otherTransaction(t, db2, name, func(tx *gorm.DB) error {
							return tx.Model(&BothOwner{ID: o.ID}).Association("Items").Append(&BothItem{ID: it.ID})
						})
					})
				}
			})
			up := clause.OnConflict{Columns: []clause.Column{{Name: "both_owner_id"}, {Name: "both_item_id"}}, DoUpdates: clause.AssignmentColumns([]string{"deleted_at"})}
			ctx := context.WithValue(context.Background(), raceKey{}, true)
			err = db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
				return tx.Clauses(up).Create(&BothLink{BothOwnerID: o.ID, BothItemID: it.ID, DeletedAt: gorm.DeletedAt{Time: time.Now(), Valid: true}}).Error
			}, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
			counter.BeforeStatement(nil)
			if other == nil {
				t.Fatalf("the write inserted no row: %v", err)
			}
			checkRace(t, err, other())
			var log []string
			for _, l := range m2mLog(t, db, n) {
				if strings.HasPrefix(l, "BothOwner(") { // the owner's side
					log = append(log, l)
				}
			}
			live := livePairsOf(t, db, "both_links")
			replayed, err := replayPair(log, fmt.Sprint(o.ID, "/", it.ID))
			if err != nil {
				t.Fatalf("%v; the table holds %q", err, live)
			}
			if replayed != live {
				t.Fatalf("the entries leave the relation %q, the table holds %q", replayed, live)
			}
		})
	}
}

// checkRace fails the test unless each of the two errors is nil, a
// deadlock or a retry error: one of two transactions writing a pair at
// once may lose a deadlock, or be refused, and nothing else.
func checkRace(t *testing.T, errs ...error) {
	t.Helper()
	for _, err := range errs {
		if err != nil && !strings.Contains(err.Error(), "Deadlock found") && !strings.Contains(err.Error(), "deadlock detected") && !strings.Contains(err.Error(), "retry the transaction") {
			t.Fatalf("write: %v; other transaction: %v", errs[0], errs[1])
		}
	}
	if errs[0] != nil || errs[1] != nil {
		t.Logf("write: %v; other transaction: %v", errs[0], errs[1])
	}
}

// otherTransaction starts write in a transaction of its own and returns
// once it has ended or waits for a lock, with the function that waits for
// its end and returns its error.
func otherTransaction(t *testing.T, db *gorm.DB, name string, write func(*gorm.DB) error) (wait func() error) {
	started := make(chan int64, 1)
	done := make(chan error, 1)
	go func() {
		done <- db.Transaction(func(tx *gorm.DB) error {
			var id int64
			q := "SELECT pg_backend_pid()"
			if name == "mysql" {
				q = "SELECT CONNECTION_ID()"
			}
			if err := tx.Raw(q).Scan(&id).Error; err != nil {
				return err
			}
			started <- id
			return write(tx)
		})
	}()
	var id int64
	select {
	case id = <-started:
	case err := <-done:
		return func() error { return err }
	}
	wait = func() error { return <-done }
	for range 1000 {
		select {
		case err := <-done:
			return func() error { return err }
		default:
		}
		if lockWait(t, db, name, id) {
			return wait
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Error("the other transaction neither ended nor waited")
	return wait
}

// dropForeignKeys drops the foreign keys of a MySQL table.
func dropForeignKeys(t *testing.T, db *gorm.DB, table string) {
	t.Helper()
	var fks []string
	must(t, db.Raw("SELECT constraint_name FROM information_schema.referential_constraints WHERE constraint_schema = database() AND table_name = ?", table).Scan(&fks).Error)
	for _, fk := range fks {
		must(t, db.Exec("ALTER TABLE "+table+" DROP FOREIGN KEY "+fk).Error)
	}
}

// lockWait reports whether the session id waits for a row lock. On
// MariaDB from the engine's status, not information_schema.innodb_trx,
// which is refreshed only when it has not been read for 100 ms.
func lockWait(t *testing.T, db *gorm.DB, name string, id int64) bool {
	t.Helper()
	if name != "mysql" {
		var n int
		must(t, db.Raw("SELECT count(*) FROM pg_locks WHERE NOT granted AND pid = ?", id).Scan(&n).Error)
		return n > 0
	}
	var status struct{ Type, Name, Status string }
	must(t, db.Raw("SHOW ENGINE INNODB STATUS").Scan(&status).Error)
	for _, trx := range strings.Split(status.Status, "---TRANSACTION ")[1:] {
		if strings.Contains(trx, fmt.Sprintf("MariaDB thread id %d,", id)) || strings.Contains(trx, fmt.Sprintf("MySQL thread id %d,", id)) {
			return strings.Contains(trx, "LOCK WAIT")
		}
	}
	return false
}

// livePairsOf lists the pairs of a join table of the tests' owners and
// items (owner column first) that are in the relation: rows not soft
// deleted, each pair once.
func livePairsOf(t *testing.T, db *gorm.DB, join string) string {
	t.Helper()
	var rows []map[string]any
	must(t, db.Table(join).Find(&rows).Error)
	seen := map[string]bool{}
	for _, r := range rows {
		if d, ok := r["deleted_at"]; ok && d != nil {
			continue
		}
		var owner, item any
		for c, v := range r {
			switch {
			case strings.HasSuffix(c, "owner_id"):
				owner = v
			case c != "id" && strings.HasSuffix(c, "_id"):
				item = v
			}
		}
		seen[fmt.Sprint(owner, "/", item)] = true
	}
	var out []string
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// replayPair replays m2mLog lines ("Owner(1) items add [a]") of one pair,
// from a relation without it: it returns the pair where they leave it in
// the relation, and an error on an add of the pair there or a removal of
// it not there.
func replayPair(log []string, pair string) (string, error) {
	in := false
	for _, l := range log {
		switch {
		case strings.Contains(l, " "+string(auditlog.M2MAdd)+" "):
			if in {
				return "", fmt.Errorf("entries %q add the pair twice", log)
			}
			in = true
		default:
			if !in {
				return "", fmt.Errorf("entries %q remove a pair not there", log)
			}
			in = false
		}
	}
	if !in {
		return "", nil
	}
	return pair, nil
}
