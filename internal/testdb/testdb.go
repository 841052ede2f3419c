// Package testdb opens isolated real databases for tests: a SQLite file
// always, and a fresh PostgreSQL schema or MariaDB/MySQL database when
// AUDITLOG_TEST_POSTGRES_DSN or AUDITLOG_TEST_MYSQL_DSN is set. A set
// variable whose server cannot be reached fails the test rather than
// skipping it.
//
// SQLite is opened through the driver AUDITLOG_TEST_SQLITE_DRIVER names:
// glebarez, ncruces or mattn (the last needs cgo and -tags auditlog_mattn);
// unset is the default driver of package sqlitedriver.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/pgdsn"
	"github.com/go-auditlog/auditlog/internal/sqlitedriver"
	_ "github.com/go-auditlog/auditlog/internal/sqlitedriver/drivers" // the SQLite drivers
)

// Environment variables naming the test servers.
const (
	PostgresEnv     = "AUDITLOG_TEST_POSTGRES_DSN"
	MySQLEnv        = "AUDITLOG_TEST_MYSQL_DSN"
	SQLiteDriverEnv = "AUDITLOG_TEST_SQLITE_DRIVER"
)

// SQLiteDriver returns the SQLite driver this run uses, chosen by
// AUDITLOG_TEST_SQLITE_DRIVER. A name that is unknown or not built in fails
// the test.
func SQLiteDriver(t testing.TB) *sqlitedriver.Driver {
	t.Helper()
	d, err := sqlitedriver.Lookup(os.Getenv(SQLiteDriverEnv))
	if err != nil {
		t.Fatalf("testdb: %s: %v", SQLiteDriverEnv, err)
	}
	return d
}

// OpenSQLiteFile opens the SQLite file at path with this run's driver, the
// recommended settings and the extra pragmas ("secure_delete(1)"), without
// migrating it. It is closed when the test ends.
func OpenSQLiteFile(t testing.TB, path string, cfg *gorm.Config, pragmas ...string) *gorm.DB {
	t.Helper()
	return OpenSQLiteWith(t, SQLiteDriver(t), path, cfg, pragmas...)
}

// SQLiteDrivers returns every SQLite driver linked into this test binary:
// glebarez and ncruces, or glebarez and mattn with -tags auditlog_mattn.
func SQLiteDrivers(t testing.TB) []*sqlitedriver.Driver {
	t.Helper()
	var ds []*sqlitedriver.Driver
	for _, name := range sqlitedriver.Linked() {
		d, err := sqlitedriver.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	return ds
}

// OpenSQLiteWith is OpenSQLiteFile through the given driver.
func OpenSQLiteWith(t testing.TB, d *sqlitedriver.Driver, path string, cfg *gorm.Config, pragmas ...string) *gorm.DB {
	t.Helper()
	if cfg == nil {
		cfg = gormConfig()
	}
	db, err := gorm.Open(d.Dialector(nil, d.DSN(path, pragmas...)), cfg)
	if err != nil {
		t.Fatalf("testdb: open %s with %s: %v", path, d.Name, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sqlDB.Close() })
	return db
}

// Names lists the databases available to this run: "sqlite" always, then
// "postgres" and "mysql" when their variables are set.
func Names() []string {
	names := []string{"sqlite"}
	if os.Getenv(PostgresEnv) != "" {
		names = append(names, "postgres")
	}
	if os.Getenv(MySQLEnv) != "" {
		names = append(names, "mysql")
	}
	return names
}

// ForEach runs fn as a parallel subtest on each available database, each
// with a fresh isolated database that has the entries table migrated.
func ForEach(t *testing.T, fn func(t *testing.T, db *gorm.DB)) {
	t.Helper()
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, Open(t, name))
		})
	}
}

// Open returns a fresh isolated database of the named kind with the entries
// table migrated. It is removed when the test ends.
func Open(t testing.TB, name string) *gorm.DB {
	t.Helper()
	db := OpenEmpty(t, name)
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	d, err := auditstore.ParseDialect(db.Dialector.Name())
	if err != nil {
		t.Fatal(err)
	}
	if err := auditstore.Migrate(context.Background(), sqlDB, d); err != nil {
		t.Fatalf("migrate %s: %v", name, err)
	}
	return db
}

var gormConfig = func() *gorm.Config {
	return &gorm.Config{Logger: logger.Default.LogMode(logger.Silent)}
}

// OpenEmpty is Open without the migration.
func OpenEmpty(t testing.TB, name string) *gorm.DB {
	t.Helper()
	db, _ := openEmpty(t, name)
	return db
}

// OpenWithDSN is Open, and also returns a DSN that reaches the same isolated
// database, for a child process.
func OpenWithDSN(t testing.TB, name string) (*gorm.DB, string) {
	t.Helper()
	_, dsn := openEmpty(t, name)
	db, err := gorm.Open(Dialector(t, name, nil, dsn), gormConfig())
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, _ := db.DB()
	t.Cleanup(func() { _ = sqlDB.Close() })
	d, _ := auditstore.ParseDialect(db.Dialector.Name())
	if err := auditstore.Migrate(context.Background(), sqlDB, d); err != nil {
		t.Fatal(err)
	}
	return db, dsn
}

func openEmpty(t testing.TB, name string) (*gorm.DB, string) {
	t.Helper()
	var (
		db  *gorm.DB
		dsn string
		err error
	)
	switch name {
	case "sqlite":
		d := SQLiteDriver(t)
		dsn = d.DSN(filepath.Join(t.TempDir(), "test.db"))
		db, err = gorm.Open(d.Dialector(nil, dsn), gormConfig())
	case "postgres":
		db, dsn, err = openPostgres(t)
	case "mysql":
		db, dsn, err = openMySQL(t)
	default:
		t.Fatalf("testdb: unknown database %q", name)
	}
	if err != nil {
		t.Fatalf("testdb: open %s: %v", name, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	if name == "sqlite" {
		// One writer at a time is SQLite's model; more connections only wait.
		sqlDB.SetMaxOpenConns(4)
	} else {
		sqlDB.SetMaxOpenConns(24)
	}
	t.Cleanup(func() { _ = sqlDB.Close() })
	return db, dsn
}

func randomName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "auditlog_t_" + hex.EncodeToString(b)
}

var (
	adminMu sync.Mutex
	admins  = map[string]*sql.DB{}
)

func admin(kind, driver, dsn string) (*sql.DB, error) {
	adminMu.Lock()
	defer adminMu.Unlock()
	if db, ok := admins[kind]; ok {
		return db, nil
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, err
	}
	if err := db.Ping(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("%s server from %s is unreachable: %w", kind, kind, err)
	}
	db.SetMaxOpenConns(4)
	admins[kind] = db
	return db, nil
}

func openPostgres(t testing.TB) (*gorm.DB, string, error) {
	dsn := os.Getenv(PostgresEnv)
	base, err := gorm.Open(postgres.Open(dsn), gormConfig())
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", PostgresEnv, err)
	}
	baseSQL, err := base.DB()
	if err != nil {
		return nil, "", err
	}
	baseSQL.SetMaxOpenConns(2)
	schema := randomName()
	if err := base.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		_ = baseSQL.Close()
		return nil, "", fmt.Errorf("%s: create schema: %w", PostgresEnv, err)
	}
	t.Cleanup(func() {
		_ = base.Exec("DROP SCHEMA " + schema + " CASCADE").Error
		_ = baseSQL.Close()
	})
	scoped := pgdsn.WithSearchPath(dsn, schema)
	db, err := gorm.Open(postgres.Open(scoped), gormConfig())
	return db, scoped, err
}

func openMySQL(t testing.TB) (*gorm.DB, string, error) {
	cfg, err := mysqldrv.ParseDSN(os.Getenv(MySQLEnv))
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", MySQLEnv, err)
	}
	cfg.ParseTime = true
	cfg.InterpolateParams = true
	adminCfg := cfg.Clone()
	adminCfg.DBName = ""
	adm, err := admin("mysql", "mysql", adminCfg.FormatDSN())
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", MySQLEnv, err)
	}
	name := randomName()
	if _, err := adm.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		return nil, "", fmt.Errorf("%s: create database: %w", MySQLEnv, err)
	}
	t.Cleanup(func() { _, _ = adm.Exec("DROP DATABASE " + name) })
	cfg.DBName = name
	db, err := gorm.Open(mysql.Open(cfg.FormatDSN()), gormConfig())
	return db, cfg.FormatDSN(), err
}

// Retryable reports whether err is a serialization failure, a deadlock or
// a busy database, which an application retries: by the driver's error
// code, never by the text of the message.
func Retryable(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "40001" || pg.Code == "40P01"
	}
	var my *mysqldrv.MySQLError
	if errors.As(err, &my) {
		return my.Number == 1213
	}
	var lite interface{ Code() int }
	if errors.As(err, &lite) {
		switch lite.Code() & 0xff {
		case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED
			return true
		}
	}
	return false
}
