package auditstore_test

import (
	"context"
	"database/sql/driver"
	"fmt"
	"os"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// damagedInsert writes n entries one hour apart from base, ids 1..n, oldest first.
func damagedInsert(t *testing.T, db *gorm.DB, n int, base time.Time) *auditstore.Store {
	return damagedInsertStep(t, db, n, base, time.Hour)
}

func damagedInsertStep(t *testing.T, db *gorm.DB, n int, base time.Time, step time.Duration) *auditstore.Store {
	t.Helper()
	s := storeOf(t, db)
	var es []auditlog.Entry
	for i := range n {
		es = append(es, auditlog.Entry{Timestamp: base.Add(time.Duration(i) * step), Action: auditlog.ActionCreate,
			Model: "m", ObjectPK: fmt.Sprint(i + 1), ObjectRepr: "thing"})
	}
	if err := s.Insert(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	return s
}

// damagedWalk pages through List with p and returns the ids read, stopping after
// 3*max reads (a loop) or at the first error.
func damagedWalk(t *testing.T, s *auditstore.Store, f auditstore.Filter, p auditstore.Page, max int) ([]int64, error) {
	var got []int64
	for range 3 * max {
		res, err := s.List(context.Background(), f, p)
		if err != nil {
			return got, err
		}
		for _, e := range res.Entries {
			got = append(got, e.ID)
		}
		if res.Next == "" {
			return got, nil
		}
		p.Cursor = res.Next
	}
	return got, fmt.Errorf("no end after %d pages", 3*max)
}

func damagedExec(t *testing.T, db *gorm.DB, mysqlMode string, stmt string) {
	t.Helper()
	sqlDB, _ := db.DB()
	ctx := context.Background()
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if db.Dialector.Name() == "mysql" {
		if _, err := conn.ExecContext(ctx, "SET SESSION sql_mode = '"+mysqlMode+"'"); err != nil {
			t.Fatal(err)
		}
		defer conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	if _, err := conn.ExecContext(ctx, stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

func damagedUnique(ids []int64) bool {
	seen := map[int64]bool{}
	for _, id := range ids {
		if seen[id] {
			return false
		}
		seen[id] = true
	}
	return true
}

// SQLite: a timestamp stored as an RFC 3339 text with an offset decodes
// (parseTimeText accepts it), so the entry is shown as readable, but it
// sorts by its text, not its time. The cursor after it is its decoded
// time, which puts the page after it above entries already read: paging
// shows entries twice, and by one it never ends (export, Each, loops).
func TestPagingPastATimeInAnotherForm(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	base := time.Date(2024, 1, 5, 20, 0, 0, 0, time.UTC)
	s := damagedInsert(t, db, 6, base) // 20:00, 21:00, ..., 01:00 next day
	// Entry 2 stored as 2024-01-05T20:30:00-05:00: its time is 01:30Z the
	// next day, newer than every entry, but its text sorts between entries
	// 1 and 3: the page after it starts again at the newest entry.
	damagedExec(t, db, "", `UPDATE auditlog_entries SET timestamp = '2024-01-05T20:30:00-05:00' WHERE id = 2`)
	got, err := s.Get(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("entry 2: time %v, unreadable %q", got.Timestamp, got.Unreadable)
	ids, err := damagedWalk(t, s, auditstore.Filter{}, auditstore.Page{Limit: 1}, 6)
	if err != nil || len(ids) != 6 || !damagedUnique(ids) {
		t.Errorf("paging by one read %v (err %v), want each of the 6 entries once", ids, err)
	}
	// The other way: entry 2 stored as 23:30+05:00 (18:30Z, older than
	// all) sorts between 4 and 6: the page after it is empty.
	damagedExec(t, db, "", `UPDATE auditlog_entries SET timestamp = '2024-01-05T23:30:00+05:00' WHERE id = 2`)
	ids, err = damagedWalk(t, s, auditstore.Filter{}, auditstore.Page{Limit: 3}, 6)
	if err != nil || len(ids) != 6 || !damagedUnique(ids) {
		t.Errorf("paging by three read %v (err %v), want each of the 6 entries once", ids, err)
	}
}

// SQLite: a timestamp stored as a BLOB holding a valid time text decodes as
// that time, but a BLOB sorts after every TEXT: the entry comes first, and
// the cursor after it (its decoded time) skips every entry newer than it.
func TestPagingPastATimeStoredAsBytes(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	s := damagedInsert(t, db, 6, base)
	damagedExec(t, db, "", `UPDATE auditlog_entries SET timestamp = CAST(timestamp AS BLOB) WHERE id = 2`)
	ids, err := damagedWalk(t, s, auditstore.Filter{}, auditstore.Page{Limit: 1}, 6)
	if err != nil || len(ids) != 6 || !damagedUnique(ids) {
		t.Errorf("paging by one read %v (err %v), want each of the 6 entries once", ids, err)
	}
	n := 0
	if err := s.Each(context.Background(), auditstore.Filter{}, func(auditlog.Entry) error { n++; return nil }); err != nil || n != 6 {
		t.Errorf("Each read %d, %v", n, err)
	}
}

// SQLite: a timestamp of year 0 ('0000-…', which Go parses) is read as a
// readable time outside the range cursors accept: the page after it fails
// with ErrInvalidCursor, so no reader gets past it.
func TestPagingPastYearZero(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	s := damagedInsert(t, db, 4, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	damagedExec(t, db, "", `UPDATE auditlog_entries SET timestamp = '0000-06-01T00:00:00.000000Z' WHERE id IN (2, 3)`)
	ids, err := damagedWalk(t, s, auditstore.Filter{}, auditstore.Page{Limit: 1}, 4)
	if err != nil || len(ids) != 4 {
		t.Errorf("paging by one read %v, error %v; want 4 entries", ids, err)
	}
	n := 0
	if err := s.Each(context.Background(), auditstore.Filter{}, func(auditlog.Entry) error { n++; return nil }); err != nil || n != 4 {
		t.Errorf("Each read %d, %v", n, err)
	}
}

// PostgreSQL: timestamptz takes years past 9999 and BC years; pgx reads
// them as times, shown as dates, and the cursor after one is out of range:
// the next page fails, for the UI, the CLI's export and Each alike.
func TestPagingPastPostgresYearsOutOfRange(t *testing.T) {
	if os.Getenv(testdb.PostgresEnv) == "" {
		t.Skip("no PostgreSQL")
	}
	db := testdb.Open(t, "postgres")
	s := damagedInsert(t, db, 4, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	damagedExec(t, db, "", `UPDATE auditlog_entries SET timestamp = '20000-01-01 00:00:00+00' WHERE id = 2`)
	damagedExec(t, db, "", `UPDATE auditlog_entries SET timestamp = '0001-01-01 00:00:00+00 BC' WHERE id = 3`)
	got, _ := s.Get(context.Background(), 2)
	t.Logf("entry 2: time %v, unreadable %q", got.Timestamp, got.Unreadable)
	ids, err := damagedWalk(t, s, auditstore.Filter{}, auditstore.Page{Limit: 1}, 4)
	if err != nil || len(ids) != 4 {
		t.Errorf("paging by one read %v, error %v; want 4 entries", ids, err)
	}
	n := 0
	if err := s.Each(context.Background(), auditstore.Filter{}, func(auditlog.Entry) error { n++; return nil }); err != nil || n != 4 {
		t.Errorf("Each read %d, %v", n, err)
	}
}

// MariaDB with sql_mode ”: a date with a zero month or day ('2024-00-00')
// is stored as such; the driver reads it as another date (2023-11-30),
// shown as readable, and the cursor after it skips the entries between.
func TestPagingPastAZeroInDate(t *testing.T) {
	if os.Getenv(testdb.MySQLEnv) == "" {
		t.Skip("no MySQL")
	}
	db := testdb.Open(t, "mysql")
	s := damagedInsert(t, db, 4, time.Date(2023, 12, 10, 0, 0, 0, 0, time.UTC)) // Dec 10 00:00 .. 03:00
	damagedExec(t, db, "", `UPDATE auditlog_entries SET timestamp = '2024-00-00 00:00:00' WHERE id = 4`)
	got, err := s.Get(context.Background(), 4)
	if err != nil {
		t.Fatal(err)
	}
	if got.Unreadable == "" {
		t.Errorf("entry stored '2024-00-00 00:00:00' read as readable time %v", got.Timestamp)
	}
	ids, err := damagedWalk(t, s, auditstore.Filter{}, auditstore.Page{Limit: 1}, 4)
	if err != nil || len(ids) != 4 || !damagedUnique(ids) {
		t.Errorf("paging by one read %v, error %v; want the 4 entries once each", ids, err)
	}
}

// Each (the CLI's export, audittest) reads pages of 1000: the entry made
// 1000th from the newest with a non-canonical time makes it loop forever.
func TestEachPastATimeInAnotherForm(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	s := damagedInsertStep(t, db, 1005, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Second)
	// Entry 6 (00:00:05Z) is the 1000th newest; stored as 00:00:05-05:00
	// it keeps its place, but its time is 05:00:05Z, newer than all.
	damagedExec(t, db, "", `UPDATE auditlog_entries SET timestamp = '2024-01-01T00:00:05-05:00' WHERE id = 6`)
	n := 0
	err := s.Each(context.Background(), auditstore.Filter{}, func(auditlog.Entry) error {
		if n++; n > 5000 {
			return fmt.Errorf("still reading after %d entries", n)
		}
		return nil
	})
	if err != nil || n != 1005 {
		t.Errorf("Each read %d entries of 1005: %v", n, err)
	}
}

// The cursor after an entry whose time is unreadable names the entry
// ("e<id>"): once that entry is gone (a flush by model, retention, a
// delete), the next page compares with a NULL time, matches nothing, and
// List says the log ends there, with no error: every older entry is hidden
// from the reader that holds the link, and an Each/export running across
// the delete ends early reporting success.
func TestCursorAfterAGoneUnreadableEntry(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	s := damagedInsert(t, db, 4, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	ctx := context.Background()
	damagedExec(t, db, "", `UPDATE auditlog_entries SET timestamp = 'yesterday', model = 'junk' WHERE id = 2`)
	res, err := s.List(ctx, auditstore.Filter{}, auditstore.Page{Limit: 1})
	if err != nil || len(res.Entries) != 1 || res.Entries[0].ID != 2 || res.Next == "" {
		t.Fatalf("first page %+v, %v", res, err)
	}
	if _, err := s.Flush(ctx, auditstore.FlushOptions{Filter: auditstore.Filter{Model: "junk"}}); err != nil {
		t.Fatal(err)
	}
	res, err = s.List(ctx, auditstore.Filter{}, auditstore.Page{Limit: 1, Cursor: res.Next})
	if err == nil && len(res.Entries) == 0 && res.Next == "" {
		t.Errorf("the page after the flushed unreadable entry is empty and last, with no error: entries 4, 3, 1 are hidden")
	}
}

// Held (passes): PostgreSQL timestamptz 'infinity' and '-infinity' are marked, paged and windowed.
func TestPostgresInfiniteTimes(t *testing.T) {
	if os.Getenv(testdb.PostgresEnv) == "" {
		t.Skip("no PostgreSQL")
	}
	db := testdb.Open(t, "postgres")
	s := damagedInsert(t, db, 4, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	damagedExec(t, db, "", `UPDATE auditlog_entries SET timestamp = 'infinity' WHERE id = 2`)
	damagedExec(t, db, "", `UPDATE auditlog_entries SET timestamp = '-infinity' WHERE id = 3`)
	for _, id := range []int64{2, 3} {
		e, err := s.Get(context.Background(), id)
		t.Logf("entry %d: %v %q %v", id, e.Timestamp, e.Unreadable, err)
		if err != nil || e.Unreadable == "" {
			t.Errorf("entry %d: %v %q %v", id, e.Timestamp, e.Unreadable, err)
		}
	}
	ids, err := damagedWalk(t, s, auditstore.Filter{}, auditstore.Page{Limit: 1}, 4)
	if err != nil || len(ids) != 4 || !damagedUnique(ids) {
		t.Errorf("paging by one read %v, error %v", ids, err)
	}
	ids, err = damagedWalk(t, s, auditstore.Filter{Search: "thing"}, auditstore.Page{Limit: 2, SearchWindow: 1}, 4)
	if err != nil || len(ids) != 4 || !damagedUnique(ids) {
		t.Errorf("search window of one read %v, error %v", ids, err)
	}
}

// MariaDB zero date (sql_mode ”): paging and a search window that ends at it.
func TestPagingAndWindowPastZeroDates(t *testing.T) {
	if os.Getenv(testdb.MySQLEnv) == "" {
		t.Skip("no MySQL")
	}
	db := testdb.Open(t, "mysql")
	s := damagedInsert(t, db, 5, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	damagedExec(t, db, "", `UPDATE auditlog_entries SET timestamp = '0000-00-00 00:00:00' WHERE id IN (2, 4)`)
	for _, c := range []struct {
		f auditstore.Filter
		p auditstore.Page
	}{
		{auditstore.Filter{}, auditstore.Page{Limit: 1}},
		{auditstore.Filter{Search: "thing"}, auditstore.Page{Limit: 3, SearchWindow: 1}},
		{auditstore.Filter{Search: "thing"}, auditstore.Page{Limit: 1, SearchWindow: 2}},
	} {
		ids, err := damagedWalk(t, s, c.f, c.p, 5)
		if err != nil || len(ids) != 5 || !damagedUnique(ids) {
			t.Errorf("%+v: read %v, error %v", c.p, ids, err)
		}
	}
}
