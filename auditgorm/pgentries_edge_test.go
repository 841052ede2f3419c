package auditgorm_test

// Edge cases of the PostgreSQL statements that write their own entries
// (pgentries.go): each test writes the same changes with that path and
// with the Go side alone (auditgorm.NoSQLEntries) and checks that they
// agree, or that the path gives way to the Go side where it must.

import (
	"bytes"
	"context"
	"database/sql/driver"
	"fmt"
	"log"
	"math"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	"gorm.io/plugin/optimisticlock"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

func needPG(t *testing.T) {
	t.Helper()
	if os.Getenv(testdb.PostgresEnv) == "" {
		t.Skip(testdb.PostgresEnv + " is not set")
	}
}

// pathPair opens two PostgreSQL databases with the same models and
// registrations, one with the SQL entries path (inSQL) and one with every
// entry built in Go (inGo), and counts the statements that wrote their own
// entries.
func pathPair(t *testing.T, register func(reg *auditlog.Registry), cfg func(*auditgorm.Config), models ...any) (inSQL, inGo *gorm.DB, sqlStatements *atomic.Int64) {
	t.Helper()
	needPG(t)
	var n atomic.Int64
	auditgorm.SetTestHookSQLEntries(func(int64, int) { n.Add(1) })
	t.Cleanup(func() { auditgorm.SetTestHookSQLEntries(nil) })
	now := time.Date(2026, 12, 4, 10, 30, 0, 123456000, time.UTC)
	open := func(goOnly bool) *gorm.DB {
		db := testdb.Open(t, "postgres")
		db.Config.NowFunc = func() time.Time { return now }
		reg := auditlog.NewRegistry()
		register(reg)
		c := auditgorm.Config{Registry: reg}
		if cfg != nil {
			cfg(&c)
		}
		p := auditgorm.New(c)
		if goOnly {
			p = auditgorm.NoSQLEntries(p)
		}
		must(t, db.Use(p))
		must(t, db.AutoMigrate(models...))
		return db
	}
	return open(false), open(true), &n
}

// sameEntries compares the entries of both databases column by column, in
// id order (not sorted by object: order is part of what is compared).
func sameEntries(t *testing.T, inSQL, inGo *gorm.DB) {
	t.Helper()
	sameRows(t, entryRows(t, inSQL), entryRows(t, inGo))
}

// FloatNum is a float field in a numeric column (GORM declares float64
// "decimal" on PostgreSQL): pgNumericFloat.
type FloatNum struct {
	ID    int64
	Ratio *float64
}

// TestPGEntriesNumericFloatOutOfRange: a numeric column of a float field
// holds a value outside float8's range (1e400, 1e-400). The Go side reads
// the text and records it (as a decimal, or 0); SQL leaves the row to it
// rather than fail to cast the value, and the statement goes through.
func TestPGEntriesNumericFloatOutOfRange(t *testing.T) {
	inSQL, inGo, _ := pathPair(t, func(reg *auditlog.Registry) { must(t, reg.Register(&FloatNum{}, auditlog.Snapshot())) }, nil, &FloatNum{})
	for _, db := range []*gorm.DB{inSQL, inGo} {
		must(t, db.Create(&FloatNum{ID: 1, Ratio: ptr(1.5)}).Error)
		must(t, db.Create(&FloatNum{ID: 2, Ratio: ptr(2.5)}).Error)
	}
	for _, db := range []*gorm.DB{inSQL, inGo} {
		name := map[*gorm.DB]string{inSQL: "SQL", inGo: "Go"}[db]
		if err := db.Model(&FloatNum{ID: 1}).Update("ratio", gorm.Expr("1e400::numeric")).Error; err != nil {
			t.Errorf("%s: update to 1e400: %v", name, err)
		}
		if err := db.Model(&FloatNum{ID: 2}).Update("ratio", gorm.Expr("1e-400::numeric")).Error; err != nil {
			t.Errorf("%s: update to 1e-400: %v", name, err)
		}
	}
	sameEntries(t, inSQL, inGo)
}

// Plain has a float8 column and an excluded secret.
type Plain struct {
	ID     int64
	Name   string
	Real   *float64 `gorm:"type:double precision"`
	Secret string
}

// TestPGEntriesExtraFloatDigits: with extra_float_digits = 0 (a server or
// role default some installations keep for old clients) PostgreSQL writes
// a float8 with 15 digits, where Go writes the shortest exact form: the
// rows go to the Go side.
func TestPGEntriesExtraFloatDigits(t *testing.T) {
	inSQL, inGo, n := pathPair(t, func(reg *auditlog.Registry) { must(t, reg.Register(&Plain{})) }, nil, &Plain{})
	for _, db := range []*gorm.DB{inSQL, inGo} {
		sqlDB, err := db.DB()
		must(t, err)
		sqlDB.SetMaxOpenConns(1)
		must(t, db.Exec("SET extra_float_digits = 0").Error)
		must(t, db.Create(&Plain{ID: 1, Name: "a", Real: ptr(0.1)}).Error)
		a, b := 0.1, 0.2 // a variable sum: 0.30000000000000004
		must(t, db.Model(&Plain{ID: 1}).Update("real", a+b).Error)
	}
	if n.Load() == 0 {
		t.Fatal("the SQL path did not run")
	}
	sameEntries(t, inSQL, inGo)
}

// TestPGEntriesParamsFilter: GORM's logger with ParameterizedQueries logs
// statements without their values; the statement that writes its entries
// is logged through the same filter, so an excluded field's value stays
// out of the log.
func TestPGEntriesParamsFilter(t *testing.T) {
	const secret = "hunter2-very-secret"
	var buf bytes.Buffer
	inSQL, inGo, n := pathPair(t, func(reg *auditlog.Registry) { must(t, reg.Register(&Plain{}, auditlog.Exclude("Secret"))) }, nil, &Plain{})
	for _, db := range []*gorm.DB{inSQL, inGo} {
		must(t, db.Create(&Plain{ID: 1, Name: "a"}).Error)
	}
	for _, db := range []*gorm.DB{inSQL, inGo} {
		name := map[*gorm.DB]string{inSQL: "SQL", inGo: "Go"}[db]
		buf.Reset()
		l := logger.New(log.New(&buf, "", 0), logger.Config{LogLevel: logger.Info, ParameterizedQueries: true})
		quiet := db.Session(&gorm.Session{Logger: l})
		must(t, quiet.Model(&Plain{ID: 1}).Updates(map[string]any{"name": "b", "secret": secret}).Error)
		must(t, quiet.Where("secret = ?", secret).Delete(&Plain{}).Error)
		if strings.Contains(buf.String(), secret) {
			t.Errorf("%s path: the excluded value is in the log:\n%.600s", name, buf.String())
		}
	}
	if n.Load() == 0 {
		t.Fatal("the SQL path did not run: its log line was not tested")
	}
}

// TestPGEntriesConfigNowAfterLock: with Config.Now set to a real clock, an
// entry's time must still be read after the write waited for the row's
// lock, or a writer that waited is stamped before the writer it waited
// for. The statement cannot read a Go clock after its lock: with
// Config.Now the entries are written by the Go side.
func TestPGEntriesConfigNowAfterLock(t *testing.T) {
	for _, goOnly := range []bool{false, true} {
		t.Run(map[bool]string{false: "SQL", true: "Go"}[goOnly], func(t *testing.T) {
			needPG(t)
			db := testdb.Open(t, "postgres")
			reg := auditlog.NewRegistry()
			must(t, reg.Register(&Counter{}))
			p := auditgorm.New(auditgorm.Config{Registry: reg, Now: time.Now})
			if goOnly {
				p = auditgorm.NoSQLEntries(p)
			}
			must(t, db.Use(p))
			must(t, db.AutoMigrate(&Counter{}))
			must(t, db.Create(&Counter{ID: 1, N: 0}).Error)

			holder := db.Begin()
			must(t, holder.Error)
			var id int64
			must(t, holder.Raw("SELECT id FROM counters WHERE id = 1 FOR UPDATE").Scan(&id).Error)
			done := make(chan error, 1)
			go func() { done <- db.Model(&Counter{ID: 1}).Update("n", gorm.Expr("n + 1")).Error }()
			waitForLockWaiter(t, db)
			time.Sleep(20 * time.Millisecond)
			// The lock holder changes the row first, then commits.
			must(t, holder.Model(&Counter{ID: 1}).Update("n", gorm.Expr("n + 1")).Error)
			must(t, holder.Commit().Error)
			must(t, <-done)

			es := expectCount(t, db, 3)
			prev := "0"
			for _, e := range es[1:] {
				c := e.Changes["n"]
				if string(c.Old) != prev {
					t.Errorf("entry %d (at %s) changes n from %s, but the entry before it left %s: entries out of the order of the changes", e.ID, e.Timestamp.Format(time.RFC3339Nano), c.Old, prev)
				}
				prev = string(c.New)
			}
		})
	}
}

// waitForLockWaiter waits until a backend of the test database waits for a
// lock.
func waitForLockWaiter(t *testing.T, db *gorm.DB) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var n int64
		must(t, db.Raw("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()").Scan(&n).Error)
		if n > 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no writer waited for the lock")
}

// Shift has an integer key that statements shift, and a body that may be
// too large for SQL to encode (its row then goes to the client).
type Shift struct {
	ID   int64 `gorm:"primaryKey;autoIncrement:false"`
	Body string
}

// TestPGEntriesKeyShiftOrder: one UPDATE shifts keys down (2 → 1, then
// 3 → 2) while row 2's body is too large for SQL. Entries the statement
// left to the client would follow the others, and replaying "3 became 2"
// before "2 became 1" overwrites object 2: statements that assign the key
// write every entry from the Go side, in the order PostgreSQL applied the
// changes.
func TestPGEntriesKeyShiftOrder(t *testing.T) {
	inSQL, inGo, n := pathPair(t, func(reg *auditlog.Registry) { must(t, reg.Register(&Shift{})) }, nil, &Shift{})
	big := strings.Repeat("x", pgMaxTextForTest+1)
	for _, db := range []*gorm.DB{inSQL, inGo} {
		must(t, db.Create([]*Shift{{ID: 2, Body: big}, {ID: 3, Body: "small"}}).Error)
		must(t, db.Model(&Shift{}).Where("id IN ?", []int64{2, 3}).Update("id", gorm.Expr("id - 1")).Error)
	}
	if n.Load() == 0 {
		t.Fatal("the SQL path did not run")
	}
	for _, db := range []*gorm.DB{inSQL, inGo} {
		name := map[*gorm.DB]string{inSQL: "SQL", inGo: "Go"}[db]
		if err := replayShift(entries(t, db)); err != nil {
			t.Errorf("%s path: replay: %v", name, err)
		}
	}
}

// replayShift replays Shift entries in the store's order: a row per key,
// moved when its id changes.
func replayShift(es []auditlog.Entry) error {
	rows := map[string]map[string]string{}
	for _, e := range es {
		switch e.Action {
		case auditlog.ActionCreate:
			if _, ok := rows[e.ObjectPK]; ok {
				return fmt.Errorf("entry %d creates %s, which exists", e.ID, e.ObjectPK)
			}
			r := map[string]string{}
			for c, ch := range e.Changes {
				r[c] = string(ch.New)
			}
			rows[e.ObjectPK] = r
		case auditlog.ActionUpdate:
			r, ok := rows[e.ObjectPK]
			if !ok {
				return fmt.Errorf("entry %d updates %s, which does not exist", e.ID, e.ObjectPK)
			}
			for c, ch := range e.Changes {
				if r[c] != string(ch.Old) {
					return fmt.Errorf("entry %d: %s.%s was %.20s, the entry says %.20s", e.ID, e.ObjectPK, c, r[c], ch.Old)
				}
				r[c] = string(ch.New)
			}
			if id := r["id"]; id != e.ObjectPK {
				if _, taken := rows[id]; taken {
					return fmt.Errorf("entry %d moves %s to %s, which exists", e.ID, e.ObjectPK, id)
				}
				delete(rows, e.ObjectPK)
				rows[id] = r
			}
		}
	}
	return nil
}

// TestPGEntriesContextErrorWithoutEntries: context data that does not
// encode as JSON refuses every statement, before it runs, on both paths:
// also an update that would change nothing or match no row (it refused
// only statements that wrote an entry, after they ran: in a caller's
// MariaDB transaction such a write stayed).
func TestPGEntriesContextErrorWithoutEntries(t *testing.T) {
	inSQL, inGo, _ := pathPair(t, func(reg *auditlog.Registry) { must(t, reg.Register(&Plain{})) }, nil, &Plain{})
	ctx := auditlog.WithExtra(context.Background(), map[string]any{"score": math.Inf(1)})
	for _, db := range []*gorm.DB{inSQL, inGo} {
		name := map[*gorm.DB]string{inSQL: "SQL", inGo: "Go"}[db]
		must(t, db.Create(&Plain{ID: 1, Name: "a"}).Error)
		if err := db.WithContext(ctx).Model(&Plain{ID: 1}).Update("name", "a").Error; err == nil || !strings.Contains(err.Error(), "+Inf") {
			t.Errorf("%s path: an update that changes nothing: %v", name, err)
		}
		if err := db.WithContext(ctx).Model(&Plain{}).Where("id = ?", 99).Update("name", "z").Error; err == nil {
			t.Errorf("%s path: an update that matches no row: no error", name)
		}
		if err := db.WithContext(ctx).Model(&Plain{ID: 1}).Update("name", "b").Error; err == nil {
			t.Errorf("%s path: an update: no error", name)
		}
		var p Plain
		must(t, db.First(&p, 1).Error)
		if p.Name != "a" {
			t.Errorf("%s path: the refused update wrote %q", name, p.Name)
		}
	}
}

// Status is a string kind; Cents a Valuer over an integer.
type Status string

type Cents int64

func (c Cents) Value() (driver.Value, error) { return int64(c), nil }

func (c *Cents) Scan(v any) error {
	switch x := v.(type) {
	case int64:
		*c = Cents(x)
	case nil:
		*c = 0
	default:
		return fmt.Errorf("Cents: %T", v)
	}
	return nil
}

type Where struct {
	City string
	Zip  *string
}

type Label = string

// Feat mixes GORM features: uuid key, timestamp(3), embedded struct,
// pointers, type alias, Valuer, optimistic lock, soft delete.
type Feat struct {
	ID      string     `gorm:"type:uuid;primaryKey"`
	Title   Label      `gorm:"size:200"`
	State   Status     `gorm:"size:20"`
	Price   Cents      `gorm:"type:bigint"`
	At3     *time.Time `gorm:"type:timestamp(3)"`
	Tz0     *time.Time `gorm:"type:timestamptz(0)"`
	Addr    Where      `gorm:"embedded;embeddedPrefix:addr_"`
	Count   *uint
	Version optimisticlock.Version
	Deleted gorm.DeletedAt
}

// TKey has a text key.
type TKey struct {
	Code string `gorm:"primaryKey;size:255"`
	N    int
}

// TestPGEntriesFeaturesEqualGo: uuid and odd text keys, timestamp(3) and
// timestamptz(0), an embedded struct, pointers, a type alias, a string
// kind, a Valuer, optimistic locking (a stale update included), soft and
// hard deletes and Table("feat_archive") agree with the Go side.
func TestPGEntriesFeaturesEqualGo(t *testing.T) {
	inSQL, inGo, n := pathPair(t, func(reg *auditlog.Registry) {
		must(t, reg.Register(&Feat{}, auditlog.Snapshot()))
		must(t, reg.Register(&TKey{}, auditlog.Snapshot()))
	}, nil, &Feat{}, &TKey{})
	at := time.Date(2026, 3, 1, 12, 0, 0, 987654321, time.FixedZone("X", -7*3600))
	const u1, u2 = "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "6ba7b811-9dad-11d1-80b4-00c04fd430c8"
	keys := []string{`a"b`, `%_`, ` sp `, `back\slash`, `$1`, `'; drop table t; --`, "tab\tnl\n"}
	for _, db := range []*gorm.DB{inSQL, inGo} {
		must(t, db.Exec("CREATE TABLE feat_archive (LIKE feats INCLUDING ALL)").Error)
		must(t, db.Create(&Feat{ID: u1, Title: "t", State: "new", Price: 5, At3: &at, Tz0: &at, Addr: Where{City: "x"}}).Error)
		must(t, db.Create(&Feat{ID: u2, Title: "u"}).Error)
		must(t, db.Table("feat_archive").Create(&Feat{ID: u1, Title: "arch"}).Error)
		var f Feat
		must(t, db.First(&f, "id = ?", u1).Error)
		must(t, db.Model(&f).Updates(Feat{Title: "t2", State: "done", Price: 7, Addr: Where{City: "y", Zip: ptr("z")}, Count: ptr(uint(3))}).Error)
		// Stale: changes nothing.
		stale := f
		stale.Version.Int64 = 1
		must(t, db.Model(&stale).Updates(map[string]any{"title": "stale"}).Error)
		must(t, db.Model(&Feat{}).Where("id = ?", u1).Update("at3", at.Add(time.Millisecond)).Error)
		must(t, db.Model(&Feat{}).Where("id = ?", u2).Update("tz0", at).Error)
		must(t, db.Table("feat_archive").Where("id = ?", u1).Updates(map[string]any{"title": "arch2", "price": 9}).Error)
		must(t, db.Delete(&Feat{ID: u2}).Error)
		must(t, db.Table("feat_archive").Where("id = ?", u1).Delete(&Feat{}).Error)
		for i, k := range keys {
			must(t, db.Create(&TKey{Code: k, N: i}).Error)
		}
		must(t, db.Model(&TKey{}).Where("n >= 0").Update("n", gorm.Expr("n + 10")).Error)
		must(t, db.Model(&TKey{}).Where("code = ?", `a"b`).Update("code", `a"b2`).Error)
		must(t, db.Where("n >= 0").Delete(&TKey{}).Error)
	}
	if n.Load() < 8 {
		t.Fatalf("only %d statements wrote their own entries", n.Load())
	}
	sameRows(t, byObject(entryRows(t, inSQL)), byObject(entryRows(t, inGo)))
}

// TestPGEntriesBindVariableLimit: PostgreSQL takes at most 65,535 bind
// variables per statement. The entries' context adds 8 to the write's own:
// a write whose conditions use nearly all of them (an IN list of 65,530
// keys) runs without them and its entries are written by the Go side.
func TestPGEntriesBindVariableLimit(t *testing.T) {
	inSQL, inGo, _ := pathPair(t, func(reg *auditlog.Registry) { must(t, reg.Register(&Plain{})) }, nil, &Plain{})
	ids := make([]int64, 65530)
	for i := range ids {
		ids[i] = int64(i + 1)
	}
	for _, db := range []*gorm.DB{inSQL, inGo} {
		name := map[*gorm.DB]string{inSQL: "SQL", inGo: "Go"}[db]
		must(t, db.Create(&Plain{ID: 1, Name: "a"}).Error)
		if err := db.Model(&Plain{}).Where("id IN ?", ids).Update("name", "b").Error; err != nil {
			t.Errorf("%s path: update of %d keys: %.200v", name, len(ids), err)
		}
		if err := db.Delete(&Plain{}, ids).Error; err != nil {
			t.Errorf("%s path: delete of %d keys: %.200v", name, len(ids), err)
		}
	}
	sameEntries(t, inSQL, inGo)
}

// Odd has column names the statement's own aliases and quoting could trip
// on.
type Odd struct {
	ID    int64
	Aleft string `gorm:"column:_aleft"`
	An    int    `gorm:"column:_an"`
	Au    int    `gorm:"column:_au"`
	Quote string `gorm:"column:it's"`
	Upper string `gorm:"column:UpperCase"`
	Ao0   string `gorm:"column:_ao"`
	HTML  string `gorm:"column:a<b&c>"`
	DQ    string `gorm:"column:say\"hi\""`
}

// TestPGEntriesOddNamesEqualGo: columns named like the statement's own
// aliases or with quotes (single and double), characters encoding/json
// escapes for HTML, and a model name with quotes, agree with the Go side.
func TestPGEntriesOddNamesEqualGo(t *testing.T) {
	inSQL, inGo, n := pathPair(t, func(reg *auditlog.Registry) {
		must(t, reg.Register(&Odd{}, auditlog.Snapshot(), auditlog.ModelName("odd 'model' ünï")))
	}, nil, &Odd{})
	big := strings.Repeat("y", pgMaxTextForTest+1)
	for _, db := range []*gorm.DB{inSQL, inGo} {
		must(t, db.Create([]*Odd{{ID: 1, Aleft: "a", HTML: "<h>"}, {ID: 2, Aleft: "b", DQ: `"d"`}}).Error)
		must(t, db.Model(&Odd{}).Where("id IN ?", []int{1, 2}).Updates(map[string]any{"_aleft": "c", "_an": 3, "_au": 4, "it's": "q'", "UpperCase": "U", "_ao": "o",
			"a<b&c>": "x&y", `say"hi"`: `\"`}).Error)
		must(t, db.Model(&Odd{ID: 2}).Update("it's", big).Error)
		must(t, db.Delete(&Odd{}, []int{1, 2}).Error)
	}
	if n.Load() < 3 {
		t.Fatalf("only %d statements wrote their own entries", n.Load())
	}
	sameEntries(t, inSQL, inGo)
}

// TestPGEntriesOneClock: without Config.Now every entry on PostgreSQL takes
// the database's clock, whichever side writes it, so a create (Go side)
// and a later update (SQL) of one object keep their order whatever the
// application host's clock says. The functions are called by their
// pg_catalog names: a clock_timestamp() earlier on the search_path (here
// 50 ms behind) is not the one read.
func TestPGEntriesOneClock(t *testing.T) {
	for _, goOnly := range []bool{false, true} {
		t.Run(map[bool]string{false: "SQL", true: "Go"}[goOnly], func(t *testing.T) {
			needPG(t)
			db := testdb.Open(t, "postgres")
			sqlDB, err := db.DB()
			must(t, err)
			sqlDB.SetMaxOpenConns(1)
			reg := auditlog.NewRegistry()
			must(t, reg.Register(&Counter{}))
			p := auditgorm.New(auditgorm.Config{Registry: reg})
			if goOnly {
				p = auditgorm.NoSQLEntries(p)
			}
			must(t, db.Use(p))
			must(t, db.AutoMigrate(&Counter{}))
			var schema string
			must(t, db.Raw("SELECT current_schema()").Scan(&schema).Error)
			must(t, db.Exec(`CREATE FUNCTION "`+schema+`".clock_timestamp() RETURNS timestamptz LANGUAGE sql AS $$ SELECT pg_catalog.clock_timestamp() - interval '50 milliseconds' $$`).Error)
			must(t, db.Exec(`SET search_path = "`+schema+`", pg_catalog`).Error)
			must(t, db.Create(&Counter{ID: 1, N: 0}).Error)
			must(t, db.Model(&Counter{ID: 1}).Update("n", 1).Error)
			es := expectCount(t, db, 2)
			if es[0].Action != auditlog.ActionCreate {
				t.Errorf("the store lists the %s entry (at %s) before the create (at %s)", es[0].Action, es[0].Timestamp.Format(time.RFC3339Nano), es[1].Timestamp.Format(time.RFC3339Nano))
			}
		})
	}
}
