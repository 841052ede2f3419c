package auditcli

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/pgdsn"
	"github.com/go-auditlog/auditlog/internal/sqlitedriver"
)

// Target is a parsed --db value.
type Target struct {
	Dialect auditstore.Dialect
	Driver  string
	DSN     string // what the driver receives
	Display string // what messages show: no password
	Path    string // SQLite file
}

const dsnHelp = `use sqlite:PATH (or a plain file path), postgres://user@host:5432/db (or host=… dbname=…), or mysql://user:pass@host:3306/db (or user:pass@tcp(host:3306)/db, user:pass@/db)`

// ParseDSN reads a --db value: sqlite:PATH, a plain path or an SQLite
// file: URI; postgres://… or postgresql://…, or PostgreSQL's keyword/value
// form (host=… user=… dbname=…); mysql://user:pass@host:port/db?params, or
// the MySQL driver's form user:pass@tcp(host:port)/db?params (or
// user:pass@/db?params, the local server). Errors never
// quote the value, which may hold a password, and Display shows every
// password as xxxxx.
func ParseDSN(s string) (Target, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Target{}, errors.New("--db is required: " + dsnHelp)
	}
	if pgdsn.IsKeywordForm(s) {
		settings, err := pgdsn.ParseKeywords(s)
		if err != nil {
			return Target{}, fmt.Errorf("invalid PostgreSQL DSN: %w", err)
		}
		return Target{Dialect: auditstore.Postgres, Driver: "pgx", DSN: s, Display: pgdsn.FormatKeywords(pgdsn.RedactKeywords(settings))}, nil
	}
	if isMySQLDriverForm(s) {
		return mysqlDriverTarget(s)
	}
	scheme, rest, hasScheme := strings.Cut(s, ":")
	if hasScheme && len(scheme) == 1 { // a Windows drive letter
		hasScheme = false
	}
	switch {
	case !hasScheme || strings.HasPrefix(s, "/") || strings.HasPrefix(s, "."):
		return sqliteTarget(s)
	case scheme == "sqlite" || scheme == "sqlite3":
		return sqliteTarget(strings.TrimPrefix(rest, "//"))
	case scheme == "file":
		return sqliteURI(s)
	case scheme == "postgres" || scheme == "postgresql":
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return Target{}, fmt.Errorf("invalid PostgreSQL DSN: %s", dsnHelp)
		}
		return Target{Dialect: auditstore.Postgres, Driver: "pgx", DSN: s, Display: redactURL(u)}, nil
	case scheme == "mysql" || scheme == "mariadb":
		u, err := url.Parse(s)
		if err != nil || u.Host == "" || strings.Trim(u.Path, "/") == "" {
			return Target{}, fmt.Errorf("invalid MySQL DSN: %s", dsnHelp)
		}
		// The driver reads the parameters: its options (timeout, tls, …)
		// and, for any other name, a system variable to set.
		cfg, err := mysqldrv.ParseDSN("tcp(" + u.Host + ")/" + strings.Trim(u.Path, "/") + "?" + u.RawQuery)
		if err != nil {
			return Target{}, fmt.Errorf("invalid MySQL DSN: %w", err)
		}
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
		mysqlDefaults(cfg, u.RawQuery)
		return Target{Dialect: auditstore.MySQL, Driver: "mysql", DSN: cfg.FormatDSN(), Display: redactURL(u)}, nil
	}
	return Target{}, fmt.Errorf("unknown database scheme %q: %s", scheme, dsnHelp)
}

// redactURL is u with its password and any parameter that holds one
// (password=, sslpassword=) shown as xxxxx.
func redactURL(u *url.URL) string {
	q := u.Query()
	secret := false
	for k := range q {
		if pgdsn.IsSecretKey(k) {
			q.Set(k, "xxxxx")
			secret = true
		}
	}
	if !secret {
		return u.Redacted()
	}
	v := *u
	v.RawQuery = q.Encode()
	return v.Redacted()
}

// mysqlDefaults sets what the store needs (parseTime) and what makes it
// fast (interpolateParams: one round trip per query instead of prepare,
// execute, close) unless the DSN chose otherwise.
func mysqlDefaults(cfg *mysqldrv.Config, dsn string) {
	cfg.ParseTime = true
	if !strings.Contains(dsn, "interpolateParams=") {
		cfg.InterpolateParams = true
	}
}

// isMySQLDriverForm reports whether s is written in the MySQL driver's own
// form, [user[:pass]@][protocol[(address)]]/db: user:pass@tcp(host:port)/db,
// or user:pass@/db (the driver's default address, the local server). Without
// a protocol, only with a password (a file path may hold an @, seldom a
// password before it), a user part that is no path, and no known scheme
// (sqlite:a:b@/c).
func isMySQLDriverForm(s string) bool {
	if strings.Contains(s, "://") {
		return false
	}
	for _, p := range []string{"@tcp(", "@tcp6(", "@unix("} {
		if strings.Contains(s, p) {
			return true
		}
	}
	at := strings.LastIndex(s, "@")
	if at <= 0 || !strings.HasPrefix(s[at+1:], "/") {
		return false
	}
	name, _, hasPass := strings.Cut(s[:at], ":")
	if !hasPass || name == "" || strings.ContainsAny(name, `/\`) {
		return false
	}
	switch strings.ToLower(name) {
	case "sqlite", "sqlite3", "file", "postgres", "postgresql", "mysql", "mariadb":
		return false
	}
	return true
}

func mysqlDriverTarget(s string) (Target, error) {
	cfg, err := mysqldrv.ParseDSN(s)
	if err != nil || cfg.DBName == "" {
		return Target{}, fmt.Errorf("invalid MySQL DSN: %s", dsnHelp)
	}
	shown := cfg.Clone()
	if shown.Passwd != "" {
		shown.Passwd = "xxxxx"
	}
	for k := range shown.Params {
		if pgdsn.IsSecretKey(k) {
			shown.Params[k] = "xxxxx"
		}
	}
	display := shown.FormatDSN()
	mysqlDefaults(cfg, s)
	return Target{Dialect: auditstore.MySQL, Driver: "mysql", DSN: cfg.FormatDSN(), Display: display}, nil
}

// sqliteTarget is the SQLite file at path, taken literally. A path with
// parameters after a '?' (k.db?_pragma=key(…)) is refused: taken
// literally they would name the file, be shown wherever the database is
// named, and set nothing (a key among them would not be used). They go in
// an SQLite URI, file:PATH?….
func sqliteTarget(path string) (Target, error) {
	if sqliteParams.MatchString(path) {
		return Target{}, errors.New("sqlite: a plain path takes no parameters: write file:PATH?name=value for them (a '?' in a file name is written %3f there)")
	}
	return sqliteFile(path, "")
}

// sqliteParams matches a path that goes on, after a '?', as a query: a
// parameter's name (_pragma, cache, nolock, _auth, …), with a value or
// not, after any '&'.
var sqliteParams = regexp.MustCompile(`\?&*[A-Za-z_][A-Za-z0-9_]*([=&]|$)`)

// sqliteURI reads an SQLite URI filename: file:PATH or file:///PATH (or
// file://localhost/PATH), percent-escaped, with optional ?parameters that
// are passed on to SQLite (mode=ro, cache=shared, …).
func sqliteURI(s string) (Target, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Host != "" && u.Host != "localhost") {
		return Target{}, fmt.Errorf("invalid SQLite URI: %s", dsnHelp)
	}
	path := u.Path
	if u.Opaque != "" {
		if path, err = url.PathUnescape(u.Opaque); err != nil {
			return Target{}, fmt.Errorf("invalid SQLite URI: %s", dsnHelp)
		}
	}
	return sqliteFile(path, u.RawQuery)
}

func sqliteFile(path, query string) (Target, error) {
	if path == "" {
		return Target{}, errors.New("sqlite: the file path is empty: " + dsnHelp)
	}
	d, err := sqlitedriver.LinkedDriver()
	if err != nil {
		return Target{}, err
	}
	if _, err := url.ParseQuery(query); err != nil || strings.Contains(strings.ToLower(query), "%00") {
		// SQLite ends a parameter's name or value at a NUL that Go's
		// reading keeps ("mode=memory%00"): what SQLite reads is not told.
		return Target{}, fmt.Errorf("sqlite: %s do not parse, or hold a NUL (%%00)", dsnHelpShort)
	}
	if inMemory(query) {
		// SQLite would open a database in memory, empty, and the file
		// would stay as it was: a migrate said it was at the latest
		// version, an export found no tables.
		return Target{}, fmt.Errorf("sqlite: %s opens a database in memory, not the file %s: leave out mode=memory and vfs=memdb", dsnHelpShort, path)
	}
	// An SQLite URI: '%', '?' and '#' in the path are escaped so that they
	// stay part of the file name, and control characters, which no URL
	// holds as they are (a tab in a file name). A relative path is written
	// ./PATH, so that a file named :memory: is that file, not the
	// database in memory SQLite's URI of that name opens.
	uri := uriPath(path)
	if !strings.HasPrefix(uri, "/") {
		uri = "./" + uri
	}
	dsn := d.DSN(uri)
	if query != "" {
		dsn += "&" + query
	}
	return Target{Dialect: auditstore.SQLite, Driver: d.SQLName, DSN: dsn, Display: path, Path: path}, nil
}

// dsnHelpShort names the parameters of an SQLite URI in an error.
const dsnHelpShort = "the URI's parameters"

// inMemory reports whether an SQLite URI's parameters open a database in
// memory: mode=memory, or a memory VFS (vfs=memdb, memvfs).
func inMemory(query string) bool {
	q, err := url.ParseQuery(query)
	if err != nil {
		return false
	}
	for k, vs := range q {
		for _, v := range vs {
			v = strings.ToLower(v)
			if strings.EqualFold(k, "mode") && v == "memory" || strings.EqualFold(k, "vfs") && strings.Contains(v, "mem") {
				return true
			}
		}
	}
	return false
}

// Open connects to the target and checks that the server answers. For SQLite
// the file must exist unless create is set.
func (t Target) Open(ctx context.Context, create bool) (*sql.DB, error) {
	if t.Dialect == auditstore.SQLite {
		st, err := os.Stat(t.Path)
		switch {
		case err != nil && !create:
			return nil, fmt.Errorf("sqlite: %s does not exist", t.Path)
		case err == nil && !st.Mode().IsRegular():
			// A device or a named pipe: SQLite would fail on it with a
			// disk I/O error, and leave a journal beside it (/dev/null).
			return nil, fmt.Errorf("sqlite: %s is not a regular file", t.Path)
		}
	}
	db, err := sql.Open(t.Driver, t.DSN)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Display, withoutConnString(err))
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		_ = db.Close()
		if t.Dialect == auditstore.SQLite && strings.Contains(err.Error(), "file is not a database") {
			// Not the driver's words ("invalid _pragma: …"), which name a
			// setting the user never gave.
			return nil, fmt.Errorf("sqlite: %s is not an SQLite database (or one encrypted with another key)", t.Path)
		}
		return nil, oneLineError{"cannot connect to " + t.Display + ": ", withoutConnString(err)}
	}
	return db, nil
}

// withoutConnString is err without the copy of the connection string
// that the PostgreSQL driver puts in a parse error (cannot parse `…`:
// reason): the driver masks a keyword/value password only up to its first
// space, so the copy is dropped whole and the reason kept. The error stays
// the driver's for errors.As.
func withoutConnString(err error) error {
	var pe *pgconn.ParseConfigError
	if err == nil || !errors.As(err, &pe) {
		return err
	}
	return parseConfigError{whole: err, parse: pe}
}

type parseConfigError struct {
	whole error
	parse *pgconn.ParseConfigError
}

func (e parseConfigError) Error() string {
	// The driver writes "cannot parse `CONNSTRING`: MESSAGE[ (CAUSE)]".
	// Without the cause, the last "`: " ends the connection string or
	// comes after it (a message may quote a setting): everything up to it
	// goes.
	full := e.parse.Error()
	rest := full
	cause := ""
	if c := e.parse.Unwrap(); c != nil {
		cause = " (" + c.Error() + ")"
		rest = strings.TrimSuffix(rest, cause)
	}
	reason := "invalid connection settings"
	if i := strings.LastIndex(rest, "`: "); i >= 0 {
		reason = "invalid connection settings: " + rest[i+len("`: "):] + cause
	} else if !strings.HasPrefix(rest, "cannot parse `") {
		reason = full // not the form above: no connection string in it
	}
	if whole := e.whole.Error(); strings.Contains(whole, full) {
		return strings.Replace(whole, full, reason, 1)
	}
	return reason // wrapped in words that may repeat it: the reason alone
}

func (e parseConfigError) Unwrap() error { return e.whole }

// oneLineError shows a driver error on one readable line and keeps it
// for errors.Is and errors.As.
type oneLineError struct {
	prefix string
	err    error
}

func (e oneLineError) Error() string {
	return e.prefix + strings.Join(strings.Fields(e.err.Error()), " ")
}

func (e oneLineError) Unwrap() error { return e.err }

// uriPath escapes path for an SQLite URI filename: '%', '?', '#' and the
// control characters as %XX, which SQLite reads back as the bytes.
func uriPath(path string) string {
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		switch c := path[i]; {
		case c == '%' || c == '?' || c == '#' || c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, "%%%02x", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
