package auditcli_test

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// jsonlIDs returns the ids of the JSON lines in s.
func jsonlIDs(t *testing.T, s string) []int64 {
	t.Helper()
	var out []int64
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		var r auditstore.ExportRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, r.ID)
	}
	return out
}

// TestRelayCommand relays to a file and to stdout: each entry once, the
// position kept between runs, the lag reported; stdout carries only
// entries when it is the destination.
func TestRelayCommand(t *testing.T) {
	path, _ := seeded(t)
	db := "sqlite:" + path
	out := filepath.Join(t.TempDir(), "audit.jsonl")
	r := run(t, "", false, "relay", "--db", db, "--to", "jsonl:"+out, "--lag")
	if r.code != 0 || !strings.Contains(r.stdout, "has not published yet; 6 entries are waiting") {
		t.Fatalf("lag before: %+v", r)
	}
	for i := range 2 {
		r = run(t, "", false, "relay", "--db", db, "--to", "jsonl:"+out, "--once")
		want := []string{"Published 6 entries to " + out, "Published 0 entries to " + out}[i]
		if r.code != 0 || !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "6 published in all") || !strings.Contains(r.stdout, "0 entries waiting") {
			t.Fatalf("run %d: %+v", i, r)
		}
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := jsonlIDs(t, string(raw)); fmt.Sprint(got) != "[1 2 3 4 5 6]" {
		t.Fatalf("file holds %v", got)
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o600 {
		t.Errorf("the file's mode is %v", fi.Mode())
	}
	// To stdout: a relay of its own name, its messages on stderr.
	r = run(t, "", false, "relay", "--db", db, "--to", "jsonl:-", "--once")
	if r.code != 0 || fmt.Sprint(jsonlIDs(t, r.stdout)) != "[1 2 3 4 5 6]" || !strings.Contains(r.stderr, "Published 6 entries to stdout") {
		t.Fatalf("to stdout: %+v", r)
	}
	// "-" alone is stdout too, the same relay.
	r = run(t, "", false, "relay", "--db", db, "--to", "-", "--once")
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "Published 0 entries to stdout") {
		t.Fatalf("to -: %+v", r)
	}
	// The stored text is the exact data in the file, escapes included.
	if !strings.Contains(string(raw), `Dune\u001b[31m`) {
		t.Errorf("the repr is not the stored text: %s", raw)
	}
}

func TestRelayCommandBadArguments(t *testing.T) {
	path, _ := seeded(t)
	db := "sqlite:" + path
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"relay", "--db", db}, "give one destination"},
		{[]string{"relay", "--db", db, "--to", "jsonl:x", "--nats", "nats://127.0.0.1:4222"}, "give one destination"},
		{[]string{"relay", "--db", db, "--to", "file:x"}, "--to takes jsonl:FILE"},
		{[]string{"relay", "--db", db, "--to", "jsonl:"}, "--to takes jsonl:FILE"},
		{[]string{"relay", "--db", db, "--to", "jsonl:x", "--batch", "0"}, "--batch 1 to 100000"},
		{[]string{"relay", "--db", db, "--to", "jsonl:x", "--interval", "-1s"}, "must be positive"},
		{[]string{"relay", "--db", db, "--to", "jsonl:x", "--name", strings.Repeat("n", 256)}, "must be 1 to 255 bytes"},
		{[]string{"relay", "--db", db, "--to", "jsonl:x", "--name", "x ", "--once"}, "ends in a space"},
		{[]string{"relay", "--db", db, "--to", "jsonl:x ", "--once"}, "ends in a space"},
		{[]string{"relay", "--db", db, "--to", "jsonl:x", "--name", "caf\xc3", "--once"}, "not UTF-8"},
		{[]string{"relay", "--db", db, "--nats", "http://127.0.0.1:4222", "--once"}, "not a nats://host:port URL"},
		{[]string{"relay", "--db", db, "--nats", "nats://127.0.0.1:4222", "--prefix", "a.*", "--once"}, "not a subject prefix"},
		{[]string{"relay", "--db", db, "--nats", "nats://u:s3cret@127.0.0.1:1", "--once"}, "nats://127.0.0.1:1"},
		{[]string{"relay", "--db", db, "--to", "jsonl:" + filepath.Join(t.TempDir(), "no", "dir", "x"), "--once"}, "no such file"},
		// The database's own files: SQLite would overwrite the lines.
		{[]string{"relay", "--db", db, "--to", "jsonl:" + path, "--once"}, "is the database"},
		{[]string{"relay", "--db", db, "--to", "jsonl:" + path + "-wal", "--once"}, "is the database"},
		{[]string{"relay", "--db", db, "--to", "jsonl:" + path + "-journal", "--once"}, "is the database"},
	} {
		r := run(t, "", false, tc.args...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.msg) || strings.Contains(r.stderr+r.stdout, "s3cret") {
			t.Errorf("%v: %+v", tc.args[2:], r)
		}
	}
}

// TestRelayCommandNATS relays to JetStream, creating the stream.
func TestRelayCommandNATS(t *testing.T) {
	u := os.Getenv("AUDITLOG_TEST_NATS_URL")
	if u == "" {
		t.Skip("AUDITLOG_TEST_NATS_URL is not set")
	}
	path, _ := seeded(t)
	n := fmt.Sprint(time.Now().UnixNano())
	stream := "AUDITLOG_CLIRELAY_" + n
	t.Cleanup(func() { deleteStream(t, u, stream) })
	args := []string{"relay", "--db", "sqlite:" + path, "--nats", u, "--stream", stream, "--prefix", "auditlog.clirelay." + n}
	r := run(t, "", false, append(args, "--once")...)
	if r.code != 0 || !strings.Contains(r.stdout, "Published 6 entries to stream "+stream) {
		t.Fatalf("relay: %+v", r)
	}
	r = run(t, "", false, append(args, "--lag")...)
	if r.code != 0 || !strings.Contains(r.stdout, "Relay nats:"+stream+": 6 published in all") {
		t.Fatalf("lag: %+v", r)
	}
}

// A relay's name and destination are arguments: printed escaped, as every
// message prints them, never as terminal sequences.
func TestRelayCommandEscapesItsArguments(t *testing.T) {
	path, _ := seeded(t)
	db := "sqlite:" + path
	out := filepath.Join(t.TempDir(), "o\x1b[31mRED")
	for _, args := range [][]string{
		{"relay", "--db", db, "--to", "jsonl:-", "--lag", "--name", "x\x1b]0;PWNED\aY"},
		{"relay", "--db", db, "--to", "jsonl:" + out, "--once"},
		{"relay", "--db", db, "--to", "jsonl:" + out, "--lag"},
	} {
		r := run(t, "", false, args...)
		if r.code != 0 || strings.ContainsAny(r.stdout+r.stderr, "\x1b\a") || !strings.Contains(r.stdout+r.stderr, `\u001b`) {
			t.Errorf("%q: %+v", args[3:], r)
		}
	}
}

// Every command that reads the log, on a database without the audit
// tables (or with older ones), says to migrate, and serve does not start:
// they failed with the database's own words, and serve answered every page
// with a 500.
func TestCommandsOnADatabaseNotMigrated(t *testing.T) {
	dir := t.TempDir()
	bare := filepath.Join(dir, "app.db")
	if r := run(t, "", false, "migrate", "--db", bare); r.code != 0 {
		t.Fatalf("migrate: %+v", r)
	}
	db, err := sql.Open("sqlite3", bare)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// An application's own database, with none of the audit tables.
	for _, stmt := range []string{"DROP TABLE auditlog_entries", "DROP TABLE auditlog_migrations", "CREATE TABLE books (id INTEGER PRIMARY KEY)"} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	keyFile := filepath.Join(dir, "seal.key")
	r := run(t, "", false, "seal-key", "--name", "test.example/log", "--out", keyFile)
	if r.code != 0 {
		t.Fatalf("seal-key: %+v", r)
	}
	pub := strings.TrimSpace(r.stdout)
	db2 := "sqlite:" + bare
	for _, args := range [][]string{
		{"history", "--db", db2, "books", "1"},
		{"export", "--db", db2, "--format", "jsonl"},
		{"flush", "--db", db2, "--yes"},
		{"revert", "--db", db2, "1"},
		{"relay", "--db", db2, "--to", "jsonl:" + filepath.Join(dir, "out.jsonl"), "--once"},
		{"seal", "--db", db2, "--key-file", keyFile, "--once"},
		{"verify", "--db", db2, "--pubkey", pub},
		{"prove", "--db", db2, "1"},
		{"serve", "--db", db2, "--addr", "127.0.0.1:0", "--insecure-no-auth"},
	} {
		r := run(t, "", false, args...)
		if r.code == 0 || !strings.Contains(r.stderr, "no auditlog_entries table: migrate it first (auditlog migrate") || strings.Contains(r.stdout, "Serving") {
			t.Errorf("%v: %+v", args[:1], r)
		}
	}
}

// An auditor's read-only role, granted SELECT on the entries alone (as
// SECURITY.md advises), reads the log: the check for the audit tables
// passes where it may not read the migrations' record.
func TestReadOnlyAuditorRole(t *testing.T) {
	if !slices.Contains(testdb.Names(), "postgres") {
		t.Skip("no PostgreSQL")
	}
	db, dsn := testdb.OpenWithDSN(t, "postgres")
	var sch string
	if err := db.Raw("SELECT current_schema()").Scan(&sch).Error; err != nil {
		t.Fatal(err)
	}
	role := sch + "_ro"
	for _, q := range []string{"CREATE ROLE " + role + " LOGIN", "GRANT USAGE ON SCHEMA " + sch + " TO " + role, "GRANT SELECT ON auditlog_entries TO " + role} {
		if err := db.Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		db.Exec("REVOKE ALL ON auditlog_entries FROM " + role)
		db.Exec("REVOKE ALL ON SCHEMA " + sch + " FROM " + role)
		db.Exec("DROP ROLE " + role)
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	if r := run(t, "", false, "export", "--db", u.String(), "--format", "csv"); r.code != 0 {
		t.Fatalf("export as a role that may read the entries: %+v", r)
	}
}
