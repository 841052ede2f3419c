package auditcli_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/go-auditlog/auditlog/auditcli"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// The passwords of the test DSNs: a plain one, and one that needs escaping
// in a URL and quoting in the keyword form.
const (
	plainPassword  = "S3cretPw0rd"
	trickyPassword = "Tr1cky@ss w:rd/%'x"
)

// passwordForms are the ways a password may be written in a DSN.
func passwordForms(pw string) []string {
	userinfo := strings.TrimPrefix(url.UserPassword("u", pw).String(), "u:")
	forms := []string{pw, url.QueryEscape(pw), url.PathEscape(pw), userinfo, strings.ReplaceAll(pw, "'", `\'`)}
	for i := 0; i+6 <= len(pw); i++ { // and no piece of it
		forms = append(forms, pw[i:i+6])
	}
	return forms
}

type secretDSN struct {
	name string
	dsn  string
	pw   string
	good bool // the commands can work with it
}

// keyword renders a keyword/value PostgreSQL DSN, quoting the password.
func keyword(host, port, user, pw, db string, extra ...string) string {
	q := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(pw)
	return strings.Join(append([]string{"host=" + host, "port=" + port, "user=" + user, "password='" + q + "'", "dbname=" + db}, extra...), " ")
}

func secretDSNs(t *testing.T) []secretDSN {
	p := plainPassword
	ds := []secretDSN{
		{"postgres URL, unreachable", "postgres://postgres:" + p + "@127.0.0.1:1/x?connect_timeout=2", p, false},
		{"postgresql URL, password in the query", "postgresql://postgres@127.0.0.1:1/x?connect_timeout=2&password=" + p, p, false},
		{"keyword form, unreachable", "host=127.0.0.1 port=1 user=postgres password=" + p + " dbname=x connect_timeout=2", p, false},
		{"keyword form, spaces around =", "host = 127.0.0.1 port = 1 password = " + p + " connect_timeout=2", p, false},
		{"keyword form, quoted", keyword("127.0.0.1", "1", "postgres", trickyPassword, "x", "connect_timeout=2"), trickyPassword, false},
		{"keyword form, unterminated quote", "host=h password='" + p, p, false},
		{"mysql URL, unreachable", "mysql://root:" + p + "@127.0.0.1:1/x?timeout=2s", p, false},
		{"mysql URL, no database", "mysql://root:" + p + "@127.0.0.1:1", p, false},
		{"mysql driver form, unreachable", "root:" + p + "@tcp(127.0.0.1:1)/x?timeout=2s", p, false},
		{"mysql driver form, bad parameter", "root:" + p + "@tcp(127.0.0.1:1)/x?timeout=forever", p, false},
		{"mysql driver form, no address", "root:" + p + "@/x?timeout=2s", p, false},
		{"mysql driver form, no address, one-letter user", "u:" + p + "@/x?timeout=2s", p, false},
		{"mysql driver form, no address, a path for the database", "u:" + p + "@/tmp/x.db", p, false},
		{"unknown scheme", "oracle://scott:" + p + "@db/x", p, false},
		{"unparsable URL", "postgres://postgres:" + p + "@[::1/x", p, false},
	}
	if os.Getenv(testdb.PostgresEnv) != "" {
		_, dsn := testdb.OpenWithDSN(t, "postgres")
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("the PostgreSQL test DSN must be a URL here: %v", err)
		}
		host, port, _ := net.SplitHostPort(u.Host)
		db := strings.TrimPrefix(u.Path, "/")
		schema := u.Query().Get("search_path")
		withPW := func(pw, db string) string {
			v := *u
			v.User = url.UserPassword(u.User.Username(), pw)
			v.Path = "/" + db
			return v.String()
		}
		ds = append(ds,
			secretDSN{"postgres URL", withPW(p, db), p, true},
			secretDSN{"postgres URL, tricky password", withPW(trickyPassword, db), trickyPassword, true},
			secretDSN{"keyword form", keyword(host, port, u.User.Username(), p, db, "sslmode=disable", "search_path="+schema), p, true},
			secretDSN{"keyword form, tricky password", keyword(host, port, u.User.Username(), trickyPassword, db, "sslmode=disable", "search_path="+schema), trickyPassword, true},
			secretDSN{"postgres URL, bad database", withPW(p, "no_such_database"), p, false},
			secretDSN{"keyword form, bad database", keyword(host, port, u.User.Username(), p, "no_such_database", "sslmode=disable"), p, false},
		)
	}
	if os.Getenv(testdb.MySQLEnv) != "" {
		gdb, dsn := testdb.OpenWithDSN(t, "mysql")
		cfg, err := mysqldrv.ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		user := fmt.Sprintf("pw_%d", time.Now().UnixNano()%1_000_000_000)
		for _, host := range []string{"%", "localhost", "127.0.0.1"} {
			if err := gdb.Exec(fmt.Sprintf("CREATE USER '%s'@'%s' IDENTIFIED BY '%s'", user, host, p)).Error; err != nil {
				t.Fatal(err)
			}
			if err := gdb.Exec(fmt.Sprintf("GRANT ALL ON `%s`.* TO '%s'@'%s'", cfg.DBName, user, host)).Error; err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = gdb.Exec(fmt.Sprintf("DROP USER '%s'@'%s'", user, host)).Error })
		}
		ds = append(ds,
			secretDSN{"mysql URL", "mysql://" + user + ":" + p + "@" + cfg.Addr + "/" + cfg.DBName, p, true},
			secretDSN{"mysql driver form", user + ":" + p + "@tcp(" + cfg.Addr + ")/" + cfg.DBName + "?parseTime=true", p, true},
			secretDSN{"mysql URL, wrong password", "mysql://" + user + ":" + p + "x@" + cfg.Addr + "/" + cfg.DBName, p + "x", false},
			secretDSN{"mysql driver form, bad database", user + ":" + p + "@tcp(" + cfg.Addr + ")/no_such_database", p, false},
		)
		if cfg.Addr == "127.0.0.1:3306" || cfg.Addr == "localhost:3306" {
			// The driver's default address: the form without one works.
			ds = append(ds, secretDSN{"mysql driver form, no address", user + ":" + p + "@/" + cfg.DBName + "?parseTime=true", p, true})
		}
	}
	return ds
}

// No command prints a password given in --db, in any DSN form, whatever
// happens: startup lines, usage and flag errors, unknown commands, driver
// errors for unreachable servers, wrong passwords and missing databases.
func TestNoPasswordInOutput(t *testing.T) {
	t.Parallel()
	for _, d := range secretDSNs(t) {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "out.jsonl")
			D := d.dsn
			commands := [][]string{
				{"migrate", "--db", D},
				{"migrate", "--print", "--db", D},
				{"flush", "--db", D, "--yes", "--model", "none"},
				{"flush", "--db", D, "--yes"},
				{"flush", "--db", D},
				{"flush", "--db", D, "--before", "soon"},
				{"flush", "--db", D, "--batch", D},
				{"export", "--db", D, "--model", "none"},
				{"export", "--db", D, "--format", "xml"},
				{"export", "--db", D, "--output", out},
				{"export", "--db=" + D, "--bogus"},
				{"export", D},
				{"history", "--db", D, "books", "1"},
				{"history", "--db", D},
				{"history", "--db", D, "--limit", D, "books", "1"},
				{"serve", "--db", D},
				{"serve", "--db", D, "--addr", "127.0.0.1:0", "--token-env", "AUDIT_TOKEN"},
				{"serve", "-db", D, "--addr", D, "--token-env", "AUDIT_TOKEN"},
				{"demo", "--db", D},
				{"frobnicate", "--db", D},
				{D},
				{"help", D},
			}
			mustWork := map[int]bool{0: true, 2: true, 7: true, 12: true}
			for i, args := range commands {
				ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
				var stdout, stderr bytes.Buffer
				code := auditcli.Run(ctx, args, auditcli.Env{Stdin: strings.NewReader("y\n"), Stdout: &stdout, Stderr: &stderr,
					Getenv: func(k string) string { return map[string]string{"AUDIT_TOKEN": "0123456789abcdef0123"}[k] }})
				cancel()
				for _, form := range passwordForms(d.pw) {
					if strings.Contains(stdout.String(), form) || strings.Contains(stderr.String(), form) {
						t.Errorf("%q: the password appears in the output (exit %d):\nstdout: %s\nstderr: %s", args, code, stdout.String(), stderr.String())
						break
					}
				}
				if d.good && mustWork[i] && code != 0 {
					t.Errorf("%q: exit %d: %s", args, code, stderr.String())
				}
				if d.good && i == 16 && !strings.Contains(stdout.String(), "Serving the audit log of") {
					t.Errorf("%q: serve did not start: %s %s", args, stdout.String(), stderr.String())
				}
			}
		})
	}
}

// A one-letter password is hidden in the DSN a message shows, and the
// rest of the message stays readable: the letter is not replaced inside
// other words.
func TestOneLetterPasswordKeepsMessagesReadable(t *testing.T) {
	t.Parallel()
	dsn := "postgres://u:a@127.0.0.1:1/test?connect_timeout=1"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate", "--db", dsn}, `auditlog: unknown command: the first argument names none`},
		{[]string{"history", "--db", dsn, "--limit", "0", "books", "1"}, "auditlog history: --limit must be from 1 to"},
		{[]string{"history", "--db=" + dsn + "&bad", "books", "1"}, "auditlog history:"},
	} {
		r := run(t, "", false, c.args...)
		if !strings.Contains(r.stderr, c.want) {
			t.Errorf("%q: no %q in\n%s", c.args, c.want, r.stderr)
		}
		if strings.Contains(r.stderr+r.stdout, ":a@") {
			t.Errorf("%q: the password appears in\n%s%s", c.args, r.stdout, r.stderr)
		}
	}
}

// A keyword/value DSN whose password holds backslash-escaped spaces, which
// the PostgreSQL driver fails to parse: its error would echo the DSN with
// only the password's first word masked. No piece of the password shows
// on stdout or stderr, and the reason of the failure does.
func TestNoPasswordPieceInParseError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, dsn, reason string
		pieces            []string
	}{
		{"escaped space, bad port", `host=127.0.0.1 port=bogus password=a\ Secret99xyz`, "invalid port", []string{"Secret99xyz"}},
		{"escaped spaces, bad sslmode", `host=127.0.0.1 sslmode=bogus password=p\ass\ word\ Secret99xyz`, "failed to configure TLS",
			[]string{"Secret99xyz", `word\`, `p\ass`}},
		{"spaces around =", `host=127.0.0.1 port=bogus password = a\ Secret99xyz`, "invalid port", []string{"Secret99xyz"}},
		{"quoted, escaped quote", `host=127.0.0.1 port=bogus password='a\' Secret99xyz'`, "invalid port", []string{"Secret99xyz"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, args := range [][]string{
				{"history", "--db", tc.dsn, "books", "1"},
				{"migrate", "--db", tc.dsn},
				{"serve", "--db", tc.dsn, "--addr", "127.0.0.1:0", "--token-env", "AUDIT_TOKEN"},
			} {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				var stdout, stderr bytes.Buffer
				code := auditcli.Run(ctx, args, auditcli.Env{Stdout: &stdout, Stderr: &stderr,
					Getenv: func(k string) string { return map[string]string{"AUDIT_TOKEN": "0123456789abcdef0123"}[k] }})
				cancel()
				out := stdout.String() + stderr.String()
				if code != 1 {
					t.Errorf("%q: exit %d, want 1: %s", args[0], code, out)
				}
				for _, p := range tc.pieces {
					if strings.Contains(out, p) {
						t.Errorf("%q: %q of the password appears in the output:\n%s", args[0], p, out)
					}
				}
				if strings.Contains(out, "cannot parse `") {
					t.Errorf("%q: the driver's copy of the DSN is shown:\n%s", args[0], out)
				}
				if !strings.Contains(out, tc.reason) {
					t.Errorf("%q: no reason %q in:\n%s", args[0], tc.reason, out)
				}
			}
		})
	}
}

// A SQLite encryption key or authentication password in --db, which the
// driver's errors and the command's own messages echo, is never printed.
func TestNoSQLiteKeyInOutput(t *testing.T) {
	path, _ := seeded(t)
	for _, db := range []string{
		"file:" + path + "?_pragma=textkey('pwGs3cret",
		"sqlite:" + path + "?_pragma=textkey('pwGs3cret')",
		"sqlite:file:" + path + "?_auth_pass=pwGs3cret",
		"file:" + path + "?_pragma=key(%22pwGs3cret%22)&_pragma=nosuch(",
	} {
		r := run(t, "", false, "history", "--db", db, "Book", "1")
		if out := r.stdout + r.stderr; strings.Contains(out, "s3cret") {
			t.Errorf("--db %s: the output shows the key:\n%s", db, out)
		}
	}
}

// An SQLite path written with parameters (sqlite:PATH?_pragma=key(…), or a
// plain path with them) is refused before anything opens or prints it:
// taken literally, the parameters would be part of the file's name, shown
// on every line that names the database, and the key would not be used.
// Parameters go in an SQLite URI, file:PATH?….
func TestSQLitePathWithParametersIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, db := range []string{
		"sqlite:" + dir + "/k.db?_pragma=key('pwGs3cret')",
		dir + "/k.db?_pragma_key=pwGs3cret",
		"sqlite:file:" + dir + "/k.db?_auth_pass=pwGs3cret",
		"sqlite://" + dir + "/k.db?cache=shared&_pragma=textkey(pwGs3cret)",
		// A first parameter without a value.
		"sqlite:" + dir + "/k.db?nolock&_pragma=key('pwGs3cret')",
		"sqlite:" + dir + "/k.db?&_pragma=key('pwGs3cret')",
		dir + "/k.db?_auth&_auth_pass=pwGs3cret",
	} {
		for _, cmd := range [][]string{
			{"migrate", "--db", db},
			{"history", "--db", db, "Book", "1"},
			{"flush", "--db", db, "--yes"},
			{"export", "--db", db},
		} {
			r := run(t, "", false, cmd...)
			if r.code != 2 || !strings.Contains(r.stderr, "file:PATH?") {
				t.Errorf("%s --db %s: exit %d, stderr %q; want 2 and the file: URI advice", cmd[0], db, r.code, r.stderr)
			}
			if out := r.stdout + r.stderr; strings.Contains(out, "s3cret") {
				t.Errorf("%s --db %s: the output shows the key:\n%s", cmd[0], db, out)
			}
		}
	}
	if names, _ := os.ReadDir(dir); len(names) != 0 {
		t.Errorf("files created: %v", names)
	}
	// A file whose name holds a '?' not followed by a parameter is still
	// a file: sqlite:PATH takes it literally.
	odd := filepath.Join(dir, "what?.db")
	if r := run(t, "", false, "migrate", "--db", "sqlite:"+odd); r.code != 0 || !fileExistsT(odd) {
		t.Errorf("migrate --db sqlite:%s: exit %d, %s", odd, r.code, r.stderr)
	}
}

func fileExistsT(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
