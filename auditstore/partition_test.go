package auditstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// postgresOnly skips a test of PostgreSQL's partitioning where the run has
// no PostgreSQL; where it has one, an unreachable server fails the test.
func postgresOnly(t *testing.T) {
	t.Helper()
	if !slices.Contains(testdb.Names(), "postgres") {
		t.Skip("no PostgreSQL (" + testdb.PostgresEnv + ")")
	}
}

func pgStore(t testing.TB, db *sql.DB) *auditstore.Store {
	t.Helper()
	s, err := auditstore.New(db, auditstore.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func rawDB(t testing.TB, name string, migrate bool) *sql.DB {
	t.Helper()
	gdb := testdb.OpenEmpty(t, name)
	if migrate {
		gdb = testdb.Open(t, name)
	}
	db, err := gdb.DB()
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func monthly(ahead int) auditstore.MigrateOptions {
	return auditstore.MigrateOptions{Partition: auditstore.PartitionMonthly, Ahead: ahead}
}

func monthOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

func partName(m time.Time) string {
	return fmt.Sprintf("auditlog_entries_p%04d_%02d", m.Year(), int(m.Month()))
}

// lines runs a query of one text column and returns its rows.
func lines(t testing.TB, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s sql.NullString
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s.String)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// parentShape is the entries table's columns and its own indexes (the
// parent's, for a partitioned table), as text that compares across
// schemas.
func parentShape(t *testing.T, db *sql.DB) string {
	t.Helper()
	cols := lines(t, db, `SELECT concat_ws(' ', column_name, ordinal_position, data_type, character_maximum_length,
		datetime_precision, is_nullable, is_identity, identity_generation)
		FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'auditlog_entries' ORDER BY ordinal_position`)
	idx := lines(t, db, `SELECT regexp_replace(pg_get_indexdef(i.indexrelid), ' ON (ONLY )?\S+', ' ON ') FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid = to_regclass('auditlog_entries') AND NOT i.indisprimary ORDER BY c.relname`)
	return strings.Join(cols, "\n") + "\n" + strings.Join(idx, "\n")
}

// where returns the partition that holds entry id.
func where(t *testing.T, db *sql.DB, id int64) string {
	t.Helper()
	var name string
	if err := db.QueryRow("SELECT tableoid::regclass::text FROM auditlog_entries WHERE id = $1", id).Scan(&name); err != nil {
		t.Fatalf("entry %d: %v", id, err)
	}
	return name
}

func ids(t *testing.T, db *sql.DB, q string, args ...any) []int64 {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	return out
}

func insertAt(t *testing.T, s *auditstore.Store, model string, times ...time.Time) {
	t.Helper()
	es := make([]auditlog.Entry, len(times))
	for i, ts := range times {
		oid := int64(i % 7)
		es[i] = auditlog.Entry{Timestamp: ts, Action: auditlog.Action(i%3 + 1), Model: model, ObjectPK: fmt.Sprint(oid), ObjectID: &oid,
			ObjectRepr: fmt.Sprintf("%s %d", model, i), ActorID: fmt.Sprint(i % 4), CorrelationID: fmt.Sprintf("req-%d", i%5)}
	}
	if err := s.Insert(context.Background(), es); err != nil {
		t.Fatal(err)
	}
}

// MigrateWith monthly on an empty database creates the table partitioned,
// with the columns and indexes of the unpartitioned one, the default
// partition and the months ahead; entries land in their month's partition
// by every insert path, and a month made later takes its entries out of
// the default partition.
func TestPartitionFreshDatabase(t *testing.T) {
	postgresOnly(t)
	t.Parallel()
	ctx := context.Background()
	db := rawDB(t, "postgres", false)
	if err := auditstore.MigrateWith(ctx, db, auditstore.Postgres, monthly(2)); err != nil {
		t.Fatal(err)
	}
	s := pgStore(t, db)
	if ok, err := s.Partitioned(ctx); err != nil || !ok {
		t.Fatalf("partitioned %v, %v", ok, err)
	}
	plain := rawDB(t, "postgres", true)
	if got, want := parentShape(t, db), parentShape(t, plain); got != want {
		t.Fatalf("partitioned table:\n%s\nwant the columns and indexes of\n%s", got, want)
	}
	if got := lines(t, db, "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = to_regclass('auditlog_entries') AND contype = 'p'"); !reflect.DeepEqual(got, []string{`PRIMARY KEY (id, "timestamp")`}) {
		t.Fatalf("primary key %q", got)
	}
	now := monthOf(time.Now())
	var want []string
	for i := range 3 {
		want = append(want, partName(now.AddDate(0, i, 0)))
	}
	want = append(want, "auditlog_entries_default")
	checkPartitions := func(want []string) {
		t.Helper()
		ps, err := s.Partitions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range ps {
			got = append(got, p.Name)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("partitions %q, want %q", got, want)
		}
	}
	checkPartitions(want)
	// Again, and a plain Migrate: nothing changes.
	if err := auditstore.MigrateWith(ctx, db, auditstore.Postgres, monthly(2)); err != nil {
		t.Fatal(err)
	}
	if err := auditstore.Migrate(ctx, db, auditstore.Postgres); err != nil {
		t.Fatal(err)
	}
	checkPartitions(append([]string{want[0], want[1], want[2], partName(now.AddDate(0, 3, 0))}, want[3]))
	if n := lines(t, db, "SELECT COUNT(*)::text FROM auditlog_migrations"); n[0] != fmt.Sprint(auditstore.LatestVersion()) {
		t.Fatalf("%s migrations recorded", n[0])
	}

	// Across the month boundary, one entry at a time (VALUES) and in a
	// batch (column arrays); far outside every month, the default.
	next := now.AddDate(0, 1, 0)
	insertAt(t, s, "one", next.Add(-time.Microsecond))
	insertAt(t, s, "one", next)
	insertAt(t, s, "batch", next.Add(-time.Microsecond), next, time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC))
	got := ids(t, db, "SELECT id FROM auditlog_entries ORDER BY id")
	if !reflect.DeepEqual(got, []int64{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("ids %v", got)
	}
	for id, want := range map[int64]string{1: partName(now), 2: partName(next), 3: partName(now), 4: partName(next), 5: "auditlog_entries_default", 6: "auditlog_entries_default"} {
		if got := where(t, db, id); got != want {
			t.Errorf("entry %d in %s, want %s", id, got, want)
		}
	}

	// A month ahead that waits in the default partition moves to its own
	// when it is made.
	later := now.AddDate(0, 5, 0)
	insertAt(t, s, "later", later.Add(time.Hour), later.Add(2*time.Hour))
	if where(t, db, 7) != "auditlog_entries_default" {
		t.Fatal("entry 7 not in the default partition")
	}
	made, moved, err := s.EnsurePartitions(ctx, 5)
	if err != nil || made != 2 || moved != 2 {
		t.Fatalf("EnsurePartitions: made %d, moved %d, %v", made, moved, err)
	}
	for _, id := range []int64{7, 8} {
		if got := where(t, db, id); got != partName(later) {
			t.Errorf("entry %d in %s after the month was made", id, got)
		}
		if e, err := s.Get(ctx, id); err != nil || e.Model != "later" {
			t.Errorf("entry %d: %+v, %v", id, e, err)
		}
	}
	if _, _, err := s.EnsurePartitions(ctx, -1); err == nil {
		t.Error("a negative count of months accepted")
	}

	// A later migration still applies to the partitioned table.
	for _, stmt := range []string{"DROP INDEX auditlog_entries_action_idx", "DELETE FROM auditlog_migrations WHERE version = 2"} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	if err := auditstore.Migrate(ctx, db, auditstore.Postgres); err != nil {
		t.Fatal(err)
	}
	if got, want := parentShape(t, db), parentShape(t, plain); got != want {
		t.Fatalf("after migration 2 again:\n%s\nwant\n%s", got, want)
	}
	if n := lines(t, db, "SELECT COUNT(*)::text FROM pg_indexes WHERE schemaname = current_schema() AND indexname LIKE '%action%'"); n[0] == "1" {
		t.Fatal("the action index is on the parent only, not on the partitions")
	}
}

// entryRows are every entry's every column as text, by id.
func entryRows(t *testing.T, db *sql.DB) []string {
	return lines(t, db, "SELECT concat_ws('|', "+auditstore.SelectColumns+") FROM auditlog_entries ORDER BY id")
}

// Converting a table that holds entries keeps every entry, id and index:
// the old table becomes the partition of everything before a month bound,
// its indexes the partitions of the parent's; new entries get ids above
// every old one. A database at version 1 is migrated to the latest version
// first.
func TestPartitionConvertsExistingTable(t *testing.T) {
	postgresOnly(t)
	t.Parallel()
	ctx := context.Background()
	db := rawDB(t, "postgres", false)
	execAll(t, db, throughVersion(t, releasedSQL(t, "postgres"), 1))
	s := pgStore(t, db)
	const n = 3000
	times := make([]time.Time, n)
	start := time.Now().AddDate(-1, -2, 0)
	for i := range times {
		times[i] = start.Add(time.Duration(i) * 3 * time.Hour)
	}
	insertAt(t, s, "books", times...)
	// Ids handed out and rolled back stay taken.
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("INSERT INTO auditlog_entries (timestamp, action, model, object_pk, object_repr) VALUES (now(), 1, 'x', '1', 'x')"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	before := entryRows(t, db)
	migrations := migrationRows(t, db)
	if err := auditstore.MigrateWith(ctx, db, auditstore.Postgres, monthly(0)); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Partitioned(ctx); err != nil || !ok {
		t.Fatalf("partitioned %v, %v", ok, err)
	}
	if after := entryRows(t, db); !reflect.DeepEqual(after, before) {
		t.Fatalf("%d entries after the conversion, %d before, or they differ", len(after), len(before))
	}
	if got := migrationRows(t, db); !reflect.DeepEqual(got[:1], migrations) || len(got) != auditstore.LatestVersion() {
		t.Fatalf("migrations %v, were %v", got, migrations)
	}
	fresh := rawDB(t, "postgres", false)
	if err := auditstore.MigrateWith(ctx, fresh, auditstore.Postgres, monthly(0)); err != nil {
		t.Fatal(err)
	}
	if got, want := parentShape(t, db), parentShape(t, fresh); got != want {
		t.Fatalf("converted:\n%s\nwant\n%s", got, want)
	}
	// Every parent index has its partition on the old table, none left
	// over; no row was copied.
	legacy := lines(t, db, `SELECT c.relname || ' of ' || COALESCE(p.relname, '-') FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		LEFT JOIN pg_inherits h ON h.inhrelid = i.indexrelid LEFT JOIN pg_class p ON p.oid = h.inhparent
		WHERE i.indrelid = to_regclass('auditlog_entries_legacy') ORDER BY c.relname`)
	parent := lines(t, db, "SELECT COUNT(*)::text FROM pg_index WHERE indrelid = to_regclass('auditlog_entries')")
	if fmt.Sprint(len(legacy)) != parent[0] || slices.ContainsFunc(legacy, func(s string) bool { return strings.HasSuffix(s, " of -") }) {
		t.Fatalf("indexes of the old table: %q, %s on the parent", legacy, parent[0])
	}
	if got := lines(t, db, "SELECT COUNT(*)::text FROM ONLY auditlog_entries_legacy"); got[0] != fmt.Sprint(n) {
		t.Fatalf("%s entries in the old table", got[0])
	}
	// The old table's range ends at a month start after its newest entry.
	ps, err := s.Partitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ps[0].Name != "auditlog_entries_legacy" || !ps[0].From.IsZero() || ps[0].To.Day() != 1 || !ps[0].To.After(times[n-1]) {
		t.Fatalf("partitions %+v", ps)
	}
	// New entries: ids above the old ones and the rolled-back one.
	insertAt(t, s, "new", time.Now(), ps[1].From.Add(time.Hour))
	got := ids(t, db, "SELECT id FROM auditlog_entries WHERE model = 'new' ORDER BY id")
	if !reflect.DeepEqual(got, []int64{n + 2, n + 3}) {
		t.Fatalf("new ids %v, want %d and %d", got, n+2, n+3)
	}
	if p := where(t, db, n+3); p != ps[1].Name {
		t.Fatalf("an entry of %s went to %s", ps[1].From.Format("2006-01"), p)
	}
	// Again: nothing to do.
	if err := auditstore.MigrateWith(ctx, db, auditstore.Postgres, monthly(0)); err != nil {
		t.Fatal(err)
	}
	if got := lines(t, db, "SELECT COUNT(*)::text FROM auditlog_entries"); got[0] != fmt.Sprint(n+2) {
		t.Fatalf("%s entries", got[0])
	}
}

// MigrateWith refuses what it cannot do, clearly.
func TestPartitionRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := rawDB(t, "sqlite", false)
	for _, c := range []struct {
		o    auditstore.MigrateOptions
		d    auditstore.Dialect
		want string
	}{
		{monthly(0), auditstore.SQLite, "PostgreSQL only"},
		{monthly(0), auditstore.MySQL, "PostgreSQL only"},
		{auditstore.MigrateOptions{Partition: "weekly"}, auditstore.Postgres, `unknown partitioning "weekly"`},
		{monthly(-1), auditstore.Postgres, "out of range"},
		{monthly(1000), auditstore.Postgres, "out of range"},
	} {
		err := auditstore.MigrateWith(ctx, db, c.d, c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v on %s: %v, want %q", c.o, c.d, err, c.want)
		}
	}
}

// partitionedSince returns a partitioned database with the monthly
// partitions from the month of from to three months from now.
func partitionedSince(t *testing.T, from time.Time) (*sql.DB, *auditstore.Store) {
	t.Helper()
	ctx := context.Background()
	db := rawDB(t, "postgres", false)
	if err := auditstore.MigrateWith(ctx, db, auditstore.Postgres, monthly(0)); err != nil {
		t.Fatal(err)
	}
	s := pgStore(t, db)
	months := 0
	for m := monthOf(from); m.Before(monthOf(time.Now())); m = m.AddDate(0, 1, 0) {
		months++
	}
	if _, _, err := auditstore.EnsurePartitionsAt(ctx, s, from, months); err != nil {
		t.Fatal(err)
	}
	return db, s
}

// A flush by date drops the partitions it may, whole, and deletes the rest
// row by row: exactly the entries counted go. An entry written after the
// count with an old date keeps its partition, and itself.
func TestPartitionedFlushDropsPartitions(t *testing.T) {
	postgresOnly(t)
	t.Parallel()
	ctx := context.Background()
	db, s := partitionedSince(t, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	var times []time.Time
	for m := 1; m <= 12; m++ {
		for d := 1; d <= 10; d++ {
			times = append(times, time.Date(2025, time.Month(m), d*2, 12, 0, 0, 0, time.UTC))
		}
	}
	times = append(times, time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)) // the default partition
	times = append(times, time.Now(), time.Now())
	insertAt(t, s, "m", times...)
	cut := auditstore.Filter{Until: time.Date(2025, 7, 10, 0, 0, 0, 0, time.UTC)}
	n, maxID, err := s.CountMax(ctx, cut)
	if err != nil || n != 6*10+4+2 {
		t.Fatalf("count %d, %v", n, err)
	}
	// Written after the count, dated in March 2025 and in the default
	// partition's range.
	insertAt(t, s, "late", time.Date(2025, 3, 5, 0, 0, 0, 0, time.UTC), time.Date(2025, 3, 6, 0, 0, 0, 0, time.UTC), time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	var progress []int64
	res, err := s.Flush(ctx, auditstore.FlushOptions{Filter: cut, MaxID: maxID, BatchSize: 7, Progress: func(d int64) { progress = append(progress, d) }})
	if err != nil || res.Deleted != n || res.Partitions != 5 || len(progress) == 0 || progress[len(progress)-1] != n {
		t.Fatalf("flush: %+v, %v, progress %v; want %d deleted, 5 partitions dropped", res, err, progress, n)
	}
	ps, err := s.Partitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ps[0].Name != partName(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)) || ps[1].Name != partName(time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("partitions left start with %s, %s", ps[0].Name, ps[1].Name)
	}
	if got := ids(t, db, "SELECT id FROM auditlog_entries WHERE timestamp < $1 ORDER BY id", cut.Until); len(got) != 3 || got[0] <= maxID {
		t.Fatalf("left before the cut: %v (max id counted %d)", got, maxID)
	}
	if got, _ := s.Count(ctx, auditstore.Filter{}); got != int64(len(times)+3)-n {
		t.Fatalf("%d entries left, want %d", got, int64(len(times)+3)-n)
	}
	// Another filter than Until: row by row, no partition dropped.
	res, err = s.Flush(ctx, auditstore.FlushOptions{Filter: auditstore.Filter{Model: "m", Until: time.Date(2025, 10, 1, 0, 0, 0, 0, time.UTC)}})
	if err != nil || res.Deleted != 26 || res.Partitions != 0 {
		t.Fatalf("flush by model: %+v, %v", res, err)
	}
	// Unpinned: the late entries' partition goes too.
	res, err = s.Flush(ctx, auditstore.FlushOptions{Filter: auditstore.Filter{Until: time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)}})
	if err != nil || res.Deleted != 13 || res.Partitions != 5 {
		t.Fatalf("unpinned flush: %+v, %v", res, err)
	}
}

// The store's queries read the same from a partitioned table as from one
// table holding the same entries: every filter, every page.
func TestPartitionedQueriesMatch(t *testing.T) {
	postgresOnly(t)
	t.Parallel()
	ctx := context.Background()
	from := time.Now().AddDate(0, -8, 0)
	_, part := partitionedSince(t, from)
	plain := pgStore(t, rawDB(t, "postgres", true))
	var times []time.Time
	for i := range 400 {
		times = append(times, from.Add(time.Duration(i)*17*time.Hour+time.Duration(i%3)*time.Microsecond))
	}
	times = append(times, from.AddDate(-1, 0, 0), from.AddDate(0, 0, 1), from.AddDate(0, 0, 1)) // the default partition; equal times
	for _, s := range []*auditstore.Store{plain, part} {
		insertAt(t, s, "books", times...)
		insertAt(t, s, "authors", times[:50]...)
	}
	all := func(s *auditstore.Store, f auditstore.Filter) []auditlog.Entry {
		var out []auditlog.Entry
		page := auditstore.Page{Limit: 37}
		if f.Search != "" {
			page.SearchWindow = 60
		}
		for {
			res, err := s.List(ctx, f, page)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, res.Entries...)
			if res.Next == "" {
				return out
			}
			page.Cursor = res.Next
		}
	}
	mid := from.AddDate(0, 3, 0)
	for _, f := range []auditstore.Filter{
		{},
		{Model: "books"},
		{Objects: auditstore.KeyRefs("books", "3")},
		{Model: "authors", ObjectPK: "2"},
		{ActorID: "1"},
		{CorrelationID: "req-4"},
		{Actions: []auditlog.Action{auditlog.ActionDelete}},
		{Since: mid, Until: mid.AddDate(0, 2, 0)},
		{Until: mid},
		{Search: "books 1"},
	} {
		want, got := all(plain, f), all(part, f)
		if len(want) == 0 || !reflect.DeepEqual(got, want) {
			t.Errorf("filter %+v: %d entries from the partitioned table, %d from the plain one, or they differ", f, len(got), len(want))
		}
		for _, s := range []*auditstore.Store{plain, part} {
			if n, _ := s.Count(ctx, f); n != int64(len(want)) {
				t.Errorf("filter %+v: count %d, want %d", f, n, len(want))
			}
		}
	}
	bounds := []time.Time{from, from.AddDate(0, 2, 0), from.AddDate(0, 4, 0), time.Now()}
	a, err1 := plain.CountSpans(ctx, auditstore.Filter{Model: "books"}, bounds, 1000)
	b, err2 := part.CountSpans(ctx, auditstore.Filter{Model: "books"}, bounds, 1000)
	if err1 != nil || err2 != nil || !reflect.DeepEqual(a, b) {
		t.Errorf("spans %v (%v), partitioned %v (%v)", a, err1, b, err2)
	}
	ea, err1 := plain.Get(ctx, 17)
	eb, err2 := part.Get(ctx, 17)
	if err1 != nil || err2 != nil || !reflect.DeepEqual(ea, eb) {
		t.Errorf("entry 17: %+v (%v), partitioned %+v (%v)", ea, err1, eb, err2)
	}
}

// An object's history on recent data reads the newest partitions' object
// index and stops there: an ordered scan of the partitions, newest first,
// with the older ones never executed, and no sequential scan anywhere.
func TestPartitionedHistoryUsesIndexes(t *testing.T) {
	postgresOnly(t)
	t.Parallel()
	ctx := context.Background()
	from := monthOf(time.Now()).AddDate(0, -11, 0)
	db, s := partitionedSince(t, from)
	// 8,400 entries of 1,000 books, and book 4242 ten times a month.
	var es []auditlog.Entry
	for i := range 12 * 700 {
		oid := int64(i % 1000)
		if i%70 == 0 {
			oid = 4242
		}
		es = append(es, auditlog.Entry{Timestamp: from.Add(time.Duration(i) * time.Hour), Action: auditlog.ActionUpdate, Model: "books",
			ObjectPK: fmt.Sprint(oid), ObjectID: &oid, ObjectRepr: "x"})
	}
	if err := s.Insert(ctx, es); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("ANALYZE auditlog_entries"); err != nil {
		t.Fatal(err)
	}
	book := int64(4242)
	query, args, err := auditstore.ListSQL(ctx, s, auditstore.Filter{Objects: []auditstore.ObjectRef{{Model: "books", ID: &book}}}, auditstore.Page{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	plan := strings.Join(lines(t, db, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) "+query, args...), "\n")
	if strings.Contains(plan, "Seq Scan") || strings.Contains(plan, "Sort Method") || !strings.HasPrefix(plan, "Limit") ||
		!regexp.MustCompile(`Merge Append|Append`).MatchString(plan) ||
		!strings.Contains(plan, "Index Scan Backward using auditlog_entries_p") || !strings.Contains(plan, "_model_object_id_timestamp_id_idx") {
		t.Fatalf("history plan:\n%s", plan)
	}
	// The oldest month's scan stops at its newest entry of the book, or
	// never starts.
	oldest := regexp.MustCompile(`(?m)^.*on ` + partName(from) + ` .*$`).FindString(plan)
	if !strings.Contains(oldest, "actual rows=1 ") && !strings.Contains(oldest, "never executed") {
		t.Fatalf("the oldest partition read past one entry: %s\n%s", oldest, plan)
	}
	t.Logf("%s\n%s", query, plan)
}
