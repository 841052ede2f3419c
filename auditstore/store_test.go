package auditstore_test

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// storeOf is a store over db's connection pool in db's dialect.
func storeOf(t *testing.T, db *gorm.DB) *auditstore.Store {
	t.Helper()
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	s, err := auditstore.New(sqlDB, dialectOf(t, db.Dialector.Name()))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func dialectOf(t *testing.T, name string) auditstore.Dialect {
	d, err := auditstore.ParseDialect(name)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Migrate is idempotent and safe to run from several processes at once:
// here several independent connection pools race on one empty database.
func TestMigrateConcurrentAndIdempotent(t *testing.T) {
	for _, name := range testdb.Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := testdb.OpenEmpty(t, name)
			d := dialectOf(t, db.Dialector.Name())
			sqlDB, err := db.DB()
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = auditstore.Migrate(ctx, sqlDB, d)
				}()
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			if err := auditstore.Migrate(ctx, sqlDB, d); err != nil {
				t.Fatalf("second run: %v", err)
			}
			var n int
			if err := sqlDB.QueryRow("SELECT COUNT(*) FROM auditlog_migrations").Scan(&n); err != nil || n != auditstore.LatestVersion() {
				t.Fatalf("%d migration rows (%v), want %d", n, err, auditstore.LatestVersion())
			}
		})
	}
}

func TestMigrationSQL(t *testing.T) {
	t.Parallel()
	for _, d := range []auditstore.Dialect{auditstore.SQLite, auditstore.Postgres, auditstore.MySQL} {
		stmts, err := auditstore.MigrationSQL(d)
		if err != nil {
			t.Fatal(err)
		}
		all := strings.Join(stmts, ";\n")
		for _, want := range []string{"CREATE TABLE auditlog_entries", "auditlog_entries_object_id_idx", "cid"} {
			if !strings.Contains(all, want) {
				t.Fatalf("%s SQL lacks %q", d, want)
			}
		}
	}
	if _, err := auditstore.MigrationSQL("oracle"); err == nil {
		t.Fatal("oracle accepted")
	}
	if _, err := auditstore.ParseDialect("oracle"); err == nil {
		t.Fatal("ParseDialect accepted oracle")
	}
}

// List filters, orders newest first and pages with a cursor, identically on
// every database.
func TestListFiltersAndPages(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := storeOf(t, db)
		base := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
		var es []auditlog.Entry
		for i := 0; i < 25; i++ {
			id := int64(i % 5)
			e := auditlog.Entry{
				Timestamp:  base.Add(time.Duration(i/2) * time.Minute), // pairs share a timestamp
				Action:     auditlog.Action(i % 3),
				Model:      []string{"books", "authors"}[i%2],
				ObjectPK:   fmt.Sprint(id),
				ObjectID:   &id,
				ObjectRepr: fmt.Sprintf("obj %d", i),
				Changes:    auditlog.Changes{},
			}
			if i%4 == 0 {
				e.ActorID, e.ActorName = "7", "alice"
			}
			if i%5 == 0 {
				e.CorrelationID = "cid-1"
			}
			es = append(es, e)
		}
		es = append(es, auditlog.Entry{Timestamp: base, Action: auditlog.ActionAccess, Model: "docs", ObjectPK: "abc", ObjectRepr: "doc"})
		if err := s.Insert(ctx, es); err != nil {
			t.Fatal(err)
		}
		count := func(f auditstore.Filter) int {
			t.Helper()
			n := 0
			var prev *auditlog.Entry
			p := auditstore.Page{Limit: 4}
			for {
				res, err := s.List(ctx, f, p)
				if err != nil {
					t.Fatal(err)
				}
				for i := range res.Entries {
					e := &res.Entries[i]
					if prev != nil && (e.Timestamp.After(prev.Timestamp) || (e.Timestamp.Equal(prev.Timestamp) && e.ID >= prev.ID)) {
						t.Fatalf("order broken: %d after %d", e.ID, prev.ID)
					}
					prev = e
					n++
				}
				if res.Next == "" {
					return n
				}
				p.Cursor = res.Next
			}
		}
		id2 := int64(2)
		cases := []struct {
			name string
			f    auditstore.Filter
			want int
		}{
			{"all", auditstore.Filter{}, 26},
			{"model", auditstore.Filter{Model: "books"}, 13},
			{"actor", auditstore.Filter{ActorID: "7"}, 7},
			{"model and actor", auditstore.Filter{Model: "books", ActorID: "7"}, 7},
			{"cid", auditstore.Filter{CorrelationID: "cid-1"}, 5},
			{"actions", auditstore.Filter{Actions: []auditlog.Action{auditlog.ActionDelete, auditlog.ActionAccess}}, 9},
			{"since/until", auditstore.Filter{Since: base.Add(2 * time.Minute), Until: base.Add(4 * time.Minute)}, 4},
			{"objects", auditstore.Filter{Objects: []auditstore.ObjectRef{{Model: "books", ID: &id2}, {Model: "docs", PK: "abc"}}}, 4},
		}
		for _, tc := range cases {
			if got := count(tc.f); got != tc.want {
				t.Errorf("%s: %d entries, want %d", tc.name, got, tc.want)
			}
		}
		for _, bad := range []string{"%%%", "bm90LWEtY3Vyc29y", strings.Repeat("a", 100)} {
			if _, err := s.List(ctx, auditstore.Filter{}, auditstore.Page{Cursor: bad}); !errors.Is(err, auditstore.ErrInvalidCursor) {
				t.Errorf("cursor %q: %v", bad, err)
			}
		}
		if _, err := s.List(ctx, auditstore.Filter{}, auditstore.Page{Limit: 5000}); err == nil {
			t.Error("limit 5000 accepted")
		}
	})
}

func TestInsertValidation(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t, "sqlite")
	sqlDB, _ := db.DB()
	ctx := context.Background()
	st, err := auditstore.New(sqlDB, auditstore.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	one := int64(1)
	for _, e := range []auditlog.Entry{
		{Action: 7, Model: "m", ObjectPK: "1"},
		{Model: "", ObjectPK: "1"},
		{Model: "m", ObjectPK: ""},
		{Model: "m", ObjectPK: "1", RemotePort: 70000},
		{Model: "m", ObjectPK: "01", ObjectID: &one}, // the reader would find it unreadable
		{Model: "m", ObjectPK: "2", ObjectID: &one},
		{Model: "m", ObjectPK: "1", AdditionalData: []byte("{")},
		{Model: "m", ObjectPK: "1", Timestamp: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, // no cursor could follow it
		// A value that is a fragment of JSON would merge into its
		// neighbour: [1,2,3] for the change 1,2 → 3.
		{Model: "m", ObjectPK: "1", Changes: auditlog.Changes{"x": {Old: json.RawMessage("1,2"), New: json.RawMessage("3")}}},
		{Model: "m", ObjectPK: "1", Changes: auditlog.Changes{"x": {Old: json.RawMessage("1"), New: json.RawMessage("{")}}},
	} {
		// Alone (INSERT … VALUES) and in a batch (the JSON document on
		// SQLite).
		batch := make([]auditlog.Entry, 100)
		for i := range batch {
			batch[i] = auditlog.Entry{Model: "ok", ObjectPK: fmt.Sprint(i)}
		}
		batch[50] = e
		for _, es := range [][]auditlog.Entry{{e}, batch} {
			if err := st.Insert(ctx, es); err == nil {
				t.Errorf("entry %+v accepted in a batch of %d", e, len(es))
			}
		}
	}
	if n, err := st.Count(ctx, auditstore.Filter{}); err != nil || n != 0 {
		t.Errorf("%d entries stored, %v", n, err)
	}
}

// Small batches go in as INSERT … VALUES, large ones as one JSON document;
// both store every field exactly and keep the batch's order.
func TestInsertRoundTrip(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		sqlDB, _ := db.DB()
		s, err := auditstore.New(sqlDB, dialectOf(t, db.Dialector.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{3, 1500} {
			at := time.Date(2026, 1, 2, 3, 4, 5, 678901000, time.UTC)
			want := make([]auditlog.Entry, n)
			for i := range want {
				id := int64(i + 1)
				ch, _ := auditlog.NewChange(nil, fmt.Sprintf("<b>\"quoted\" %d ✓</b>", i))
				want[i] = auditlog.Entry{
					Timestamp: at, Action: auditlog.ActionUpdate, Model: fmt.Sprintf("m%d", n), ObjectPK: fmt.Sprint(id), ObjectID: &id,
					ObjectRepr: "repr 'é' " + fmt.Sprint(i), Changes: auditlog.Changes{"f": ch},
					SerializedData: []byte(`{"a":[1,2]}`), AdditionalData: []byte(`{"k":"v"}`),
					ActorID: "7", ActorName: "Zoë", RemoteAddr: "2001:db8::1", RemotePort: 443, CorrelationID: "cid",
				}
			}
			want[0].ObjectID, want[0].ObjectPK = nil, "text-key"
			want[1].RemotePort, want[1].ActorID, want[1].SerializedData = 0, "", nil
			if err := s.Insert(ctx, want); err != nil {
				t.Fatal(err)
			}
			res, err := s.List(ctx, auditstore.Filter{Model: fmt.Sprintf("m%d", n)}, auditstore.Page{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Entries) != min(n, 1000) {
				t.Fatalf("n=%d: read %d entries", n, len(res.Entries))
			}
			// Newest first with equal timestamps means highest id first: the
			// last entry of the batch comes back first.
			for k, got := range res.Entries {
				w := want[n-1-k]
				if !got.Timestamp.Equal(w.Timestamp) || got.ObjectPK != w.ObjectPK || got.ObjectRepr != w.ObjectRepr ||
					got.ActorID != w.ActorID || got.ActorName != w.ActorName || got.RemoteAddr != w.RemoteAddr ||
					got.RemotePort != w.RemotePort || got.CorrelationID != w.CorrelationID ||
					(w.ObjectID == nil) != (got.ObjectID == nil) || got.Changes.String() != w.Changes.String() ||
					(w.SerializedData == nil) != (got.SerializedData == nil) {
					t.Fatalf("n=%d entry %d:\n got %+v\nwant %+v", n, k, got, w)
				}
			}
		}
	})
}

// Flush deletes exactly the matching entries, in batches, oldest first.
func TestFlushCountTruncate(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		sqlDB, _ := db.DB()
		s, err := auditstore.New(sqlDB, dialectOf(t, db.Dialector.Name()))
		if err != nil {
			t.Fatal(err)
		}
		cut := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
		var es []auditlog.Entry
		for i := 0; i < 23; i++ {
			ts := cut.Add(-time.Duration(i+1) * time.Hour) // older
			if i%3 == 0 {
				ts = cut.Add(time.Duration(i) * time.Hour) // at or after the cut
			}
			es = append(es, auditlog.Entry{Timestamp: ts, Model: []string{"a", "b"}[i%2], ObjectPK: "1", ObjectRepr: "x"})
		}
		if err := s.Insert(ctx, es); err != nil {
			t.Fatal(err)
		}
		old := auditstore.Filter{Until: cut}
		n, err := s.Count(ctx, old)
		if err != nil || n != 15 {
			t.Fatalf("count older = %d, %v", n, err)
		}
		var progress []int64
		res, err := s.Flush(ctx, auditstore.FlushOptions{Filter: auditstore.Filter{Until: cut, Model: "a"}, BatchSize: 3, Progress: func(d int64) { progress = append(progress, d) }})
		if err != nil || res.Deleted != 8 || len(progress) != 3 || progress[2] != 8 {
			t.Fatalf("flush model a: %+v %v progress %v", res, err, progress)
		}
		res, err = s.Flush(ctx, auditstore.FlushOptions{Filter: old})
		if err != nil || res.Deleted != 7 {
			t.Fatalf("flush older: %+v %v", res, err)
		}
		if n, _ := s.Count(ctx, auditstore.Filter{}); n != 8 {
			t.Fatalf("%d left, want 8", n)
		}
		if n, _ := s.Count(ctx, old); n != 0 {
			t.Fatalf("%d older left", n)
		}
		var last int64
		if err := s.Each(ctx, auditstore.Filter{}, func(e auditlog.Entry) error { last = max(last, e.ID); return nil }); err != nil {
			t.Fatal(err)
		}
		if err := s.Truncate(ctx); err != nil {
			t.Fatal(err)
		}
		if n, _ := s.Count(ctx, auditstore.Filter{}); n != 0 {
			t.Fatalf("%d left after truncate", n)
		}
		// Ids go on after a truncate (MySQL's TRUNCATE restarted them): a
		// relay past the old ids would skip new entries that took them.
		if err := s.Insert(ctx, []auditlog.Entry{{Action: auditlog.ActionCreate, Model: "after", ObjectPK: "1", ObjectRepr: "r"}}); err != nil {
			t.Fatal(err)
		}
		var next int64
		if err := s.Each(ctx, auditstore.Filter{}, func(e auditlog.Entry) error { next = e.ID; return nil }); err != nil || next <= last {
			t.Fatalf("the entry after a truncate has id %d, the last before it %d (%v)", next, last, err)
		}
		if _, err := s.Flush(ctx, auditstore.FlushOptions{BatchSize: -1}); err == nil {
			t.Fatal("negative batch accepted")
		}
	})
}

// CountMax and FlushOptions.MaxID pin a flush to the entries that were
// counted: entries inserted afterwards survive even when they match the
// filter and are older.
func TestFlushUpToMaxID(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		sqlDB, _ := db.DB()
		s, err := auditstore.New(sqlDB, dialectOf(t, db.Dialector.Name()))
		if err != nil {
			t.Fatal(err)
		}
		cut := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
		insert := func(model string, n int, ts time.Time) {
			var es []auditlog.Entry
			for i := 0; i < n; i++ {
				es = append(es, auditlog.Entry{Timestamp: ts.Add(time.Duration(i) * time.Second), Model: model, ObjectPK: "1", ObjectRepr: "x"})
			}
			if err := s.Insert(ctx, es); err != nil {
				t.Fatal(err)
			}
		}
		if n, maxID, err := s.CountMax(ctx, auditstore.Filter{}); err != nil || n != 0 || maxID != 0 {
			t.Fatalf("empty table: %d, %d, %v", n, maxID, err)
		}
		insert("a", 7, cut.Add(-time.Hour))
		insert("b", 3, cut.Add(-time.Hour))
		insert("a", 2, cut.Add(time.Hour))
		f := auditstore.Filter{Model: "a", Until: cut}
		n, maxID, err := s.CountMax(ctx, f)
		if err != nil || n != 7 || maxID == 0 {
			t.Fatalf("CountMax = %d, %d, %v", n, maxID, err)
		}
		insert("a", 4, cut.Add(-2*time.Hour)) // older, matching, written after the count
		res, err := s.Flush(ctx, auditstore.FlushOptions{Filter: f, MaxID: maxID, BatchSize: 2})
		if err != nil || res.Deleted != 7 {
			t.Fatalf("flush: %+v %v", res, err)
		}
		if n, _ := s.Count(ctx, f); n != 4 {
			t.Fatalf("%d late entries left, want 4", n)
		}
		if n, _ := s.Count(ctx, auditstore.Filter{}); n != 9 {
			t.Fatalf("%d entries left, want 9", n)
		}
	})
}

// One rule finds an object by its key text: an integer-looking key matches
// an integer key (object_id) and a text key that looks like one.
func TestKeyRefs(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		d := dialectOf(t, db.Dialector.Name())
		sqlDB, err := db.DB()
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		seven := int64(7)
		base := auditlog.Entry{Timestamp: time.Now(), Action: auditlog.ActionCreate, ObjectRepr: "x"}
		es := []auditlog.Entry{base, base, base, base}
		es[0].Model, es[0].ObjectPK = "skus", "12345"
		es[1].Model, es[1].ObjectPK, es[1].ObjectID = "books", "7", &seven
		es[2].Model, es[2].ObjectPK = "skus", "007"
		es[3].Model, es[3].ObjectPK = "skus", "7"
		s, err := auditstore.New(sqlDB, d)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Insert(ctx, es); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			model, pk string
			want      int
		}{{"skus", "12345", 1}, {"books", "7", 1}, {"skus", "007", 1}, {"skus", "7", 1}, {"books", "07", 0}} {
			res, err := s.List(ctx, auditstore.Filter{Objects: auditstore.KeyRefs(c.model, c.pk)}, auditstore.Page{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Entries) != c.want {
				t.Errorf("%s:%s: %d entries, want %d", c.model, c.pk, len(res.Entries), c.want)
			}
		}
		if _, ok := auditstore.IntegerKey("007"); ok {
			t.Error(`"007" taken for an integer key`)
		}
	})
}

// TestFlushLargeBatchOfASealedLog flushes a sealed log (its sealer's state
// row exists) in one batch of more ids than a statement may bind on
// SQLite (32,766): the ids are marked and deleted in chunks.
func TestFlushLargeBatchOfASealedLog(t *testing.T) {
	ctx := context.Background()
	db := testdb.Open(t, "sqlite")
	sqlDB, _ := db.DB()
	s, err := auditstore.New(sqlDB, auditstore.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if _, running, err := auditstore.SealState(ctx, sqlDB, auditstore.SQLite); err != nil || running {
		t.Fatalf("before a sealer: running %v, %v", running, err)
	}
	if _, err := sqlDB.Exec("INSERT INTO auditlog_seal_state (id, next_id) VALUES (1, 0)"); err != nil {
		t.Fatal(err)
	}
	if installed, running, err := auditstore.SealState(ctx, sqlDB, auditstore.SQLite); err != nil || !installed || !running {
		t.Fatalf("with a sealer: %v %v %v", installed, running, err)
	}
	const n = 33_000
	es := make([]auditlog.Entry, n)
	for i := range es {
		es[i] = auditlog.Entry{Timestamp: time.Date(2000, 1, 1, 0, 0, i, 0, time.UTC), Model: "m", ObjectPK: "1", ObjectRepr: "x"}
	}
	if err := s.Insert(ctx, es); err != nil {
		t.Fatal(err)
	}
	res, err := s.Flush(ctx, auditstore.FlushOptions{BatchSize: 40_000})
	if err != nil || res.Deleted != n {
		t.Fatalf("flush: %+v, %v", res, err)
	}
}

// An insert writes only the columns some entry of it has a value in; the
// others stay NULL. Every optional field set in one entry of a batch, and
// in none, on each insert form (one entry, VALUES, PostgreSQL's arrays,
// the JSON batch).
func TestInsertColumnsSomeEntriesLack(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := storeOf(t, db)
		at := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)
		set := []func(e *auditlog.Entry){
			func(e *auditlog.Entry) { id, _ := strconv.ParseInt(e.ObjectPK, 10, 64); e.ObjectID = &id },
			func(e *auditlog.Entry) { ch, _ := auditlog.NewChange(1, 2); e.Changes = auditlog.Changes{"n": ch} },
			func(e *auditlog.Entry) { e.SerializedData = []byte(`{"s":1}`) },
			func(e *auditlog.Entry) { e.AdditionalData = []byte(`{"a":1}`) },
			func(e *auditlog.Entry) { e.ActorID = "7" },
			func(e *auditlog.Entry) { e.ActorName = "Zoë" },
			func(e *auditlog.Entry) { e.RemoteAddr = "192.0.2.1" },
			func(e *auditlog.Entry) { e.RemotePort = 8080 },
			func(e *auditlog.Entry) { e.CorrelationID = "req" },
		}
		stores := map[string]*auditstore.Store{"": s}
		if s.Dialect() == auditstore.SQLite {
			// Through a connection that prepares what it is told repeats,
			// SQLite's batches go as statements of a few fixed sizes, under
			// the bind-variable limit of SQLite before 3.32 and after.
			sqlDB, err := db.DB()
			if err != nil {
				t.Fatal(err)
			}
			for form, r := range map[string]repeating{"rungs_": {sqlDB, 999, 0}, "wide_": {sqlDB, 32766, 0}, "lower_": {sqlDB, 999, 32766}} {
				rs, err := auditstore.New(r, auditstore.SQLite)
				if err != nil {
					t.Fatal(err)
				}
				stores[form] = rs
			}
		}
		for form, s := range stores {
			for _, n := range []int{1, 2, 30, 200, 2500} {
				for f := -1; f < len(set); f++ {
					model := fmt.Sprintf("%slack_%d_%d", form, n, f)
					want := make([]auditlog.Entry, n)
					for i := range want {
						want[i] = auditlog.Entry{Timestamp: at, Action: auditlog.ActionCreate, Model: model, ObjectPK: fmt.Sprint(i), ObjectRepr: "r"}
					}
					k := n / 2 // the one entry with field f
					if f >= 0 {
						set[f](&want[k])
					}
					if err := s.Insert(ctx, want); err != nil {
						t.Fatalf("n=%d field %d: %v", n, f, err)
					}
					var got []auditlog.Entry
					if err := s.Each(ctx, auditstore.Filter{Model: model}, func(e auditlog.Entry) error {
						got = append(got, e)
						return nil
					}); err != nil {
						t.Fatal(err)
					}
					if len(got) != n {
						t.Fatalf("%sn=%d field %d: read %d entries", form, n, f, len(got))
					}
					sort.Slice(got, func(i, j int) bool { return got[i].ID < got[j].ID })
					for i, g := range got {
						if g.ObjectPK != strconv.Itoa(i) {
							t.Fatalf("%sn=%d field %d: entry %d of the insert is object %s", form, n, f, i, g.ObjectPK)
						}
					}
					for _, g := range got {
						i, _ := strconv.Atoi(g.ObjectPK)
						w := want[i]
						if g.ObjectPK != w.ObjectPK || !g.Timestamp.Equal(at) || (g.ObjectID == nil) != (w.ObjectID == nil) ||
							(g.Changes == nil) != (w.Changes == nil) || g.Changes.String() != w.Changes.String() ||
							compactJSON(g.SerializedData) != compactJSON(w.SerializedData) || compactJSON(g.AdditionalData) != compactJSON(w.AdditionalData) ||
							g.ActorID != w.ActorID || g.ActorName != w.ActorName || g.RemoteAddr != w.RemoteAddr ||
							g.RemotePort != w.RemotePort || g.CorrelationID != w.CorrelationID {
							t.Fatalf("%sn=%d field %d entry %d:\n got %+v\nwant %+v", form, n, f, i, g, w)
						}
					}
				}
			}
		}
	})
}

// repeating is a connection that says it prepares the statements it is
// told repeat (as auditgorm's does), and runs them, under a bind-variable
// limit of maxArgs, which it reports as claims where that is set (a
// connection whose own limit is lower than its pool's).
type repeating struct {
	*sql.DB
	maxArgs, claims int
}

func (r repeating) ExecRepeated(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if len(args) > r.maxArgs {
		return nil, fmt.Errorf("a statement of %d bind variables: too many SQL variables", len(args))
	}
	return r.ExecContext(ctx, query, args...)
}

func (repeating) Prepares() bool { return true }

func (r repeating) MaxArgs() int { return cmp.Or(r.claims, r.maxArgs) }

// compactJSON is raw without insignificant space (PostgreSQL's jsonb writes
// a space after each colon).
func compactJSON(raw []byte) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}
