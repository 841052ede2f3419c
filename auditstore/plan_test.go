package auditstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// plan returns the database's plan of List's statement for f, one line per
// step. On PostgreSQL sequential scans are priced out, so the plan shows
// whether an index can serve the query at all, whatever the table's size.
func plan(t *testing.T, name string, db *sql.DB, s *auditstore.Store, f auditstore.Filter) string {
	t.Helper()
	ctx := context.Background()
	page := auditstore.Page{Limit: 50}
	if f.Search != "" {
		page.SearchWindow = 100
	}
	query, args, err := auditstore.ListSQL(ctx, s, f, page)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	prefix := "EXPLAIN "
	switch name {
	case "sqlite":
		prefix = "EXPLAIN QUERY PLAN "
	case "postgres":
		if _, err := conn.ExecContext(ctx, "SET enable_seqscan = off"); err != nil {
			t.Fatal(err)
		}
		defer conn.ExecContext(ctx, "RESET enable_seqscan") //nolint:errcheck // the connection is discarded with the test database
	}
	rows, err := conn.QueryContext(ctx, prefix+query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var lines []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var parts []string
		for i, v := range vals {
			switch {
			case name == "sqlite" && cols[i] != "detail":
			case name == "mysql":
				parts = append(parts, cols[i]+"="+v.String)
			default:
				parts = append(parts, v.String)
			}
		}
		lines = append(lines, strings.Join(parts, " "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// The filters that would otherwise read the whole table are served by an
// index range: an action (the action index), an object key with its model
// (the object indexes, by integer key and by key text), and a text search,
// which reads one window of the index of its other conditions. Checked
// with EXPLAIN, not timing.
func TestExpensiveFiltersUseAnIndex(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		name := gdb.Dialector.Name()
		db, err := gdb.DB()
		if err != nil {
			t.Fatal(err)
		}
		s, err := auditstore.New(db, dialectOf(t, name))
		if err != nil {
			t.Fatal(err)
		}
		// Enough rows, spread over models, objects and actions (no access),
		// that a planner with statistics prefers a narrow index range.
		var es []auditlog.Entry
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := 0; i < 3000; i++ {
			id := int64(i % 300)
			e := auditlog.Entry{Timestamp: base.Add(time.Duration(i) * time.Minute), Action: auditlog.Action(i % 3), Model: fmt.Sprintf("model_%d", i%5),
				ObjectPK: fmt.Sprint(id), ObjectID: &id, ObjectRepr: fmt.Sprintf("Object %d", id), ActorID: fmt.Sprint(i % 7)}
			if i%10 == 0 {
				e.ObjectPK, e.ObjectID = fmt.Sprintf("sku-%d", i), nil
			}
			es = append(es, e)
		}
		if err := s.Insert(context.Background(), es); err != nil {
			t.Fatal(err)
		}
		// No ANALYZE on SQLite: applications rarely run it, and without
		// statistics its planner must still pick the narrow index.
		if analyze := map[string]string{"postgres": "ANALYZE auditlog_entries", "mysql": "ANALYZE TABLE auditlog_entries"}[name]; analyze != "" {
			if _, err := db.Exec(analyze); err != nil {
				t.Fatal(err)
			}
		}
		access := []auditlog.Action{auditlog.ActionAccess}
		cases := []struct {
			what    string
			f       auditstore.Filter
			indexes []string // every one of them must appear, each as a range
			column  string   // the filtered column in the index condition
		}{
			{"an action", auditstore.Filter{Actions: access}, []string{"auditlog_entries_action_idx"}, "action"},
			{"an action since a time", auditstore.Filter{Actions: access, Since: base}, []string{"auditlog_entries_action_idx"}, "action"},
			{"an integer key with its model", auditstore.Filter{Model: "model_3", ObjectPK: "42"}, []string{"auditlog_entries_object_id_idx", "auditlog_entries_object_pk_idx"}, "object_"},
			{"a text key with its model", auditstore.Filter{Model: "model_0", ObjectPK: "sku-10"}, []string{"auditlog_entries_object_pk_idx"}, "object_pk"},
			// An object's state (ObjectEntries) by its references.
			{"an object's references", auditstore.Filter{Objects: auditstore.KeyRefs("model_3", "42")}, []string{"auditlog_entries_object_id_idx", "auditlog_entries_object_pk_idx"}, "object_"},
			// A search reads one window: a range of the index the other
			// conditions use, bounded on both sides.
			{"a text search", auditstore.Filter{Search: "zzz"}, []string{"auditlog_entries_timestamp_idx"}, "timestamp"},
			{"a text search in a model", auditstore.Filter{Search: "zzz", Model: "model_1"}, []string{"auditlog_entries_model_idx"}, "timestamp"},
		}
		for _, tc := range cases {
			p := plan(t, name, db, s, tc.f)
			for _, ix := range tc.indexes {
				if !strings.Contains(p, ix) {
					t.Errorf("%s: the plan does not use %s:\n%s", tc.what, ix, p)
				}
			}
			var full *regexp.Regexp
			switch name {
			case "sqlite": // SEARCH is a range; SCAN reads a whole table or index
				full = regexp.MustCompile(`(?m)^SCAN auditlog_entries`)
				if !strings.Contains(p, "SEARCH auditlog_entries USING") || !strings.Contains(p, tc.column) {
					t.Errorf("%s: no index range on %s:\n%s", tc.what, tc.column, p)
				}
			case "postgres": // a range has the column in its Index Cond, not in a Filter
				full = regexp.MustCompile(`Seq Scan`)
				if !regexp.MustCompile(`Index Cond: .*` + tc.column).MatchString(p) {
					t.Errorf("%s: no index condition on %s:\n%s", tc.what, tc.column, p)
				}
			case "mysql": // access types ref and range read an index range; ALL and index read everything
				full = regexp.MustCompile(`type=(ALL|index)\b`)
			}
			if full.MatchString(p) {
				t.Errorf("%s reads a whole table or index:\n%s", tc.what, p)
			}
			// The page comes in the index's order: nothing is sorted (on
			// MySQL an ORDER BY naming a select alias was sorted by it; PostgreSQL
			// may sort the rows of a bounded bitmap scan, and two object indexes
			// together the few rows of one object).
			// On SQLite an integer key's two indexes are read as a merge of
			// two ordered ranges, one page of each (each page, of at most
			// the limit, is ordered again for the merge): its history pages
			// cost the same however many entries the object has.
			if name == "sqlite" && len(tc.indexes) > 1 && (!strings.Contains(p, "MERGE (UNION ALL)") || regexp.MustCompile(`SEARCH[^\n]*\nUSE TEMP B-TREE`).MatchString(p)) {
				t.Errorf("%s is not a merge of ordered index ranges:\n%s", tc.what, p)
			}
			if sorted := map[string]string{"sqlite": "TEMP B-TREE", "mysql": "filesort"}[name]; len(tc.indexes) == 1 && sorted != "" && strings.Contains(p, sorted) {
				t.Errorf("%s sorts its rows:\n%s", tc.what, p)
			}
		}
	})
}

// A table made by the first version, with entries, gets the action index
// from Migrate, which stays idempotent; an index built by hand beforehand
// (as CREATE INDEX CONCURRENTLY would on a large PostgreSQL table) is kept.
func TestMigrateAddsActionIndexToExistingTables(t *testing.T) {
	for _, name := range testdb.Names() {
		for _, byHand := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/by_hand=%v", name, byHand), func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				gdb := testdb.OpenEmpty(t, name)
				db, err := gdb.DB()
				if err != nil {
					t.Fatal(err)
				}
				d := dialectOf(t, gdb.Dialector.Name())
				stmts, err := auditstore.MigrationSQL(d)
				if err != nil {
					t.Fatal(err)
				}
				for _, stmt := range stmts { // version 1 only, as an existing installation has it
					if strings.Contains(stmt, "action_idx") {
						break
					}
					if _, err := db.ExecContext(ctx, stmt); err != nil {
						t.Fatalf("%s: %v", stmt, err)
					}
					if strings.HasPrefix(stmt, "INSERT INTO auditlog_migrations") {
						break
					}
				}
				s, _ := auditstore.New(db, d)
				var es []auditlog.Entry
				for i := 0; i < 100; i++ {
					es = append(es, auditlog.Entry{Timestamp: time.Date(2026, 1, 1, 0, i, 0, 0, time.UTC), Action: auditlog.Action(i % 4), Model: "m", ObjectPK: fmt.Sprint(i), ObjectRepr: "x"})
				}
				if err := s.Insert(ctx, es); err != nil {
					t.Fatal(err)
				}
				if hasIndex(t, name, db, "auditlog_entries_action_idx") {
					t.Fatal("version 1 already has the action index")
				}
				if byHand {
					if _, err := db.ExecContext(ctx, "CREATE INDEX auditlog_entries_action_idx ON auditlog_entries (action, timestamp, id)"); err != nil {
						t.Fatal(err)
					}
				}
				for i := 0; i < 2; i++ {
					if err := auditstore.Migrate(ctx, db, d); err != nil {
						t.Fatalf("run %d: %v", i+1, err)
					}
				}
				if !hasIndex(t, name, db, "auditlog_entries_action_idx") {
					t.Fatal("no action index after Migrate")
				}
				if n, err := s.Count(ctx, auditstore.Filter{Actions: []auditlog.Action{auditlog.ActionAccess}}); err != nil || n != 25 {
					t.Fatalf("%d access entries after Migrate (%v), want 25", n, err)
				}
			})
		}
	}
}

func hasIndex(t *testing.T, name string, db *sql.DB, index string) bool {
	t.Helper()
	query := map[string]string{
		"sqlite":   "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = ?",
		"postgres": "SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = $1",
		"mysql":    "SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE() AND index_name = ?",
	}[name]
	var n int
	if err := db.QueryRow(query, index).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// An object found by both indexes (an integer key, with entries written
// with and without its object_id) pages in list order, every entry once,
// whatever the page size; other objects' entries stay out.
func TestObjectHistoryPagesAcrossBothIndexes(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		ctx := context.Background()
		s := storeOf(t, gdb)
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		id, other := int64(7), int64(8)
		var es []auditlog.Entry
		for i := range 30 {
			e := auditlog.Entry{Timestamp: base.Add(time.Duration(i/3) * time.Minute), Action: auditlog.ActionUpdate, Model: "books", ObjectPK: "7", ObjectRepr: fmt.Sprint(i)}
			if i%2 == 0 {
				e.ObjectID = &id
			}
			es = append(es, e, auditlog.Entry{Timestamp: e.Timestamp, Action: auditlog.ActionUpdate, Model: "books", ObjectPK: "8", ObjectID: &other, ObjectRepr: "other"})
		}
		if err := s.Insert(ctx, es); err != nil {
			t.Fatal(err)
		}
		twice := append(auditstore.KeyRefs("books", "7"), auditstore.KeyRefs("books", "7")...)
		for _, f := range []auditstore.Filter{{Model: "books", ObjectPK: "7"}, {Objects: auditstore.KeyRefs("books", "7")}, {Objects: twice}} {
			for _, limit := range []int{1, 4, 7, 50} {
				var got []string
				p := auditstore.Page{Limit: limit}
				for {
					res, err := s.List(ctx, f, p)
					if err != nil {
						t.Fatal(err)
					}
					for _, e := range res.Entries {
						got = append(got, e.ObjectRepr)
					}
					if res.Next == "" {
						break
					}
					p.Cursor = res.Next
				}
				var want []string
				for i := 29; i >= 0; i-- {
					want = append(want, fmt.Sprint(i))
				}
				if strings.Join(got, ",") != strings.Join(want, ",") {
					t.Errorf("%+v, pages of %d: %v, want %v", f, limit, got, want)
				}
			}
		}
	})
}

// A list of many objects with a long filter, past what the merge's
// repeated bind values allow, is the OR form: it runs, and lists each
// entry once.
func TestManyObjectsWithALongFilter(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		ctx := context.Background()
		s := storeOf(t, gdb)
		var refs []auditstore.ObjectRef
		var es []auditlog.Entry
		for i := range 100 {
			refs = append(refs, auditstore.KeyRefs("books", fmt.Sprint(i))...)
			id := int64(i)
			es = append(es, auditlog.Entry{Timestamp: time.Now(), Action: auditlog.ActionUpdate, Model: "books", ObjectPK: fmt.Sprint(i), ObjectID: &id, ObjectRepr: "x", ActorID: "a"})
		}
		if err := s.Insert(ctx, es); err != nil {
			t.Fatal(err)
		}
		var actions []auditlog.Action
		for range 170 { // 200 branches of 173 values: past SQLite's 32,766
			actions = append(actions, auditlog.ActionUpdate)
		}
		res, err := s.List(ctx, auditstore.Filter{Objects: refs, Actions: actions, ActorID: "a"}, auditstore.Page{Limit: 1000})
		if err != nil || len(res.Entries) != 100 {
			t.Fatalf("%d entries, %v", len(res.Entries), err)
		}
	})
}
