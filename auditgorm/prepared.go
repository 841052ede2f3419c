package auditgorm

import (
	"context"
	"database/sql"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/auditstore"
)

// The plugin's own statements whose text repeats from write to write (the
// entries' INSERT, the read of the rows an update or delete will change,
// the read-back by key) run prepared on SQLite and MySQL: once per
// connection, then reused by every transaction on it, through
// database/sql's own statement (DB.PrepareContext, Tx.StmtContext). On
// SQLite a statement's text is parsed again on every run otherwise (13–15
// µs for the entries' INSERT, a tenth of an audited single-row write); on
// MySQL the driver prepares, executes and closes a statement with
// arguments, a round trip more (with interpolateParams it sends the text,
// which the server parses). The values travel and come back as with the
// driver's own prepared statements. PostgreSQL is left to the driver: pgx
// caches its statements by text on each connection already, and a pooler
// in transaction mode is configured there, not here.
//
// A statement database/sql can reuse across transactions must first be
// prepared on the pool (DB.PrepareContext), which takes a connection of
// its own. Inside a capture the transaction holds one; on a pool of one
// connection (SQLite, often) waiting for another would never end, and on
// a pool that may open more, a new connection to ":memory:" is another,
// empty database. So a capture only notes the texts it ran unprepared,
// and they are prepared after a write's transaction has committed and
// given its connection back (a callback after GORM's commit), when the
// pool has an idle connection to prepare them on. A text that fails to
// prepare (the entries table does not exist yet) is tried again up to
// preparedTries times and otherwise runs as before, unprepared: the
// statement itself, and its error if it has one, are the same either way.

// maxPrepared bounds the texts prepared per pool: the entries' INSERTs
// differ by the columns filled and the rows per statement.
const maxPrepared = 64

// maxPreparedArgs is the most arguments of a statement prepared.
const maxPreparedArgs = 32

// preparedTries is how often a text is prepared before it is given up.
const preparedTries = 3

// stmtCache holds the statements prepared on one pool.
type stmtCache struct {
	db    *sql.DB
	stmts sync.Map // text → *sql.Stmt

	mu     sync.Mutex
	wanted map[string]bool // texts to prepare
	tries  map[string]int  // failed preparations by text
	count  atomic.Int32    // prepared texts (written under mu)
	off    atomic.Bool     // the pool's statements are refused (errOtherPool)
	// cheapBinds: the pool's driver binds many variables quickly.
	cheapBinds bool
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
	c, _ := ps.caches.LoadOrStore(db, &stmtCache{db: db, wanted: map[string]bool{}, tries: map[string]int{}, cheapBinds: cheapBinds(db)})
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

// want notes that text ran unprepared with n arguments. A text of many
// arguments is not noted unless the caller said it repeats (auditstore's
// inserts of a fixed number of rows): it is a statement of many rows whose
// text differs with their number.
func (ps *preparing) want(c *stmtCache, text string, n int, repeats bool) {
	if n > maxPreparedArgs && !repeats {
		return
	}
	c.mu.Lock()
	if !c.wanted[text] && !c.off.Load() && int(c.count.Load())+len(c.wanted) < maxPrepared && c.tries[text] < preparedTries {
		c.wanted[text] = true
		ps.wanted.Store(true)
	}
	c.mu.Unlock()
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
	texts := make([]string, 0, len(c.wanted))
	for t := range c.wanted {
		texts = append(texts, t)
	}
	c.mu.Unlock()
	if len(texts) == 0 {
		return true
	}
	if c.db.Stats().Idle == 0 {
		return false
	}
	for _, t := range texts {
		if ctx.Err() != nil {
			return false // the caller's context ended: another time
		}
		s, err := c.db.PrepareContext(ctx, t)
		c.mu.Lock()
		delete(c.wanted, t)
		if err != nil {
			if ctx.Err() == nil {
				c.tries[t]++
			}
		} else if _, loaded := c.stmts.LoadOrStore(t, s); loaded {
			_ = s.Close()
		} else {
			c.count.Add(1)
		}
		c.mu.Unlock()
	}
	return true
}

// preparedConn runs statements in tx, prepared where c has them.
type preparedConn struct {
	tx gorm.Tx
	c  *stmtCache
	ps *preparing
}

// errOtherPool is database/sql's refusal of a statement prepared on another
// pool than the transaction's, raised before anything is sent: a
// connection pool wrapper whose GetDBConn names another pool than the one
// its transactions run on. The statement then runs unprepared, and the
// pool's statements are not used again.
const errOtherPool = "statement from different database"

func (pc preparedConn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return pc.exec(ctx, query, false, args)
}

// ExecRepeated runs a statement whose text repeats whatever its number of
// arguments (auditstore's batches, in statements of a few fixed sizes).
func (pc preparedConn) ExecRepeated(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return pc.exec(ctx, query, true, args)
}

// Prepares reports whether auditstore may send a batch as several
// statements of fixed sizes (ExecRepeated) rather than one JSON document:
// statements are prepared on this pool (one has been, and none was
// refused), and its driver binds their many variables quickly.
func (pc preparedConn) Prepares() bool {
	return pc.c.cheapBinds && pc.c.count.Load() > 0 && !pc.c.off.Load()
}

func (pc preparedConn) exec(ctx context.Context, query string, repeats bool, args []any) (sql.Result, error) {
	if s, ok := pc.c.stmts.Load(query); ok && !pc.c.off.Load() {
		ts := pc.tx.StmtContext(ctx, s.(*sql.Stmt))
		res, err := ts.ExecContext(ctx, args...)
		// The connection's statement stays with the pool's (s); this
		// closes only the transaction's handle on it.
		_ = ts.Close()
		if err == nil || !strings.Contains(err.Error(), errOtherPool) {
			return res, err
		}
		pc.c.off.Store(true)
	}
	pc.ps.want(pc.c, query, len(args), repeats)
	return pc.tx.ExecContext(ctx, query, args...)
}

func (pc preparedConn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s, ok := pc.c.stmts.Load(query); ok && !pc.c.off.Load() {
		// The transaction's handle is closed with the transaction; the rows
		// hold it until then.
		rows, err := pc.tx.StmtContext(ctx, s.(*sql.Stmt)).QueryContext(ctx, args...)
		if err == nil || !strings.Contains(err.Error(), errOtherPool) {
			return rows, err
		}
		pc.c.off.Store(true)
	}
	pc.ps.want(pc.c, query, len(args), false)
	return pc.tx.QueryContext(ctx, query, args...)
}

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
	conn := db.Statement.ConnPool
	if p.dialect == auditstore.Postgres {
		return conn
	}
	// A *sql.Tx, or a wrapper's transaction that can take a statement of
	// its pool (gorm.Tx) and names that pool (gorm.GetDBConnector).
	tx, ok := conn.(gorm.Tx)
	if !ok {
		return conn
	}
	if _, ok := conn.(*sql.Tx); !ok {
		if _, ok := conn.(gorm.GetDBConnector); !ok {
			return conn
		}
	}
	pool, err := db.DB()
	if err != nil || pool == nil {
		return conn
	}
	return preparedConn{tx: tx, c: p.prepared.cacheOf(pool), ps: &p.prepared}
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
