package auditgorm

import (
	"context"
	"database/sql"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/auditstore"
)

// On SQLite the plugin's own statements whose text repeats from write to
// write (the entries' INSERT, the read of the rows an update or delete will
// change, the reads of conflicting rows, join rows and rows by key) run
// prepared: once per connection, then reused by every transaction on it,
// through database/sql's own statements (DB.PrepareContext, Tx.StmtContext).
// Unprepared, SQLite parses a statement's text on every run (13–15 µs for
// the entries' INSERT, a tenth of an audited single-row write).
//
// Not on PostgreSQL: pgx caches its statements by text on each connection
// already, and a pooler's mode is configured there. Not on MySQL: with
// interpolateParams (the recommended setting) a read sent as text comes
// back in the text protocol, and prepared in the binary one, where a FLOAT
// column's value reads otherwise (0.333333 as text, 0.33333334 in binary):
// an entry's values must not depend on whether a statement was prepared
// yet. Prepared statements also stay on a MySQL server, per connection,
// against its max_prepared_stmt_count, and the gain there was within the
// benchmark's noise.
//
// A statement database/sql can reuse across transactions must first be
// prepared on the pool (DB.PrepareContext), which takes a connection of
// its own. Inside a capture the transaction holds one; on a pool of one
// connection (SQLite, often) waiting for another would never end, and on
// a pool that may open more, a new connection to ":memory:" is another,
// empty database. So a capture only notes the texts it ran unprepared,
// and they are prepared after a write's transaction has committed and
// given its connection back (a callback after GORM's commit), when the
// pool has an idle connection to prepare them on, waiting at most
// prepareWait for it (another goroutine may take it first). A text that
// fails to prepare (the entries table does not exist yet) is tried again
// up to preparedTries times and otherwise runs as before, unprepared: the
// statement itself, and its error if it has one, are the same either way.
//
// A transaction's handle on a pool's statement (Tx.StmtContext) stays in
// the transaction until it ends, closed or not: a caller's transaction of
// a million updates would hold two million. So the handles are kept and
// reused per transaction and text (the most recent txStmtsKept of them).

// A text's kind decides the budget it is prepared under: the plugin's own
// statements of few arguments, auditstore's batches, and the application's
// writes the plugin runs itself (an INSERT … RETURNING, an UPDATE or DELETE
// … RETURNING), each apart, so that no kind can take another's places: a
// batch cut into statements that are not prepared costs more than the JSON
// document it replaces, and an application whose writes take many shapes
// (an IN list of every length) must not crowd out the entries' INSERT.
type textKind uint8

const (
	kindOwn textKind = iota
	kindBatch
	kindWrite
	kinds
)

// budgets are the most texts of each kind prepared per pool.
var budgets = [kinds]int32{kindOwn: 64, kindBatch: 32, kindWrite: 64}

// maxPreparedArgs is the most arguments of a statement prepared, unless the
// caller says its text repeats (ExecRepeated).
const maxPreparedArgs = 32

// prepareWait is the longest a write waits, after its commit, for a
// connection to prepare on.
const prepareWait = 50 * time.Millisecond

// txStmtsKept is how many transaction handles on prepared statements are
// kept for reuse, over all transactions.
const txStmtsKept = 256

// preparedTries is how often a text is prepared before it is given up.
const preparedTries = 3

// maxRemembered bounds the texts remembered as run once, and those that
// failed to prepare, per pool: when either is full it is forgotten.
const maxRemembered = 1024

// stmtCache holds the statements prepared on one pool.
type stmtCache struct {
	db    *sql.DB
	stmts sync.Map // text → *sql.Stmt

	mu     sync.Mutex
	wanted map[string]textKind // texts to prepare
	seen   map[string]struct{} // texts run once, unprepared
	tries  map[string]int      // failed preparations by text
	// prepared counts the texts prepared, by kind (written under mu).
	prepared [kinds]atomic.Int32
	off      atomic.Bool // the pool's statements are refused (errOtherPool)
	// cheapBinds: the pool's driver binds many variables quickly.
	cheapBinds bool
	// maxArgs is the most bind variables a statement may carry on the
	// pool's SQLite library, 0 until asked (prepareWanted).
	maxArgs atomic.Int32

	// txStmts are transactions' handles on the pool's statements, the most
	// recent txStmtsKept, in txRing's order.
	txMu    sync.Mutex
	txStmts map[txKey]*sql.Stmt
	txRing  [txStmtsKept]txKey
	txNext  int
}

type txKey struct {
	tx   gorm.Tx
	text string
}

// preparing notes, per plugin, which pools have texts to prepare.
type preparing struct {
	caches sync.Map // *sql.DB → *stmtCache
	wanted atomic.Bool
}

// cacheOf returns the cache of pool db.
func (ps *preparing) cacheOf(db *sql.DB) *stmtCache {
	if c, ok := ps.caches.Load(db); ok {
		return c.(*stmtCache)
	}
	c, _ := ps.caches.LoadOrStore(db, &stmtCache{db: db, wanted: map[string]textKind{}, seen: map[string]struct{}{}, tries: map[string]int{},
		cheapBinds: cheapBinds(db), txStmts: map[txKey]*sql.Stmt{}})
	return c.(*stmtCache)
}

// cheapBinds reports whether db's driver is one that binds a statement's
// variables quickly: ncruces and mattn. Through glebarez (modernc.org/sqlite)
// a 1,000-row batch as prepared INSERTs of a few sizes measured 5–15 %
// slower than one JSON document, through ncruces 10 % faster, through
// mattn 3–7 % (BENCHMARKS.md, "SQLite batches as prepared statements").
// Any other driver, a wrapped one included, keeps the JSON document.
func cheapBinds(db *sql.DB) bool {
	t := reflect.TypeOf(db.Driver())
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return false
	}
	p := t.PkgPath()
	return strings.HasPrefix(p, "github.com/ncruces/go-sqlite3/") || p == "github.com/mattn/go-sqlite3"
}

// want notes that text, of kind k, ran unprepared, without an error, with
// n arguments. A text of many arguments is not noted unless it is a
// batch's (auditstore's inserts of a fixed number of rows): it is a
// statement of many rows whose text differs with their number. Any other
// text is noted the second time it runs, so that texts run once (an IN
// list of one length, literals in a condition) do not take the places of
// those that repeat.
func (ps *preparing) want(c *stmtCache, text string, n int, k textKind) {
	if n > maxPreparedArgs && k != kindBatch {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.wanted[text]; ok || c.off.Load() || c.tries[text] >= preparedTries {
		return
	}
	wanted := int32(0)
	for _, wk := range c.wanted {
		if wk == k {
			wanted++
		}
	}
	if c.prepared[k].Load()+wanted >= budgets[k] {
		return
	}
	if k != kindBatch {
		if _, ok := c.seen[text]; !ok {
			if len(c.seen) >= maxRemembered {
				clear(c.seen)
			}
			c.seen[text] = struct{}{}
			return
		}
		delete(c.seen, text)
	}
	c.wanted[text] = k
	ps.wanted.Store(true)
}

// prepareWanted prepares the texts noted, on pools with an idle connection
// now. It runs after a write's transaction ended, outside any other.
func (ps *preparing) prepareWanted(ctx context.Context) {
	if !ps.wanted.CompareAndSwap(true, false) {
		return
	}
	ps.caches.Range(func(_, v any) bool {
		c := v.(*stmtCache)
		if !c.prepareWanted(ctx) {
			ps.wanted.Store(true) // left for the next write
		}
		return true
	})
}

// prepareWanted prepares c's wanted texts, if the pool has an idle
// connection to prepare them on; it reports whether none are left.
func (c *stmtCache) prepareWanted(ctx context.Context) bool {
	c.mu.Lock()
	texts := make(map[string]textKind, len(c.wanted))
	for t, k := range c.wanted {
		texts[t] = k
	}
	c.mu.Unlock()
	if len(texts) == 0 {
		return true
	}
	if c.db.Stats().Idle == 0 {
		return false
	}
	if c.maxArgs.Load() == 0 {
		// The library's limit, as a statement of that many variables
		// prepares or not: the version alone does not tell it (a build
		// may lower it, a connection may have set its own).
		pctx, cancel := context.WithTimeout(ctx, prepareWait)
		s, err := c.db.PrepareContext(pctx, "SELECT ?"+strconv.Itoa(newMaxVariables))
		timedOut := pctx.Err() != nil || ctx.Err() != nil
		cancel()
		switch {
		case err == nil:
			_ = s.Close()
			c.maxArgs.Store(newMaxVariables)
		case timedOut:
			return false // asked again after the next write
		default:
			c.maxArgs.Store(oldMaxVariables)
		}
	}
	for t, k := range texts {
		if ctx.Err() != nil {
			return false // the caller's context ended: another time
		}
		// Another goroutine may have taken the idle connection since:
		// wait for one no longer than prepareWait.
		pctx, cancel := context.WithTimeout(ctx, prepareWait)
		s, err := c.db.PrepareContext(pctx, t)
		timedOut := pctx.Err() != nil
		cancel()
		c.mu.Lock()
		delete(c.wanted, t)
		switch {
		case err != nil && (timedOut || ctx.Err() != nil):
			// Not the text's fault: noted again at its next run.
		case err != nil:
			if len(c.tries) >= maxRemembered {
				clear(c.tries)
			}
			c.tries[t]++
		default:
			if _, loaded := c.stmts.LoadOrStore(t, s); loaded {
				_ = s.Close()
			} else {
				c.prepared[k].Add(1)
			}
		}
		c.mu.Unlock()
		if timedOut {
			return false
		}
	}
	return true
}

// txStmt returns tx's handle on the pool's statement s of text, made once
// per transaction and text while it is among the most recent kept.
func (c *stmtCache) txStmt(ctx context.Context, tx gorm.Tx, text string, s *sql.Stmt) *sql.Stmt {
	k := txKey{tx, text}
	c.txMu.Lock()
	ts, ok := c.txStmts[k]
	c.txMu.Unlock()
	if ok {
		return ts
	}
	// A transaction runs one statement at a time: no other goroutine makes
	// this handle meanwhile.
	ts = tx.StmtContext(ctx, s)
	c.txMu.Lock()
	defer c.txMu.Unlock()
	if old := c.txRing[c.txNext]; old.tx != nil {
		delete(c.txStmts, old)
	}
	c.txRing[c.txNext] = k
	c.txNext = (c.txNext + 1) % txStmtsKept
	c.txStmts[k] = ts
	return ts
}

// dropTxStmt forgets tx's handle on text, after it failed: the next run
// makes another.
func (c *stmtCache) dropTxStmt(tx gorm.Tx, text string) {
	c.txMu.Lock()
	delete(c.txStmts, txKey{tx, text})
	c.txMu.Unlock()
}

// preparedConn runs statements in tx, prepared where c has them.
type preparedConn struct {
	tx gorm.Tx
	c  *stmtCache
	ps *preparing
	// kind is that of the texts run through it but ExecRepeated's.
	kind textKind
}

// repeater is what auditstore asks of a connection before it cuts a batch
// into statements of fixed sizes (its own, unexported, is the same).
type repeater interface {
	ExecRepeated(ctx context.Context, query string, args ...any) (sql.Result, error)
	Prepares() bool
	MaxArgs() int
}

var (
	_ repeater         = preparedConn{}
	_ repeater         = countingConn{}
	_ gorm.TxCommitter = preparedConn{}
)

// errOtherPool is database/sql's refusal of a statement prepared on another
// pool than the transaction's, raised before anything is sent: a
// connection pool wrapper whose GetDBConn names another pool than the one
// its transactions run on. The statement then runs unprepared, and the
// pool's statements are not used again.
const errOtherPool = "statement from different database"

func (pc preparedConn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return pc.exec(ctx, query, pc.kind, args)
}

// ExecRepeated runs a statement whose text repeats whatever its number of
// arguments (auditstore's batches, in statements of a few fixed sizes).
func (pc preparedConn) ExecRepeated(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return pc.exec(ctx, query, kindBatch, args)
}

// Prepares reports whether auditstore may send a batch as several
// statements of fixed sizes (ExecRepeated) rather than one JSON document:
// statements are prepared on this pool (one has been, and none was
// refused), and its driver binds their many variables quickly.
func (pc preparedConn) Prepares() bool {
	return pc.c.cheapBinds && pc.c.prepared[kindOwn].Load() > 0 && !pc.c.off.Load() && pc.c.prepared[kindBatch].Load() < budgets[kindBatch]
}

// MaxArgs is the most bind variables one statement may carry on the pool's
// SQLite library: 32,766 where a statement of so many prepares, else (and
// until the library has been asked) the limit of every version, 999.
func (pc preparedConn) MaxArgs() int {
	if n := pc.c.maxArgs.Load(); n > 0 {
		return int(n)
	}
	return oldMaxVariables
}

// The default limits of bind variables per statement
// (SQLITE_MAX_VARIABLE_NUMBER): 999 before SQLite 3.32.0, 32,766 since.
const (
	oldMaxVariables = 999
	newMaxVariables = 32766
)

// ranPrepared is a transaction wrapper that wants to know of each statement
// of the pool run through it (a pool that counts or traces statements by
// their text, as the tests' does): it does not see that run otherwise.
type ranPrepared interface {
	RanPrepared(ctx context.Context, query string)
}

// prepared returns tx's handle on query's prepared statement, or nil.
func (pc preparedConn) prepared(ctx context.Context, query string) *sql.Stmt {
	s, ok := pc.c.stmts.Load(query)
	if !ok || pc.c.off.Load() {
		return nil
	}
	if r, ok := pc.tx.(ranPrepared); ok {
		r.RanPrepared(ctx, query)
	}
	return pc.c.txStmt(ctx, pc.tx, query, s.(*sql.Stmt))
}

// failed handles an error of a prepared run: a refusal of the pool's
// statement (nothing was sent) turns preparing off for the pool and
// reports true, to run the statement unprepared; any other error is the
// statement's.
func (pc preparedConn) failed(query string, err error) bool {
	pc.c.dropTxStmt(pc.tx, query)
	if !strings.Contains(err.Error(), errOtherPool) {
		return false
	}
	pc.c.off.Store(true)
	return true
}

func (pc preparedConn) exec(ctx context.Context, query string, k textKind, args []any) (sql.Result, error) {
	return run(ctx, pc, query, k, args, (*sql.Stmt).ExecContext, gorm.Tx.ExecContext)
}

func (pc preparedConn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return run(ctx, pc, query, pc.kind, args, (*sql.Stmt).QueryContext, gorm.Tx.QueryContext)
}

// run runs query on pc: through the pool's statement where it is prepared,
// else in the transaction as it is, noting it to prepare if it succeeds.
func run[R any](ctx context.Context, pc preparedConn, query string, k textKind, args []any,
	prepared func(*sql.Stmt, context.Context, ...any) (R, error),
	unprepared func(gorm.Tx, context.Context, string, ...any) (R, error)) (R, error) {
	if ts := pc.prepared(ctx, query); ts != nil {
		r, err := prepared(ts, ctx, args...)
		if err == nil || !pc.failed(query, err) {
			return r, err
		}
	}
	r, err := unprepared(pc.tx, ctx, query, args...)
	if err == nil {
		pc.ps.want(pc.c, query, len(args), k)
	}
	return r, err
}

// Commit and Rollback make a preparedConn, which GORM gets as the
// connection of the plugin's reads, a transaction to every check of one
// (gorm.TxCommitter): dbresolver, for one, sends a read outside a
// transaction to a pool of its choosing, outside the write's transaction.
// Nothing commits through it.
func (pc preparedConn) Commit() error   { return pc.tx.Commit() }
func (pc preparedConn) Rollback() error { return pc.tx.Rollback() }

// QueryRowContext and PrepareContext make a preparedConn a gorm.ConnPool,
// for the plugin's reads through a GORM session.
func (pc preparedConn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return pc.tx.QueryRowContext(ctx, query, args...)
}

func (pc preparedConn) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return pc.tx.PrepareContext(ctx, query)
}

// conn is the connection the plugin's own statements of a fixed text run
// on: the statement's, preparing them where that pays (above).
func (p *Plugin) conn(db *gorm.DB) gorm.ConnPool {
	return p.connOf(db, kindOwn)
}

// writeConn is the connection the application's write runs on when the
// plugin runs it itself: on SQLite its text, which repeats from write to
// write of the same shape, is prepared like the plugin's own, under a
// budget of its own. GORM's logger and the application's callbacks see
// the statement as before (its text and variables stay the Statement's).
// With GORM's PrepareStmt too: GORM prepares a statement in a transaction
// on that transaction, and database/sql prepares such a statement again in
// every later transaction (Tx.StmtContext), so on SQLite it is parsed on
// every run there.
func (p *Plugin) writeConn(db *gorm.DB) gorm.ConnPool {
	return p.connOf(db, kindWrite)
}

func (p *Plugin) connOf(db *gorm.DB, k textKind) gorm.ConnPool {
	conn := db.Statement.ConnPool
	if p.dialect != auditstore.SQLite || !preparesOn(conn) {
		return conn
	}
	tx := conn.(gorm.Tx)
	pool, err := db.DB()
	if err != nil || pool == nil {
		return conn
	}
	return preparedConn{tx: tx, c: p.prepared.cacheOf(pool), ps: &p.prepared, kind: k}
}

// runOnWriteConn runs GORM's own callback for the write (a join table's
// INSERT or DELETE, whose text repeats from write to write) on writeConn,
// and gives the statement its connection back after.
func (p *Plugin) runOnWriteConn(db *gorm.DB, orig func(*gorm.DB)) {
	saved := db.Statement.ConnPool
	db.Statement.ConnPool = p.writeConn(db)
	defer func() { db.Statement.ConnPool = saved }()
	orig(db)
}

// preparesOn reports whether the plugin may run statements on conn through
// its pool's prepared statements: a *sql.Tx (GORM's PrepareStmt
// transaction over one included), or a wrapper's transaction that can take
// a statement of its pool (gorm.Tx), names that pool (gorm.GetDBConnector)
// and wants to be told of each such run (RanPrepared). A prepared run goes around the
// wrapper's ExecContext and QueryContext, so a wrapper that does not ask
// to be told (a tracer, a guard, one that adds comments to statements)
// sees every statement as before, unprepared.
func preparesOn(conn gorm.ConnPool) bool {
	if ptx, ok := conn.(*gorm.PreparedStmtTX); ok {
		// Over a wrapper, the wrapper would not be told: GORM's
		// transaction stands between.
		_, ok := ptx.Tx.(*sql.Tx)
		return ok
	}
	switch conn.(type) {
	case *sql.Tx:
		return true
	case interface {
		gorm.Tx
		gorm.GetDBConnector
		ranPrepared
	}:
		return true
	}
	return false
}

// prepareAfterCommit is a callback after GORM's commit: the write's
// connection is back in the pool, and the texts the plugin noted can be
// prepared (above). In a caller's transaction it does nothing.
func (p *Plugin) prepareAfterCommit(db *gorm.DB) {
	if !p.prepared.wanted.Load() {
		return
	}
	if _, inTx := db.Statement.ConnPool.(gorm.TxCommitter); inTx {
		return
	}
	ctx := db.Statement.Context
	if ctx == nil {
		ctx = context.Background()
	}
	p.prepared.prepareWanted(ctx)
}
