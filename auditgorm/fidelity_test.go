package auditgorm_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"
	"gorm.io/plugin/optimisticlock"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// Account uses gorm.io/plugin/optimisticlock's version column.
type Account struct {
	ID        uint
	Balance   int
	UpdatedBy string
	Version   optimisticlock.Version
}

// The plugin composes with optimistic locking: a stale writer changes
// nothing and no entry is written; the winner's entry records the version
// increment the database made.
func TestOptimisticLock(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Account{})
		must(t, reg.Register(&Account{}))
		must(t, db.Create(&Account{Balance: 100}).Error)
		var alice, bob Account
		must(t, db.First(&alice).Error)
		must(t, db.First(&bob).Error)
		res := db.Model(&alice).Updates(map[string]any{"balance": 150})
		must(t, res.Error)
		if res.RowsAffected != 1 {
			t.Fatalf("alice's update changed %d rows", res.RowsAffected)
		}
		res = db.Model(&bob).Updates(map[string]any{"balance": 10})
		must(t, res.Error)
		if res.RowsAffected != 0 {
			t.Fatalf("bob's stale update changed %d rows, want 0", res.RowsAffected)
		}
		var now Account
		must(t, db.First(&now).Error)
		if now.Balance != 150 || now.Version.Int64 != 2 {
			t.Fatalf("row %+v, want balance 150 version 2", now)
		}
		es := expectCount(t, db, 2)
		want := wantJSON(t, `{"balance":[100,150],"version":[1,2]}`)
		if got := changesJSON(t, es[1]); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("entry %v, want %v", got, want)
		}
		// Struct updates go through the same clause.
		must(t, db.Model(&now).Updates(Account{Balance: 200}).Error)
		res = db.Model(&bob).Updates(Account{Balance: 1})
		must(t, res.Error)
		if res.RowsAffected != 0 {
			t.Fatalf("stale struct update changed %d rows", res.RowsAffected)
		}
		expectCount(t, db, 3)
	})
}

// A callback registered after the plugin that sets a column before
// gorm:update is applied, and recorded.
func TestLaterCallbackSetColumn(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Account{})
		must(t, reg.Register(&Account{}))
		must(t, db.Callback().Update().Before("gorm:update").Register("app:updated_by", func(tx *gorm.DB) {
			if tx.Statement.Schema != nil && tx.Statement.Schema.LookUpField("UpdatedBy") != nil {
				tx.Statement.SetColumn("UpdatedBy", "svc")
			}
		}))
		a := Account{Balance: 1}
		must(t, db.Create(&a).Error)
		must(t, db.Model(&a).Updates(map[string]any{"balance": 2}).Error)
		var now Account
		must(t, db.First(&now, a.ID).Error)
		if now.UpdatedBy != "svc" {
			t.Fatalf("updated_by %q: the app's callback was overridden", now.UpdatedBy)
		}
		es := expectCount(t, db, 2)
		if got := string(es[1].Changes["updated_by"].New); got != `"svc"` {
			t.Fatalf("entry %s", es[1].Changes)
		}
	})
}

// Limit on an update or delete (built by GORM on MySQL only) changes and
// records exactly the rows the database changed; elsewhere GORM ignores the
// limit and so does the capture.
func TestLimit(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Counter{})
		must(t, reg.Register(&Counter{}))
		rows := make([]Counter, 10)
		for i := range rows {
			rows[i].N = 1
		}
		must(t, db.Create(&rows).Error)
		n0 := len(entries(t, db))
		res := db.Model(&Counter{}).Where("n = ?", 1).Order("id DESC").Limit(3).Update("n", 2)
		must(t, res.Error)
		var changed []Counter
		must(t, db.Where("n = ?", 2).Order("id").Find(&changed).Error)
		es := entries(t, db)[n0:]
		if int64(len(changed)) != res.RowsAffected || len(es) != len(changed) {
			t.Fatalf("%d rows changed, RowsAffected %d, %d entries", len(changed), res.RowsAffected, len(es))
		}
		if db.Dialector.Name() == "mysql" && (len(changed) != 3 || changed[0].ID != 8) {
			t.Fatalf("changed %+v, want the 3 highest ids", changed)
		}
		got := map[string]bool{}
		for _, e := range es {
			got[e.ObjectPK] = true
		}
		for _, c := range changed {
			if !got[fmt.Sprint(c.ID)] {
				t.Fatalf("row %d changed without an entry", c.ID)
			}
		}
		n0 = len(entries(t, db))
		res = db.Where("n = ?", 1).Limit(2).Delete(&Counter{})
		must(t, res.Error)
		var left int64
		must(t, db.Model(&Counter{}).Where("n = ?", 1).Count(&left).Error)
		es = entries(t, db)[n0:]
		if int64(len(es)) != res.RowsAffected || int64(10-len(changed))-left != res.RowsAffected {
			t.Fatalf("deleted %d (%d left), %d entries", res.RowsAffected, left, len(es))
		}
	})
}

// Colour has a unique key the upsert tests collide on.
type Colour struct {
	ID   uint
	Key  string `gorm:"uniqueIndex;size:32"`
	Name string `gorm:"size:32"`
}

// An upsert batch whose rows collide with each other: the database decides
// which row was inserted and which updated it.
func TestUpsertDuplicateKeysInBatch(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Colour{})
		must(t, reg.Register(&Colour{}))
		must(t, db.Create(&Colour{Key: "z", Name: "grey"}).Error)
		n0 := len(entries(t, db))
		batch := []Colour{{Key: "a", Name: "red"}, {Key: "a", Name: "blue"}, {Key: "z", Name: "black"}}
		err := db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "key"}}, DoUpdates: clause.AssignmentColumns([]string{"name"})}).Create(&batch).Error
		if db.Dialector.Name() == "postgres" {
			// PostgreSQL refuses to update one row twice in one statement.
			if err == nil {
				t.Fatal("PostgreSQL accepted a batch that updates a row twice")
			}
			expectCount(t, db, n0)
			return
		}
		must(t, err)
		var all []Colour
		must(t, db.Order("id").Find(&all).Error)
		got := replayLog(t, entries(t, db)[n0:])
		want := []string{
			fmt.Sprintf("create %d key=a name=red", idOf(all, "a")),
			fmt.Sprintf("update %d name=red→blue", idOf(all, "a")),
			fmt.Sprintf("update %d name=grey→black", idOf(all, "z")),
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

func idOf(all []Colour, key string) uint {
	for _, c := range all {
		if c.Key == key {
			return c.ID
		}
	}
	return 0
}

// replayLog renders entries as "action pk col=old→new …", sorted by column.
func replayLog(t *testing.T, es []auditlog.Entry) []string {
	t.Helper()
	var out []string
	for _, e := range es {
		var parts []string
		for col, c := range e.Changes {
			if col == "id" {
				continue
			}
			switch {
			case e.Action == auditlog.ActionCreate:
				parts = append(parts, col+"="+strings.Trim(string(c.New), `"`))
			default:
				parts = append(parts, col+"="+strings.Trim(string(c.Old), `"`)+"→"+strings.Trim(string(c.New), `"`))
			}
		}
		sort.Strings(parts)
		out = append(out, strings.TrimSpace(e.Action.String()+" "+e.ObjectPK+" "+strings.Join(parts, " ")))
	}
	return out
}

// ColourCI's key has MariaDB's default collation.
type ColourCI struct {
	ID   uint
	Key  string `gorm:"type:varchar(32) COLLATE utf8mb4_general_ci;uniqueIndex"`
	Name string `gorm:"size:32"`
}

// On MariaDB's case- and trailing-space-insensitive collation, "Beta "
// collides with "beta": the upsert is an update, as the database says.
func TestUpsertCollation(t *testing.T) {
	t.Parallel()
	if !contains(testdb.Names(), "mysql") {
		t.Skip(testdb.MySQLEnv + " is not set")
	}
	db := testdb.Open(t, "mysql")
	reg := setup(t, db, &ColourCI{})
	must(t, reg.Register(&ColourCI{}))
	must(t, db.Create(&ColourCI{Key: "beta", Name: "one"}).Error)
	must(t, db.Clauses(clause.OnConflict{UpdateAll: true}).Create(&ColourCI{Key: "Beta ", Name: "two"}).Error)
	must(t, db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "key"}}, DoUpdates: clause.AssignmentColumns([]string{"name"})}).
		Create(&[]ColourCI{{Key: "BETA", Name: "three"}, {Key: "gamma", Name: "g"}}).Error)
	var n int64
	must(t, db.Model(&ColourCI{}).Count(&n).Error)
	if n != 2 {
		t.Fatalf("%d rows: the collation did not make the keys collide", n)
	}
	got := replayLog(t, expectCount(t, db, 4)[1:])
	want := "update 1 key=beta→Beta  name=one→two\nupdate 1 name=two→three\ncreate 3 key=gamma name=g" // UpdateAll sets the key too
	if strings.Join(got, "\n") != want {
		t.Fatalf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
}

// Doc2 has an integer key that statements change with an expression.
type Doc2 struct {
	ID   int `gorm:"primaryKey;autoIncrement:false"`
	Code string
}

// A statement that changes primary keys with SQL expressions is recorded
// under the key each row had, with the new key among its changes.
func TestKeyChangedByExpression(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Doc2{}, &Doc{})
		must(t, reg.Register(&Doc2{}))
		must(t, reg.Register(&Doc{}))
		must(t, db.Create(&[]Doc2{{ID: 1, Code: "a"}, {ID: 2, Code: "b"}}).Error)
		must(t, db.Create(&[]Doc{{Code: "x1", Body: "p"}, {Code: "x2", Body: "q"}}).Error)
		n0 := len(entries(t, db))
		must(t, db.Model(&Doc2{}).Where("id > ?", 0).Update("id", gorm.Expr("id + 1000")).Error)
		must(t, db.Model(&Doc{}).Where("body IN ?", []string{"p", "q"}).Updates(map[string]any{"code": gorm.Expr("UPPER(code)")}).Error)
		es := entries(t, db)[n0:]
		var got []string
		for _, e := range es {
			for col, c := range e.Changes {
				got = append(got, fmt.Sprintf("%s %s %s %s→%s", e.Model, e.ObjectPK, col, c.Old, c.New))
			}
		}
		sort.Strings(got)
		want := []string{
			`docs x1 code "x1"→"X1"`, `docs x2 code "x2"→"X2"`,
			`doc2 1 id 1→1001`, `doc2 2 id 2→1002`,
		}
		sort.Strings(want)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// Ctr is written to its own table and, through Table(), to an archive.
type Ctr struct {
	ID uint
	N  int
}

// A registered model written to another table is recorded under the name
// of the table written, never as the model's own rows.
func TestTableNamesTheEntry(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Ctr{})
		must(t, reg.Register(&Ctr{}))
		must(t, db.Table("ctrs_archive").AutoMigrate(&Ctr{}))
		must(t, db.Create(&Ctr{ID: 1, N: 1}).Error)
		must(t, db.Table("ctrs_archive").Create(&Ctr{ID: 1, N: 5}).Error)
		must(t, db.Model(&Ctr{}).Table("ctrs_archive").Where("id = ?", 1).Update("n", 6).Error)
		must(t, db.Table("ctrs_archive").Where("id = ?", 1).Delete(&Ctr{}).Error)
		es := expectCount(t, db, 4)
		wantModels := []string{"ctrs", "ctrs_archive", "ctrs_archive", "ctrs_archive"}
		for i, e := range es {
			if e.Model != wantModels[i] {
				t.Fatalf("entry %d (%s) names model %q, want %q", i, e.Action, e.Model, wantModels[i])
			}
		}
	})
}

// The model's own table under another spelling (its schema or database
// named, or in another case where SQLite's names ignore it) is the model's
// table: its writes are the model's rows, under the model's name, so that
// its history and a replay see them.
func TestOwnTableUnderAnotherSpelling(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Ctr{})
		must(t, reg.Register(&Ctr{}))
		var spellings []string
		switch db.Dialector.Name() {
		case "sqlite":
			spellings = []string{"CTRS", "main.ctrs", "MAIN.Ctrs"}
		case "postgres":
			var s string
			must(t, db.Raw("SELECT current_schema()").Scan(&s).Error)
			spellings = []string{s + ".ctrs"}
		case "mysql":
			var s string
			must(t, db.Raw("SELECT DATABASE()").Scan(&s).Error)
			spellings = []string{s + ".ctrs"}
		}
		must(t, db.Create(&Ctr{ID: 1, N: 1}).Error)
		for i, sp := range spellings {
			must(t, db.Table(sp).Model(&Ctr{}).Where("id = ?", 1).Update("n", i+2).Error)
		}
		must(t, db.Delete(&Ctr{ID: 1}).Error)
		es := expectCount(t, db, len(spellings)+2)
		for i, e := range es {
			if e.Model != "ctrs" {
				t.Fatalf("entry %d (%s) names model %q, want ctrs", i, e.Action, e.Model)
			}
		}
		h, err := auditgorm.History(context.Background(), db, &Ctr{ID: 1}, auditstore.Page{Limit: 10})
		must(t, err)
		if len(h.Entries) != len(spellings)+2 {
			t.Fatalf("the history holds %d entries, want %d", len(h.Entries), len(spellings)+2)
		}
	})
}

// Priced has a DECIMAL(10,2), a time at millisecond precision, a float
// and a nullable column behind a non-pointer field.
type Priced struct {
	ID    uint
	Price string    `gorm:"type:decimal(10,2)"`
	At    time.Time `gorm:"precision:3"`
	Ratio float64
	Note  string
}

// Entries record what the database stored, not what the application sent.
func TestValuesAsStored(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Priced{})
		must(t, reg.Register(&Priced{}))
		at := time.Date(2026, 1, 2, 3, 4, 5, 123_456_789, time.UTC)
		p := Priced{Price: "1.00", At: at}
		must(t, db.Omit("Note").Create(&p).Error)
		must(t, db.Model(&p).Update("price", "12.345").Error)
		must(t, db.Model(&p).Update("price", "13").Error)
		es := expectCount(t, db, 3)
		if _, ok := es[0].Changes["note"]; ok {
			t.Fatalf("a NULL column is recorded as %s", es[0].Changes["note"].New)
		}
		var stored struct{ Price string }
		must(t, db.Raw("SELECT price FROM priceds").Scan(&stored).Error)
		mid := es[1].Changes["price"]
		if mid.NewValue() != es[2].Changes["price"].OldValue() {
			t.Fatalf("chain broken: %s then %s", es[1].Changes, es[2].Changes)
		}
		if db.Dialector.Name() != "sqlite" && fmt.Sprint(mid.NewValue()) != "12.35" {
			t.Fatalf("price recorded %v, the database stored 12.35", mid.NewValue())
		}
		created := es[0].Changes["at"].NewValue()
		var back Priced
		must(t, db.First(&back, p.ID).Error)
		if want := back.At.UTC().Format(time.RFC3339Nano); created != want {
			t.Fatalf("time recorded %v, stored %v", created, want)
		}
		if db.Dialector.Name() == "sqlite" {
			// SQLite stores NaN as NULL.
			must(t, db.Model(&p).Update("ratio", math.NaN()).Error)
			es = expectCount(t, db, 4)
			if got := string(es[3].Changes["ratio"].New); got != "null" {
				t.Fatalf("NaN recorded as %s, stored as NULL", got)
			}
		}
	})
}

// A join table written through Table() is audited like an association
// change, and a delete with a map destination neither panics nor leaves a
// lock behind.
func TestJoinTableWrites(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &User{}, &Tag{})
		must(t, reg.Register(&User{}, auditlog.M2M("Tags")))
		u := User{Name: "ann"}
		tg := Tag{Name: "go"}
		must(t, db.Create(&u).Error)
		must(t, db.Create(&tg).Error)
		n := len(entries(t, db))
		must(t, db.Table("user_tags").Create(map[string]any{"user_id": u.ID, "tag_id": tg.ID}).Error)
		expectLog(t, m2mLog(t, db, n), "ann tags add [go]")
		n = len(entries(t, db))
		must(t, db.Table("user_tags").Where("user_id = ?", u.ID).Delete(map[string]any{}).Error)
		expectLog(t, m2mLog(t, db, n), "ann tags clear [go]")
		must(t, db.Create(&User{Name: "bob"}).Error) // no lock is left behind
	})
}

// A hook that panics under SkipDefaultTransaction leaves no transaction or
// connection behind.
func TestPanicInHookLeaksNothing(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Panicky{})
		must(t, reg.Register(&Panicky{}))
		sqlDB, err := db.DB()
		must(t, err)
		sqlDB.SetMaxOpenConns(2)
		s := db.Session(&gorm.Session{SkipDefaultTransaction: true})
		for i := 0; i < 3; i++ {
			for _, obj := range []*Panicky{{Boom: true}} {
				func() {
					defer func() { _ = recover() }()
					_ = s.Create(obj).Error
				}()
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.WithContext(ctx).Create(&Panicky{}).Error; err != nil {
			t.Fatalf("after panics: %v", err)
		}
		if st := sqlDB.Stats(); st.InUse != 0 {
			t.Fatalf("%d connections still in use", st.InUse)
		}
		// The rows whose AfterCreate panicked were committed with their
		// entries: the hook runs after the write, as without the plugin.
		expectCount(t, db, 4)
	})
}

// Panicky panics in AfterCreate when Boom is set: after the INSERT, inside
// the plugin's transaction.
type Panicky struct {
	ID   uint
	Boom bool
}

func (p *Panicky) AfterCreate(*gorm.DB) error {
	if p.Boom {
		panic("boom")
	}
	return nil
}

// An actor name or correlation id over 255 bytes never makes a write fail:
// it is cut by one rule on every database and insert path.
func TestLongContextIsClipped(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Counter{})
		must(t, reg.Register(&Counter{}))
		long := strings.Repeat("é", 200) // 400 bytes
		ctx := auditlog.WithActor(context.Background(), auditlog.Actor{ID: long, Name: long})
		ctx = auditlog.WithCorrelationID(ctx, long)
		rows := make([]Counter, 2500) // more than one VALUES statement on SQLite and PostgreSQL
		must(t, db.WithContext(ctx).Create(&Counter{N: 1}).Error)
		must(t, db.WithContext(ctx).CreateInBatches(&rows, 2500).Error)
		es := entries(t, db)
		if len(es) != 2501 {
			t.Fatalf("%d entries", len(es))
		}
		for _, e := range []auditlog.Entry{es[0], es[len(es)-1]} {
			for _, v := range []string{e.ActorID, e.ActorName} {
				if len(v) > 255 || !strings.HasSuffix(v, "…") || !utf8.ValidString(v) {
					t.Fatalf("stored %d bytes %q", len(v), v)
				}
			}
			// A correlation id keeps a digest of all of it after the cut.
			if v := e.CorrelationID; len(v) > 255 || v != auditstore.StoredCorrelationID(long) || !regexp.MustCompile(`^é+…[0-9a-f]{16}$`).MatchString(v) {
				t.Fatalf("stored correlation id of %d bytes %q", len(v), v)
			}
		}
	})
}

// Context values no text column of every database takes (a NUL, bytes
// that are not UTF-8) or that no address is (over 45 bytes) never make a
// write fail either: the text is stored with U+FFFD in their place, the
// address not at all; on every database and insert path, the same.
func TestUnstorableContextIsStored(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Counter{})
		must(t, reg.Register(&Counter{}))
		bad := "a\x00b\xffc\xc3"
		ctx := auditlog.WithActor(context.Background(), auditlog.Actor{ID: bad, Name: bad})
		ctx = auditlog.WithCorrelationID(ctx, bad)
		ctx = auditlog.WithRemoteAddr(ctx, bad, 443)
		must(t, db.WithContext(ctx).Create(&Counter{N: 1}).Error)
		rows := make([]Counter, 300) // a batch, on every insert path
		must(t, db.WithContext(ctx).Create(&rows).Error)
		long := auditlog.WithRemoteAddr(context.Background(), strings.Repeat("1", 46), 443)
		must(t, db.WithContext(long).Create(&Counter{N: 2}).Error)
		es := expectCount(t, db, 302)
		const want = "a\ufffdb\ufffdc\ufffd"
		for _, e := range []auditlog.Entry{es[0], es[1], es[300]} {
			if e.ActorID != want || e.ActorName != want || !strings.HasPrefix(e.CorrelationID, want+"…") || e.RemoteAddr != want || e.RemotePort != 443 {
				t.Fatalf("stored %q %q %q %q %d", e.ActorID, e.ActorName, e.CorrelationID, e.RemoteAddr, e.RemotePort)
			}
		}
		if e := es[301]; e.RemoteAddr != "" || e.RemotePort != 0 {
			t.Fatalf("an address of 46 bytes stored as %q port %d", e.RemoteAddr, e.RemotePort)
		}
	})
}

// Jotting's body is text that SQLite stores as it is given.
type Jotting struct {
	ID   uint
	Body string
}

// SQLite keeps any bytes in a TEXT column: text that is not UTF-8 is
// recorded as its bytes ({"$base64": "…"}), so that two different stored
// values never read as one (an update from "caf\xc3" to "caf\xff" is a
// change, not U+FFFD to U+FFFD), and revert and time travel give the
// bytes back.
func TestTextThatIsNotUTF8(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db, &Jotting{})
	must(t, reg.Register(&Jotting{}))
	m := Jotting{Body: "caf\xc3"} // "café" cut inside its é
	must(t, db.Create(&m).Error)
	created := time.Now()
	time.Sleep(2 * time.Millisecond)
	must(t, db.Model(&m).Update("body", "caf\xff").Error)
	es := expectCount(t, db, 2)
	if got := string(es[0].Changes["body"].New); got != `{"$base64":"Y2Fmww=="}` {
		t.Fatalf("created body recorded as %s", got)
	}
	c := es[1].Changes["body"]
	if string(c.Old) != `{"$base64":"Y2Fmww=="}` || string(c.New) != `{"$base64":"Y2Fm/w=="}` {
		t.Fatalf("update recorded as %s → %s", c.Old, c.New)
	}
	then := Jotting{ID: m.ID}
	if _, err := auditgorm.AsOf(context.Background(), db, &then, created); err != nil || then.Body != "caf\xc3" {
		t.Fatalf("as of the create: %q, %v", then.Body, err)
	}
	must(t, auditgorm.Revert(context.Background(), db, es[1].ID, auditgorm.RevertOptions{}))
	var raw []byte
	must(t, db.Raw("SELECT CAST(body AS BLOB) FROM jottings WHERE id = ?", m.ID).Row().Scan(&raw))
	if string(raw) != "caf\xc3" {
		t.Fatalf("reverted to %q", raw)
	}
}

// JotDoc's document is JSON, which SQLite stores as text, as given.
type JotDoc struct {
	ID  uint
	Doc string `gorm:"type:json"`
}

// A JSON column's text that is not UTF-8 is no document: it is recorded as
// its bytes, and an update between two such texts makes its entry, where
// reading each as JSON made both "caf\ufffd" and the update vanish.
func TestJSONTextThatIsNotUTF8(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db, &JotDoc{})
	must(t, reg.Register(&JotDoc{}))
	d := JotDoc{Doc: "\"caf\xc3\""}
	must(t, db.Create(&d).Error)
	must(t, db.Model(&d).Update("doc", "\"caf\xff\"").Error)
	es := expectCount(t, db, 2)
	c := es[1].Changes["doc"]
	if string(c.Old) != `{"$base64":"ImNhZsMi"}` || string(c.New) != `{"$base64":"ImNhZv8i"}` {
		t.Fatalf("update recorded as %s → %s", c.Old, c.New)
	}
}

// Many-to-many changes name the right owner whichever side performs them,
// with keys that differ between the sides, and with only one side audited.
func TestManyToManyOwners(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &User{}, &Tag{})
		for _, n := range []string{"a", "b", "c", "go"} {
			must(t, db.Create(&Tag{Name: n}).Error)
		}
		u := User{Name: "ann"}
		must(t, db.Create(&u).Error)
		must(t, reg.Register(&User{}, auditlog.M2M("Tags")))
		must(t, reg.Register(&Tag{}, auditlog.M2M("Users")))
		n := len(entries(t, db))
		must(t, db.Model(&u).Association("Tags").Append(&Tag{ID: 4}))
		expectLog(t, sorted(m2mLog(t, db, n)), "ann tags add [go]", "go users add [ann]")
		n = len(entries(t, db))
		must(t, db.Model(&Tag{ID: 2}).Association("Users").Append(&u))
		expectLog(t, sorted(m2mLog(t, db, n)), "ann tags add [b]", "b users add [ann]")

		reg.Unregister(&Tag{})
		n = len(entries(t, db))
		must(t, db.Model(&Tag{ID: 3}).Association("Users").Append(&u))
		expectLog(t, m2mLog(t, db, n), "ann tags add [c]")
	})
}

// Team has a field whose column GORM names with an initialism.
type Team struct {
	ID      uint
	UserIDs string
	Label   string
}

// Column names in options are GORM's, under any naming strategy; Go field
// names work under every strategy.
func TestOptionNamesFollowGORM(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Team{})
		must(t, reg.Register(&Team{}, auditlog.Include("user_ids")))
		tm := Team{UserIDs: "1", Label: "x"}
		must(t, db.Create(&tm).Error)
		must(t, db.Model(&tm).Updates(map[string]any{"user_ids": "1,2", "label": "y"}).Error)
		es := expectCount(t, db, 2)
		if _, ok := es[1].Changes["user_ids"]; !ok || len(es[1].Changes) != 1 {
			t.Fatalf("changes %s", es[1].Changes)
		}
	})
	t.Run("custom naming", func(t *testing.T) {
		t.Parallel()
		db := testdb.Open(t, "sqlite")
		db.Config.NamingStrategy = schema.NamingStrategy{NoLowerCase: true, TablePrefix: "app_"}
		reg := setup(t, db, &Team{})
		must(t, reg.Register(&Team{}, auditlog.Include("UserIDs"), auditlog.Mask("Label")))
		tm := Team{UserIDs: "1", Label: "secret"}
		must(t, db.Create(&tm).Error)
		es := expectCount(t, db, 1)
		if _, ok := es[0].Changes["UserIDs"]; !ok || len(es[0].Changes) != 1 {
			t.Fatalf("changes %s", es[0].Changes)
		}
	})
}

// Doc3 holds a large text.
type Doc3 struct {
	ID   uint
	Body string `gorm:"type:text"`
}

// A value larger than MaxValueBytes is recorded as its digest and length,
// so a 9 MiB update succeeds on MariaDB's default 16 MiB packet limit.
func TestLargeValuesAreDigested(t *testing.T) {
	long(t)
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Doc3{})
		if db.Dialector.Name() == "mysql" {
			must(t, db.Exec("ALTER TABLE doc3 MODIFY body LONGTEXT").Error)
		}
		must(t, reg.Register(&Doc3{}))
		big := strings.Repeat("x", 9<<20)
		d := Doc3{Body: big}
		must(t, db.Create(&d).Error)
		big2 := strings.Repeat("y", 9<<20) // old and new: 18 MiB in one entry
		must(t, db.Model(&d).Update("body", big2).Error)
		es := expectCount(t, db, 2)
		digest := func(s string) string {
			sum := sha256.Sum256([]byte(`"` + s + `"`))
			return fmt.Sprintf(`{"$digest":"sha256:%x","$bytes":%d}`, sum, len(s)+2)
		}
		for _, c := range []struct {
			got  []byte
			want string
		}{{es[0].Changes["body"].New, digest(big)}, {es[1].Changes["body"].Old, digest(big)}, {es[1].Changes["body"].New, digest(big2)}} {
			if fmt.Sprint(decodeJSON(t, c.got)) != fmt.Sprint(decodeJSON(t, []byte(c.want))) {
				t.Fatalf("value %.100s, want %s", c.got, c.want)
			}
		}
	})
}

func decodeJSON(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	must(t, json.Unmarshal(b, &v))
	return v
}

// A statement with the caller's own RETURNING still fills the caller's
// objects, and is recorded.
func TestCallersReturning(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		if db.Dialector.Name() == "mysql" {
			t.Skip("GORM builds RETURNING for updates on SQLite and PostgreSQL")
		}
		reg := setup(t, db, &Counter{})
		must(t, reg.Register(&Counter{}))
		must(t, db.Create(&[]Counter{{N: 1}, {N: 1}, {N: 5}}).Error)
		var got []Counter
		must(t, db.Model(&got).Clauses(clause.Returning{}).Where("n = ?", 1).Update("n", gorm.Expr("n + 10")).Error)
		if len(got) != 2 || got[0].N != 11 {
			t.Fatalf("returned %+v", got)
		}
		var gone []Counter
		must(t, db.Model(&gone).Clauses(clause.Returning{}).Where("n = ?", 5).Delete(&gone).Error)
		if len(gone) != 1 || gone[0].N != 5 {
			t.Fatalf("deleted %+v", gone)
		}
		got2 := replayLog(t, expectCount(t, db, 6)[3:])
		sort.Strings(got2)
		if want := "delete 3 n=5→null\nupdate 1 n=1→11\nupdate 2 n=1→11"; strings.Join(got2, "\n") != want {
			t.Fatalf("entries:\n%s\nwant:\n%s", strings.Join(got2, "\n"), want)
		}
	})
}

// An in-place update of an audited join table is refused, not run unrecorded.
func TestJoinTableUpdateRefused(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &User{}, &Tag{})
		must(t, reg.Register(&User{}, auditlog.M2M("Tags")))
		u, a, b := User{Name: "ann"}, Tag{Name: "a"}, Tag{Name: "b"}
		must(t, db.Create(&u).Error)
		must(t, db.Create(&a).Error)
		must(t, db.Create(&b).Error)
		must(t, db.Model(&u).Association("Tags").Append(&a))
		err := db.Table("user_tags").Where("user_id = ?", u.ID).Update("tag_id", b.ID).Error
		if err == nil || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("error %v", err)
		}
		var tagID uint
		must(t, db.Table("user_tags").Select("tag_id").Where("user_id = ?", u.ID).Scan(&tagID).Error)
		if tagID != a.ID {
			t.Fatalf("the pair changed to tag %d", tagID)
		}
	})
}

// XTag has a unique name.
type XTag struct {
	ID   uint
	Name string `gorm:"unique;size:32"`
	Note string `gorm:"size:32"`
}

// INSERT OR REPLACE deletes the rows it collides with: each gets a delete
// entry before the new row's create. An upsert without a conflict target
// fires on any unique key and is an update.
func TestReplaceAndTargetlessUpsert(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &XTag{})
		must(t, reg.Register(&XTag{}))
		must(t, db.Create(&XTag{Name: "go", Note: "old"}).Error)
		if db.Dialector.Name() != "postgres" { // PostgreSQL requires a target for DO UPDATE
			must(t, db.Clauses(clause.OnConflict{DoUpdates: clause.AssignmentColumns([]string{"note"})}).Create(&XTag{Name: "go", Note: "new"}).Error)
			if got := replayLog(t, expectCount(t, db, 2)[1:]); strings.Join(got, "") != "update 1 note=old→new" {
				t.Fatalf("targetless upsert: %v", got)
			}
		}
		if db.Dialector.Name() != "sqlite" {
			return // INSERT OR REPLACE is SQLite's
		}
		must(t, db.Clauses(clause.Insert{Modifier: "OR REPLACE"}).Create(&XTag{Name: "go", Note: "newer"}).Error)
		var now XTag
		must(t, db.First(&now).Error)
		got := replayLog(t, expectCount(t, db, 4)[2:])
		if want := fmt.Sprintf("delete 1 name=go→null note=new→null\ncreate %d name=go note=newer", now.ID); strings.Join(got, "\n") != want {
			t.Fatalf("replace:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
		}
	})
}

// The pin shares the bind-variable limit with the statement's own
// conditions; Table("t AS alias") names the table, not the alias; a key set
// by a non-deterministic expression is refused rather than recorded wrong.
func TestStatementShapes(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Counter{}, &Doc{})
		must(t, reg.Register(&Counter{}))
		must(t, reg.Register(&Doc{}))
		rows := make([]Counter, 16_400)
		must(t, db.WithContext(auditlog.Disable(context.Background())).CreateInBatches(&rows, 4000).Error)
		ids := make([]uint, len(rows))
		for i, r := range rows {
			ids[i] = r.ID
		}
		must(t, db.Model(&Counter{}).Where("id IN ?", ids).Update("n", 1).Error)
		expectCount(t, db, len(rows))

		must(t, db.Create(&Doc{Code: "a", Body: "1"}).Error)
		must(t, db.Model(&Doc{}).Table("docs AS d").Where("d.code = ?", "a").Update("body", "2").Error)
		es := entries(t, db)
		if e := es[len(es)-1]; e.Model != "docs" || string(e.Changes["body"].New) != `"2"` {
			t.Fatalf("aliased update: %s %s", e.Model, e.Changes)
		}
		random := map[string]string{"sqlite": "lower(hex(randomblob(4)))", "postgres": "md5(random()::text)", "mysql": "UUID()"}[db.Dialector.Name()]
		err := db.Model(&Doc{Code: "a"}).Updates(map[string]any{"code": gorm.Expr(random), "body": "3"}).Error
		if db.Dialector.Name() == "postgres" {
			// PostgreSQL returns the old and the new row from the UPDATE itself.
			must(t, err)
			var d Doc
			must(t, db.First(&d, "body = ?", "3").Error)
			es := entries(t, db)
			if e := es[len(es)-1]; e.ObjectPK != "a" || string(e.Changes["code"].New) != `"`+d.Code+`"` {
				t.Fatalf("random key entry %s %s, stored %s", e.ObjectPK, e.Changes, d.Code)
			}
			return
		}
		if err == nil || !strings.Contains(err.Error(), "non-deterministic") {
			t.Fatalf("random key: %v", err)
		}
		var d Doc
		must(t, db.First(&d, "code = ?", "a").Error) // rolled back
	})
}

// A soft delete with the caller's RETURNING fills the caller's objects and
// records only the deleted-at change.
func TestSoftDeleteWithReturning(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		if db.Dialector.Name() == "mysql" {
			t.Skip("GORM builds RETURNING for updates on SQLite and PostgreSQL")
		}
		reg := setup(t, db, &Book{})
		must(t, reg.Register(&Book{}, auditlog.Exclude("CreatedAt", "UpdatedAt")))
		b := Book{Title: "A", Secret: "s"}
		must(t, db.Create(&b).Error)
		var out []Book
		must(t, db.Model(&out).Clauses(clause.Returning{Columns: []clause.Column{{Name: "id"}}}).Where("id = ?", b.ID).Delete(&out).Error)
		e := expectCount(t, db, 2)[1]
		if _, ok := e.Changes["deleted_at"]; len(out) != 1 || out[0].ID != b.ID || len(e.Changes) != 1 || !ok {
			t.Fatalf("out %+v; changes %s", out, e.Changes)
		}
	})
}

// Essay's repr is its whole body, which can be longer than MariaDB's TEXT
// column holds.
type Essay struct {
	ID   uint
	Body string
}

func (e Essay) String() string { return e.Body }

// A repr longer than MaxReprBytes never makes a write fail: it is cut at a
// character boundary and ends in "…", alike on every database and insert
// path (MariaDB's TEXT column refused one of 65,536 bytes).
func TestLongReprIsClipped(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Essay{})
		must(t, reg.Register(&Essay{}))
		body := "a" + strings.Repeat("é", 40000) // 80,001 bytes: the cut falls inside an é
		must(t, db.Create(&Essay{Body: body}).Error)
		rows := []Essay{{Body: body}, {Body: "short"}, {Body: body}}
		must(t, db.Create(&rows).Error)
		must(t, db.Model(&Essay{}).Where("id > 0").Update("body", body+"!").Error)
		es := expectCount(t, db, 8)
		want := "a" + strings.Repeat("é", (auditstore.MaxReprBytes-len("a…"))/2) + "…"
		for i, e := range es {
			if e.ObjectRepr == "short" {
				continue
			}
			if e.ObjectRepr != want {
				t.Fatalf("entry %d: repr of %d bytes, ending %q", i, len(e.ObjectRepr), e.ObjectRepr[max(0, len(e.ObjectRepr)-8):])
			}
		}
	})
}
