package auditcli_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditcli"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/sqlitedriver"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestMain runs the command itself, with the real process environment
// (auditcli.OSEnv), when a test starts this binary as a subprocess.
func TestMain(m *testing.M) {
	if args := os.Getenv("AUDITLOG_CLI_ARGS"); args != "" {
		var a []string
		if err := json.Unmarshal([]byte(args), &a); err != nil {
			panic(err)
		}
		os.Exit(auditcli.Run(context.Background(), a, auditcli.OSEnv()))
	}
	// The command opens SQLite through the driver linked into it, and its
	// tests share files with it in one process: through another SQLite
	// library, two copies of SQLite would lock one WAL file each its own
	// way ("locking protocol"). The tests use the command's driver.
	if d, err := sqlitedriver.LinkedDriver(); err == nil {
		os.Setenv(testdb.SQLiteDriverEnv, d.Name)
	}
	os.Exit(m.Run())
}

// runProcess runs the command in a subprocess whose stdin is stdin (nil:
// /dev/null).
func runProcess(t *testing.T, stdin *os.File, args ...string) result {
	t.Helper()
	a, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "AUDITLOG_CLI_ARGS="+string(a))
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return result{cmd.ProcessState.ExitCode(), out.String(), errb.String()}
}

type result struct {
	code           int
	stdout, stderr string
}

func run(t testing.TB, stdin string, terminal bool, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	env := auditcli.Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, StdinTerminal: terminal, StderrTerminal: terminal,
		Now: func() time.Time { return time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC) },
		Getenv: func(k string) string {
			return map[string]string{"AUDIT_TOKEN": "0123456789abcdef0123", "SHORT_BASIC": "u:shortpw"}[k]
		}}
	code := auditcli.Run(context.Background(), args, env)
	return result{code, out.String(), errb.String()}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./auditcli -update)", err)
	}
	if string(want) != got {
		t.Fatalf("output differs from %s:\n%s", path, got)
	}
}

// seeded returns a SQLite file with a known log: entries on 2025-12-30,
// 2026-01-01 and 2026-01-05 for two models.
func seeded(t testing.TB) (string, *auditstore.Store) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.db")
	if r := run(t, "", false, "migrate", "--db", "sqlite:"+path); r.code != 0 {
		t.Fatalf("migrate: %+v", r)
	}
	s := openStore(t, path)
	ch, _ := auditlog.NewChange(10, 12)
	id := int64(1)
	var es []auditlog.Entry
	for i, day := range []int{-2, 0, 4} {
		for _, model := range []string{"books", "authors"} {
			es = append(es, auditlog.Entry{Timestamp: time.Date(2026, 1, 1+day, 12, i, 0, 0, time.UTC), Action: auditlog.Action(i),
				Model: model, ObjectPK: "1", ObjectID: &id, ObjectRepr: "Dune\x1b[31m", Changes: auditlog.Changes{"price": ch},
				ActorID: "7", ActorName: "alice", CorrelationID: fmt.Sprintf("req-%d", i)})
		}
	}
	if err := s.Insert(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	return path, s
}

func openStore(t testing.TB, path string) *auditstore.Store {
	t.Helper()
	target, err := auditcli.ParseDSN("sqlite:" + path)
	if err != nil {
		t.Fatal(err)
	}
	db, err := target.Open(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	s, _ := auditstore.New(db, auditstore.SQLite)
	return s
}

func count(t *testing.T, s *auditstore.Store) int64 {
	n, err := s.Count(context.Background(), auditstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestUsageAndBadArguments(t *testing.T) {
	t.Parallel()
	r := run(t, "", false)
	if r.code != 2 {
		t.Fatalf("no args: %+v", r)
	}
	golden(t, "usage", r.stderr)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"frobnicate"}, 2, `unknown command: the first argument names none`},
		{[]string{"exprot"}, 2, `unknown command: did you mean export?`},
		{[]string{"history", "--db", "sqlite:/nope/x.db"}, 2, "want 2 arguments"},
		{[]string{"history", "--db", "sqlite:/nope/x.db", "books", "1"}, 1, "/nope/x.db does not exist"},
		{[]string{"export", "--db", "oracle://x"}, 2, `unknown database scheme "oracle"`},
		{[]string{"export", "--db", ""}, 2, "--db is empty"},
		// Any flag given empty is refused, not taken as left out: an unset
		// variable must not send the log to stdout, seal without its
		// witness, listen on every address or relay under another name.
		{[]string{"export", "--db", "x.db", "--output", ""}, 2, "--output is empty"},
		// Flags that another makes meaningless are refused, not ignored.
		{[]string{"migrate", "--print", "--dialect", "mysql", "--db", "x.db"}, 2, "give --db or --dialect, not both"},
		{[]string{"migrate", "--dialect", "sqlite", "--db", "x.db"}, 2, "without --print"},
		{[]string{"migrate", "--db", "x.db", "--ahead", "5"}, 2, "--ahead goes with --partition"},
		{[]string{"export", "--db", "x.db", "--output= "}, 2, "--output is empty"},
		{[]string{"seal", "--db", "x.db", "--key-file", "k", "--witness-file", ""}, 2, "--witness-file is empty"},
		{[]string{"seal", "--db", "x.db", "--key-file", "k", "--witness="}, 2, "--witness is empty"},
		{[]string{"serve", "--db", "x.db", "--insecure-no-auth", "--addr", ""}, 2, "--addr is empty"},
		{[]string{"relay", "--db", "x.db", "--nats", "nats://127.0.0.1:1", "--stream", ""}, 2, "--stream is empty"},
		{[]string{"verify", "--db", "x.db", "--pubkey", "p", "--checkpoint", "a", "--checkpoint", ""}, 2, "--checkpoint is empty"},
		{[]string{"export", "--db", "postgres://postgres@127.0.0.1:1/x?connect_timeout=2"}, 1, "cannot connect to postgres://postgres@127.0.0.1:1/x"},
		{[]string{"export", "--db", "mysql://root:secret@127.0.0.1:1/x"}, 1, "cannot connect to mysql://root:xxxxx@127.0.0.1:1/x"},
		{[]string{"export", "--db", "mysql://host"}, 2, "invalid MySQL DSN"},
		{[]string{"export", "--db", "x.db", "--format", "xml"}, 2, "--format must be jsonl or csv"},
		{[]string{"export", "--db", "x.db", "--since", "yesterday"}, 2, "is not a date"},
		{[]string{"export", "--db", "x.db", "--since", "2026-01-02", "--until", "2026-01-01"}, 2, "--since 2026-01-02 is not before --until 2026-01-01"},
		{[]string{"export", "--db", "x.db", "--since", "2026-01-02", "--until", "2026-01-02"}, 2, "is not before --until"},
		{[]string{"export", "--db", "x.db", "--action", "explode"}, 2, "--action must be"},
		{[]string{"flush", "--db", "x.db", "--truncate", "--before", "90d"}, 2, "cannot be combined"},
		{[]string{"flush", "--db", "x.db", "--truncate", "--model", "books"}, 2, "cannot be combined"},
		{[]string{"flush", "--db", "x.db", "--before", "soon"}, 2, "--before"},
		{[]string{"flush", "--bogus"}, 2, "is no flag of this command (not shown"},
		{[]string{"flush", "--bfore", "1d"}, 2, "did you mean --before?"},
		{[]string{"history", "--limit", "S3CRET"}, 2, "invalid value (not shown)"},
		{[]string{"migrate", "--print"}, 2, "--print needs --db or --dialect"},
		{[]string{"migrate", "--db", "sqlite:x.db", "--partition", "monthly"}, 2, "--partition monthly needs PostgreSQL: x.db is a sqlite database"},
		{[]string{"migrate", "--db", "mysql://root:secret@127.0.0.1:1/x", "--partition", "monthly"}, 2, "--partition monthly needs PostgreSQL: mysql://root:xxxxx@127.0.0.1:1/x is a mysql database"},
		{[]string{"migrate", "--db", "x.db", "--partition", "weekly"}, 2, `--partition must be monthly, not "weekly"`},
		{[]string{"migrate", "--db", "x.db", "--partition", "monthly", "--ahead", "0"}, 2, "--ahead must be from 1 to 120"},
		{[]string{"migrate", "--print", "--dialect", "postgres", "--partition", "monthly"}, 2, "--partition cannot be combined with it"},
		{[]string{"serve", "--db", "x.db"}, 2, "refusing to serve the audit log without authentication"},
		{[]string{"serve", "--db", "x.db", "--insecure-no-auth", "--addr", "0.0.0.0:8080"}, 2, "only allowed on a loopback address"},
		{[]string{"serve", "--db", "x.db", "--basic-auth", "nopassword"}, 2, "USER:PASSWORD"},
		{[]string{"serve", "--db", "x.db", "--token-env", "EMPTY_VAR"}, 2, "--token-env: no variable of that name is set"},
		{[]string{"serve", "--db", "x.db", "--basic-auth", "a:bcdefghij", "--insecure-no-auth"}, 2, "choose one"},
		{[]string{"demo", "extra"}, 2, "unexpected argument"},
		// The demo answers loopback clients by loopback names only.
		{[]string{"demo", "--addr", ":8080"}, 2, "--addr must be a loopback address"},
		{[]string{"demo", "--addr", "0.0.0.0:8080"}, 2, "--addr must be a loopback address"},
		{[]string{"demo", "--addr", "192.0.2.1:8080"}, 2, "--addr must be a loopback address"},
	}
	for _, tc := range cases {
		r := run(t, "", false, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: code %d, stderr %q; want %d and %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
		if strings.Count(strings.TrimSpace(r.stderr), "\n") > 2 && tc.code == 1 {
			t.Errorf("%v: error is not one clear line: %q", tc.args, r.stderr)
		}
		if n := strings.Count(r.stderr, tc.want); n != 1 && strings.Contains(tc.want, " ") {
			t.Errorf("%v: said %d times: %q", tc.args, n, r.stderr)
		}
		if n := strings.Count(r.stderr, "usage: "); n > 1 {
			t.Errorf("%v: the usage shown %d times: %q", tc.args, n, r.stderr)
		}
	}
	if r := run(t, "", false, "flush", "-h"); r.code != 0 || !strings.Contains(r.stderr, "-before") {
		t.Fatalf("flush -h: %+v", r)
	}
}

func TestMigratePrint(t *testing.T) {
	t.Parallel()
	r := run(t, "", false, "migrate", "--print", "--dialect", "postgres")
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	golden(t, "migrate-postgres.sql", r.stdout)
}

func TestHistory(t *testing.T) {
	t.Parallel()
	path, _ := seeded(t)
	r := run(t, "", false, "history", "--db", path, "books", "1")
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	golden(t, "history", r.stdout)
	if strings.Contains(r.stdout, "\x1b") {
		t.Fatal("terminal escape in output")
	}
	if r := run(t, "", false, "history", "--db", path, "books", "999"); r.stdout != "No entries.\n" {
		t.Fatalf("%+v", r)
	}
	if strings.Contains(r.stderr, "older ones") {
		t.Fatalf("the whole history said it was not: %+v", r)
	}
	// A history cut by --limit says so, and how to see the rest.
	r = run(t, "", false, "history", "--db", path, "--limit", "1", "books", "1")
	if r.code != 0 || !strings.Contains(r.stderr, "Showed the newest entry; there are older ones") || !strings.Contains(r.stderr, "export --model books --pk 1") {
		t.Fatalf("a history cut by --limit: %+v", r)
	}
}

// Only a terminal counts as one: /dev/null (cron, systemd, CI) is a
// character device but cannot answer, so flush refuses without --yes and
// deletes nothing.
func TestFlushWithoutTerminal(t *testing.T) {
	t.Parallel()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	if auditcli.IsTerminal(devnull) {
		t.Fatal("/dev/null is taken for a terminal")
	}
	path, s := seeded(t)
	r := runProcess(t, devnull, "flush", "--db", path)
	if r.code != 1 || !strings.Contains(r.stderr, "pass --yes") || strings.Contains(r.stderr, "[y/N]") {
		t.Fatalf("flush with stdin /dev/null: %+v", r)
	}
	if n := count(t, s); n != 6 {
		t.Fatalf("%d entries left, want 6", n)
	}
	if r := runProcess(t, devnull, "flush", "--db", path, "--yes"); r.code != 0 || !strings.Contains(r.stdout, "Deleted 6 entries.") {
		t.Fatalf("flush --yes with stdin /dev/null: %+v", r)
	}
}

// Dates and ages that overflow, reach before 1970, are zero or negative, or
// (for --before) lie in the future are refused with a usage error, and
// nothing is deleted. The test clock is 2026-01-10.
func TestFlushBeforeOutOfRange(t *testing.T) {
	t.Parallel()
	path, s := seeded(t)
	for _, before := range []string{
		"9223372036854775807d", "106751991167300d", "99999999999999999999d", "2562047h", "20464d", "491113h",
		"0d", "0s", "0h0m", "-5d", "-1h", "0001-01-01", "0001-01-01T00:00:00Z", "1969-12-31",
		"2026-01-11", "2030-01-01", "2026-01-10T00:00:01Z", "9999-12-31",
	} {
		r := run(t, "", false, "flush", "--db", path, "--yes", "--before", before)
		if r.code != 2 || !strings.Contains(r.stderr, "--before") || strings.Contains(r.stdout, "Deleted") {
			t.Errorf("--before %s: %+v", before, r)
		}
	}
	for _, arg := range []string{"--since", "--until"} {
		for _, v := range []string{"9223372036854775807d", "106751991167300d", "0d", "0001-01-01"} {
			if r := run(t, "", false, "export", "--db", path, arg, v); r.code != 2 || !strings.Contains(r.stderr, arg) || r.stdout != "" {
				t.Errorf("%s %s: %+v", arg, v, r)
			}
		}
	}
	if n := count(t, s); n != 6 {
		t.Fatalf("%d entries left, want 6", n)
	}
	// The edges that are allowed: exactly now, the oldest age, a future --until.
	for _, args := range [][]string{
		{"export", "--db", path, "--until", "2030-01-01"},
		{"export", "--db", path, "--since", "1970-01-01"},
		{"flush", "--db", path, "--yes", "--before", "20463d"},
		{"flush", "--db", path, "--yes", "--before", "2026-01-10"},
	} {
		if r := run(t, "", false, args...); r.code != 0 {
			t.Errorf("%v: %+v", args, r)
		}
	}
}

// hookReader runs hook on the first Read, then reads r: it stands for what
// other processes do while flush waits for its answer.
type hookReader struct {
	hook func()
	r    io.Reader
}

func (h *hookReader) Read(p []byte) (int, error) {
	if h.hook != nil {
		h.hook()
		h.hook = nil
	}
	return h.r.Read(p)
}

// flush deletes exactly what it counted and the user confirmed: entries
// written while it waits for the answer survive, whatever the filters; rows
// that vanish meanwhile are reported.
func TestFlushDeletesWhatWasConfirmed(t *testing.T) {
	t.Parallel()
	old := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	fresh := time.Date(2026, 1, 9, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		args   []string
		insert []auditlog.Entry
		delete bool // delete one counted entry meanwhile
		prompt string
		out    string
		left   []string // models of the entries left, sorted
	}{
		{"everything", nil, []auditlog.Entry{{Timestamp: fresh, Model: "late"}, {Timestamp: old, Model: "late"}}, false,
			"Delete 6 entries?", "Deleted 6 entries.\n", []string{"late", "late"}},
		{"--model", []string{"--model", "books"}, []auditlog.Entry{{Timestamp: old, Model: "books"}}, false,
			"Delete 3 entries of model books?", "Deleted 3 entries.\n", []string{"authors", "authors", "authors", "books"}},
		{"--before", []string{"--before", "2026-01-02"}, []auditlog.Entry{{Timestamp: old, Model: "books"}}, false,
			"Delete 4 entries older than 2026-01-02T00:00:00Z?", "Deleted 4 entries.\n", []string{"authors", "books", "books"}},
		// The cutoff as given, to the nanosecond: the question once said
		// 00:00:00Z, and the entries of that second are not older.
		{"--before with fractions", []string{"--before", "2026-01-02T00:00:00.9Z"}, []auditlog.Entry{{Timestamp: old, Model: "books"}}, false,
			"Delete 4 entries older than 2026-01-02T00:00:00.9Z?", "Deleted 4 entries.\n", []string{"authors", "books", "books"}},
		// TRUNCATE cannot be pinned: the question says so, and the report
		// does not claim a count.
		{"--truncate", []string{"--truncate"}, []auditlog.Entry{{Timestamp: fresh, Model: "late"}}, false,
			"Empty the whole entries table (6 entries now, and whatever is written before it runs)? This cannot be undone. [y/N]",
			"Emptied the entries table.\n", nil},
		{"rows vanished", nil, nil, true,
			"Delete 6 entries?", "Deleted 5 of the 6 entries confirmed: 1 was deleted by someone else meanwhile.\n", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path, s := seeded(t)
			stdin := &hookReader{r: strings.NewReader("y\n"), hook: func() {
				for i := range tc.insert {
					tc.insert[i].ObjectPK, tc.insert[i].ObjectRepr = "9", "late entry"
				}
				if err := s.Insert(context.Background(), tc.insert); err != nil {
					t.Error(err)
				}
				if tc.delete {
					res, _ := s.List(context.Background(), auditstore.Filter{}, auditstore.Page{Limit: 1})
					gone := auditstore.Filter{Since: res.Entries[0].Timestamp, Model: res.Entries[0].Model}
					if _, err := s.Flush(context.Background(), auditstore.FlushOptions{Filter: gone}); err != nil {
						t.Error(err)
					}
				}
			}}
			var out, errb bytes.Buffer
			code := auditcli.Run(context.Background(), append([]string{"flush", "--db", path}, tc.args...), auditcli.Env{
				Stdin: stdin, Stdout: &out, Stderr: &errb, StdinTerminal: true,
				Now: func() time.Time { return time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC) }})
			if code != 0 || !strings.Contains(errb.String(), tc.prompt) || out.String() != tc.out {
				t.Fatalf("code %d, stdout %q, stderr %q", code, out.String(), errb.String())
			}
			res, err := s.List(context.Background(), auditstore.Filter{}, auditstore.Page{})
			if err != nil {
				t.Fatal(err)
			}
			var left []string
			for _, e := range res.Entries {
				left = append(left, e.Model)
			}
			slices.Sort(left)
			if !slices.Equal(left, tc.left) {
				t.Fatalf("left %v, want %v", left, tc.left)
			}
		})
	}
}

func TestFlushConfirmation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		stdin    string
		terminal bool
		args     []string
		code     int
		left     int64
		out      string
	}{
		{"no terminal, no --yes", "", false, nil, 1, 6, ""},
		{"answer n", "n\n", true, nil, 1, 6, ""},
		{"answer empty", "\n", true, nil, 1, 6, ""},
		{"no answer", "", true, nil, 1, 6, ""},
		{"answer y", "y\n", true, nil, 0, 0, "Deleted 6 entries."},
		{"--yes", "", false, []string{"--yes"}, 0, 0, "Deleted 6 entries."},
		{"--before a date keeps newer", "", false, []string{"--yes", "--before", "2026-01-01"}, 0, 4, "Deleted 2 entries."},
		{"--before an age", "", false, []string{"--yes", "--before", "7d"}, 0, 2, "Deleted 4 entries."},
		{"--model", "", false, []string{"--yes", "--model", "authors"}, 0, 3, "Deleted 3 entries."},
		{"--model and --before", "", false, []string{"--yes", "--model", "books", "--before", "2026-01-02"}, 0, 4, "Deleted 2 entries."},
		{"--truncate", "", false, []string{"--yes", "--truncate"}, 0, 0, "Emptied the entries table."},
		{"nothing to delete", "", false, []string{"--yes", "--before", "2000-01-01"}, 0, 6, "No entries to delete."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path, s := seeded(t)
			r := run(t, tc.stdin, tc.terminal, append([]string{"flush", "--db", path}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stdout, tc.out) {
				t.Fatalf("%+v", r)
			}
			if tc.code == 1 && !tc.terminal && !strings.Contains(r.stderr, "pass --yes") {
				t.Fatalf("refusal: %q", r.stderr)
			}
			if tc.code == 1 && tc.terminal && !strings.Contains(r.stderr, "auditlog flush: aborted; nothing was deleted") {
				t.Fatalf("abort: %q", r.stderr)
			}
			if tc.terminal && !strings.Contains(r.stderr, "Delete 6 entries? This cannot be undone. [y/N]") {
				t.Fatalf("prompt: %q", r.stderr)
			}
			if deleted := tc.left < 6; deleted && tc.terminal != strings.Contains(r.stderr, "[##############################] 6/6") {
				t.Fatalf("progress bar only on a terminal: %q", r.stderr)
			}
			if n := count(t, s); n != tc.left {
				t.Fatalf("%d entries left, want %d", n, tc.left)
			}
		})
	}
	// --before deletes exactly the older entries.
	path, s := seeded(t)
	if r := run(t, "", false, "flush", "--db", path, "--yes", "--before", "2026-01-01T12:00:30Z"); r.code != 0 {
		t.Fatalf("%+v", r)
	}
	res, _ := s.List(context.Background(), auditstore.Filter{}, auditstore.Page{})
	for _, e := range res.Entries {
		if e.Timestamp.Before(time.Date(2026, 1, 1, 12, 0, 30, 0, time.UTC)) {
			t.Fatalf("older entry %v kept", e.Timestamp)
		}
	}
	if len(res.Entries) != 4 {
		t.Fatalf("%d left", len(res.Entries))
	}
}

func TestExport(t *testing.T) {
	t.Parallel()
	path, _ := seeded(t)
	r := run(t, "", false, "export", "--db", path, "--model", "books", "--since", "2026-01-01")
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines:\n%s", len(lines), r.stdout)
	}
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec["model"] != "books" {
			t.Fatalf("line %s: %v", l, err)
		}
	}
	if r := run(t, "", true, "export", "--db", path); r.code != 0 || !strings.Contains(r.stderr, "\r6 entries.") {
		t.Fatalf("progress on a terminal: %+v", r)
	}
	out := filepath.Join(t.TempDir(), "x.csv")
	if r := run(t, "", false, "export", "--db", path, "--format", "csv", "--output", out); r.code != 0 || !strings.Contains(r.stderr, "Exported 6 entries") {
		t.Fatalf("%+v", r)
	}
	b, _ := os.ReadFile(out)
	if got := strings.Count(string(b), "\n"); got != 7 {
		t.Fatalf("%d CSV lines", got)
	}
}

// export --output never overwrites the database it reads (by any name:
// symlinks, file: URIs, its WAL and journal files), replaces an existing
// file only with --force, and writes through a temporary file, so a failed
// export leaves no partial file and keeps what was there.
func TestExportOutputSafety(t *testing.T) {
	t.Parallel()
	path, s := seeded(t)
	dir := filepath.Dir(path)
	link := filepath.Join(dir, "link.db")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	size := func(p string) int64 {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	dbSize := size(path)
	for _, tc := range []struct{ db, output string }{
		{path, path}, {"sqlite:" + path, path}, {path, link}, {link, path},
		{"file:" + path + "?mode=ro", path}, {"file://" + path, link}, {"file://localhost" + path + "?cache=shared", path},
		{path, path + "-wal"}, {path, path + "-shm"}, {path, path + "-journal"},
		{path, filepath.Join(dir, ".", "audit.db")},
	} {
		for _, force := range []bool{false, true} {
			args := []string{"export", "--db", tc.db, "--output", tc.output}
			if force {
				args = append(args, "--force")
			}
			r := run(t, "", false, args...)
			if r.code != 2 || !strings.Contains(r.stderr, "is the database being exported") {
				t.Errorf("%v: %+v", args, r)
			}
		}
	}
	if got := size(path); got != dbSize || count(t, s) != 6 {
		t.Fatalf("database changed: %d bytes (was %d)", got, dbSize)
	}
	// The same names read the database.
	odd := filepath.Join(dir, "we?ird%41#name.db")
	if err := os.Symlink(path, odd); err != nil {
		t.Fatal(err)
	}
	for _, db := range []string{"file:" + path + "?mode=ro", "file://localhost" + path, "sqlite:" + odd, odd, "file:" + url.PathEscape(odd)} {
		if r := run(t, "", false, "export", "--db", db); r.code != 0 || strings.Count(r.stdout, "\n") != 6 {
			t.Errorf("export --db %s: %+v", db, r)
		}
	}

	out := filepath.Join(dir, "out.jsonl")
	if err := os.WriteFile(out, []byte("keep me\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "", false, "export", "--db", path, "--output", out); r.code != 1 || !strings.Contains(r.stderr, "already exists; pass --force to replace it") {
		t.Fatalf("existing file: %+v", r)
	}
	if b, _ := os.ReadFile(out); string(b) != "keep me\n" {
		t.Fatalf("existing file changed: %q", b)
	}
	if r := run(t, "", false, "export", "--db", path, "--output", out, "--force"); r.code != 0 {
		t.Fatalf("--force: %+v", r)
	}
	if b, _ := os.ReadFile(out); strings.Count(string(b), "\n") != 6 {
		t.Fatalf("--force wrote %q", b)
	}

	// A failed export (a database without the entries table) leaves no file
	// and no temporary file, and keeps the file it would have replaced.
	bare := filepath.Join(t.TempDir(), "bare.db")
	if err := os.WriteFile(bare, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	outDir := t.TempDir()
	fresh := filepath.Join(outDir, "fresh.csv")
	if r := run(t, "", false, "export", "--db", bare, "--format", "csv", "--output", fresh); r.code != 1 {
		t.Fatalf("export from a bare database: %+v", r)
	}
	kept := filepath.Join(outDir, "kept.csv")
	if err := os.WriteFile(kept, []byte("old export\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "", false, "export", "--db", bare, "--output", kept, "--force"); r.code != 1 {
		t.Fatalf("export from a bare database: %+v", r)
	}
	if b, _ := os.ReadFile(kept); string(b) != "old export\n" {
		t.Fatalf("a failed export replaced the file: %q", b)
	}
	names, _ := os.ReadDir(outDir)
	if len(names) != 1 || names[0].Name() != "kept.csv" {
		t.Fatalf("files left by failed exports: %v", names)
	}
}

// Exporting 20,000 entries streams in constant memory: the heap after the
// export stays within a few MB of the heap before it.
func TestExportMemoryFlat(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	sqlDB, _ := db.DB()
	s, _ := auditstore.New(sqlDB, auditstore.SQLite)
	ch, _ := auditlog.NewChange("an old value that takes some room", "a new value that takes some room too")
	const n = 20_000
	batch := make([]auditlog.Entry, 0, 5_000)
	base := time.Now().Add(-time.Hour)
	for i := 0; i < n; i++ {
		id := int64(i)
		batch = append(batch, auditlog.Entry{Timestamp: base.Add(time.Duration(i) * time.Millisecond), Model: "books", ObjectPK: fmt.Sprint(i),
			ObjectID: &id, ObjectRepr: fmt.Sprintf("Book number %d", i), Changes: auditlog.Changes{"title": ch}, ActorID: "7"})
		if len(batch) == cap(batch) {
			if err := s.Insert(context.Background(), batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	var lines countingWriter
	before := heap()
	var peak uint64
	lines.onLine = func(k int) {
		if k%2_000 == 0 {
			peak = max(peak, heap())
		}
	}
	got, err := auditcli.Export(context.Background(), s, auditcli.ExportOptions{Format: "jsonl"}, auditcli.Env{Stdout: &lines})
	if err != nil || got != n || lines.n != n {
		t.Fatalf("exported %d (%d lines): %v", got, lines.n, err)
	}
	after := heap()
	// Holding the 20,000 entries would take well over 10 MB; a page of
	// auditstore.MaxPageSize entries takes well under 2 MB.
	const slack = 2 << 20
	if after > before+slack || peak > before+slack {
		t.Fatalf("heap grew from %d to %d (peak %d) bytes", before, after, peak)
	}
	t.Logf("heap before %d KB, peak %d KB, after %d KB", before>>10, peak>>10, after>>10)
}

type countingWriter struct {
	n      int
	onLine func(int)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	for _, b := range p {
		if b == '\n' {
			w.n++
			if w.onLine != nil {
				w.onLine(w.n)
			}
		}
	}
	return len(p), nil
}

// demo --once seeds the bookstore and prints a history with every kind of
// change.
func TestDemoOnce(t *testing.T) {
	t.Parallel()
	r := run(t, "", false, "demo", "--once", "--dir", t.TempDir())
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	var text strings.Builder
	for sc.Scan() {
		text.WriteString(sc.Text() + "\n")
	}
	out := text.String()
	for _, want := range []string{"create  alice", "price:", " → ", "promo-spring", "tags: add [", `tags: remove ["sf"]`, "delete  bob", "Seeded"} {
		if !strings.Contains(out, want) {
			t.Fatalf("demo output lacks %q:\n%s", want, out)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	// wrote is signalled after every write, so a reader waits for output
	// instead of polling for it.
	wrote chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{wrote: make(chan struct{}, 1)} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.b.Write(p)
	if s.wrote != nil {
		select {
		case s.wrote <- struct{}{}:
		default:
		}
	}
	return n, err
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serve answers with the UI behind basic auth (from a file, the
// environment, or the command line) or a bearer token, and stops with its
// context.
func TestServe(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"basic-file", "basic-env", "basic-flag", "token"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			serve(t, mode)
		})
	}
}

// testEnv is the environment of the serve tests.
var testEnv = map[string]string{"AUDIT_TOKEN": "0123456789abcdef0123", "AUDIT_BASIC": "auditor:correct-horse"}

// startServe runs serve with args until the returned stop is called, and
// returns its base URL ("" if it did not start).
func startServe(t *testing.T, args ...string) (base string, out, errb *syncBuffer, stop func() int) {
	t.Helper()
	return startCommand(t, append([]string{"serve"}, args...), func(k string) string { return testEnv[k] })
}

// startCommand runs a command that serves until the returned stop is
// called. It waits for the base URL the command prints, woken by each write
// to its stdout, and returns "" if the command exits first.
func startCommand(t *testing.T, args []string, getenv func(string) string) (base string, out, errb *syncBuffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errb = newSyncBuffer(), newSyncBuffer()
	done := make(chan int, 1)
	go func() {
		done <- auditcli.Run(ctx, args, auditcli.Env{Stdout: out, Stderr: errb, Getenv: getenv})
	}()
	stopped, code := false, 0
	stop = func() int {
		if !stopped {
			cancel()
			code, stopped = <-done, true
		}
		return code
	}
	re := regexp.MustCompile(`(https?)://([^/\s]+)/`)
	deadline := time.After(time.Minute)
	for {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1] + "://" + m[2], out, errb, stop
		}
		select {
		case <-out.wrote:
		case c := <-done:
			code, stopped = c, true
			cancel()
			return "", out, errb, stop
		case <-deadline:
			return "", out, errb, stop
		}
	}
}

func serve(t *testing.T, mode string) {
	path, _ := seeded(t)
	var auth []string
	switch mode {
	case "basic-file":
		file := filepath.Join(t.TempDir(), "credentials")
		if err := os.WriteFile(file, []byte("auditor:correct-horse\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		auth = []string{"--basic-auth-file", file}
	case "basic-env":
		auth = []string{"--basic-auth-env", "AUDIT_BASIC"}
	case "basic-flag":
		auth = []string{"--basic-auth", "auditor:correct-horse"}
	case "token":
		auth = []string{"--token-env", "AUDIT_TOKEN"}
	}
	base, out, errb, stop := startServe(t, append([]string{"--db", path, "--addr", "127.0.0.1:0"}, auth...)...)
	if base == "" {
		stop()
		t.Fatalf("serve did not start: %s %s", out.String(), errb.String())
	}
	// Credentials on the command line are visible to other users (ps):
	// serve warns, and no other way of passing them gets the warning.
	if warned := strings.Contains(errb.String(), "visible to other users"); warned != (mode == "basic-flag") {
		t.Errorf("command-line credentials warning: %q", errb.String())
	}
	if strings.Contains(errb.String(), "plain HTTP") {
		t.Errorf("plain HTTP warning on loopback: %q", errb.String())
	}
	cases := []struct {
		user, pass, bearer string
		status             int
	}{{"", "", "", 401}, {"auditor", "wrong", "", 401}, {"auditor", "correct-horse", "", 200}, {"other", "correct-horse", "", 401}}
	if mode == "token" {
		cases = []struct {
			user, pass, bearer string
			status             int
		}{{"", "", "", 401}, {"", "", "not-the-token-at-all", 401}, {"", "", "0123456789abcdef0123", 200}, {"any", "0123456789abcdef0123", "", 200}}
	}
	for _, tc := range cases {
		req, _ := http.NewRequest("GET", base+"/?model=books", nil)
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		if tc.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+tc.bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || (tc.status == 200 && !strings.Contains(string(body), "Dune")) {
			t.Fatalf("%+v: %d", tc, resp.StatusCode)
		}
		if tc.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
			t.Fatal("no challenge")
		}
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d: %s", code, errb.String())
	}
	if strings.Contains(out.String()+errb.String(), "correct-horse") || strings.Contains(out.String()+errb.String(), testEnv["AUDIT_TOKEN"]) {
		t.Fatalf("a credential was printed: %s %s", out.String(), errb.String())
	}
}

// `auditlog history` finds a text key that looks like a number as well as
// an integer key.
func TestHistoryTextKeyThatLooksNumeric(t *testing.T) {
	t.Parallel()
	path, s := seeded(t)
	if err := s.Insert(context.Background(), []auditlog.Entry{{Timestamp: time.Date(2026, 1, 9, 12, 0, 0, 0, time.UTC),
		Action: auditlog.ActionCreate, Model: "skus", ObjectPK: "12345", ObjectRepr: "text-key-sku"}}); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "", false, "history", "--db", path, "skus", "12345"); r.code != 0 || !strings.Contains(r.stdout, "text-key-sku") {
		t.Fatalf("%+v", r)
	}
}

func TestHistoryAsOf(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.db")
	if r := run(t, "", false, "migrate", "--db", "sqlite:"+path); r.code != 0 {
		t.Fatalf("migrate: %+v", r)
	}
	s := openStore(t, path)
	at := func(h int) time.Time { return time.Date(2026, 11, 1, h, 0, 0, 0, time.UTC) }
	ch := func(old, new any) auditlog.Change { c, _ := auditlog.NewChange(old, new); return c }
	id := int64(42)
	es := []auditlog.Entry{
		{Timestamp: at(9), Action: auditlog.ActionCreate, Model: "books", ObjectPK: "42", ObjectID: &id, ObjectRepr: "Dune",
			Changes: auditlog.Changes{"id": ch(nil, 42), "title": ch(nil, "Dune"), "price": ch(nil, 10)}, ActorName: "alice"},
		{Timestamp: at(11), Action: auditlog.ActionUpdate, Model: "books", ObjectPK: "42", ObjectID: &id, ObjectRepr: "Dune",
			Changes: auditlog.Changes{"price": ch(10, 12), "shelves": {M2M: &auditlog.M2MChange{Operation: auditlog.M2MAdd, Objects: []string{"E1\x1b[2J"}}}}, ActorName: "bob"},
		{Timestamp: at(13), Action: auditlog.ActionDelete, Model: "books", ObjectPK: "42", ObjectID: &id, ObjectRepr: "Dune",
			Changes: auditlog.Changes{"id": ch(42, nil), "title": ch("Dune", nil), "price": ch(12, nil)}, ActorName: "carol"},
	}
	if err := s.Insert(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		asOf string
		code int
		want []string
	}{
		{"2026-11-01T10:00Z", 0, []string{"books 42 as of 2026-11-01 10:00:00 UTC, after entry 1 (create 2026-11-01 09:00:00 by alice):", "price    10", "entry 1 (create", "shelves  []"}},
		{"2026-11-01T12:00Z", 0, []string{"price    12", "entry 2 (update 2026-11-01 11:00:00 by bob)", `shelves  [E1\u001b[2J]`, `title    "Dune"`}},
		{"2026-11-01T14:00Z", 0, []string{"deleted by entry 3, these were its last values", "price    12"}},
		{"2026-11-01T08:00Z", 1, []string{"did not exist at 2026-11-01 08:00:00 UTC"}},
		{"yesterday", 2, []string{"--as-of"}},
		// Blank (an unset shell variable): no time, not the whole history
		// nor year 1.
		{"", 2, []string{"--as-of is empty"}},
		{" ", 2, []string{"--as-of is empty"}},
	} {
		r := run(t, "", false, "history", "--db", path, "--as-of", c.asOf, "books", "42")
		out := r.stdout + r.stderr
		if r.code != c.code {
			t.Fatalf("--as-of %s: exit %d, want %d: %s", c.asOf, r.code, c.code, out)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("--as-of %s: no %q in\n%s", c.asOf, w, out)
			}
		}
		if strings.Contains(out, "\x1b") {
			t.Fatalf("terminal escape in output: %q", out)
		}
	}
	if r := run(t, "", false, "history", "--db", path, "--as-of", "2026-11-01", "books", "7"); r.code != 1 || !strings.Contains(r.stderr, "books 7 has no entries") {
		t.Fatalf("unknown object: %+v", r)
	}
	// Before the first entry left, which is no create (the create
	// flushed): unknown, not "did not exist".
	id9 := int64(9)
	if err := s.Insert(context.Background(), []auditlog.Entry{{Timestamp: at(11), Action: auditlog.ActionUpdate, Model: "books", ObjectPK: "9", ObjectID: &id9, ObjectRepr: "Emma",
		Changes: auditlog.Changes{"price": ch(10, 12)}}}); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "", false, "history", "--db", path, "--as-of", "2026-11-01T10:00Z", "books", "9"); r.code != 1 || !strings.Contains(r.stderr, "is unknown") || strings.Contains(r.stderr, "did not exist") {
		t.Fatalf("before an update, with no create: %+v", r)
	}
}

// A filter flag given empty or blank (an unset shell variable, as in
// --before "$CUTOFF") is a usage error that names it, and nothing is
// deleted: read as "no filter", it would delete every entry.
func TestEmptyFilterFlagRefused(t *testing.T) {
	t.Parallel()
	path, s := seeded(t)
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"flush", "--db", path, "--before", "", "--yes"}, "--before"},
		{[]string{"flush", "--db", path, "--before=", "--yes"}, "--before"},
		{[]string{"flush", "--db", path, "--before", " ", "--yes"}, "--before"},
		{[]string{"flush", "--db", path, "--model", "", "--yes"}, "--model"},
		{[]string{"flush", "--db", path, "--model", "\t", "--yes"}, "--model"},
		{[]string{"flush", "--db", path, "--model", "books", "--before", "", "--yes"}, "--before"},
		{[]string{"export", "--db", path, "--model", ""}, "--model"},
		{[]string{"export", "--db", path, "--action", ""}, "--action"},
		{[]string{"export", "--db", path, "--actor", " "}, "--actor"},
		{[]string{"export", "--db", path, "--cid", ""}, "--cid"},
		{[]string{"export", "--db", path, "--pk", ""}, "--pk"},
		{[]string{"export", "--db", path, "--search", ""}, "--search"},
		{[]string{"export", "--db", path, "--since", ""}, "--since"},
		{[]string{"export", "--db", path, "--until", " "}, "--until"},
	} {
		r := run(t, "y\n", true, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.flag+" is empty") {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, r.code, r.stderr, tc.flag+" is empty")
		}
		if r.stdout != "" {
			t.Errorf("%q: stdout %q", tc.args, r.stdout)
		}
		if n := count(t, s); n != 6 {
			t.Fatalf("%q: %d entries left, want 6", tc.args, n)
		}
	}
	// With no filter at all, flush still deletes every entry once confirmed.
	if r := run(t, "", false, "flush", "--db", path, "--yes"); r.code != 0 || !strings.Contains(r.stdout, "Deleted 6 entries.") {
		t.Fatalf("flush --yes: %+v", r)
	}
}

// Flags may follow the positional arguments, or sit between them, as in
// most commands; after "--" every argument is positional, so a key that
// begins with "-" can be given. Wrong counts are still named.
func TestFlagsAfterArguments(t *testing.T) {
	t.Parallel()
	path, _ := seeded(t)
	want := run(t, "", false, "history", "--db", path, "--limit", "5", "--tz", "UTC", "books", "1")
	if want.code != 0 {
		t.Fatalf("%+v", want)
	}
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string // "": want.stdout
		stderr string
	}{
		{[]string{"history", "--db", path, "books", "1", "--limit", "5", "--tz", "UTC"}, 0, "", ""},
		{[]string{"history", "books", "1", "--db", path, "--limit=5"}, 0, "", ""},
		{[]string{"history", "books", "--limit", "5", "1", "--db", path}, 0, "", ""},
		{[]string{"history", "--db", path, "books", "--", "1"}, 0, "", ""},
		{[]string{"history", "--db", path, "--", "books", "1"}, 0, "", ""},
		{[]string{"history", "--db", path, "books", "1", "--as-of", "2026-01-02"}, 0, "books 1 as of 2026-01-02", ""},
		{[]string{"history", "--db", path, "--", "books", "-5"}, 0, "No entries.\n", ""},
		{[]string{"history", "--db", path, "--", "books", "--limit"}, 0, "No entries.\n", ""},
		{[]string{"history", "--db", path, "books", "-5"}, 2, "-", "such an argument goes after --"},
		{[]string{"history", "--db", path, "books", "1", "extra"}, 2, "-", "want 2 arguments, got 3"},
		{[]string{"history", "--db", path, "books", "1", "--", "--limit", "5"}, 2, "-", "want 2 arguments, got 4"},
		{[]string{"history", "--db", path, "books", "1", "--as-of"}, 2, "-", "flag needs an argument: -as-of"},
		{[]string{"history", "--db", path, "books"}, 2, "-", "want 2 arguments, got 1"},
		{[]string{"flush", "--db", path, "extra", "--yes"}, 2, "-", `unexpected argument: this command takes none`},
		{[]string{"export", "--db", path, "--", "--model"}, 2, "-", `unexpected argument: this command takes none`},
		{[]string{"prove", "--db", path, "--", "-1"}, 2, "-", "ENTRY_ID must be a positive integer"},
		{[]string{"history", "books", "1", "-h"}, 0, "-", "-as-of"},
	} {
		r := run(t, "", false, tc.args...)
		wantOut := tc.stdout
		if wantOut == "" {
			wantOut = want.stdout
		}
		if r.code != tc.code || wantOut != "-" && !strings.Contains(r.stdout, wantOut) || !strings.Contains(r.stderr, tc.stderr) {
			t.Errorf("%q: exit %d\nstdout: %s\nstderr: %s\nwant exit %d, %q on stderr", tc.args, r.code, r.stdout, r.stderr, tc.code, tc.stderr)
		}
	}
}

// history refuses an empty MODEL or KEY (an unset shell variable), which
// named no object and printed "No entries.".
func TestHistoryEmptyModelOrKey(t *testing.T) {
	t.Parallel()
	path, _ := seeded(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"", ""}, "MODEL is empty"},
		{[]string{"", "1"}, "MODEL is empty"},
		{[]string{" ", "1"}, "MODEL is empty"},
		{[]string{"books", ""}, "KEY is empty"},
		{[]string{"--as-of", "7d", "books", ""}, "KEY is empty"},
	} {
		r := run(t, "", false, append([]string{"history", "--db", path}, tc.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
			t.Errorf("%q: exit %d\nstdout: %s\nstderr: %s\nwant exit 2 and %q", tc.args, r.code, r.stdout, r.stderr, tc.want)
		}
	}
}

// A demo in a directory that holds one already asks before it replaces
// its file, and without a terminal needs --yes.
func TestDemoAsksBeforeReplacingItsFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if r := run(t, "", false, "demo", "--once", "--dir", dir); r.code != 0 {
		t.Fatalf("first demo: %+v", r)
	}
	path := filepath.Join(dir, "bookstore.db")
	first, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		stdin    string
		terminal bool
		want     string
	}{{"", false, "pass --yes"}, {"n\n", true, "nothing was replaced"}} {
		r := run(t, c.stdin, c.terminal, "demo", "--once", "--dir", dir)
		if now, err := os.Stat(path); r.code == 0 || !strings.Contains(r.stderr, c.want) || err != nil || !os.SameFile(first, now) || now.ModTime() != first.ModTime() {
			t.Fatalf("terminal %v: %+v", c.terminal, r)
		}
	}
	if r := run(t, "", false, "demo", "--once", "--dir", dir, "--yes"); r.code != 0 || !strings.Contains(r.stdout, "Seeded") {
		t.Fatalf("--yes: %+v", r)
	}
	if r := run(t, "y\n", true, "demo", "--once", "--dir", dir); r.code != 0 || !strings.Contains(r.stdout, "Seeded") {
		t.Fatalf("answered yes: %+v", r)
	}
}
