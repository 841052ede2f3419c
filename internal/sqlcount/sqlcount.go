// Package sqlcount wraps a *sql.DB as a GORM connection pool that counts
// the statements sent through it, in and out of transactions (BEGIN and
// COMMIT are not counted). Tests and benchmarks use it to measure how many
// statements auditing adds.
package sqlcount

import (
	"context"
	"database/sql"
	"sync/atomic"

	"gorm.io/gorm"
)

// Counter counts statements.
type Counter struct{ n atomic.Int64 }

// Load returns the number of statements so far.
func (c *Counter) Load() int64 { return c.n.Load() }

// Wrap returns a pool over db that counts into a new Counter.
func Wrap(db *sql.DB) (*Pool, *Counter) {
	c := &Counter{}
	return &Pool{db: db, c: c}, c
}

// Pool is a counting gorm.ConnPool.
type Pool struct {
	db *sql.DB
	c  *Counter
}

func (p *Pool) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	return p.db.PrepareContext(ctx, q)
}

func (p *Pool) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	p.c.n.Add(1)
	return p.db.ExecContext(ctx, q, args...)
}

func (p *Pool) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	p.c.n.Add(1)
	return p.db.QueryContext(ctx, q, args...)
}

func (p *Pool) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	p.c.n.Add(1)
	return p.db.QueryRowContext(ctx, q, args...)
}

func (p *Pool) BeginTx(ctx context.Context, opts *sql.TxOptions) (gorm.ConnPool, error) {
	sqlTx, err := p.db.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &tx{tx: sqlTx, c: p.c}, nil
}

func (p *Pool) GetDBConn() (*sql.DB, error) { return p.db, nil }

type tx struct {
	tx *sql.Tx
	c  *Counter
}

func (t *tx) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	return t.tx.PrepareContext(ctx, q)
}

func (t *tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	t.c.n.Add(1)
	return t.tx.ExecContext(ctx, q, args...)
}

func (t *tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	t.c.n.Add(1)
	return t.tx.QueryContext(ctx, q, args...)
}

func (t *tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	t.c.n.Add(1)
	return t.tx.QueryRowContext(ctx, q, args...)
}

func (t *tx) Commit() error   { return t.tx.Commit() }
func (t *tx) Rollback() error { return t.tx.Rollback() }
