package testdb

import (
	"context"
	"database/sql"
	"sync/atomic"
	"testing"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// Counter counts the SQL statements sent through a counting database.
type Counter struct{ n atomic.Int64 }

// Load returns the number of statements so far.
func (c *Counter) Load() int64 { return c.n.Load() }

// OpenCounting is Open, with every statement counted: queries and
// executions on the pool and inside transactions (BEGIN and COMMIT are not
// statements here).
func OpenCounting(t testing.TB, name string) (*gorm.DB, *Counter) {
	t.Helper()
	base := Open(t, name)
	sqlDB, err := base.DB()
	if err != nil {
		t.Fatal(err)
	}
	c := &Counter{}
	pool := &countingPool{db: sqlDB, c: c}
	var d gorm.Dialector
	switch name {
	case "sqlite":
		d = &sqlite.Dialector{Conn: pool}
	case "postgres":
		d = postgres.New(postgres.Config{Conn: pool})
	case "mysql":
		d = mysql.New(mysql.Config{Conn: pool, SkipInitializeWithVersion: true, DefaultDatetimePrecision: ptr(3)})
	}
	db, err := gorm.Open(d, gormConfig())
	if err != nil {
		t.Fatal(err)
	}
	return db, c
}

func ptr[T any](v T) *T { return &v }

type countingPool struct {
	db *sql.DB
	c  *Counter
}

func (p *countingPool) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	return p.db.PrepareContext(ctx, q)
}

func (p *countingPool) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	p.c.n.Add(1)
	return p.db.ExecContext(ctx, q, args...)
}

func (p *countingPool) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	p.c.n.Add(1)
	return p.db.QueryContext(ctx, q, args...)
}

func (p *countingPool) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	p.c.n.Add(1)
	return p.db.QueryRowContext(ctx, q, args...)
}

func (p *countingPool) BeginTx(ctx context.Context, opts *sql.TxOptions) (gorm.ConnPool, error) {
	tx, err := p.db.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &countingTx{tx: tx, c: p.c}, nil
}

func (p *countingPool) GetDBConn() (*sql.DB, error) { return p.db, nil }

type countingTx struct {
	tx *sql.Tx
	c  *Counter
}

func (t *countingTx) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	return t.tx.PrepareContext(ctx, q)
}

func (t *countingTx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	t.c.n.Add(1)
	return t.tx.ExecContext(ctx, q, args...)
}

func (t *countingTx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	t.c.n.Add(1)
	return t.tx.QueryContext(ctx, q, args...)
}

func (t *countingTx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	t.c.n.Add(1)
	return t.tx.QueryRowContext(ctx, q, args...)
}

func (t *countingTx) Commit() error   { return t.tx.Commit() }
func (t *countingTx) Rollback() error { return t.tx.Rollback() }
