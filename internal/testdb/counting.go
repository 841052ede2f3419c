package testdb

import (
	"testing"

	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/internal/sqlcount"
)

// OpenCounting is Open, with every statement counted: queries and
// executions on the pool and inside transactions.
func OpenCounting(t testing.TB, name string) (*gorm.DB, *sqlcount.Counter) {
	t.Helper()
	base, dsn := OpenWithDSN(t, name)
	sqlDB, err := base.DB()
	if err != nil {
		t.Fatal(err)
	}
	pool, c := sqlcount.Wrap(sqlDB)
	db, err := gorm.Open(Dialector(t, name, pool, dsn), gormConfig())
	if err != nil {
		t.Fatal(err)
	}
	return db, c
}

// Dialector returns the GORM dialector of the named database (for SQLite,
// through this run's driver), over an existing connection pool or else a DSN.
func Dialector(t testing.TB, name string, pool gorm.ConnPool, dsn string) gorm.Dialector {
	t.Helper()
	switch name {
	case "postgres":
		return postgres.New(postgres.Config{Conn: pool, DSN: dsn})
	case "mysql":
		precision := 3
		return mysql.New(mysql.Config{Conn: pool, DSN: dsn, SkipInitializeWithVersion: pool != nil, DefaultDatetimePrecision: &precision})
	}
	return SQLiteDriver(t).Dialector(pool, dsn)
}
