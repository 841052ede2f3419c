package auditcli

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	_ "github.com/glebarez/go-sqlite" // database/sql driver "sqlite"
	mysqldrv "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/go-auditlog/auditlog/auditstore"
)

// Target is a parsed --db value.
type Target struct {
	Dialect auditstore.Dialect
	Driver  string
	DSN     string // what the driver receives
	Display string // what messages show: no password
	Path    string // SQLite file
}

const dsnHelp = `use sqlite:PATH (or a plain file path), postgres://user@host:5432/db, or mysql://user:pass@host:3306/db`

// ParseDSN reads a --db value: sqlite:PATH or a plain path,
// postgres://… or postgresql://…, mysql://user:pass@host:port/db?params.
func ParseDSN(s string) (Target, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Target{}, errors.New("--db is required: " + dsnHelp)
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
		return Target{Dialect: auditstore.Postgres, Driver: "pgx", DSN: s, Display: u.Redacted()}, nil
	case scheme == "mysql" || scheme == "mariadb":
		u, err := url.Parse(s)
		if err != nil || u.Host == "" || strings.Trim(u.Path, "/") == "" {
			return Target{}, fmt.Errorf("invalid MySQL DSN: %s", dsnHelp)
		}
		cfg := mysqldrv.NewConfig()
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
		cfg.Net, cfg.Addr, cfg.DBName = "tcp", u.Host, strings.Trim(u.Path, "/")
		cfg.ParseTime, cfg.Loc = true, time.UTC
		cfg.InterpolateParams = true // one round trip per query instead of prepare, execute, close
		if cfg.Params == nil {
			cfg.Params = map[string]string{}
		}
		for k, v := range u.Query() {
			cfg.Params[k] = v[0]
		}
		return Target{Dialect: auditstore.MySQL, Driver: "mysql", DSN: cfg.FormatDSN(), Display: u.Redacted()}, nil
	}
	return Target{}, fmt.Errorf("unknown database scheme %q: %s", scheme, dsnHelp)
}

// sqliteTarget is the SQLite file at path, taken literally.
func sqliteTarget(path string) (Target, error) {
	return sqliteFile(path, "")
}

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
	// An SQLite URI: '%', '?' and '#' in the path are escaped so that they
	// stay part of the file name.
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	dsn := "file:" + esc + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate"
	if query != "" {
		dsn += "&" + query
	}
	return Target{Dialect: auditstore.SQLite, Driver: "sqlite", DSN: dsn, Display: path, Path: path}, nil
}

// Open connects to the target and checks that the server answers. For SQLite
// the file must exist unless create is set.
func (t Target) Open(ctx context.Context, create bool) (*sql.DB, error) {
	if t.Dialect == auditstore.SQLite && !create {
		if _, err := os.Stat(t.Path); err != nil {
			return nil, fmt.Errorf("sqlite: %s does not exist", t.Path)
		}
	}
	db, err := sql.Open(t.Driver, t.DSN)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Display, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("cannot connect to %s: %s", t.Display, oneLine(err))
	}
	return db, nil
}

// oneLine keeps driver errors to one readable line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
