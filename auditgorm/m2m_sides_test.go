package auditgorm_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// SideOwner's items are joined by SideLink, a join model with soft delete
// set on the owner's side only (SetupJoinTable), as GORM's documentation
// shows; the item's side declares the same table, and GORM writes from
// there with a join struct of its own, without the soft delete.
type SideOwner struct {
	ID    uint
	Name  string
	Items []SideItem `gorm:"many2many:side_links"`
}

func (o SideOwner) String() string { return o.Name }

type SideItem struct {
	ID     uint
	Name   string
	Owners []SideOwner `gorm:"many2many:side_links"`
}

func (i SideItem) String() string { return i.Name }

type SideLink struct {
	SideOwnerID uint           `gorm:"uniqueIndex:side_pair"`
	SideItemID  uint           `gorm:"uniqueIndex:side_pair"`
	DeletedAt   gorm.DeletedAt `gorm:"uniqueIndex:side_pair"`
}

// Writes from the side without the join model still see its soft delete:
// an append there of a pair soft deleted before is an add (recorded as
// nothing before), and a removal there of a pair that is only soft
// deleted (GORM deletes its rows for good) removes nothing (recorded as
// "remove [a,a]" before). A pair two rows hold leaves the relation once.
func TestM2MWritesFromTheOtherSide(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := auditlog.NewRegistry()
		must(t, reg.Register(&SideOwner{}, auditlog.M2M("Items")))
		must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg})))
		must(t, db.AutoMigrate(&SideLink{}))
		must(t, db.SetupJoinTable(&SideOwner{}, "Items", &SideLink{}))
		must(t, db.AutoMigrate(&SideOwner{}, &SideItem{}))
		o := SideOwner{Name: "o"}
		must(t, db.Create(&o).Error)
		items := []SideItem{{Name: "a"}, {Name: "b"}}
		must(t, db.Create(&items).Error)
		a, b := &SideItem{ID: items[0].ID}, &SideItem{ID: items[1].ID}
		own := func() *gorm.Association { return db.Model(&SideOwner{ID: o.ID}).Association("Items") }
		item := func(i *SideItem) *gorm.Association { return db.Model(&SideItem{ID: i.ID}).Association("Owners") }
		must(t, own().Append(a, b))
		must(t, own().Delete(a))
		from := len(entries(t, db))
		must(t, item(a).Append(&SideOwner{ID: o.ID}))
		expectLog(t, m2mLog(t, db, from), "o items add [a]")
		must(t, own().Delete(a))
		must(t, item(a).Delete(&SideOwner{ID: o.ID}))
		expectLog(t, m2mLog(t, db, from), "o items add [a]", "o items remove [a]")
		from = len(entries(t, db))
		must(t, db.Create(&SideLink{SideOwnerID: o.ID, SideItemID: b.ID}).Error) // b twice
		must(t, item(b).Clear())
		expectLog(t, m2mLog(t, db, from), "o items remove [b]")
		var live int64
		must(t, db.Model(&SideLink{}).Count(&live).Error)
		if live != 0 {
			t.Fatalf("%d live pairs, want 0", live)
		}
	})
}

// Table("s.t") writes s's t. A table of the same name in another schema
// (PostgreSQL) or database (MariaDB) is not the relation's join table: no
// entry (an add before). Named by the schema its bare name resolves to, it
// is the join table, and is audited.
func TestM2MJoinTableNamedWithItsSchema(t *testing.T) {
	for _, name := range testdb.Names() {
		if name == "sqlite" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := testdb.Open(t, name)
			other := fmt.Sprintf("auditlog_other_%d", time.Now().UnixNano())
			drop := "DROP SCHEMA IF EXISTS " + other
			if name == "postgres" {
				drop += " CASCADE"
			}
			must(t, db.Exec("CREATE SCHEMA "+other).Error)
			t.Cleanup(func() { db.Exec(drop) })
			reg := setup(t, db, &User{}, &Tag{})
			must(t, reg.Register(&User{}, auditlog.M2M("Tags")))
			must(t, db.Exec("CREATE TABLE "+other+".user_tags (user_id bigint, tag_id bigint)").Error)
			u, tg := User{Name: "ann"}, Tag{Name: "t"}
			must(t, db.Create(&u).Error)
			must(t, db.Create(&tg).Error)
			must(t, db.Table(other+".user_tags").Create(map[string]any{"user_id": u.ID, "tag_id": tg.ID}).Error)
			expectLog(t, m2mLog(t, db, 0))
			var here string
			q := "SELECT current_schema()"
			if name == "mysql" {
				q = "SELECT DATABASE()"
			}
			must(t, db.Raw(q).Scan(&here).Error)
			must(t, db.Table(here+".user_tags").Create(map[string]any{"user_id": u.ID, "tag_id": tg.ID}).Error)
			expectLog(t, m2mLog(t, db, 0), "ann tags add [t]")
		})
	}
}

// SchOwner's join table is named with its schema: GORM writes it as
// Table("s.t"), which was not audited at all before.
type SchOwner struct {
	ID    uint
	Items []SchItem `gorm:"many2many:auditlog_m2m_schema.sch_links"`
}

type SchItem struct {
	ID   uint
	Name string
}

func (i SchItem) String() string { return i.Name }

func TestM2MJoinTableInAnotherSchema(t *testing.T) {
	if !contains(testdb.Names(), "postgres") {
		t.Skip(testdb.PostgresEnv + " is not set")
	}
	db := testdb.Open(t, "postgres")
	must(t, db.Exec("DROP SCHEMA IF EXISTS auditlog_m2m_schema CASCADE").Error)
	must(t, db.Exec("CREATE SCHEMA auditlog_m2m_schema").Error)
	t.Cleanup(func() { db.Exec("DROP SCHEMA IF EXISTS auditlog_m2m_schema CASCADE") })
	auditJoin(t, db, &SchOwner{}, nil, &SchItem{})
	// A table of the same name where the bare name resolves, without the
	// pair's key: not the join table.
	must(t, db.Exec("CREATE TABLE sch_links (sch_owner_id bigint, sch_item_id bigint)").Error)
	o, it := SchOwner{}, SchItem{Name: "a"}
	must(t, db.Create(&o).Error)
	must(t, db.Create(&it).Error)
	as := func() *gorm.Association { return db.Model(&SchOwner{ID: o.ID}).Association("Items") }
	must(t, as().Append(&SchItem{ID: it.ID}))
	must(t, as().Append(&SchItem{ID: it.ID}))
	must(t, as().Delete(&SchItem{ID: it.ID}))
	owner := fmt.Sprintf("SchOwner(%d) items ", o.ID)
	expectLog(t, m2mLog(t, db, 0), owner+"add [a]", owner+"remove [a]")
}

// On SQLite a join table with an id of its own whose unique constraint on
// the pair says ON CONFLICT REPLACE: GORM's appends (ON CONFLICT DO
// NOTHING, which takes every conflict) replace nothing and are not refused
// (every one was before); a plain insert of a pair that is there replaces
// its row, and changes nothing in the relation.
type RepOwner struct {
	ID    uint
	Items []RepItem `gorm:"many2many:rep_links"`
}

type RepItem struct {
	ID   uint
	Name string
}

func (i RepItem) String() string { return i.Name }

type RepLink struct {
	ID         uint `gorm:"primaryKey"`
	RepOwnerID uint
	RepItemID  uint
}

func TestM2MJoinTableThatReplaces(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t, "sqlite")
	auditJoin(t, db, &RepOwner{}, &RepLink{}, &RepItem{})
	must(t, db.Exec("DROP TABLE rep_links").Error)
	must(t, db.Exec("CREATE TABLE rep_links (id INTEGER PRIMARY KEY AUTOINCREMENT, rep_owner_id INTEGER, rep_item_id INTEGER, UNIQUE(rep_owner_id, rep_item_id) ON CONFLICT REPLACE)").Error)
	o := RepOwner{}
	must(t, db.Create(&o).Error)
	items := []RepItem{{Name: "a"}, {Name: "b"}}
	must(t, db.Create(&items).Error)
	a, b := &RepItem{ID: items[0].ID}, &RepItem{ID: items[1].ID}
	as := func() *gorm.Association { return db.Model(&RepOwner{ID: o.ID}).Association("Items") }
	must(t, as().Append(a))
	must(t, as().Append(a, b))
	must(t, as().Replace(b))
	must(t, db.Table("rep_links").Create(map[string]any{"rep_owner_id": o.ID, "rep_item_id": b.ID}).Error)
	// A struct leaves its zero id to the database: no row collides on it.
	must(t, db.Create(&RepLink{RepOwnerID: o.ID, RepItemID: b.ID}).Error)
	must(t, db.Create(&RepOwner{Items: []RepItem{{Name: "n"}}}).Error)
	owner := fmt.Sprintf("RepOwner(%d) items ", o.ID)
	expectLog(t, m2mLog(t, db, 0), owner+"add [a]", owner+"add [b]", owner+"remove [a]", fmt.Sprintf("RepOwner(%d) items add [n]", o.ID+1))
	// A conflict on its target updates, and a value of its own for the
	// pair's column would move the row: refused, whatever the table's
	// REPLACE does on other keys.
	err := db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "rep_owner_id"}, {Name: "rep_item_id"}}, DoUpdates: clause.Assignments(map[string]any{"rep_item_id": a.ID})}).
		Create(&RepLink{RepOwnerID: o.ID, RepItemID: b.ID}).Error
	if err == nil || !strings.Contains(err.Error(), "may change another pair") {
		t.Fatalf("upsert assigning the pair a value of its own: %v, want it refused", err)
	}
}

// Two transactions revive the same soft-deleted pair at once: the pair
// enters the relation once. The second waits for the first's lock on the
// row and then finds the pair there (PostgreSQL recorded two adds: the
// read of the live pairs locked no soft-deleted row).
func TestM2MConcurrentRevivalOfAPair(t *testing.T) {
	for _, name := range testdb.Names() {
		if name == "sqlite" {
			continue // one writer at a time
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := testdb.Open(t, name)
			softJoin(t, db)
			o, it := SoftOwner{Name: "o"}, SoftItem{Name: "a"}
			must(t, db.Create(&o).Error)
			must(t, db.Create(&it).Error)
			must(t, db.Model(&SoftOwner{ID: o.ID}).Association("Items").Append(&SoftItem{ID: it.ID}))
			must(t, db.Model(&SoftOwner{ID: o.ID}).Association("Items").Delete(&SoftItem{ID: it.ID}))
			from := len(entries(t, db))
			revive := func(tx *gorm.DB) error {
				return tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "soft_owner_id"}, {Name: "soft_item_id"}}, DoUpdates: clause.AssignmentColumns([]string{"deleted_at"})}).
					Create(&SoftLink{SoftOwnerID: o.ID, SoftItemID: it.ID}).Error
			}
			tx1 := db.Begin()
			must(t, tx1.Error)
			tx2 := db.Begin()
			must(t, tx2.Error)
			// Should the test stop early: the first's locks go first, so
			// that the second's statement, which waits for them, ends and
			// its rollback and the pool's close do not wait.
			t.Cleanup(func() {
				tx1.Rollback()
				tx2.Rollback()
			})
			must(t, revive(tx1))
			done := make(chan error, 1)
			go func() { done <- revive(tx2) }()
			waitForLockWait(t, db, name)
			must(t, tx1.Commit().Error)
			must(t, <-done)
			must(t, tx2.Commit().Error)
			expectLog(t, m2mLog(t, db, from), fmt.Sprintf("SoftOwner(%d) items add [a]", o.ID))
		})
	}
}

// waitForLockWait returns once a session of the database waits for a row
// lock (the other transaction's, or another test's, which only makes the
// first commit sooner), or after ten seconds without one, saying so: the
// two transactions then ran one after the other, and the outcome must be
// the same.
func waitForLockWait(t *testing.T, db *gorm.DB, name string) {
	t.Helper()
	q := "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
	if name == "mysql" {
		q = "SELECT count(*) FROM information_schema.innodb_trx WHERE trx_state = 'LOCK WAIT'"
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var n int64
		if err := db.Raw(q).Scan(&n).Error; err != nil {
			t.Logf("looking for a lock wait: %v", err)
			return
		}
		if n > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Log("no session waited for a lock within ten seconds")
}

// userTags audits User's tags and makes ann and tags a and b.
func userTags(t *testing.T, db *gorm.DB) (User, Tag, Tag) {
	t.Helper()
	reg := setup(t, db, &User{}, &Tag{})
	must(t, reg.Register(&User{}, auditlog.M2M("Tags")))
	u, a, b := User{Name: "ann"}, Tag{Name: "a"}, Tag{Name: "b"}
	must(t, db.Create(&u).Error)
	must(t, db.Create(&a).Error)
	must(t, db.Create(&b).Error)
	return u, a, b
}

// MariaDB compares database names with case (lower_case_table_names = 0,
// as on Linux): the current database's name in capitals is another
// database, whose user_tags is not the relation's (an add was recorded).
func TestM2MOtherDatabaseByCase(t *testing.T) {
	if !contains(testdb.Names(), "mysql") {
		t.Skip(testdb.MySQLEnv + " is not set")
	}
	t.Parallel()
	db := testdb.Open(t, "mysql")
	var lower int
	must(t, db.Raw("SELECT @@lower_case_table_names").Scan(&lower).Error)
	if lower != 0 {
		t.Skip("the server folds database names")
	}
	var here string
	must(t, db.Raw("SELECT DATABASE()").Scan(&here).Error)
	upper := strings.ToUpper(here)
	must(t, db.Exec("CREATE DATABASE "+upper).Error)
	t.Cleanup(func() { db.Exec("DROP DATABASE " + upper) })
	u, a, _ := userTags(t, db)
	must(t, db.Exec("CREATE TABLE "+upper+".user_tags (user_id bigint, tag_id bigint)").Error)
	must(t, db.Table(upper+".user_tags").Create(map[string]any{"user_id": u.ID, "tag_id": a.ID}).Error)
	expectLog(t, m2mLog(t, db, 0))
}

// SQLite resolves a bare table name without case, in temp, then main,
// then the attached databases. A join table written by another spelling
// is audited (it was not); a temp table that shadows it is the relation's
// table, and main's is not; GORM's INSERT drops the schema it is given,
// so an insert named with a schema the bare name does not resolve to is
// refused (it went unaudited into the relation's table).
func TestM2MSQLiteTableNames(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t, "sqlite")
	u, a, b := userTags(t, db)
	must(t, db.Table("USER_TAGS").Create(map[string]any{"user_id": u.ID, "tag_id": a.ID}).Error)
	must(t, db.Table("User_Tags").Where("tag_id = ?", a.ID).Delete(nil).Error)
	expectLog(t, m2mLog(t, db, 0), "ann tags add [a]", "ann tags remove [a]")
	from := len(entries(t, db))
	must(t, db.Transaction(func(tx *gorm.DB) error {
		must(t, tx.Exec("CREATE TEMP TABLE user_tags (user_id integer, tag_id integer, PRIMARY KEY (user_id, tag_id))").Error)
		must(t, tx.Model(&u).Association("Tags").Append(&a)) // into temp
		err := tx.Table("main.user_tags").Create(map[string]any{"user_id": u.ID, "tag_id": b.ID}).Error
		if err == nil || !strings.Contains(err.Error(), "write the join table by its bare name") {
			t.Fatalf("insert named main.user_tags with a temp table shadowing it: %v, want it refused", err)
		}
		must(t, tx.Table("temp.user_tags").Create(map[string]any{"user_id": u.ID, "tag_id": b.ID}).Error)
		must(t, tx.Table("temp.user_tags").Where("tag_id = ?", a.ID).Delete(nil).Error)
		return tx.Exec("DROP TABLE temp.user_tags").Error
	}))
	expectLog(t, m2mLog(t, db, from), "ann tags add [a]", "ann tags add [b]", "ann tags remove [a]")
}

// A map that sends a key the database would assign, 0 included (SQLite
// stores it), may collide on it: INSERT OR REPLACE of such a map is judged
// against that key, and refused (it moved the row with id 0 to another
// pair, recording the add and not the removal).
func TestM2MMapSendingAZeroKey(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t, "sqlite")
	o, a, b := idJoin(t, db)
	must(t, db.Table("id_links").Create(map[string]any{"id": 0, "id_owner_id": o, "id_item_id": a}).Error)
	for _, key := range []string{"id", "ID"} {
		err := db.Table("id_links").Clauses(clause.Insert{Modifier: "OR REPLACE"}).Create(map[string]any{key: 0, "id_owner_id": o, "id_item_id": b}).Error
		if err == nil || !strings.Contains(err.Error(), "may change another pair") {
			t.Fatalf("INSERT OR REPLACE of a map sending %s 0: %v, want it refused", key, err)
		}
	}
	if got, want := livePairs(t, db), fmt.Sprintf("%d-%d", o, a); got != want {
		t.Fatalf("live pairs %s, want %s", got, want)
	}
}

// CiOwner's items have text keys that compare without case on MariaDB;
// CiLink has an id of its own and no unique key on the pair.
type CiOwner struct {
	ID    uint
	Items []CiItem `gorm:"many2many:ci_links"`
}

type CiItem struct {
	Code string `gorm:"primaryKey;type:varchar(20) COLLATE utf8mb4_general_ci"`
}

type CiLink struct {
	ID         uint `gorm:"primaryKey"`
	CiOwnerID  uint
	CiItemCode string `gorm:"type:varchar(20) COLLATE utf8mb4_general_ci"`
}

// A pair sent in two spellings the collation holds equal, with one of
// them in the relation: neither is added ("add [A]" was recorded, though
// "A" names the item "a" is). The spelling the read did not return is read
// alone, and the database says it is there.
func TestM2MSpellingsAlikeUnderTheCollation(t *testing.T) {
	if !contains(testdb.Names(), "mysql") {
		t.Skip(testdb.MySQLEnv + " is not set")
	}
	t.Parallel()
	db := testdb.Open(t, "mysql")
	auditJoin(t, db, &CiOwner{}, &CiLink{}, &CiItem{})
	o := CiOwner{}
	must(t, db.Create(&o).Error)
	must(t, db.Create(&[]CiItem{{Code: "a"}, {Code: "b"}}).Error)
	must(t, db.Model(&CiOwner{ID: o.ID}).Association("Items").Append(&CiItem{Code: "a"}))
	from := len(entries(t, db))
	must(t, db.Create(&[]CiLink{{CiOwnerID: o.ID, CiItemCode: "A"}, {CiOwnerID: o.ID, CiItemCode: "a"}, {CiOwnerID: o.ID, CiItemCode: "b"}}).Error)
	expectLog(t, m2mLog(t, db, from), fmt.Sprintf("CiOwner(%d) items add [CiItem(b)]", o.ID))
}

// Another transaction inserts one of two pairs between the append's read
// of the live pairs and its insert (READ COMMITTED locks no gap): the
// insert skips that pair and inserts the other, one row, and the read
// after it finds both pairs come in. Which one is this statement's cannot
// be told from the count, so the append fails asking for a retry, and
// nothing of it stays; an entry saying it added both would be false.
func TestM2MPairsAddedBeyondTheCountAreRefused(t *testing.T) {
	for _, name := range testdb.Names() {
		if name == "sqlite" {
			continue // one writer at a time
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db, counter := testdb.OpenCounting(t, name)
			softJoin(t, db)
			if name == "mysql" {
				// The append holds the owner's row, which the other
				// transaction's foreign key check would wait for (and so
				// would an append of the other: TestM2MPairWrittenByTwoTransactions).
				dropForeignKeys(t, db, "soft_links")
			}
			o := SoftOwner{Name: "o"}
			must(t, db.Create(&o).Error)
			items := []SoftItem{{Name: "a"}, {Name: "b"}}
			must(t, db.Create(&items).Error)
			a, b := items[0].ID, items[1].ID
			base, err := db.DB()
			must(t, err)
			insert := "INSERT INTO soft_links (soft_owner_id, soft_item_id) VALUES (?, ?)"
			if name == "postgres" {
				insert = "INSERT INTO soft_links (soft_owner_id, soft_item_id) VALUES ($1, $2)"
			}
			var once sync.Once
			fired := false
			counter.BeforeStatement(func(ctx context.Context, q string) {
				if ctx.Value(raceKey{}) != nil && strings.HasPrefix(q, "INSERT") && strings.Contains(q, "soft_links") {
					once.Do(func() {
						_, err := base.ExecContext(context.Background(), insert, o.ID, a)
						fired = err == nil
					})
				}
			})
			t.Cleanup(func() { counter.BeforeStatement(nil) })
			ctx := context.WithValue(context.Background(), raceKey{}, true)
			err = db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
				return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&[]SoftLink{{SoftOwnerID: o.ID, SoftItemID: a}, {SoftOwnerID: o.ID, SoftItemID: b}}).Error
			}, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
			counter.BeforeStatement(nil)
			if !fired {
				t.Fatal("the other transaction did not insert its pair")
			}
			if err == nil || !strings.Contains(err.Error(), "retry the transaction") {
				t.Fatalf("append racing another insert: %v, want a retry error", err)
			}
			var live []SoftLink
			must(t, db.Find(&live).Error)
			if len(live) != 1 || live[0].SoftItemID != a {
				t.Fatalf("live pairs %+v, want the other transaction's alone", live)
			}
			expectLog(t, m2mLog(t, db, 0))
		})
	}
}
