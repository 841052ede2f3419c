package auditgorm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/big"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/plugin/optimisticlock"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
	"github.com/go-auditlog/auditlog/internal/value"
)

var (
	seedFlag  = flag.Uint64("seed", 0, "seed of the random tests (TestReplayEqualsTable, TestCrashSafety); 0: random")
	replayOps = flag.Int("replay-ops", 2000, "GORM writes per database in TestReplayEqualsTable")
)

// RItem, RTag and RKey are the replay test's audited tables. RItem has no
// repr of its own, so that on PostgreSQL its updates and deletes write
// their entries in SQL (pgentries.go); RTag's repr is its own.
type RItem struct {
	ID        uint
	Code      string `gorm:"size:32;uniqueIndex"`
	N         int
	Price     string  `gorm:"type:decimal(10,2);default:0"`
	Note      *string `gorm:"size:64"`
	Doc       JSONDoc // some documents look like the tags entries use
	Version   optimisticlock.Version
	DeletedAt gorm.DeletedAt
	UpdatedAt time.Time // touched alone by Association: an untracked update
	Tags      []RTag    `gorm:"many2many:ritem_tags"`
}

type RTag struct {
	ID        uint
	Name      string `gorm:"size:32"`
	UpdatedAt time.Time
	Items     []RItem `gorm:"many2many:ritem_tags"`
}

func (t RTag) String() string { return fmt.Sprintf("tag:%d", t.ID) }

type RKey struct {
	ID int `gorm:"primaryKey;autoIncrement:false"`
	V  int
	// F is a REAL column, which on SQLite keeps text it cannot read as a
	// number as text (op 44).
	F float64
}

// RBox's labels are joined by RBoxLabel, a join model with soft delete:
// a removal soft deletes the pair, an unscoped one deletes it, and the
// table's live pairs are those the entries leave.
// RCode's table says ON CONFLICT REPLACE on its token (SQLite only): a
// plain create deletes the row whose token it takes.
type RCode struct {
	ID    uint
	Token string
	N     int
}

// rCodesDDL is RCode's table on SQLite.
const rCodesDDL = `CREATE TABLE r_codes (id integer PRIMARY KEY AUTOINCREMENT, token text UNIQUE ON CONFLICT REPLACE, n integer)`

type RBox struct {
	ID     uint
	N      int
	Labels []RLabel `gorm:"many2many:rbox_labels"`
}

type RLabel struct {
	ID   uint
	Name string `gorm:"size:32"`
}

type RBoxLabel struct {
	RBoxID    uint `gorm:"primaryKey"`
	RLabelID  uint `gorm:"primaryKey"`
	DeletedAt gorm.DeletedAt
}

// TestReplayEqualsTable is the house oracle: a seeded random sequence of
// GORM writes over every write path (creates, batches, upserts with
// colliding keys, updates by object, map, struct and expression, bulk and
// limited updates and deletes, soft deletes and restores, optimistic-lock
// conflicts, key-changing expressions and upserts, many-to-many changes from both
// sides, a join model with soft delete removed from scoped and unscoped
// and upserted directly (reviving and soft deleting pairs),
// rollbacks and savepoints), by 4 concurrent writers on PostgreSQL
// and MariaDB. Replaying every entry from empty must reproduce every
// audited table, and every entry's old values must equal the state the
// previous entries left.
func TestReplayEqualsTable(t *testing.T) {
	seed := testSeed(t)
	ops := *replayOps
	if testing.Short() {
		ops = 300
	}
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		must(t, db.SetupJoinTable(&RBox{}, "Labels", &RBoxLabel{}))
		reg := setup(t, db, &RItem{}, &RTag{}, &RKey{}, &RBox{}, &RLabel{}, &RBoxLabel{})
		must(t, reg.Register(&RItem{}, auditlog.M2M("Tags")))
		must(t, reg.Register(&RTag{}, auditlog.M2M("Items")))
		must(t, reg.Register(&RKey{}))
		must(t, reg.Register(&RBox{}, auditlog.M2M("Labels")))
		if db.Dialector.Name() == "sqlite" {
			must(t, db.Exec(rCodesDDL).Error)
			must(t, reg.Register(&RCode{}))
		}
		for i := 1; i <= 6; i++ {
			must(t, db.Create(&RLabel{ID: uint(i), Name: fmt.Sprint("l", i)}).Error)
		}
		for i := 1; i <= 12; i++ {
			must(t, db.Create(&RBox{ID: uint(i)}).Error)
		}
		writers := 1
		if db.Dialector.Name() != "sqlite" {
			writers = 4
		}
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			failed = map[string]int{}
			done   int
		)
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				r := rand.New(rand.NewPCG(seed, uint64(w)))
				for i := 0; i < ops/writers; i++ {
					err := replayTx(db, r, w)
					mu.Lock()
					if err != nil {
						msg := err.Error()
						if len(msg) > 80 {
							msg = msg[:80]
						}
						failed[msg]++
					} else {
						done++
					}
					mu.Unlock()
				}
			}(w)
		}
		wg.Wait()
		t.Logf("%d transactions committed; failures: %v", done, failed)
		for msg := range failed {
			// The statements the plugin builds are its own: one the
			// database cannot parse is a defect, not a race lost.
			if strings.Contains(msg, "syntax") || strings.Contains(msg, "SQL logic error") {
				t.Errorf("a statement the database cannot parse: %s", msg)
			}
		}
		if done < ops/2 {
			t.Fatalf("only %d of %d transactions committed: %v", done, ops, failed)
		}
		checkReplay(t, db)
	})
}

// replayTx runs one transaction of 1-3 random writes; some roll back, some
// roll back to a savepoint. Some writes run alone, in GORM's default
// transaction; in some transactions the caller ignores a failed write and
// commits the rest (on SQLite and PostgreSQL, where a failed write leaves
// the transaction as before it, or unable to commit; on MariaDB a deadlock
// ends the transaction, and a caller that goes on writes outside it).
func replayTx(db *gorm.DB, r *rand.Rand, w int) error {
	db = db.WithContext(auditlog.WithCorrelationID(context.Background(), fmt.Sprintf("w%d-%d", w, r.Uint32())))
	if r.IntN(5) == 0 {
		return replayOp(db, r, w)
	}
	ignoreErrors := r.IntN(5) == 0 && db.Dialector.Name() != "mysql"
	errRollback := fmt.Errorf("rollback")
	err := db.Transaction(func(tx *gorm.DB) error {
		n := 1 + r.IntN(3)
		for i := 0; i < n; i++ {
			if ignoreErrors {
				_ = replayOp(tx, r, w) // logged and ignored
				continue
			}
			if r.IntN(10) == 0 && db.Dialector.Name() != "sqlite" || r.IntN(20) == 0 {
				if err := tx.SavePoint("sp").Error; err != nil {
					return err
				}
				if err := replayOp(tx, r, w); err != nil {
					return err
				}
				if err := tx.RollbackTo("sp").Error; err != nil {
					return err
				}
				continue
			}
			if err := replayOp(tx, r, w); err != nil {
				return err
			}
		}
		if r.IntN(10) == 0 {
			return errRollback
		}
		return nil
	})
	if err == errRollback {
		return nil
	}
	return err
}

func replayOp(tx *gorm.DB, r *rand.Rand, w int) error {
	code := func() string { return fmt.Sprintf("c%d", r.IntN(60)) }
	price := func() string { return fmt.Sprintf("%d.%03d", r.IntN(100), r.IntN(1000)) } // rounded by the column
	pg := tx.Dialector.Name() == "postgres"
	note := func() *string {
		if r.IntN(3) == 0 {
			return nil
		}
		s := fmt.Sprintf("n%d", r.IntN(5))
		if tx.Dialector.Name() == "sqlite" && r.IntN(3) == 0 {
			// SQLite keeps any bytes in a TEXT column, UTF-8 or not.
			s += []string{"\xff", "\xc3", "\xfe"}[r.IntN(3)]
		}
		return &s
	}
	id := func() uint { return uint(1 + r.IntN(80)) }
	box := func() uint { return uint(1 + r.IntN(12)) }
	label := func() *RLabel { return &RLabel{ID: uint(1 + r.IntN(6))} }
	token := func() string { return fmt.Sprintf("t%d", r.IntN(8)) }
	doc := func() JSONDoc {
		docs := replayDocs
		if !pg {
			// SQLite and MariaDB keep a repeated key as written.
			// And the escape \u0000, which PostgreSQL's jsonb refuses.
			docs = append(docs[:len(docs):len(docs)], `{"a":1,"a":2}`, `{"$json":1,"$json":"x"}`, `{"a":"\u0000"}`)
		}
		if tx.Dialector.Name() == "sqlite" {
			// A number no jsonb holds, which SQLite keeps as written.
			docs = append(docs[:len(docs):len(docs)], `[1e200000]`)
		}
		if i := r.IntN(len(docs) + 2); i < len(docs) {
			return JSONDoc(docs[i])
		}
		return nil
	}
	switch r.IntN(45) {
	case 44:
		// SQLite: a REAL column given text it keeps as text ('Inf',
		// '0x1p-2', which Go's parser reads as numbers), or a number
		// (9e999 is +Inf): recorded as stored.
		v := "0.25"
		if tx.Dialector.Name() == "sqlite" {
			v = []string{"'Inf'", "'0x1p-2'", "0.25", "9e999", "'t'"}[r.IntN(5)]
		}
		return tx.Model(&RKey{}).Where("v = ?", r.IntN(10)).Update("f", gorm.Expr(v)).Error
	case 43:
		// Every row, with no condition: of a model without soft delete,
		// and unscoped.
		all := tx.Session(&gorm.Session{AllowGlobalUpdate: true})
		if r.IntN(2) == 0 {
			return all.Model(&RKey{}).Update("v", gorm.Expr("v + 1")).Error
		}
		return all.Unscoped().Model(&RItem{}).Updates(map[string]any{"n": r.IntN(10)}).Error
	case 42:
		// The model's own table under another spelling: its entries are
		// the model's (nameOwnTable).
		var spelled string
		switch tx.Dialector.Name() {
		case "sqlite":
			spelled = []string{"main.r_items", "R_ITEMS"}[r.IntN(2)]
		case "postgres":
			if err := tx.Raw("SELECT current_schema() || '.r_items'").Scan(&spelled).Error; err != nil {
				return err
			}
		default:
			if err := tx.Raw("SELECT CONCAT(DATABASE(), '.r_items')").Scan(&spelled).Error; err != nil {
				return err
			}
		}
		return tx.Table(spelled).Model(&RItem{}).Where("id = ?", id()).Updates(map[string]any{"n": r.IntN(10), "price": price()}).Error
	case 32:
		return tx.Model(&RBox{ID: box()}).Update("n", r.IntN(10)).Error
	case 33:
		return tx.Model(&RBox{ID: box()}).Association("Labels").Append(label())
	case 34:
		// Soft deletes the pair.
		return tx.Model(&RBox{ID: box()}).Association("Labels").Delete(label())
	case 35:
		// Deletes the pairs, those soft deleted before too.
		if r.IntN(2) == 0 {
			return tx.Unscoped().Model(&RBox{ID: box()}).Association("Labels").Clear()
		}
		return tx.Unscoped().Model(&RBox{ID: box()}).Association("Labels").Delete(label(), label())
	case 29:
		// Undo a recent entry (auditgorm.Revert), sometimes forced.
		var ids []int64
		if err := tx.Raw("SELECT id FROM auditlog_entries ORDER BY id DESC LIMIT 1 OFFSET ?", r.IntN(40)).Scan(&ids).Error; err != nil || len(ids) == 0 {
			return err
		}
		return auditgorm.Revert(tx.Statement.Context, tx, ids[0], auditgorm.RevertOptions{Force: r.IntN(3) == 0})
	case 30:
		// Undo a recent transaction's entries (RevertCorrelation).
		var cids []string
		if err := tx.Raw("SELECT cid FROM auditlog_entries WHERE cid IS NOT NULL ORDER BY id DESC LIMIT 1 OFFSET ?", r.IntN(40)).Scan(&cids).Error; err != nil || len(cids) == 0 {
			return err
		}
		return auditgorm.RevertCorrelation(tx.Statement.Context, tx, cids[0], auditgorm.RevertOptions{Force: r.IntN(3) == 0})
	case 0:
		return tx.Create(&RItem{Code: fmt.Sprintf("w%d-%d", w, r.Uint32()), N: r.IntN(10), Price: price(), Note: note(), Doc: doc()}).Error
	case 1:
		batch := make([]RItem, 1+r.IntN(4))
		for i := range batch {
			batch[i] = RItem{Code: fmt.Sprintf("w%d-%d", w, r.Uint32()), N: r.IntN(10), Price: price(), Doc: doc()}
		}
		return tx.Create(&batch).Error
	case 2:
		return tx.Model(&RItem{ID: id()}).Updates(map[string]any{"n": r.IntN(10), "price": price(), "note": note(), "doc": doc()}).Error
	case 3:
		var it RItem
		if err := tx.First(&it, id()).Error; err != nil {
			return nil
		}
		return tx.Model(&it).Updates(RItem{N: r.IntN(10), Price: price()}).Error
	case 4:
		// A stale optimistic-lock update: changes nothing.
		var it RItem
		if err := tx.First(&it, id()).Error; err != nil {
			return nil
		}
		it.Version.Int64--
		return tx.Model(&it).Updates(map[string]any{"n": 99}).Error
	case 5:
		return tx.Model(&RItem{}).Where("n < ?", r.IntN(4)).Update("n", gorm.Expr("n + 1")).Error
	case 6:
		return tx.Model(&RItem{}).Where("n = ?", r.IntN(10)).Order("id").Limit(2).Update("note", "limited").Error
	case 7:
		return tx.Delete(&RItem{}, id()).Error
	case 8:
		if r.IntN(3) != 0 {
			return nil
		}
		// Hard deletes take the join rows first.
		i := id()
		if err := tx.Model(&RItem{ID: i}).Association("Tags").Clear(); err != nil {
			return err
		}
		return tx.Unscoped().Delete(&RItem{}, i).Error
	case 9:
		return tx.Where("n > ?", 7).Limit(2).Delete(&RItem{}).Error
	case 10:
		return tx.Unscoped().Model(&RItem{}).Where("id = ?", id()).Update("deleted_at", nil).Error
	case 11:
		batch := make([]RItem, 1+r.IntN(3))
		seen := map[string]bool{}
		for i := range batch {
			c := code()
			for pg && seen[c] { // PostgreSQL refuses to update one row twice
				c = code()
			}
			seen[c] = true
			batch[i] = RItem{Code: c, N: r.IntN(10), Price: price(), Doc: doc()}
		}
		return tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "code"}}, DoUpdates: clause.AssignmentColumns([]string{"n", "price", "doc"})}).Create(&batch).Error
	case 12:
		return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&RItem{Code: code(), N: r.IntN(10)}).Error
	case 13:
		return tx.Create(&RTag{Name: fmt.Sprintf("t%d", r.IntN(9))}).Error
	case 14:
		return tx.Model(&RItem{ID: id()}).Association("Tags").Append(&RTag{ID: uint(1 + r.IntN(10))})
	case 15:
		return tx.Model(&RTag{ID: uint(1 + r.IntN(10))}).Association("Items").Append(&RItem{ID: id()})
	case 16:
		return tx.Model(&RItem{ID: id()}).Association("Tags").Delete(&RTag{ID: uint(1 + r.IntN(10))})
	case 17:
		return tx.Model(&RTag{ID: uint(1 + r.IntN(10))}).Association("Items").Clear()
	case 18:
		return tx.Create(&RKey{ID: 1 + r.IntN(1_000_000), V: r.IntN(10)}).Error
	case 19:
		return tx.Model(&RKey{}).Where("v = ?", r.IntN(10)).Update("id", gorm.Expr("id + ?", 1_000_000+r.IntN(1_000_000))).Error
	case 20:
		return tx.Model(&RKey{}).Where("v = ?", r.IntN(10)).Updates(map[string]any{"v": gorm.Expr("v + 1")}).Error
	case 21:
		// An update of the auto-updated timestamp alone: no entry.
		return tx.Model(&RItem{}).Where("n = ?", r.IntN(10)).Update("updated_at", time.Now()).Error
	case 22:
		if tx.Dialector.Name() != "sqlite" {
			return nil
		}
		// INSERT OR REPLACE of a tag: deletes the row it collides with.
		return tx.Clauses(clause.Insert{Modifier: "OR REPLACE"}).Create(&RTag{ID: uint(11 + r.IntN(5)), Name: fmt.Sprintf("r%d", r.IntN(9))}).Error
	case 23:
		if pg {
			return nil // PostgreSQL requires a conflict target for DO UPDATE
		}
		return tx.Clauses(clause.OnConflict{DoUpdates: clause.AssignmentColumns([]string{"n"})}).Create(&RItem{Code: code(), N: r.IntN(10)}).Error
	case 24:
		// The join table written directly.
		return tx.Table("ritem_tags").Create(map[string]any{"r_item_id": id(), "r_tag_id": 1 + r.IntN(10)}).Error
	case 25:
		return tx.Table("ritem_tags").Where("r_tag_id = ?", 1+r.IntN(10)).Delete(map[string]any{}).Error
	case 26, 27:
		if tx.Dialector.Name() == "mysql" {
			return nil // GORM builds RETURNING for updates and deletes on SQLite and PostgreSQL
		}
		// The caller's own RETURNING, scanned into its objects.
		if r.IntN(2) == 0 {
			// A struct model: the optimistic-lock plugin cannot take a slice.
			var got RItem
			return tx.Model(&got).Clauses(clause.Returning{}).Where("n = ?", r.IntN(10)).Update("n", gorm.Expr("n + 1")).Error
		}
		var got []RItem
		return tx.Model(&got).Clauses(clause.Returning{}).Where("id = ?", id()).Delete(&got).Error
	case 37:
		// An upsert whose DO UPDATE moves the key of the row it collides with.
		tbl := tx.NamingStrategy.TableName("RKey")
		key := 1 + r.IntN(1_000_000)
		var keys []int
		if err := tx.Model(&RKey{}).Order("id").Offset(r.IntN(5)).Limit(1).Pluck("id", &keys).Error; err != nil {
			return err
		} else if len(keys) > 0 && r.IntN(4) != 0 {
			key = keys[0]
		}
		return tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, DoUpdates: clause.Assignments(map[string]any{
			"id": gorm.Expr(tbl+".id + ?", 2_000_000+r.IntN(1_000_000)), "v": r.IntN(10)})}).
			Create(&RKey{ID: key, V: r.IntN(10)}).Error
	case 41:
		// The join model's rows upserted directly: one that revives a
		// soft-deleted pair (UpdateAll sets deleted_at to NULL), or soft
		// deletes a live one; a batch of two pairs; through Table(join),
		// and a delete through it.
		b, l := box(), label().ID
		rows := []RBoxLabel{{RBoxID: b, RLabelID: l}}
		if r.IntN(2) == 0 {
			rows = append(rows, RBoxLabel{RBoxID: b, RLabelID: 1 + l%6})
		}
		pair := clause.OnConflict{Columns: []clause.Column{{Name: "r_box_id"}, {Name: "r_label_id"}}, DoUpdates: clause.AssignmentColumns([]string{"deleted_at"})}
		switch r.IntN(4) {
		case 0:
			for i := range rows {
				rows[i].DeletedAt = gorm.DeletedAt{Time: time.Now(), Valid: true}
			}
			return tx.Clauses(pair).Create(&rows).Error
		case 1:
			// Through Table(join), which names no model: a map that
			// revives the pair, or soft deletes it.
			var at any
			if r.IntN(2) == 0 {
				at = time.Now()
			}
			return tx.Table(tx.NamingStrategy.TableName("RBoxLabel")).Clauses(pair).Create(map[string]any{"r_box_id": b, "r_label_id": l, "deleted_at": at}).Error
		case 2:
			// A Table(join) delete names no model: it deletes the box's
			// soft-deleted rows for good with the live ones, and only
			// these leave the relation.
			return tx.Table(tx.NamingStrategy.TableName("RBoxLabel")).Where("r_box_id = ?", b).Delete(map[string]any{}).Error
		}
		return tx.Clauses(clause.OnConflict{UpdateAll: true}).Create(&rows).Error
	case 36:
		// The caller's own RETURNING on a create or an upsert.
		it := RItem{Code: code(), N: r.IntN(10), Price: price()}
		q := tx.Clauses(clause.Returning{})
		if r.IntN(2) == 0 {
			q = q.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "code"}}, DoUpdates: clause.AssignmentColumns([]string{"n"})})
		}
		return q.Create(&it).Error
	case 28:
		// A bulk update of most rows (on SQLite, run unpinned).
		set := map[string]any{"price": price(), "n": gorm.Expr("(n + 1) % 10")}
		if r.IntN(2) == 0 {
			set["doc"] = doc()
		}
		return tx.Model(&RItem{}).Where("id > ?", r.IntN(20)).Updates(set).Error
	case 31:
		if r.IntN(8) != 0 {
			return nil
		}
		// A batch past the small-batch insert (65 entries and up): the
		// entries as one JSON document on SQLite, as column arrays or by
		// the INSERT itself on PostgreSQL; tags too, whose repr is their own.
		if r.IntN(2) == 0 {
			tags := make([]RTag, 65+r.IntN(16))
			for i := range tags {
				tags[i] = RTag{Name: fmt.Sprintf("b%d", r.IntN(9))}
			}
			return tx.Create(&tags).Error
		}
		batch := make([]RItem, 65+r.IntN(16))
		for i := range batch {
			batch[i] = RItem{Code: fmt.Sprintf("w%d-%d", w, r.Uint32()), N: r.IntN(10), Price: price(), Note: note(), Doc: doc()}
		}
		return tx.Create(&batch).Error
	case 38, 39, 40:
		if tx.Dialector.Name() != "sqlite" {
			return nil
		}
		// The table's ON CONFLICT REPLACE: a create (one row, or two,
		// which may replace each other: refused) deletes the rows whose
		// token it takes; an update of the token is refused, one of n
		// runs.
		switch r.IntN(4) {
		case 0:
			return tx.Create(&[]RCode{{Token: token(), N: r.IntN(10)}, {Token: token(), N: r.IntN(10)}}).Error
		case 1:
			return tx.Model(&RCode{}).Where("token = ?", token()).Update("n", r.IntN(10)).Error
		case 2:
			return tx.Model(&RCode{}).Where("token = ?", token()).Update("token", token()).Error
		}
		return tx.Create(&RCode{Token: token(), N: r.IntN(10)}).Error
	default:
		var it RItem
		if err := tx.First(&it, id()).Error; err != nil {
			return nil
		}
		it.N = r.IntN(10)
		it.Note = note()
		return tx.Save(&it).Error
	}
}

type replayRow map[string]string

// checkReplay replays every entry from empty and compares with the tables.
func checkReplay(t *testing.T, db *gorm.DB) {
	t.Helper()
	es := entries(t, db)
	state := map[string]map[string]replayRow{"r_items": {}, "r_tags": {}, "r_keys": {}}
	pairs := map[string]map[string]bool{"items": {}, "tags": {}, "labels": {}}
	boxes := db.Migrator().HasTable(&RBox{})
	if boxes {
		state["r_boxes"] = map[string]replayRow{}
	}
	if db.Migrator().HasTable(&RCode{}) {
		state["r_codes"] = map[string]replayRow{}
	}
	for _, e := range es {
		rows := state[e.Model]
		if rows == nil {
			t.Fatalf("entry %d names model %q", e.ID, e.Model)
		}
		pk := e.ObjectPK
		switch e.Action {
		case auditlog.ActionCreate:
			if _, ok := rows[pk]; ok {
				dumpObject(t, es, e)
				t.Fatalf("entry %d creates %s %s, which exists", e.ID, e.Model, pk)
			}
			row := replayRow{}
			for col, c := range e.Changes {
				row[col] = canonEntry(col, c.New)
			}
			rows[pk] = row
		case auditlog.ActionUpdate, auditlog.ActionDelete:
			row, ok := rows[pk]
			if !ok {
				t.Fatalf("entry %d (%s) names %s %s, which does not exist", e.ID, e.Action, e.Model, pk)
			}
			for col, c := range e.Changes {
				if c.M2M != nil {
					side := map[string]string{"r_items": "items", "r_tags": "tags", "r_boxes": "labels"}[e.Model]
					for _, obj := range c.M2M.Objects {
						key := strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(obj, "tag:"), "RItem("), "RLabel(")
						pair := pk + "/" + strings.TrimSuffix(key, ")")
						switch c.M2M.Operation {
						case auditlog.M2MAdd:
							// An append records only the pairs its insert added.
							if pairs[side][pair] {
								dumpObject(t, es, e)
								t.Fatalf("entry %d adds pair %s, which the entries before left", e.ID, pair)
							}
							pairs[side][pair] = true
						default:
							if !pairs[side][pair] {
								t.Fatalf("entry %d removes pair %s it never added", e.ID, pair)
							}
							delete(pairs[side], pair)
						}
					}
					continue
				}
				// Update entries leave out auto-updated timestamps: a
				// delete's old one is not what the entries before left.
				if got, want := row.get(col), canonEntry(col, c.Old); got != want && col != "updated_at" {
					t.Fatalf("entry %d (%s %s %s): old %s is %s, but the previous entries left %s", e.ID, e.Action, e.Model, pk, col, want, got)
				}
				row[col] = canonEntry(col, c.New)
			}
			if e.Action == auditlog.ActionDelete && row.get("deleted_at") == "null" {
				// A hard delete: its changes named every non-null column.
				for col, v := range row {
					if v != "null" {
						t.Fatalf("entry %d deletes %s %s but leaves %s = %s", e.ID, e.Model, pk, col, v)
					}
				}
				delete(rows, pk)
				continue
			}
			if id, ok := row["id"]; ok && id != canonText(pk) {
				delete(rows, pk)
				rows[id] = row
			}
		}
	}
	for table, rows := range state {
		got := readTable(t, db, table)
		compareRows(t, table, rows, got)
	}
	joins := readJoin(t, db)
	for side, ps := range pairs {
		if side == "labels" {
			continue
		}
		var want []string
		for p := range ps {
			if side == "tags" {
				a, b, _ := strings.Cut(p, "/")
				p = b + "/" + a
			}
			want = append(want, p)
		}
		sort.Strings(want)
		if strings.Join(want, " ") != strings.Join(joins, " ") {
			t.Fatalf("join pairs replayed from the %s side:\n%v\ntable:\n%v", side, want, joins)
		}
	}
	if boxes {
		// The soft-deleting join model's live pairs.
		var live []struct{ RBoxID, RLabelID uint }
		must(t, db.Model(&RBoxLabel{}).Find(&live).Error)
		var got, want []string
		for _, p := range live {
			got = append(got, fmt.Sprintf("%d/%d", p.RBoxID, p.RLabelID))
		}
		for p := range pairs["labels"] {
			want = append(want, p)
		}
		sort.Strings(got)
		sort.Strings(want)
		if strings.Join(want, " ") != strings.Join(got, " ") {
			t.Fatalf("box label pairs replayed:\n%v\nlive in the table:\n%v", want, got)
		}
	}
	t.Logf("replayed %d entries onto %d items, %d tags, %d keys, %d pairs, %d box label pairs", len(es), len(state["r_items"]), len(state["r_tags"]), len(state["r_keys"]), len(joins), len(pairs["labels"]))
}

func (r replayRow) get(col string) string {
	if v, ok := r[col]; ok {
		return v
	}
	return "null"
}

func compareRows(t *testing.T, table string, want map[string]replayRow, got map[string]replayRow) {
	t.Helper()
	for pk, row := range got {
		w, ok := want[pk]
		if !ok {
			t.Fatalf("%s %s exists but no entry created it", table, pk)
		}
		for col, v := range row {
			if col == "updated_at" || col == "created_at" {
				continue
			}
			if w.get(col) != v {
				t.Fatalf("%s %s: column %s is %s, replay gives %s", table, pk, col, v, w.get(col))
			}
		}
	}
	for pk := range want {
		if _, ok := got[pk]; !ok {
			t.Fatalf("%s %s: the entries leave it, the table does not have it", table, pk)
		}
	}
}

func readTable(t *testing.T, db *gorm.DB, table string) map[string]replayRow {
	t.Helper()
	rows, err := db.Table(table).Rows()
	must(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	must(t, err)
	out := map[string]replayRow{}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		must(t, rows.Scan(ptrs...))
		row := replayRow{}
		for i, c := range cols {
			row[c] = canonDB(vals[i])
			if c == "doc" {
				row[c] = canonDoc(vals[i])
			}
		}
		out[row["id"]] = row
	}
	must(t, rows.Err())
	return out
}

func readJoin(t *testing.T, db *gorm.DB) []string {
	t.Helper()
	var pairs []struct{ RItemID, RTagID uint }
	must(t, db.Table("ritem_tags").Find(&pairs).Error)
	out := make([]string, len(pairs))
	for i, p := range pairs {
		out[i] = fmt.Sprintf("%d/%d", p.RItemID, p.RTagID)
	}
	sort.Strings(out)
	return out
}

// replayDocs are RItem's documents: plain ones, and documents shaped like
// the tags an entry records for what is no document ({"$json": …}), text
// that is not UTF-8 ({"$base64": …}), a value too large (a digest) or such
// a document ({"$doc": …}), each of which must read as itself.
var replayDocs = []string{
	`{"a":1}`, `[1,"x"]`, `"s"`, `{"$json":"{\"a\":1,\"a\":2}"}`, `{"$json":"abc"}`,
	`{"$base64":"/w=="}`, `{"$doc":{"b":1}}`, `{"$doc":"x","$json":"y"}`, `{"b":[{"$json":"x"}]}`, `["$json"]`,
	`{"$digest":"sha256:` + strings.Repeat("ab", 32) + `","$bytes":2000000}`, `null`,
	// Numbers encoding/json and PostgreSQL's jsonb spell apart.
	`[1e-7,1.50e1,1e21,-0.0,12.5]`,
}

// canonEntry renders an entry's value of column col as canonDB and
// canonDoc render the column's: the doc column's by the tags' rules, read
// here on their own ({"$doc": d} is d, {"$json": "t"} the text t, {"$base64":
// …} bytes, a digest an unknown value).
func canonEntry(col string, raw json.RawMessage) string {
	if col != "doc" || raw == nil || string(raw) == "null" {
		return canonJSON(raw)
	}
	var tag map[string]json.RawMessage
	if json.Unmarshal(raw, &tag) == nil {
		if _, ok := tag["$digest"]; ok {
			return "digest:" + string(raw)
		}
		if len(tag) == 1 {
			if d, ok := tag["$doc"]; ok {
				return canonDoc(string(d))
			}
			var text string
			if json.Unmarshal(tag["$json"], &text) == nil {
				return canonDoc(text)
			}
			if json.Unmarshal(tag["$base64"], &text) == nil {
				return "base64:" + text
			}
		}
	}
	return canonDoc(string(raw))
}

// canonDoc renders a JSON document as Go's encoder writes what its decoder
// reads (keys sorted, the last of a repeated key).
func canonDoc(v any) string {
	var text string
	switch x := v.(type) {
	case nil:
		return "null"
	case []byte:
		text = string(x)
	case string:
		text = x
	default:
		return fmt.Sprint(v)
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var d any
	if dec.Decode(&d) != nil {
		return "invalid:" + text
	}
	if d == nil {
		return "document null" // not SQL NULL
	}
	out, err := json.Marshal(ratNumbers(d))
	if err != nil {
		return "invalid:" + text
	}
	return string(out)
}

// ratNumbers replaces the numbers of a decoded document by their exact
// values as fractions: one number however it is spelled (1, 1e0, 1.0).
func ratNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if r, ok := new(big.Rat).SetString(string(x)); ok {
			return "number " + r.RatString()
		}
	case map[string]any:
		for k, y := range x {
			x[k] = ratNumbers(y)
		}
	case []any:
		for i, y := range x {
			x[i] = ratNumbers(y)
		}
	}
	return v
}

// canonJSON and canonDB render an entry's JSON value and a column value the
// same way: numbers by value, times as UTC instants, null as null.
func canonJSON(raw json.RawMessage) string {
	if raw == nil {
		return "null"
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "invalid:" + string(raw)
	}
	switch x := v.(type) {
	case nil:
		return "null"
	case json.Number:
		return canonText(string(x))
	case string:
		return canonText(x)
	}
	if s, ok := value.Base64Text(raw); ok {
		return canonText(s)
	}
	return string(raw)
}

func canonDB(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case []byte:
		return canonText(string(x))
	case string:
		return canonText(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case int64:
		return canonText(fmt.Sprint(x))
	case float64:
		return canonText(fmt.Sprint(x))
	}
	return fmt.Sprint(v)
}

func canonText(s string) string {
	if r, ok := new(big.Rat).SetString(s); ok {
		return r.RatString()
	}
	for _, l := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999"} {
		if tm, err := time.Parse(l, s); err == nil {
			return tm.UTC().Format(time.RFC3339Nano)
		}
	}
	return fmt.Sprintf("%q", s)
}

// dumpObject logs the entries of e's object up to e.
func dumpObject(t *testing.T, es []auditlog.Entry, e auditlog.Entry) {
	t.Helper()
	for _, x := range es {
		if x.Model == e.Model && x.ObjectPK == e.ObjectPK && x.ID <= e.ID {
			t.Logf("entry %d %s %s cid=%s %s", x.ID, x.Action, x.ObjectPK, x.CorrelationID, x.Changes)
		}
	}
}
