package auditgorm

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
)

// Hooks observe the plugin (Config.Hooks): one StatementStart and one
// StatementEnd for each audited GORM statement (a create, update or delete
// of a registered model, a write to an audited many-to-many join table) and
// for each Log. Package auditotel implements them with OpenTelemetry.
//
// The hooks run on the goroutine of the statement, inside GORM's default
// transaction or the caller's where the statement runs in one, and must
// return quickly: they delay the statement, and in a transaction the row
// locks its write holds until commit. A hook that panics does not leave a
// transaction or a lock behind: the panic is recovered and returned as the
// statement's error (see StatementEnd).
//
// StatementEnd reports the statement, not its transaction: in GORM's
// default transaction or a caller's, the write and its entries may still be
// rolled back after it (a later failed statement, a hook of the model, the
// caller's Rollback). Only the plugin's own transaction (opened when the
// statement runs outside any, with SkipDefaultTransaction) has committed
// when StatementEnd runs without an error.
type Hooks interface {
	// StatementStart is called before the plugin reads or writes anything
	// for the statement. The context it returns is the statement's context
	// until StatementEnd, which receives it: the write and every statement
	// the plugin sends for it run with it (so that a span started here is
	// their parent). Return ctx when there is nothing to add; nil counts as
	// ctx. A panic fails the statement before anything ran.
	StatementStart(ctx context.Context, info StatementStartInfo) context.Context
	// StatementEnd is called once after each StatementStart that returned,
	// when the write, its entries and the plugin's own transaction, if it
	// opened one, are done: after a success, a failure (info.Err) or a panic
	// of the statement (info.Err is ErrStatementPanicked and the panic goes
	// on). A panic in StatementEnd is returned as the statement's error,
	// which in GORM's default transaction rolls the write and its entries
	// back; in the plugin's own transaction they have committed already,
	// and the error says so.
	StatementEnd(ctx context.Context, info StatementEndInfo)
}

// StatementStartInfo describes an audited statement as it starts.
type StatementStartInfo struct {
	// Model is the name the statement's entries carry (auditlog.Register's
	// name, or the table of a Table("x") write); for a write to a
	// many-to-many join table, the join table (its entries name the owners'
	// models); for Log, the record's model, if it names one.
	Model string
	// Action is the statement's GORM operation: auditlog.ActionCreate for
	// Create (upserts included), ActionUpdate, ActionDelete (soft deletes
	// included); for Log, the record's action. The entries it writes may
	// differ: an upsert's updates, a join-table write's updates of the
	// owners.
	Action auditlog.Action
}

// StatementEndInfo describes an audited statement once it is done.
type StatementEndInfo struct {
	StatementStartInfo
	// Path is how the statement was captured; empty when it failed before
	// the plugin chose one.
	Path Path
	// Entries is the number of entries written: the rows the entries'
	// INSERT statements reported inserted, and on PostgreSQL's in-statement
	// path the rows the write's own statement inserted, counted by that
	// statement. Entries written before a failure are counted, although the
	// failure rolls them back with the write.
	Entries int64
	// ExtraStatements is the number of statements the plugin sent beyond
	// the one GORM alone would have sent for the write: reads before and
	// after it, entry INSERTs, savepoints, the further pieces of a write
	// run in chunks or run again, the catalog read of a first PostgreSQL
	// in-statement write, and the BEGIN and COMMIT (or ROLLBACK) of a
	// transaction the plugin opened. Failed statements count. It counts
	// statements, not round trips (a driver's prepare or describe is not
	// one).
	ExtraStatements int
	// Duration is the time from StatementStart's return to StatementEnd,
	// the write included.
	Duration time.Duration
	// Overhead is the plugin's own share of Duration: Duration less the
	// time of the statements that wrote the caller's rows. On the
	// in-statement path that statement also wrote the entries, whose cost
	// is then in the write's time, not here. For Log it is Duration.
	Overhead time.Duration
	// Err is the statement's error, nil when it succeeded.
	Err error
}

// Path is how the plugin captured a statement: where the values its entries
// record came from, and which statement wrote them.
type Path string

// The capture paths (DESIGN.md, Capture, describes each).
const (
	// PathInStatement: the write's own statement compared the values and
	// inserted the entries (PostgreSQL: WITH … INSERT INTO auditlog_entries
	// …). Rows SQL cannot encode are left to a separate entry INSERT,
	// counted in ExtraStatements.
	PathInStatement Path = "in-statement"
	// PathReturning: the write returned its rows as stored (RETURNING; on
	// PostgreSQL with the old rows read inside the same UPDATE), old rows
	// came from a locking read before it where the statement needs them,
	// and a separate INSERT wrote the entries.
	PathReturning Path = "returning"
	// PathReadBack: the rows as stored were read back by key after the
	// write (MariaDB and MySQL updates, creates and upserts without
	// RETURNING, statements whose RETURNING the caller reads), after a
	// locking read of the old rows where the statement needs them; a
	// separate INSERT wrote the entries.
	PathReadBack Path = "read-back"
	// PathPreSelect: a hard delete without RETURNING (MariaDB and MySQL, or
	// the caller's own RETURNING), whose rows came from a locking read
	// before it; a separate INSERT wrote the entries.
	PathPreSelect Path = "pre-select"
	// PathM2M: a write to an audited many-to-many join table; the pairs
	// were read before it and a separate INSERT wrote the owners' entries.
	PathM2M Path = "m2m"
	// PathLog: an entry written by Log or LogAccess.
	PathLog Path = "log"
	// PathUntracked: an update that assigns only columns no update entry
	// records (an auto-updated timestamp alone, as GORM's Association
	// methods send, or fields left out of the audit); it ran as it is,
	// with no read of its rows, no transaction of the plugin's and no
	// entry (on SQLite, at most once a second, the plugin reads the
	// table's definition first: a rule ON CONFLICT REPLACE may delete).
	PathUntracked Path = "untracked"
)

// ErrStatementPanicked is StatementEndInfo.Err of a statement that
// panicked (a model's Valuer, a driver); the panic goes on after
// StatementEnd.
var ErrStatementPanicked = errors.New("auditgorm: the audited statement panicked")

// observation counts what the plugin does for one statement, for
// Config.Hooks. A capture runs on one goroutine: no locks.
type observation struct {
	m *model // the statement's model; nil for a join table's write
	// secretJoins are the relations of a join table's write that join a
	// model with masked or excluded fields: its error's values are hidden.
	secretJoins []*m2mTrack
	path        Path
	entries     int64
	sent        int           // statements of the plugin's own
	writes      int           // statements that wrote the caller's rows
	write       time.Duration // their time
}

// obsKey keys the statement's observation in its context.
type obsKey struct{}

// obsOf returns the observation of the statement, or nil without Hooks:
// every method of a nil observation does nothing.
func (p *Plugin) obsOf(db *gorm.DB) *observation {
	if p.hooks == nil {
		return nil
	}
	o, _ := db.Statement.Context.Value(obsKey{}).(*observation)
	return o
}

// took records the capture path.
func (o *observation) took(path Path) {
	if o != nil {
		o.path = path
	}
}

// sentOne counts a statement the plugin sent.
func (o *observation) sentOne() {
	if o != nil {
		o.sent++
	}
}

// writing returns the time a statement that writes the caller's rows
// starts, to pass to wrote when it is done.
func (o *observation) writing() time.Time {
	if o == nil {
		return time.Time{}
	}
	return time.Now()
}

// wrote counts a statement that wrote the caller's rows, begun at begin.
func (o *observation) wrote(begin time.Time) {
	if o != nil {
		o.writes++
		o.write += time.Since(begin)
	}
}

// wroteEntries counts entries a statement reported inserted.
func (o *observation) wroteEntries(n int64) {
	if o != nil {
		o.entries += n
	}
}

// extra is the count of statements beyond the write's first.
func (o *observation) extra() int {
	return o.sent + max(o.writes-1, 0)
}

// entryConn is the connection entries are inserted with: the statement's,
// its statements prepared where that pays (prepared.go), counted when Hooks
// are set.
func (p *Plugin) entryConn(db *gorm.DB) auditstore.DBTX {
	conn := p.conn(db)
	if o := p.obsOf(db); o != nil {
		return countingConn{conn, o}
	}
	return conn
}

// countingConn counts the statements sent through it and the rows they
// inserted. It is handed to auditstore only, never to GORM, whose type
// assertions on its connection pool a wrapper would defeat.
type countingConn struct {
	conn auditstore.DBTX
	o    *observation
}

func (c countingConn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	c.o.sentOne()
	return c.count(c.conn.ExecContext(ctx, query, args...))
}

// count adds the rows a statement inserted to the observation.
func (c countingConn) count(res sql.Result, err error) (sql.Result, error) {
	if err != nil {
		return res, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		// Every supported driver reports it; a count that is not known is
		// not reported as one.
		return res, fmt.Errorf("auditgorm: count the entries written (Config.Hooks): %w", err)
	}
	c.o.wroteEntries(n)
	return res, nil
}

// ExecRepeated, Prepares and MaxArgs pass auditstore's batches on to a connection
// that prepares them (prepared.go), counted.
func (c countingConn) ExecRepeated(ctx context.Context, query string, args ...any) (sql.Result, error) {
	r, ok := c.conn.(repeater)
	if !ok {
		return c.ExecContext(ctx, query, args...)
	}
	c.o.sentOne()
	return c.count(r.ExecRepeated(ctx, query, args...))
}

func (c countingConn) Prepares() bool {
	r, ok := c.conn.(repeater)
	return ok && r.Prepares()
}

func (c countingConn) MaxArgs() int {
	if r, ok := c.conn.(repeater); ok {
		return r.MaxArgs()
	}
	return oldMaxVariables
}

func (c countingConn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	c.o.sentOne()
	return c.conn.QueryContext(ctx, query, args...)
}

// observed runs capture, the capture of one statement, between the hooks'
// StatementStart and StatementEnd, with an observation in the statement's
// context.
func (p *Plugin) observed(db *gorm.DB, info StatementStartInfo, m *model, tracks []*m2mTrack, capture func()) {
	stmt := db.Statement
	parent := stmt.Context
	ctx, err := p.start(parent, info)
	if err != nil {
		_ = db.AddError(err)
		return
	}
	o := &observation{m: m}
	for _, tr := range tracks {
		if rm := p.plainModel(db, tr.related); len(tr.owner.secret) > 0 || rm != nil && len(rm.secret) > 0 {
			o.secretJoins = append(o.secretJoins, tr)
		}
	}
	stmt.Context = context.WithValue(ctx, obsKey{}, o)
	begin := time.Now()
	done := false
	defer func() {
		stmt.Context = parent
		end := StatementEndInfo{StatementStartInfo: info, Path: o.path, Entries: o.entries, ExtraStatements: o.extra(), Duration: time.Since(begin), Err: db.Error}
		end.Overhead = end.Duration - o.write
		if !done {
			// capture panicked: the hooks see it, the panic goes on.
			end.Err = ErrStatementPanicked
		} else if end.Err != nil {
			end.Err = o.scrubbed(db, end.Err)
		}
		if err := p.end(ctx, end); err != nil && done {
			if end.Err == nil && ownTransaction(db) {
				err = fmt.Errorf("%w; the write and its entries were committed", err)
			}
			_ = db.AddError(err)
		}
	}()
	capture()
	done = true
}

// ownTransaction reports whether the plugin ran the statement in a
// transaction of its own.
func ownTransaction(db *gorm.DB) bool {
	v, ok := db.InstanceGet(ownTxKey)
	b, _ := v.(bool)
	return ok && b
}

// start calls Hooks.StatementStart, returning its panic as an error.
func (p *Plugin) start(ctx context.Context, info StatementStartInfo) (out context.Context, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = ctx, fmt.Errorf("auditgorm: Hooks.StatementStart panicked: %v", r)
		}
	}()
	if out = p.hooks.StatementStart(ctx, info); out == nil {
		out = ctx
	}
	return out, nil
}

// end calls Hooks.StatementEnd, returning its panic as an error.
func (p *Plugin) end(ctx context.Context, info StatementEndInfo) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("auditgorm: Hooks.StatementEnd panicked: %v", r)
		}
	}()
	p.hooks.StatementEnd(ctx, info)
	return nil
}
