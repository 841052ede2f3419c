package auditcli_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
)

// TestFlushSparesWhatARelayHasNotPublished: a flush whose entries a relay
// has not published yet refuses, naming the relay and how many, unless
// --unrelayed; what every relay published is flushed as before.
func TestFlushSparesWhatARelayHasNotPublished(t *testing.T) {
	path, s := seeded(t)
	db := "sqlite:" + path
	out := filepath.Join(t.TempDir(), "audit.jsonl")
	if r := run(t, "", false, "relay", "--db", db, "--to", "jsonl:"+out, "--once"); r.code != 0 {
		t.Fatalf("relay: %+v", r)
	}
	// Two entries dated in the past, written after the relay's round.
	ch, _ := auditlog.NewChange(1, 2)
	late := []auditlog.Entry{
		{Timestamp: time.Date(2025, 12, 30, 0, 0, 0, 0, time.UTC), Action: auditlog.ActionUpdate, Model: "books", ObjectPK: "2", ObjectRepr: "b", Changes: auditlog.Changes{"n": ch}},
		{Timestamp: time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC), Action: auditlog.ActionUpdate, Model: "books", ObjectPK: "3", ObjectRepr: "c", Changes: auditlog.Changes{"n": ch}},
	}
	if err := s.Insert(context.Background(), late); err != nil {
		t.Fatal(err)
	}
	before := count(t, s)
	r := run(t, "", false, "flush", "--db", db, "--before", "2026-01-02", "--yes")
	if r.code == 0 || !strings.Contains(r.stderr, "jsonl:"+out) || !strings.Contains(r.stderr, "2 of them") || !strings.Contains(r.stderr, "--unrelayed") {
		t.Fatalf("a flush of unpublished entries: %+v", r)
	}
	// A relay's stored name is shown escaped: a line break in it made
	// the message show lines of its choosing.
	if r := run(t, "", false, "relay", "--db", db, "--name", "ops\nauditlog flush: done", "--to", "jsonl:"+out+".2", "--once"); r.code != 0 {
		t.Fatalf("relay: %+v", r)
	}
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec("UPDATE auditlog_relay_state SET name = replace(name, '\\n', char(10))"); err != nil {
		t.Fatal(err)
	}
	r = run(t, "", false, "flush", "--db", db, "--truncate", "--yes")
	if r.code == 0 || !strings.Contains(r.stderr, `ops\u000aauditlog flush: done`) {
		t.Fatalf("a relay's name with a line break: %+v", r)
	}
	if _, err := raw.Exec("DELETE FROM auditlog_relay_state WHERE name LIKE 'ops%'"); err != nil {
		t.Fatal(err)
	}
	if got := count(t, s); got != before {
		t.Fatalf("%d entries deleted by a refused flush", before-got)
	}
	// Entries every relay published go as before.
	r = run(t, "", false, "flush", "--db", db, "--before", "2026-01-02", "--model", "authors", "--yes")
	if r.code != 0 || !strings.Contains(r.stdout, "Deleted 2 entries") {
		t.Fatalf("a flush of published entries: %+v", r)
	}
	r = run(t, "", false, "flush", "--db", db, "--before", "2026-01-02", "--yes", "--unrelayed")
	if r.code != 0 || !strings.Contains(r.stdout, "Deleted 4 entries") {
		t.Fatalf("a flush with --unrelayed: %+v", r)
	}
	// After the relay caught up, a flush needs no flag.
	if r := run(t, "", false, "relay", "--db", db, "--to", "jsonl:"+out, "--once"); r.code != 0 {
		t.Fatalf("relay: %+v", r)
	}
	if err := s.Insert(context.Background(), late[:1]); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "", false, "relay", "--db", db, "--to", "jsonl:"+out, "--once"); r.code != 0 || !strings.Contains(r.stdout, "Published 1 entry") {
		t.Fatalf("relay: %+v", r)
	}
	r = run(t, "", false, "flush", "--db", db, "--before", "2026-01-02", "--yes")
	if r.code != 0 || !strings.Contains(r.stdout, "Deleted 1 entry.") {
		t.Fatalf("a flush after the relay caught up: %+v", r)
	}
	// --truncate is refused while any relay reads the table, caught up or
	// not: it cannot be pinned, and what is written before it runs (while
	// the question waits) would go unpublished.
	if err := s.Insert(context.Background(), late); err != nil {
		t.Fatal(err)
	}
	r = run(t, "", false, "flush", "--db", db, "--truncate", "--yes")
	if r.code == 0 || !strings.Contains(r.stderr, "deleted unpublished") {
		t.Fatalf("a truncate of unpublished entries: %+v", r)
	}
	if r := run(t, "", false, "relay", "--db", db, "--to", "jsonl:"+out, "--once"); r.code != 0 {
		t.Fatalf("relay: %+v", r)
	}
	r = run(t, "", false, "flush", "--db", db, "--truncate", "--yes")
	if r.code == 0 || !strings.Contains(r.stderr, "deleted unpublished") {
		t.Fatalf("a truncate under a relay that caught up: %+v", r)
	}
	n, err := s.Count(context.Background(), auditstore.Filter{})
	if err != nil || n == 0 {
		t.Fatalf("%d entries left, %v", n, err)
	}
	r = run(t, "", false, "flush", "--db", db, "--truncate", "--yes", "--unrelayed")
	if r.code != 0 || !strings.Contains(r.stdout, "Emptied the entries table.") {
		t.Fatalf("a truncate with --unrelayed: %+v", r)
	}
}
