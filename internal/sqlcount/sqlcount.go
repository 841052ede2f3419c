// Package sqlcount wraps a *sql.DB as a GORM connection pool that counts
// the statements sent through it, in and out of transactions (BEGIN and
// COMMIT are not counted). Tests and benchmarks use it to measure how many
// statements auditing adds.
package sqlcount

import (
	"context"
	"database/sql"
	"reflect"
	"sync/atomic"

	"gorm.io/gorm"
)

// Counter counts statements.
type Counter struct {
	n          atomic.Int64
	afterQuery atomic.Pointer[func(ctx context.Context, query string)]
	before     atomic.Pointer[func(ctx context.Context, query string)]
}

// BeforeStatement makes fn run before every statement the pool or its
// transactions send (tests use it to cancel a context at a chosen
// statement). nil removes it.
func (c *Counter) BeforeStatement(fn func(ctx context.Context, query string)) {
	if fn == nil {
		c.before.Store(nil)
		return
	}
	c.before.Store(&fn)
}

func (c *Counter) count(ctx context.Context, q string) {
	c.n.Add(1)
	if fn := c.before.Load(); fn != nil {
		(*fn)(ctx, q)
	}
}

// AfterQuery makes fn run after every query the pool or its transactions
// run, before the caller reads its rows (tests use it to act between two
// statements of one transaction). nil removes it.
func (c *Counter) AfterQuery(fn func(ctx context.Context, query string)) {
	if fn == nil {
		c.afterQuery.Store(nil)
		return
	}
	c.afterQuery.Store(&fn)
}

// Load returns the number of statements so far.
func (c *Counter) Load() int64 { return c.n.Load() }

// Wrap returns a pool over db that counts into a new Counter.
func Wrap(db *sql.DB) (*Pool, *Counter) {
	c := &Counter{}
	return &Pool{counted: counted{inner: db, c: c}, db: db}, c
}

// counted counts the statements of a *sql.DB or *sql.Tx.
type counted struct {
	inner gorm.ConnPool
	c     *Counter
}

func (p counted) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	return p.inner.PrepareContext(ctx, q)
}

func (p counted) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	p.c.count(ctx, q)
	return p.inner.ExecContext(ctx, q, args...)
}

func (p counted) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	p.c.count(ctx, q)
	rows, err := p.inner.QueryContext(ctx, q, args...)
	if fn := p.c.afterQuery.Load(); fn != nil && err == nil {
		(*fn)(ctx, q)
	}
	return rows, err
}

func (p counted) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	p.c.count(ctx, q)
	return p.inner.QueryRowContext(ctx, q, args...)
}

// Pool is a counting gorm.ConnPool whose transactions count too.
type Pool struct {
	counted
	db *sql.DB
}

// BeginTx implements gorm.ConnPoolBeginner.
func (p *Pool) BeginTx(ctx context.Context, opts *sql.TxOptions) (gorm.ConnPool, error) {
	t, err := p.db.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &tx{counted: counted{inner: t, c: p.c}, tx: t, db: p.db}, nil
}

// GetDBConn implements gorm.GetDBConnector.
func (p *Pool) GetDBConn() (*sql.DB, error) { return p.db, nil }

type tx struct {
	counted
	tx *sql.Tx
	db *sql.DB
}

// StmtContext implements gorm.Tx: a statement of the pool, run in the
// transaction, counts once, by its text.
func (t *tx) StmtContext(ctx context.Context, s *sql.Stmt) *sql.Stmt {
	t.c.count(ctx, queryOf(s))
	return t.tx.StmtContext(ctx, s)
}

// queryOf is the text of a prepared statement, which database/sql keeps
// unexported.
func queryOf(s *sql.Stmt) string { return reflect.ValueOf(s).Elem().FieldByName("query").String() }

// GetDBConn implements gorm.GetDBConnector: the pool of the transaction.
func (t *tx) GetDBConn() (*sql.DB, error) { return t.db, nil }

func (t *tx) Commit() error   { return t.tx.Commit() }
func (t *tx) Rollback() error { return t.tx.Rollback() }
