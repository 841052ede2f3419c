// Package sqlitedriver knows the SQLite drivers for GORM that auditlog is
// tested with, and the DSN settings each needs for audited writers: WAL, a
// busy timeout, foreign keys, immediate transactions and SQLite's default
// (durable) synchronous setting. Its DSN spellings are the one place in the
// repository that knows how each driver takes them.
//
// The drivers themselves register from the packages beside this one, so
// that a binary links only the drivers it asks for: defaultdriver links the
// default driver, ncruces (mattn when built with -tags auditlog_mattn:
// both register database/sql's "sqlite3", so one binary holds one of
// them); drivers links it and glebarez.
package sqlitedriver

import (
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"

	"gorm.io/gorm"
)

// The drivers' names.
const (
	Glebarez = "glebarez" // github.com/glebarez/sqlite: modernc.org/sqlite, pure Go
	Ncruces  = "ncruces"  // github.com/ncruces/go-sqlite3/gormlite: SQLite compiled to Go, pure Go
	Mattn    = "mattn"    // gorm.io/driver/sqlite: github.com/mattn/go-sqlite3, cgo
)

// Known lists every driver name, linked in or not.
var Known = []string{Glebarez, Ncruces, Mattn}

// Driver is one linked-in SQLite driver.
type Driver struct {
	Name    string // Glebarez, Ncruces or Mattn
	Module  string // the GORM driver's import path
	SQLName string // its database/sql driver name
	// Dialector returns the GORM dialector over an existing pool, or else
	// over a DSN.
	Dialector func(pool gorm.ConnPool, dsn string) gorm.Dialector
}

// OpenSQL opens dsn with the driver's database/sql driver.
func (d *Driver) OpenSQL(dsn string) (*sql.DB, error) { return sql.Open(d.SQLName, dsn) }

// DSN is DSN(d.Name, path, pragmas...).
func (d *Driver) DSN(path string, pragmas ...string) string { return DSN(d.Name, path, pragmas...) }

// Version returns the version of the SQLite library behind db.
func Version(db *sql.DB) (string, error) {
	var v string
	err := db.QueryRow("SELECT sqlite_version()").Scan(&v)
	return v, err
}

var (
	mu      sync.Mutex
	drivers = map[string]*Driver{}
)

// Register makes a linked-in driver known; package drivers calls it.
func Register(d *Driver) {
	mu.Lock()
	defer mu.Unlock()
	drivers[d.Name] = d
}

// Linked returns the names of the drivers linked into this binary, sorted.
func Linked() []string {
	mu.Lock()
	defer mu.Unlock()
	names := make([]string, 0, len(drivers))
	for n := range drivers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Lookup returns the named driver ("" is Default), or an error that says how
// to build it in.
func Lookup(name string) (*Driver, error) {
	if name == "" {
		name = Default
	}
	mu.Lock()
	d, ok := drivers[name]
	mu.Unlock()
	if ok {
		return d, nil
	}
	switch {
	case name == Mattn && Default != Mattn:
		return nil, fmt.Errorf("sqlite driver %q is built in only with -tags %s (it needs cgo, and it and %s both register database/sql's \"sqlite3\", so one binary holds one of them)", name, MattnTag, Ncruces)
	case name == Ncruces && Default == Mattn:
		return nil, fmt.Errorf("sqlite driver %q is not built in with -tags %s, where mattn takes its place: build without the tag", name, MattnTag)
	case slices.Contains(Known, name):
		return nil, fmt.Errorf("sqlite driver %q is not linked into this binary", name)
	}
	return nil, fmt.Errorf("unknown sqlite driver %q: use %s", name, strings.Join(Known, ", "))
}

// MattnTag is the build tag that links the mattn driver in place of
// ncruces, and makes it the default.
const MattnTag = "auditlog_mattn"

// recommended are the settings every audited writer should use, as PRAGMA
// calls: the busy timeout first (ncruces applies them in order), then WAL
// and foreign keys. synchronous is left at SQLite's default, FULL, which
// mattn's driver would otherwise lower to NORMAL.
var recommended = []string{"busy_timeout(10000)", "journal_mode(WAL)", "foreign_keys(1)"}

// DSN returns the DSN of the SQLite file at path for the named driver with
// the recommended settings and immediate transactions, then the extra
// pragmas, each written as a call: "secure_delete(1)".
func DSN(driver, path string, pragmas ...string) string {
	all := append(append([]string(nil), recommended...), pragmas...)
	q := make([]string, 0, len(all)+2)
	switch driver {
	case Mattn:
		// mattn/go-sqlite3 knows a fixed set of _name=value parameters and
		// sets synchronous=NORMAL unless told.
		for _, p := range all {
			name, value := splitPragma(p)
			q = append(q, "_"+name+"="+value)
		}
		q = append(q, "_synchronous=FULL")
	default:
		// modernc (glebarez) and ncruces run each _pragma as PRAGMA name(value).
		for _, p := range all {
			q = append(q, "_pragma="+p)
		}
	}
	q = append(q, "_txlock=immediate")
	return "file:" + path + "?" + strings.Join(q, "&")
}

// splitPragma reads "name(value)".
func splitPragma(p string) (name, value string) {
	name, value, ok := strings.Cut(p, "(")
	if !ok || !strings.HasSuffix(value, ")") {
		panic("sqlitedriver: pragma not written as name(value): " + p)
	}
	return name, strings.TrimSuffix(value, ")")
}

// Linked returns the default driver when this binary registered it
// (cmd/auditlog links it), else the SQLite driver an application linked
// into database/sql itself: mattn or ncruces as "sqlite3", glebarez or
// modernc as "sqlite". A program that embeds the command (auditcli.Run)
// thus uses the driver it already has, and never links a second one that
// would clash with it. The Driver it finds that way has no Dialector.
func LinkedDriver() (*Driver, error) {
	if d, err := Lookup(""); err == nil {
		return d, nil
	}
	for _, name := range []string{"sqlite3", "sqlite"} {
		if !slices.Contains(sql.Drivers(), name) {
			continue
		}
		db, err := sql.Open(name, "")
		if err != nil {
			continue
		}
		pkg := reflect.TypeOf(db.Driver())
		_ = db.Close()
		for pkg.Kind() == reflect.Pointer {
			pkg = pkg.Elem()
		}
		switch path := pkg.PkgPath(); {
		case strings.HasPrefix(path, "github.com/mattn/go-sqlite3"):
			return &Driver{Name: Mattn, Module: path, SQLName: name}, nil
		case strings.HasPrefix(path, "github.com/ncruces/go-sqlite3"):
			return &Driver{Name: Ncruces, Module: path, SQLName: name}, nil
		case strings.HasPrefix(path, "github.com/glebarez/go-sqlite"), strings.HasPrefix(path, "modernc.org/sqlite"):
			return &Driver{Name: Glebarez, Module: path, SQLName: name}, nil
		}
	}
	return nil, errors.New("no SQLite driver is linked into this program: import one (github.com/ncruces/go-sqlite3/driver, github.com/mattn/go-sqlite3 or github.com/glebarez/go-sqlite), or use the auditlog command")
}
