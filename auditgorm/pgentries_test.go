package auditgorm_test

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// Wide has a column of every type PostgreSQL encodes entries for in SQL.
type Wide struct {
	ID        int64
	Name      string `gorm:"size:300"`
	Body      *string
	Flag      *bool
	Small     int16
	Big       *int64
	Amount    *string  `gorm:"type:numeric(24,4)"`
	Ratio     *float64 // numeric, as GORM declares floats
	Real      *float64 `gorm:"type:double precision"`
	At        *time.Time
	Local     *time.Time `gorm:"type:timestamp"`
	Day       *time.Time `gorm:"type:date"`
	Doc       JSONDoc
	UID       *string `gorm:"type:uuid"`
	CreatedAt time.Time
	UpdatedAt time.Time
	DeletedAt gorm.DeletedAt
}

// WideDoc has a text key.
type WideDoc struct {
	Code string `gorm:"primaryKey;size:100"`
	Body string
	N    int
}

func ptr[T any](v T) *T { return &v }

// TestPGEntriesEqualGo writes the same changes on two PostgreSQL databases,
// one whose updates and deletes write their entries in SQL and one that
// builds every entry in Go, and compares the entries column by column:
// every value SQL encodes, compares or leaves to the client (too large,
// out of range) gives the entry the Go side writes.
func TestPGEntriesEqualGo(t *testing.T) {
	if os.Getenv(testdb.PostgresEnv) == "" {
		t.Skip(testdb.PostgresEnv + " is not set")
	}
	var statements, left atomic.Int64
	auditgorm.SetTestHookSQLEntries(func(_ int64, l int) { statements.Add(1); left.Add(int64(l)) })
	defer auditgorm.SetTestHookSQLEntries(nil)

	now := time.Date(2026, 12, 4, 10, 30, 0, 123456000, time.UTC)
	open := func(inGo bool) *gorm.DB {
		db := testdb.Open(t, "postgres")
		db.Config.NowFunc = func() time.Time { return now }
		reg := auditlog.NewRegistry()
		must(t, reg.Register(&Wide{}, auditlog.Snapshot()))
		// An excluded field keeps WideDoc's creates in Go (an object's repr
		// sees its excluded fields), not its updates and deletes.
		must(t, reg.Register(&WideDoc{}, auditlog.Exclude("N"), auditlog.Snapshot()))
		// No Config.Now: with one, entries are built in Go (its time would be
		// read before the write waited for its locks).
		p := auditgorm.New(auditgorm.Config{Registry: reg})
		if inGo {
			p = auditgorm.NoSQLEntries(p)
		}
		must(t, db.Use(p))
		must(t, db.AutoMigrate(&Wide{}, &WideDoc{}))
		return db
	}
	inSQL, inGo := open(false), open(true)

	ctx := auditlog.WithActor(context.Background(), auditlog.Actor{ID: "u-7", Name: "Zoë <admin>"})
	ctx = auditlog.WithCorrelationID(ctx, "job-42")
	ctx = auditlog.WithExtra(ctx, map[string]any{"reason": "it's \"fine\" <ok>", "n": 1.5})

	at := time.Date(2026, 3, 1, 12, 0, 0, 987654321, time.FixedZone("X", 5*3600+1800))
	big := strings.Repeat("é", pgMaxTextForTest/2+1) // over the SQL bound: the client writes it
	huge := strings.Repeat("<", 1<<20)               // recorded as a digest
	steps := []struct {
		name string
		run  func(db *gorm.DB) error
	}{
		{"create", func(db *gorm.DB) error {
			return db.Create([]*Wide{
				{ID: 1, Name: "plain", Small: 1},
				{ID: 2, Name: "", Body: ptr(""), Flag: ptr(false), Small: -32768, Big: ptr(int64(math.MaxInt64)), Amount: ptr("44.00"),
					Ratio: ptr(0.1), At: &at, Local: &at, Day: &at, Doc: JSONDoc(`{"b":1,"a":[1.0,2.50,"x<y"]}`), UID: ptr("6BA7B810-9DAD-11D1-80B4-00C04FD430C8")},
				{ID: 3, Name: "three", Doc: JSONDoc(`null`)},
			}).Error
		}},
		{"create edges", func(db *gorm.DB) error {
			far := time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
			return db.Create([]*Wide{
				{ID: 4, Name: "big", Body: &big, At: &far, Ratio: ptr(math.Inf(-1)), Real: ptr(math.NaN()), Amount: ptr("NaN"), Doc: JSONDoc(`{"k":null}`)},
				{ID: 5, Name: "plain", Flag: ptr(true), Big: ptr(int64(math.MinInt64))},
			}).Error
		}},
		{"create docs", func(db *gorm.DB) error {
			return db.Create([]*WideDoc{{Code: "a'b ?x", Body: "one", N: 1}, {Code: "ünï 🎉", Body: "two"}}).Error
		}},
		{"text edges", func(db *gorm.DB) error {
			return db.Model(&Wide{ID: 1}).Updates(map[string]any{"name": "quote ' \" \\ <>& ünï 🎉 \n\t\u2028\x01", "body": "x", "flag": true}).Error
		}},
		{"numbers", func(db *gorm.DB) error {
			return db.Model(&Wide{ID: 2}).Updates(map[string]any{"small": 32767, "big": int64(math.MinInt64), "amount": "-0.0001", "ratio": 1e300, "real": 1e300}).Error
		}},
		{"equal by value", func(db *gorm.DB) error {
			return db.Model(&Wide{ID: 2}).Updates(map[string]any{"amount": "-0.00010", "ratio": "1.0000000000000000000000001e300"}).Error
		}},
		{"floats", func(db *gorm.DB) error {
			for _, f := range []float64{math.Copysign(0, -1), 0, 1e-7, math.NaN(), math.NaN(), math.Inf(1), math.Inf(-1), 123456.789} {
				if err := db.Model(&Wide{ID: 2}).Updates(map[string]any{"ratio": f, "real": f}).Error; err != nil {
					return err
				}
			}
			return nil
		}},
		{"numeric NaN", func(db *gorm.DB) error {
			return db.Model(&Wide{ID: 2}).Update("amount", "NaN").Error
		}},
		{"times", func(db *gorm.DB) error {
			for _, tm := range []time.Time{
				time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
				time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
				time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC),
				time.Date(2026, 7, 7, 7, 7, 7, 100000000, time.UTC),
			} {
				if err := db.Model(&Wide{ID: 3}).Updates(map[string]any{"at": tm, "local": tm, "day": tm}).Error; err != nil {
					return err
				}
			}
			return nil
		}},
		{"json", func(db *gorm.DB) error {
			// JSON null and SQL NULL are the same value to the Go side.
			for _, doc := range []any{JSONDoc(`{"a":1}`), JSONDoc(`{"a":1.0}`), JSONDoc(`{ "a" : 1.0 }`), JSONDoc(`"str"`), JSONDoc(`123`),
				JSONDoc(`null`), nil, JSONDoc(`null`), JSONDoc(`[{"z":"<&>"}]`), nil,
				// Documents shaped like the entries' tags, recorded apart from them.
				JSONDoc(`{"$json":"{\"a\":1,\"a\":2}"}`), JSONDoc(`{"$doc":{"$base64":"/w=="}}`), JSONDoc(`["$json"]`), JSONDoc(`{"$json":1}`)} {
				if err := db.Model(&Wide{ID: 3}).Update("doc", doc).Error; err != nil {
					return err
				}
			}
			return nil
		}},
		{"uuid", func(db *gorm.DB) error {
			return db.Model(&Wide{ID: 2}).Update("uid", "00000000-0000-0000-0000-000000000001").Error
		}},
		{"no change", func(db *gorm.DB) error {
			return db.Model(&Wide{ID: 1}).Updates(map[string]any{"name": gorm.Expr("name"), "small": 1}).Error
		}},
		{"excluded only", func(db *gorm.DB) error {
			return db.Model(&WideDoc{}).Where("code = ?", "a'b ?x").Update("n", 7).Error
		}},
		{"large values", func(db *gorm.DB) error {
			if err := db.Model(&Wide{ID: 1}).Update("body", big).Error; err != nil {
				return err
			}
			return db.Model(&Wide{ID: 3}).Update("body", huge).Error
		}},
		{"bulk expression", func(db *gorm.DB) error {
			return db.Model(&Wide{}).Where("id IN ?", []int64{1, 2, 3}).Update("small", gorm.Expr("CASE WHEN small > 0 THEN small - 1 ELSE small + 1 END")).Error
		}},
		{"key change", func(db *gorm.DB) error {
			return db.Model(&WideDoc{}).Where("code = ?", "a'b ?x").Updates(map[string]any{"code": "renamed", "n": 5}).Error
		}},
		{"soft delete", func(db *gorm.DB) error { return db.Delete(&Wide{ID: 1}).Error }},
		{"hard delete", func(db *gorm.DB) error {
			if err := db.Unscoped().Delete(&Wide{}, []int64{1, 2}).Error; err != nil {
				return err
			}
			return db.Delete(&WideDoc{}, "code = ?", "ünï 🎉").Error
		}},
		{"delete with large values", func(db *gorm.DB) error { return db.Unscoped().Delete(&Wide{ID: 3}).Error }},
	}
	for _, s := range steps {
		for _, db := range []*gorm.DB{inSQL, inGo} {
			before := statements.Load()
			if err := s.run(db.WithContext(ctx)); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			// Every write in SQL but WideDoc's creates, a key change and
			// an update of an excluded field alone (which can make no
			// entry and runs as it is), none in Go.
			ran := statements.Load() > before
			if want := db == inSQL && s.name != "create docs" && s.name != "key change" && s.name != "excluded only"; ran != want {
				t.Fatalf("%s: statements that write their own entries ran: %v, want %v", s.name, ran, want)
			}
		}
	}
	// Entries are in the order of their times, on both.
	for _, db := range []*gorm.DB{inSQL, inGo} {
		rows := entryRows(t, db)
		for i := 1; i < len(rows); i++ {
			if rows[i][0] < rows[i-1][0] {
				t.Errorf("entry %d is at %s, before entry %d at %s", i+1, rows[i][0], i, rows[i-1][0])
			}
		}
	}
	// Within one statement SQL writes its entries before those it left to
	// the client: compare each object's history, in order.
	a := sameRows(t, byObject(entryRows(t, inSQL)), byObject(entryRows(t, inGo)))
	if statements.Load() < 20 || left.Load() < 3 {
		t.Fatalf("%d statements wrote their entries, %d rows left to the client: the SQL path did not run as the test needs", statements.Load(), left.Load())
	}
	t.Logf("%d entries; %d statements wrote their own, leaving %d rows to the client", len(a), statements.Load(), left.Load())
}

// sameRows compares the entries written with and without SQL entries,
// column by column but the timestamp (the database's clock on both, read
// at different times), and returns the first.
func sameRows(t *testing.T, a, b [][]string) [][]string {
	t.Helper()
	if len(a) != len(b) {
		t.Errorf("%d entries written with SQL entries on, %d in Go", len(a), len(b))
	}
	for i := range min(len(a), len(b)) {
		for c := range a[i] {
			if a[i][c] != b[i][c] && entryRowColumns[c] != "timestamp" {
				t.Errorf("entry %d, column %s:\n SQL %.300s\n Go  %.300s", i+1, entryRowColumns[c], a[i][c], b[i][c])
			}
		}
	}
	return a
}

// byObject orders entries by model and object key, keeping the order of
// each object's entries.
func byObject(rows [][]string) [][]string {
	slices.SortStableFunc(rows, func(a, b []string) int {
		return cmp.Or(cmp.Compare(a[2], b[2]), cmp.Compare(a[3], b[3]))
	})
	return rows
}

// pgMaxTextForTest is the plugin's bound on text values SQL encodes.
const pgMaxTextForTest = (1<<20 - 2) / 6

var entryRowColumns = strings.Split("timestamp,action,model,object_pk,object_id,object_repr,changes,serialized_data,additional_data,actor_id,actor_name,remote_addr,remote_port,cid", ",")

// entryRows reads every entry's columns but its id as text, in id order.
func entryRows(t *testing.T, db *gorm.DB) [][]string {
	t.Helper()
	cols := make([]string, len(entryRowColumns))
	for i, c := range entryRowColumns {
		cols[i] = "coalesce(" + c + "::text, '<null>')"
	}
	rows, err := db.Raw("SELECT " + strings.Join(cols, ", ") + " FROM auditlog_entries ORDER BY id").Rows()
	must(t, err)
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vals := make([]string, len(cols))
		dest := make([]any, len(cols))
		for i := range vals {
			dest[i] = &vals[i]
		}
		must(t, rows.Scan(dest...))
		out = append(out, vals)
	}
	must(t, rows.Err())
	return out
}

// TestPGEntriesAfterAlterTable changes a column's type after the plugin
// planned its entries: the first write after it finds the new type among
// the columns it returned, fails and is rolled back (its entries may have
// been encoded for the old type); the next one plans again and is
// recorded as the Go side reads the new type.
func TestPGEntriesAfterAlterTable(t *testing.T) {
	if os.Getenv(testdb.PostgresEnv) == "" {
		t.Skip(testdb.PostgresEnv + " is not set")
	}
	var statements atomic.Int64
	auditgorm.SetTestHookSQLEntries(func(int64, int) { statements.Add(1) })
	defer auditgorm.SetTestHookSQLEntries(nil)
	db := testdb.Open(t, "postgres")
	must(t, setup(t, db, &Counter{}).Register(&Counter{}))
	must(t, db.Create(&Counter{ID: 1, N: 1}).Error)
	must(t, db.Model(&Counter{ID: 1}).Update("n", 2).Error)
	must(t, db.Exec("ALTER TABLE counters ALTER COLUMN n TYPE numeric(10,1)").Error)
	// New connections: prepared statements would fail on the new type.
	sqlDB, err := db.DB()
	must(t, err)
	sqlDB.SetMaxIdleConns(0)
	sqlDB.SetMaxIdleConns(2)
	err = db.Model(&Counter{ID: 1}).Update("n", 3).Error
	if err == nil || !strings.Contains(err.Error(), "column n is of type numeric, not int8") {
		t.Fatalf("the write after the ALTER: %v, want the changed type named", err)
	}
	var n string
	must(t, db.Raw("SELECT n::text FROM counters WHERE id = 1").Scan(&n).Error)
	if n != "2.0" {
		t.Fatalf("the refused write left n = %s, want 2.0", n)
	}
	must(t, db.Model(&Counter{ID: 1}).Update("n", 3).Error)
	es := expectCount(t, db, 3)
	// The Go side records the numeric column's text as it reads it.
	for i, want := range []string{`{"n":[1,2]}`, `{"n":["2.0","3.0"]}`} {
		if got := changesJSON(t, es[i+1]); !reflect.DeepEqual(got, wantJSON(t, want)) {
			t.Errorf("entry %d: changes %v, want %s", i+2, got, want)
		}
	}
	// The create and the update before the ALTER wrote their entries; the
	// retry planned again and found a column SQL does not encode for an
	// int field: the Go side wrote its entry.
	if statements.Load() != 2 {
		t.Errorf("%d statements wrote their own entries, want 2 (before the ALTER)", statements.Load())
	}
}

// NegZero has a float8 column, written by PostgreSQL's SQL-built entries,
// and NegZeroRepr the same with a repr of its own, written by the Go side.
type NegZero struct {
	ID   uint
	Real float64 `gorm:"type:double precision"`
}

type NegZeroRepr struct {
	ID   uint
	Real float64 `gorm:"type:double precision"`
}

func (n NegZeroRepr) String() string { return fmt.Sprint("nz ", n.ID) }

// A float8 column keeps -0 apart from 0 (SQLite and MariaDB store -0 as
// 0). As numbers they are equal, and jsonb reads -0 as 0: the update from
// 0 to -0 made no entry. -0 is recorded as the text "-0", as NaN is, and a
// revert writes it back.
func TestNegativeZeroFloat8(t *testing.T) {
	db := testdb.Open(t, "postgres")
	reg := setup(t, db, &NegZero{}, &NegZeroRepr{})
	must(t, reg.Register(&NegZero{}))
	must(t, reg.Register(&NegZeroRepr{}))
	negZero := math.Copysign(0, -1)
	for _, m := range []any{&NegZero{}, &NegZeroRepr{}} {
		table := db.NamingStrategy.TableName(reflect.TypeOf(m).Elem().Name())
		must(t, db.Create(m).Error)
		must(t, db.Model(m).Update("real", negZero).Error)
		must(t, db.Model(m).Update("real", 0.0).Error)
		must(t, db.Model(m).Update("real", negZero).Error)
		var es []auditlog.Entry
		for _, e := range entries(t, db) {
			if e.Model == table {
				es = append(es, e)
			}
		}
		if len(es) != 4 {
			t.Fatalf("%s: %d entries, want the create and three updates", table, len(es))
		}
		for i, want := range [][2]string{{`0`, `"-0"`}, {`"-0"`, `0`}, {`0`, `"-0"`}} {
			if c := es[i+1].Changes["real"]; string(c.Old) != want[0] || string(c.New) != want[1] {
				t.Fatalf("%s: update %d recorded %s → %s, want %s → %s", table, i+1, c.Old, c.New, want[0], want[1])
			}
		}
		must(t, auditgorm.Revert(context.Background(), db, es[3].ID, auditgorm.RevertOptions{}))
		must(t, auditgorm.Revert(context.Background(), db, es[2].ID, auditgorm.RevertOptions{}))
		var text string
		must(t, db.Raw("SELECT real::text FROM "+table).Row().Scan(&text))
		if text != "-0" {
			t.Fatalf("%s: reverted to %s, want -0", table, text)
		}
	}
}
