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
type Counter struct {
	n          atomic.Int64
	prepared   atomic.Int64
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
// statements of one transaction); after a statement prepared on the pool
// and run in a transaction (told through RanPrepared), whose run the
// wrapper does not see, just before the transaction's next statement or its end,
// whether that statement was a query or not. nil removes it.
func (c *Counter) AfterQuery(fn func(ctx context.Context, query string)) {
	if fn == nil {
		c.afterQuery.Store(nil)
		return
	}
	c.afterQuery.Store(&fn)
}

// Prepared returns the number of statements so far that ran prepared on
// the pool (told through RanPrepared).
func (c *Counter) Prepared() int64 { return c.prepared.Load() }

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
	// ran is the last statement of the pool run in the transaction, whose
	// AfterQuery hook has not run yet: the wrapper does not see when such a
	// statement runs, only that it is about to, so the hook runs just before
	// the transaction's next statement (or its end), still between the two.
	ran *ranStmt
}

type ranStmt struct {
	ctx   context.Context
	query string
}

// after runs the AfterQuery hook of the statement run through StmtContext
// before this point, if any.
func (t *tx) after() {
	r := t.ran
	t.ran = nil
	if fn := t.c.afterQuery.Load(); fn != nil && r != nil {
		(*fn)(r.ctx, r.query)
	}
}

// StmtContext implements gorm.Tx.
func (t *tx) StmtContext(ctx context.Context, s *sql.Stmt) *sql.Stmt {
	return t.tx.StmtContext(ctx, s)
}

// RanPrepared is told of each run of a statement of the pool in the
// transaction (auditgorm's prepared statements), which it counts by text,
// as the wrapper does not see the run itself.
func (t *tx) RanPrepared(ctx context.Context, q string) {
	t.after()
	t.c.count(ctx, q)
	t.c.prepared.Add(1)
	t.ran = &ranStmt{ctx, q}
}

// GetDBConn implements gorm.GetDBConnector: the pool of the transaction.
func (t *tx) GetDBConn() (*sql.DB, error) { return t.db, nil }

func (t *tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	t.after()
	return t.counted.ExecContext(ctx, q, args...)
}

func (t *tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	t.after()
	return t.counted.QueryContext(ctx, q, args...)
}

func (t *tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	t.after()
	return t.counted.QueryRowContext(ctx, q, args...)
}

func (t *tx) Commit() error   { t.after(); return t.tx.Commit() }
func (t *tx) Rollback() error { t.after(); return t.tx.Rollback() }
