package auditgorm

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/capture"
)

// The plugin captures a write at the moment GORM runs it: it wraps GORM's
// own gorm:create, gorm:update and gorm:delete callbacks. Everything that
// runs before them — hooks, other plugins' callbacks, the schema's
// update and delete clauses (optimistic locking, soft delete) — has shaped
// the statement by then, so the plugin reads, pins and records exactly the
// statement the database runs. All state of one capture lives in one
// function call: nothing outlives the statement, whatever panics.

type op int

const (
	opCreate op = iota
	opUpdate
	opDelete
)

// wrap returns the replacement of one of GORM's write callbacks.
func (p *Plugin) wrap(kind op, orig func(*gorm.DB)) func(*gorm.DB) {
	return func(db *gorm.DB) {
		if db.Error != nil || db.DryRun || auditlog.IsDisabled(db.Statement.Context) {
			orig(db)
			return
		}
		m, err := p.modelFor(db)
		if err == nil && m != nil {
			err = p.nameOwnTable(db, m)
		}
		if err == nil && m != nil {
			err = p.nameOfAnother(db, m)
		}
		var tracks []*m2mTrack
		if err == nil && m == nil {
			if tracks, err = p.joinTracks(db, kind); err == nil && len(tracks) == 0 {
				orig(db)
				return
			}
		}
		if p.hooks == nil {
			p.capture(db, kind, m, tracks, err, orig)
			return
		}
		info := StatementStartInfo{Model: db.Statement.Table, Action: kind.action()}
		if m != nil {
			info.Model = m.entryName(db)
		}
		p.observed(db, info, m, tracks, func() { p.capture(db, kind, m, tracks, err, orig) })
	}
}

// action is the auditlog action of a GORM operation.
func (kind op) action() auditlog.Action {
	switch kind {
	case opCreate:
		return auditlog.ActionCreate
	case opUpdate:
		return auditlog.ActionUpdate
	}
	return auditlog.ActionDelete
}

// capture records one audited statement: of the model m, or of a join
// table the tracks watch; err is the error of looking them up.
func (p *Plugin) capture(db *gorm.DB, kind op, m *model, tracks []*m2mTrack, err error, orig func(*gorm.DB)) {
	if err != nil {
		_ = db.AddError(err)
		return
	}
	if db.Statement.SQL.Len() > 0 {
		// Raw(…).Create, say: the rows it writes are not the object's.
		_ = db.AddError(fmt.Errorf("auditgorm: %s: the statement was built before auditing could read it; use GORM's Create/Update/Delete methods, or log it with auditgorm.Log", db.Statement.Table))
		return
	}
	defer rollBackOnPanic(db)
	if extra := auditlog.ExtraFromContext(db.Statement.Context); len(extra) > 0 {
		// Extra data that does not encode fails the write before it runs,
		// not after (where, in a caller's MariaDB transaction, the write
		// would stay).
		if _, err := capture.AdditionalData(extra, nil); err != nil {
			_ = db.AddError(fmt.Errorf("auditgorm: %w", err))
			return
		}
	}
	var set clause.Set
	if kind == opUpdate && m != nil {
		var done func()
		set, done = updateAssignments(db)
		defer done()
		if db.Error != nil || len(set) == 0 {
			return // gorm:update runs nothing either
		}
		if strings.Contains(updateModifier(db.Statement), "REPLACE") {
			// Whatever it assigns, audited or not.
			_ = db.AddError(fmt.Errorf("auditgorm: %s: UPDATE OR REPLACE deletes the rows whose unique values its new values take, which the statement does not tell: it cannot be audited; delete those rows first, then update", m.schema.Name))
			return
		}
		if p.dialect == auditstore.SQLite && updateModifier(db.Statement) == "" {
			if err := p.sqliteUpdateReplaces(db, m, set); err != nil {
				_ = db.AddError(err)
				return
			}
		}
		if untrackedUpdate(db, m, set) {
			p.obsOf(db).took(PathUntracked)
			orig(db)
			return
		}
	}
	p.atomically(db, func() error {
		switch {
		case m == nil:
			return p.captureJoin(db, tracks, kind, orig)
		case kind == opCreate:
			return p.captureCreate(db, m, orig)
		case kind == opUpdate:
			if missingWhere(db) {
				return gorm.ErrMissingWhereClause
			}
			return p.runUpdate(db, m, set, auditlog.ActionUpdate, orig)
		default:
			return p.captureDelete(db, m, orig)
		}
	})
	if db.Error != nil && missingAuditTable(db.Error) {
		db.Error = fmt.Errorf("auditgorm: the audit tables are missing, so the write cannot be recorded: run auditgorm.Migrate (or auditlog migrate) on this database: %w", db.Error)
	}
}

// missingAuditTable reports whether err is a database's "no such table"
// for one of the audit tables (auditlog_…): SQLite's "no such table",
// PostgreSQL's 42P01, MySQL's 1146, by their messages, since the drivers
// have no error type in common.
func missingAuditTable(err error) bool {
	msg := err.Error()
	if !strings.Contains(msg, "auditlog_") || strings.Contains(msg, "auditgorm: the audit tables are missing") {
		return false
	}
	return strings.Contains(msg, "no such table") || strings.Contains(msg, "does not exist") || strings.Contains(msg, "doesn't exist")
}

// atomically runs fn in the statement's transaction, or in one of its own
// when the caller disabled GORM's default transaction, so that the change
// and its entries commit together. The transaction it opens is closed
// whatever fn does, a panic included.
func (p *Plugin) atomically(db *gorm.DB, fn func() error) {
	stmt := db.Statement
	if _, inTx := stmt.ConnPool.(gorm.TxCommitter); inTx {
		if p.dialect == auditstore.SQLite && !rollsBackOnError(db) {
			p.inSavepoint(db, fn)
			return
		}
		if p.dialect == auditstore.Postgres && !rollsBackOnError(db) {
			// A panic (the application's String, a Valuer) after the
			// write: a caller that recovers and commits must not commit
			// the write without its entries, as after an error.
			defer func() {
				if r := recover(); r != nil {
					rollbackAfterPanic(func() { p.abortTransaction(db) })
					panic(r)
				}
			}()
		}
		if err := fn(); err != nil {
			addError(db, err)
			if p.dialect == auditstore.Postgres && !rollsBackOnError(db) {
				p.abortTransaction(db)
			}
		}
		return
	}
	pool := stmt.ConnPool
	o := p.obsOf(db)
	o.sentOne() // BEGIN
	tx := db.Begin()
	if tx.Error != nil {
		_ = db.AddError(fmt.Errorf("auditgorm: begin transaction for audited write: %w", tx.Error))
		return
	}
	committed, commitSent := false, false
	defer func() {
		stmt.ConnPool = pool
		if committed {
			return
		}
		if !commitSent {
			o.sentOne() // ROLLBACK
		}
		if r := recover(); r != nil {
			rollbackAfterPanic(func() { tx.Rollback() })
			panic(r)
		}
		tx.Rollback()
	}()
	stmt.ConnPool = tx.Statement.ConnPool
	db.InstanceSet(ownTxKey, true)
	if err := fn(); err != nil {
		addError(db, err)
	}
	if db.Error != nil {
		return
	}
	o.sentOne() // COMMIT
	commitSent = true
	if err := tx.Commit().Error; err != nil {
		_ = db.AddError(fmt.Errorf("auditgorm: commit audited write: %w", err))
		return
	}
	committed = true
}

// addError adds a capture's error to the statement, unless the statement
// holds it already: GORM's own callback adds the write's error, which the
// capture then returns, and GORM would join the two copies.
func addError(db *gorm.DB, err error) {
	if db.Error != nil && errors.Is(db.Error, err) {
		return
	}
	_ = db.AddError(err)
}

// missingWhere reports what gorm:update and gorm:delete check: a statement
// without conditions (a soft-delete scope alone does not count) needs
// AllowGlobalUpdate.
func missingWhere(db *gorm.DB) bool {
	if db.AllowGlobalUpdate {
		return false
	}
	c, ok := db.Statement.Clauses["WHERE"]
	if !ok {
		return true
	}
	w, _ := c.Expression.(clause.Where)
	if _, soft := db.Statement.Clauses["soft_delete_enabled"]; soft {
		return len(w.Exprs) <= 1
	}
	return len(w.Exprs) == 0
}

// builds reports whether the statement's SQL will contain the named clause
// on this database (GORM builds LIMIT for updates only on MySQL, say).
func builds(stmt *gorm.Statement, name string) bool {
	return slices.Contains(stmt.BuildClauses, name)
}

// whereExprs returns the statement's WHERE conditions.
func whereExprs(stmt *gorm.Statement) []clause.Expression {
	if c, ok := stmt.Clauses["WHERE"]; ok {
		if w, ok := c.Expression.(clause.Where); ok {
			return append([]clause.Expression(nil), w.Exprs...)
		}
	}
	return nil
}

// whereOf is the WHERE clause of a statement of the plugin's with the
// conditions exprs: every row where there are none (a write with
// AllowGlobalUpdate), since GORM writes a WHERE clause's keyword however
// few its conditions.
func whereOf(exprs []clause.Expression) clause.Where {
	if len(exprs) == 0 {
		return clause.Where{Exprs: []clause.Expression{clause.Expr{SQL: "1 = 1"}}}
	}
	return clause.Where{Exprs: exprs}
}

// setResult records the rows a write affected, as GORM's callbacks do.
func setResult(db *gorm.DB, n int64) {
	db.RowsAffected = n
	if db.Statement.Result != nil {
		db.Statement.Result.RowsAffected = n
	}
}

// rollBackOnPanic, deferred, rolls back GORM's default transaction of the
// statement when the capture panics (a driver.Valuer's panic, a model's
// String method's), and lets the panic go on. GORM's callback that commits
// or rolls it back never runs after a panic: the connection would stay in
// use, holding its locks (on SQLite the database's). A caller's own
// transaction is the caller's to end (gorm.DB.Transaction does).
func rollBackOnPanic(db *gorm.DB) {
	r := recover()
	if r == nil {
		return
	}
	if v, ok := db.InstanceGet("gorm:started_transaction"); ok {
		if started, _ := v.(bool); started {
			if tx, ok := db.Statement.ConnPool.(gorm.TxCommitter); ok {
				rollbackAfterPanic(func() { _ = tx.Rollback() })
			}
			db.Statement.ConnPool = db.ConnPool
		}
	}
	panic(r)
}

// rollsBackOnPanic returns the callback orig, which may run user code, with
// a panic in it rolling back the transaction GORM began for the statement
// (rollBackOnPanic).
func rollsBackOnPanic(orig func(*gorm.DB)) func(*gorm.DB) {
	return func(db *gorm.DB) {
		defer rollBackOnPanic(db)
		orig(db)
	}
}

// rollbackAfterPanic rolls a transaction back after a panic, waiting for it
// briefly: a panic inside database/sql itself (a driver.Valuer's) leaves the
// transaction's lock held, and its rollback never returns (that
// transaction leaks, as it does without the plugin); the caller's panic
// must go on all the same, at once.
func rollbackAfterPanic(rollback func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		rollback()
	}()
	t := time.NewTimer(rollbackWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// rollbackWait bounds rollbackAfterPanic's wait.
const rollbackWait = 100 * time.Millisecond

// ownTxKey marks a statement the plugin runs in a transaction of its own.
const ownTxKey = "auditlog:own_transaction"

// rollsBackOnError reports whether the statement's transaction ends with it
// and is rolled back if it fails: GORM's default transaction, or the
// plugin's own, or that of the statement GORM nested it in to save
// associations (nested.go). In a caller's transaction a failed statement's
// write stays, and a caller that logs the error and commits commits it;
// there the capture takes no path that can refuse a write after it ran.
func rollsBackOnError(db *gorm.DB) bool {
	for _, key := range []string{"gorm:started_transaction", ownTxKey} {
		if v, ok := db.InstanceGet(key); ok {
			if b, _ := v.(bool); b {
				return true
			}
		}
	}
	return nestedInRollback(db)
}

// captureSavepoint names the savepoint of inSavepoint.
const captureSavepoint = "auditlog_capture"

// inSavepoint runs fn in a savepoint of the caller's transaction and rolls
// back to it when the write or its capture fails (or panics), so that a
// write the capture refuses after it ran (a key no longer found, entries
// that could not be written) does not stay in the caller's transaction,
// where a caller that logs the error and commits would commit it
// unrecorded. On SQLite a savepoint costs two statements in process, no
// I/O; on PostgreSQL and MariaDB it would cost two round trips per write.
func (p *Plugin) inSavepoint(db *gorm.DB, fn func() error) {
	conn := db.Statement.ConnPool
	o := p.obsOf(db)
	o.sentOne()
	if _, err := conn.ExecContext(db.Statement.Context, "SAVEPOINT "+captureSavepoint); err != nil {
		_ = db.AddError(fmt.Errorf("auditgorm: savepoint for audited write: %w", err))
		return
	}
	ok := false
	defer func() {
		ctx := afterWrite(db)
		if !ok {
			o.sentOne()
			if _, err := conn.ExecContext(ctx, "ROLLBACK TO SAVEPOINT "+captureSavepoint); err != nil {
				_ = db.AddError(fmt.Errorf("auditgorm: roll back the refused write: %w", err))
			}
		}
		o.sentOne()
		if _, err := conn.ExecContext(ctx, "RELEASE SAVEPOINT "+captureSavepoint); err != nil {
			_ = db.AddError(fmt.Errorf("auditgorm: release savepoint of audited write: %w", err))
		}
	}()
	if err := fn(); err != nil {
		addError(db, err)
		return
	}
	ok = db.Error == nil
}

// abortTransaction makes the caller's PostgreSQL transaction fail, as a
// failed statement does there: the capture failed, perhaps after the write
// ran (a context cancelled while its RETURNING rows were read, a refusal),
// and a caller that logs the error and commits must not commit the write
// without its entries. The COMMIT then rolls back and reports it.
func (p *Plugin) abortTransaction(db *gorm.DB) {
	p.obsOf(db).sentOne()
	_, _ = db.Statement.ConnPool.ExecContext(afterWrite(db),
		"DO $$BEGIN RAISE EXCEPTION 'auditlog: an audited write failed; this transaction cannot commit'; END$$")
}
