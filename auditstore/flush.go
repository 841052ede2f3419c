package auditstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/go-auditlog/auditlog"
)

// whereSQL renders the conditions of q.
func (q *queryBuilder) whereSQL() string {
	if len(q.where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(q.where, " AND ")
}

// Count returns how many entries match f. It scans the matching index range
// (or the table when f is empty): use it for confirmations and reports, not
// for paging.
func (s *Store) Count(ctx context.Context, f Filter) (int64, error) {
	if ctx == nil {
		return 0, errNilContext
	}
	q, err := s.filter(f)
	if err != nil {
		return 0, err
	}
	n, err := countOf(ctx, s.db, "SELECT COUNT(*) FROM "+Table+q.whereSQL(), q.args...)
	if err != nil {
		return 0, fmt.Errorf("auditstore: count entries: %w", err)
	}
	return n, nil
}

// CountMax returns how many entries match f and the highest id among them
// (0 when none match). A flush confirmed on this count passes maxID as
// FlushOptions.MaxID, so that it deletes no entry written after the count.
//
// An entry's id is taken when it is inserted but the entry is seen when its
// transaction commits, so a transaction open during a plain count could
// commit an entry below the highest id counted, which such a flush would
// delete uncounted. On PostgreSQL and MySQL, CountMax therefore settles
// first: it reads the highest id there is, waits for every transaction that
// was writing entries then to end, and counts only up to that id, every
// entry of which is then committed or gone; later entries get higher ids.
// On PostgreSQL it waits by watching those transactions' locks
// (pg_locks), which holds nothing back; on MySQL it takes LOCK TABLES …
// READ, for which new writes of entries wait, at most a second a try. A
// transaction that stays open for settleWithin makes it fail with
// ErrUnsettled. On SQLite, whose writers are serialised, and on a store over
// a transaction (on MySQL, over a connection with one open), the count is
// plain.
func (s *Store) CountMax(ctx context.Context, f Filter) (n, maxID int64, err error) {
	if ctx == nil {
		return 0, 0, errNilContext
	}
	q, err := s.filter(f)
	if err != nil {
		return 0, 0, err
	}
	top, settled, err := s.settle(ctx)
	if err != nil {
		return 0, 0, err
	}
	if settled {
		q.where = append(q.where, "id <= "+q.arg(top))
	}
	rows, err := s.db.QueryContext(ctx, "SELECT COUNT(*), MAX(id) FROM "+Table+q.whereSQL(), q.args...)
	if err != nil {
		return 0, 0, fmt.Errorf("auditstore: count entries: %w", err)
	}
	defer rows.Close()
	var highest sql.NullInt64
	if rows.Next() {
		if err := rows.Scan(&n, &highest); err != nil {
			return 0, 0, fmt.Errorf("auditstore: count entries: %w", err)
		}
	}
	return n, highest.Int64, rows.Err()
}

// ErrUnsettled is returned by CountMax when a transaction that was writing
// entries did not end in time: an application's long transaction, or a
// session idle in one.
var ErrUnsettled = errors.New("auditstore: a transaction writing entries stayed open; the count would miss what it commits")

// How CountMax waits for the transactions writing entries: it looks again
// every settlePoll on PostgreSQL; on MySQL each try queues for the table's
// lock at most a second (what the application's writes of entries may wait
// behind it), then steps aside as long. It gives up after settleWithin.
const (
	settlePoll   = 50 * time.Millisecond
	settleWithin = 15 * time.Second
)

const maxIDSQL = "SELECT COALESCE(MAX(id), 0) FROM " + Table

// settle returns the highest id there is, once every entry up to it is
// committed or rolled back for good (see CountMax). settled is false where
// there is nothing to wait for (SQLite) or no way to (a store over a
// transaction).
func (s *Store) settle(ctx context.Context) (top int64, settled bool, err error) {
	within := settleWithin
	if s.settleWithin != 0 {
		within = s.settleWithin
	}
	deadline := time.Now().Add(within)
	switch {
	case s.dialect == SQLite:
		return 0, false, nil
	case s.dialect == Postgres:
		if _, ok := s.db.(*sql.Tx); ok {
			return 0, false, nil
		}
		top, err = s.settlePostgres(ctx, deadline)
	default:
		conn, release, ok, cerr := s.ownConn(ctx)
		if !ok || cerr != nil {
			return 0, false, cerr
		}
		defer release()
		top, err = settleMySQL(ctx, conn, deadline)
	}
	if errors.Is(err, ErrUnsettled) {
		return 0, false, fmt.Errorf("%w (waited %s)", err, within)
	}
	if errors.Is(err, ErrIDsOutOfOrder) {
		return 0, false, err
	}
	if err != nil {
		return 0, false, fmt.Errorf("auditstore: count entries: wait for the transactions writing entries: %w", err)
	}
	return top, true, nil
}

// ErrIDsOutOfOrder is returned by CountMax on PostgreSQL when the entries'
// id sequence hands each session a block of ids (a CACHE above 1): an
// entry written after the count may then take an id below the highest
// one counted, and a flush up to that id would delete it uncounted.
var ErrIDsOutOfOrder = errors.New("auditstore: entry ids are handed out in blocks per session, not in the order entries are written")

// sequenceCache refuses a count over ids that a sequence cache hands out
// out of order (ErrIDsOutOfOrder).
func (s *Store) sequenceCache(ctx context.Context) error {
	var seq sql.NullString
	var cache sql.NullInt64
	// The sequence the id column owns, or the one its default takes ids
	// from (nextval('…'), a sequence owned by no column).
	err := scanOne(ctx, s.db, "SELECT p.seqrelid::regclass::text, p.seqcache FROM pg_catalog.pg_sequence p"+
		" WHERE p.seqrelid = COALESCE(pg_catalog.pg_get_serial_sequence($1, 'id')::regclass,"+
		" (SELECT pg_catalog.to_regclass(substring(pg_catalog.pg_get_expr(d.adbin, d.adrelid) from 'nextval\\(''([^'']+)''')) FROM pg_catalog.pg_attrdef d"+
		" JOIN pg_catalog.pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum WHERE d.adrelid = pg_catalog.to_regclass($1) AND a.attname = 'id'))",
		[]any{Table}, &seq, &cache)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil // ids the application gives, or no sequence: nothing cached
	case err != nil:
		return err
	case cache.Int64 > 1:
		return fmt.Errorf("%w: sequence %s caches %d ids (CACHE %d), so an entry written after a count may take an id below the highest counted and be deleted uncounted; run ALTER SEQUENCE %s CACHE 1",
			ErrIDsOutOfOrder, seq.String, cache.Int64, cache.Int64, seq.String)
	}
	return nil
}

// settlePostgres reads the highest id, then waits until none of the
// transactions that held the entries table for writing (ROW EXCLUSIVE, which
// an INSERT takes before its ids and keeps to the end of its transaction)
// holds it still. A transaction that took it after the read takes ids above
// it.
func (s *Store) settlePostgres(ctx context.Context, deadline time.Time) (int64, error) {
	if err := s.sequenceCache(ctx); err != nil {
		return 0, err
	}
	top, err := countOf(ctx, s.db, maxIDSQL)
	if err != nil {
		return 0, err
	}
	// A relation's oid is unique only within its database.
	const writers = "SELECT DISTINCT virtualtransaction FROM pg_catalog.pg_locks WHERE locktype = 'relation'" +
		" AND database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())" +
		" AND relation = to_regclass('" + Table + "') AND mode = 'RowExclusiveLock' AND granted AND pid <> pg_catalog.pg_backend_pid()"
	rows, err := s.db.QueryContext(ctx, writers)
	if err != nil {
		return 0, err
	}
	var args []any
	for rows.Next() {
		var vxid string
		if err := rows.Scan(&vxid); err != nil {
			rows.Close()
			return 0, err
		}
		args = append(args, vxid)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(args) == 0 {
		return top, err
	}
	still := writers + " AND virtualtransaction IN (" + s.dialect.placeholders(1, len(args)) + ")"
	for {
		n, err := countOf(ctx, s.db, "SELECT COUNT(*) FROM ("+still+") AS w", args...)
		switch {
		case err != nil:
			return 0, err
		case n == 0:
			return top, nil
		case time.Now().After(deadline):
			return 0, ErrUnsettled
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(settlePoll):
		}
	}
}

// ownConn returns a connection of the store's own for MySQL's LOCK TABLES:
// a new one from a pool, or the store's *sql.Conn unless a transaction is
// open on it (LOCK TABLES would commit it; a server without
// @@in_transaction to tell counts plainly over any). ok is false for a
// store over a transaction.
func (s *Store) ownConn(ctx context.Context) (conn *sql.Conn, release func(), ok bool, err error) {
	switch db := s.db.(type) {
	case *sql.Conn:
		var open int
		if db.QueryRowContext(ctx, "SELECT @@in_transaction").Scan(&open) != nil || open != 0 {
			return nil, nil, false, nil
		}
		return db, func() {}, true, nil
	case interface {
		Conn(context.Context) (*sql.Conn, error)
	}:
		c, err := db.Conn(ctx)
		if err != nil {
			return nil, nil, false, err
		}
		return c, func() { _ = c.Close() }, true, nil
	}
	return nil, nil, false, nil
}

// settleMySQL takes LOCK TABLES … READ on conn, whose metadata lock waits
// for every transaction that wrote entries to end, and reads the highest
// id under it. Each try waits at most a second (lock_wait_timeout, whose
// session value is restored after), then steps aside as long.
func settleMySQL(ctx context.Context, conn *sql.Conn, deadline time.Time) (top int64, err error) {
	var saved int64
	if err := conn.QueryRowContext(ctx, "SELECT @@SESSION.lock_wait_timeout").Scan(&saved); err != nil {
		return 0, err
	}
	if _, err := conn.ExecContext(ctx, "SET SESSION lock_wait_timeout = 1"); err != nil {
		return 0, err
	}
	defer func() {
		_, rerr := conn.ExecContext(context.WithoutCancel(ctx), "SET SESSION lock_wait_timeout = ?", saved)
		if rerr != nil {
			// A connection left with our setting must not serve anyone.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			if err == nil {
				err = rerr
			}
		}
	}()
	for {
		top, err = lockedMax(ctx, conn)
		var my *mysql.MySQLError
		switch {
		case err == nil:
			return top, nil
		case !errors.As(err, &my) || my.Number != 1205:
			return 0, err
		case time.Now().After(deadline):
			return 0, ErrUnsettled
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// lockedMax reads the highest id under LOCK TABLES … READ on conn.
func lockedMax(ctx context.Context, conn *sql.Conn) (int64, error) {
	if _, err := conn.ExecContext(ctx, "LOCK TABLES "+Table+" READ"); err != nil {
		return 0, err
	}
	top, err := countOf(ctx, conn, maxIDSQL)
	if _, uerr := conn.ExecContext(context.WithoutCancel(ctx), "UNLOCK TABLES"); err == nil {
		err = uerr
	}
	return top, err
}

// FlushOptions narrow and pace a flush. The zero value deletes every entry
// in batches of DefaultFlushBatch.
type FlushOptions struct {
	// Filter selects the entries to delete (Until for "older than").
	Filter Filter
	// MaxID, if not 0, spares entries whose id is above it: pass the maxID
	// from CountMax to delete only what was counted.
	MaxID int64
	// BatchSize is how many entries one DELETE removes, so that no lock is
	// held for long on a large table. 0 means DefaultFlushBatch.
	BatchSize int
	// Progress, if set, is called after each batch with the total so far.
	Progress func(deleted int64)
	// Reason is what a sealed log records as having pruned the entries
	// (package auditseal): "flush" by default. It is cut to 255 bytes.
	Reason string
}

// DefaultFlushBatch is the default number of entries per DELETE.
const DefaultFlushBatch = 5000

// FlushResult reports what a flush did.
type FlushResult struct {
	// Deleted counts the entries deleted, those of dropped partitions
	// included.
	Deleted int64
	// Partitions is how many partitions were dropped whole (a partitioned
	// table on PostgreSQL, a flush by Until alone).
	Partitions int
	// LongestBatch is the longest time one DELETE statement (or one
	// partition's drop) took, an upper bound of how long it held its locks.
	LongestBatch time.Duration
}

// Flush deletes the entries that match o.Filter, oldest first, in batches.
// A cancelled context stops it between batches; what was deleted stays
// deleted and is reported.
//
// On a partitioned table (PostgreSQL, MigrateOptions.Partition) it first
// makes the partitions ahead (EnsurePartitions). A flush by Until alone then
// drops whole every partition whose range ends at or before Until and whose
// entries were all counted (none above MaxID), and deletes the rest in
// batches; see dropPartitions.
func (s *Store) Flush(ctx context.Context, o FlushOptions) (FlushResult, error) {
	if ctx == nil {
		return FlushResult{}, errNilContext
	}
	var res FlushResult
	batch := o.BatchSize
	switch {
	case batch == 0:
		batch = DefaultFlushBatch
	case batch < 0 || batch > 1_000_000:
		return res, fmt.Errorf("auditstore: flush batch size %d is out of range: use 1 to 1000000", batch)
	}
	q, err := s.filter(o.Filter)
	if err != nil {
		return res, err
	}
	if o.MaxID != 0 {
		q.where = append(q.where, "id <= "+q.arg(o.MaxID))
	}
	sealed, err := s.sealed(ctx)
	if err != nil {
		return res, err
	}
	at := time.Now().UnixMicro() // one time for the whole flush
	// With the sealer's tables installed, a sealer may start while this
	// flush runs: each batch (and each partition's drop) after the first
	// looks again, and once one has worked the rest goes as a sealed
	// flush, recording what it prunes. (A first round that runs between
	// that look and the batch's DELETE is not seen; DESIGN.md, "A sealer
	// that starts during a flush".)
	installed, _, err := SealState(ctx, s.db, s.dialect)
	if err != nil {
		return res, err
	}
	partitioned, err := s.Partitioned(ctx)
	if err != nil {
		return res, err
	}
	if partitioned {
		// A lock not granted in time leaves the months ahead to the next
		// call: until then their entries wait in the default partition.
		if _, _, err := s.EnsurePartitions(ctx, 0); err != nil && !lockNotAvailable(err) {
			return res, err
		}
		// Each partition's drop is a transaction of its own, which a store
		// over a caller's transaction cannot begin.
		if _, ok := s.db.(beginner); ok && untilOnly(o.Filter) {
			if err := s.dropPartitions(ctx, o, sealed, installed, at, &res); err != nil {
				return res, err
			}
		}
	}
	if sealed {
		return s.flushSealed(ctx, o, q, batch, at, res)
	}
	var stmt string
	// Oldest first, along the (…, timestamp, id) indexes.
	switch {
	case s.dialect == MySQL:
		stmt = "DELETE FROM " + Table + q.whereSQL() + " ORDER BY timestamp, id LIMIT " + strconv.Itoa(batch)
	case partitioned:
		// With the partition key, each row is found in its partition's
		// primary key; by id alone, every partition would be searched.
		stmt = "DELETE FROM " + Table + " WHERE (id, timestamp) IN (SELECT id, timestamp FROM " + Table + q.whereSQL() + " ORDER BY timestamp, id LIMIT " + strconv.Itoa(batch) + ")"
	default:
		stmt = "DELETE FROM " + Table + " WHERE id IN (SELECT id FROM " + Table + q.whereSQL() + " ORDER BY timestamp, id LIMIT " + strconv.Itoa(batch) + ")"
	}
	for {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("auditstore: flush stopped after %d entries: %w", res.Deleted, err)
		}
		if installed && res.Deleted > 0 {
			if sealed, err := s.sealed(ctx); err != nil {
				return res, err
			} else if sealed {
				return s.flushSealed(ctx, o, q, batch, at, res)
			}
		}
		start := time.Now()
		r, err := s.db.ExecContext(ctx, stmt, q.args...)
		if err != nil {
			return res, fmt.Errorf("auditstore: flush failed after %d entries: %w", res.Deleted, err)
		}
		res.LongestBatch = max(res.LongestBatch, time.Since(start))
		n, err := r.RowsAffected()
		if err != nil {
			return res, fmt.Errorf("auditstore: flush: %w", err)
		}
		res.Deleted += n
		if o.Progress != nil && n > 0 {
			o.Progress(res.Deleted)
		}
		if n < int64(batch) {
			// A short batch ends the flush only where nothing is left: rows
			// of the batch that another transaction deleted while it waited
			// made it short before.
			if left, err := s.anyLeft(ctx, q); err != nil || !left {
				return res, err
			} else if n == 0 {
				// Entries match and the delete removed none: another try
				// would do the same (a rule or trigger that skips deletes).
				return res, fmt.Errorf("auditstore: flush stopped after %d entries: entries still match, and the delete removed none of them", res.Deleted)
			}
		}
	}
}

// currentRead is what makes a SELECT read the latest committed rows on
// MySQL (a locking read) rather than a REPEATABLE READ transaction's
// snapshot; nothing elsewhere.
func (d Dialect) currentRead() string {
	if d == MySQL {
		return " LOCK IN SHARE MODE"
	}
	return ""
}

// anyLeft reports whether an entry still matches the flush's conditions:
// on MySQL by a locking read, which sees what the DELETE sees (the latest
// committed rows), not a caller's REPEATABLE READ snapshot.
func (s *Store) anyLeft(ctx context.Context, q *queryBuilder) (bool, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT 1 FROM "+Table+q.whereSQL()+" LIMIT 1"+s.dialect.currentRead(), q.args...)
	if err != nil {
		return false, fmt.Errorf("auditstore: flush: %w", err)
	}
	defer rows.Close()
	left := rows.Next()
	return left, rows.Err()
}

// ErrTruncateUnsupported is returned by Truncate where the database has no
// fast way to empty a table.
var ErrTruncateUnsupported = errors.New("auditstore: truncate is not supported by this database")

// Truncate empties the entries table at once: TRUNCATE on PostgreSQL, an
// unconditional DELETE on SQLite (its truncate optimisation) and on MySQL,
// whose TRUNCATE restarts the ids: a relay past the old ids would skip the
// new entries that take them, and a reader keyed by id would merge them
// with the old. A sealed log (package auditseal) is emptied in flush
// batches instead, so that the sealed entries deleted are recorded as
// pruned.
func (s *Store) Truncate(ctx context.Context) error {
	if ctx == nil {
		return errNilContext
	}
	stmt := "TRUNCATE TABLE " + Table
	if s.dialect != Postgres {
		stmt = "DELETE FROM " + Table
	}
	if sealed, err := s.sealed(ctx); err != nil {
		return err
	} else if sealed {
		// A sealed log is emptied as a flush of everything: each batch
		// records the sealed entries it prunes under the sealer's lock,
		// and no TRUNCATE restarts the ids (MySQL's would), which would
		// give new entries the ids of pruned ones.
		q, err := s.filter(Filter{})
		if err != nil {
			return err
		}
		if _, err := s.flushSealed(ctx, FlushOptions{Reason: "truncate"}, q, DefaultFlushBatch, time.Now().UnixMicro(), FlushResult{}); err != nil {
			return fmt.Errorf("auditstore: truncate: %w", err)
		}
		return nil
	}
	if _, err := s.db.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("auditstore: truncate: %w", err)
	}
	return nil
}

// Each calls fn for every entry that matches f, newest first, reading
// MaxPageSize entries per query, so memory stays constant however many
// entries match. It stops at the first error fn returns.
func (s *Store) Each(ctx context.Context, f Filter, fn func(auditlog.Entry) error) error {
	if ctx == nil {
		return errNilContext
	}
	return s.EachWith(ctx, f, EachOptions{}, fn)
}

// EachOptions bound the queries of EachWith.
type EachOptions struct {
	// QueryTimeout bounds each page's query, not the whole walk, which lasts
	// as long as fn takes. A page that times out ends the walk with an error
	// that wraps context.DeadlineExceeded. 0: no bound.
	QueryTimeout time.Duration
	// SearchWindow bounds each page's search as Page.SearchWindow does; the
	// walk goes on past windows without a match. 0: no bound.
	SearchWindow int
}

// EachWith is Each with bounds on each query.
func (s *Store) EachWith(ctx context.Context, f Filter, o EachOptions, fn func(auditlog.Entry) error) error {
	if ctx == nil {
		return errNilContext
	}
	page := Page{Limit: MaxPageSize, SearchWindow: o.SearchWindow}
	list := func() (Result, error) {
		if o.QueryTimeout <= 0 {
			return s.List(ctx, f, page)
		}
		qctx, cancel := context.WithTimeout(ctx, o.QueryTimeout)
		defer cancel()
		return s.List(qctx, f, page)
	}
	for {
		res, err := list()
		if err != nil {
			return err
		}
		for _, e := range res.Entries {
			if err := fn(e); err != nil {
				return err
			}
		}
		if res.Next == "" {
			return nil
		}
		page.Cursor = res.Next
	}
}

// sealed reports whether a sealer works on the database (SealState): a
// flush then records, in the same transaction as each delete, which
// sealed entries it pruned, so that auditseal.Verify tells them from
// entries deleted by hand.
func (s *Store) sealed(ctx context.Context) (bool, error) {
	_, running, err := SealState(ctx, s.db, s.dialect)
	return running, err
}

// SealState reports whether the database has the sealed log's tables
// (migration 3) and whether a sealer has worked on it (its state row,
// written by its first round). Only a real failure is an error: a schema
// made by hand, without the migrations table, has neither.
func SealState(ctx context.Context, db DBTX, d Dialect) (installed, running bool, err error) {
	if ctx == nil {
		return false, false, errNilContext
	}
	ok, err := tableExists(ctx, db, d, SealStateTable)
	if err != nil {
		return false, false, fmt.Errorf("auditstore: look for the sealed log's tables: %w", err)
	}
	if !ok {
		return false, false, nil
	}
	n, err := countOf(ctx, db, "SELECT COUNT(*) FROM "+SealStateTable)
	if err != nil {
		return true, false, fmt.Errorf("auditstore: read the sealer's state: %w", err)
	}
	return true, n > 0, nil
}

// TableExists reports whether the named table is in the database (in the
// current schema on PostgreSQL).
func TableExists(ctx context.Context, db DBTX, d Dialect, name string) (bool, error) {
	if ctx == nil {
		return false, errNilContext
	}
	return tableExists(ctx, db, d, name)
}

// tableExists reports whether the named table is in the database (in the
// current schema on PostgreSQL).
func tableExists(ctx context.Context, db DBTX, d Dialect, name string) (bool, error) {
	var probe string
	switch d {
	case Postgres:
		probe = "SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE tablename = '" + name + "' AND schemaname = ANY (current_schemas(false))"
	case MySQL:
		probe = "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = '" + name + "' AND table_schema = DATABASE()"
	default:
		probe = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '" + name + "'"
	}
	n, err := countOf(ctx, db, probe)
	return n > 0, err
}

// countOf runs a query of one count.
func countOf(ctx context.Context, db DBTX, query string, args ...any) (int64, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var n int64
	if rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return 0, err
		}
	}
	return n, rows.Err()
}

// The sealer's tables (migration 3), for auditseal and the flush that
// keeps them in step.
const (
	SealLeavesTable        = "auditlog_seal_leaves"
	SealHashesTable        = "auditlog_seal_hashes"
	SealCheckpointsTable   = "auditlog_seal_checkpoints"
	SealStateTable         = "auditlog_seal_state"
	SealVerificationsTable = "auditlog_seal_verifications"
	// SealPrunesTable records, for each batch a flush prunes from a sealed
	// log, when, by what, how many and which leaves it marked (migration 5,
	// RecordPrune): the sealer signs the records, and Verify checks the
	// marks against them.
	SealPrunesTable = "auditlog_seal_prunes"
	// SealLockSQL takes the sealer's lock for the rest of a transaction:
	// sealing rounds and sealed flushes run one at a time.
	SealLockSQL = "UPDATE " + SealStateTable + " SET next_id = next_id WHERE id = 1"
)

// maxIDsPerStatement bounds the ids one statement of flushSealed binds,
// under every database's bind-variable limit.
const maxIDsPerStatement = 10_000

// flushSealed is Flush on a database with the sealer's tables: each batch
// reads its ids, marks their leaves pruned and deletes them, in one
// transaction. at is the flush's time, recorded with every leaf it prunes;
// res is what the flush did before (dropped partitions).
func (s *Store) flushSealed(ctx context.Context, o FlushOptions, q *queryBuilder, batch int, at int64, res FlushResult) (FlushResult, error) {
	reason := pruneReason(o)
	sel := "SELECT id FROM " + Table + q.whereSQL() + " ORDER BY timestamp, id LIMIT " + strconv.Itoa(batch)
	if s.dialect != SQLite {
		// Held until the batch commits: a row another transaction deletes
		// meanwhile is not among those marked pruned (SQLite has one
		// writer; a deletion after this read fails the batch's write).
		sel += " FOR UPDATE"
	}
	for {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("auditstore: flush stopped after %d entries: %w", res.Deleted, err)
		}
		start := time.Now()
		var n, read int64
		err := s.inTx(ctx, func(tx DBTX) error {
			// The sealer's lock (its state row): a round that is sealing
			// entries of this batch commits its leaves first, so that they
			// are marked pruned, not left to look deleted.
			if _, err := tx.ExecContext(ctx, SealLockSQL); err != nil {
				return err
			}
			found, err := column[int64](ctx, tx, sel, q.args...)
			if err != nil || len(found) == 0 {
				return err
			}
			read = int64(len(found))
			ids := make([]any, len(found))
			for i, id := range found {
				ids[i] = id
			}
			for start := 0; start < len(ids); start += maxIDsPerStatement {
				chunk := ids[start:min(start+maxIDsPerStatement, len(ids))]
				if err := markPruned(ctx, tx, s.dialect, at, reason, "SELECT leaf_index FROM "+SealLeavesTable+" WHERE entry_id IN ("+s.dialect.placeholders(1, len(chunk))+") ORDER BY leaf_index", chunk...); err != nil {
					return err
				}
				r, err := tx.ExecContext(ctx, "DELETE FROM "+Table+" WHERE id IN ("+s.dialect.placeholders(1, len(chunk))+")", chunk...)
				if err != nil {
					return err
				}
				d, err := r.RowsAffected()
				if err != nil {
					return err
				}
				if d != int64(len(chunk)) {
					// Rows marked pruned that this batch did not delete.
					return fmt.Errorf("deleted %d of the %d entries it holds and marks pruned", d, len(chunk))
				}
				n += d
			}
			return nil
		})
		if err != nil {
			return res, fmt.Errorf("auditstore: flush failed after %d entries: %w", res.Deleted, err)
		}
		res.LongestBatch = max(res.LongestBatch, time.Since(start))
		res.Deleted += n
		if o.Progress != nil && n > 0 {
			o.Progress(res.Deleted)
		}
		if read < int64(batch) {
			// As in Flush: a locking read skips rows another transaction
			// deleted while it waited, and can come back short.
			if left, err := s.anyLeft(ctx, q); err != nil || !left {
				return res, err
			} else if read == 0 {
				return res, fmt.Errorf("auditstore: flush stopped after %d entries: entries still match, and the batch's read found none of them", res.Deleted)
			}
		}
	}
}

// markPruned marks as pruned, at at by reason, the leaves that sel (a
// query of leaf_index, placeholders from the first, args) returns, and
// records them: in the caller's transaction, which holds the sealer's lock.
func markPruned(ctx context.Context, tx DBTX, d Dialect, at int64, reason, sel string, args ...any) error {
	leaves, err := column[int64](ctx, tx, sel, args...)
	if err != nil {
		return err
	}
	return RecordPrune(ctx, tx, d, at, reason, leaves)
}

// column runs a query of one column and returns its values.
func column[T any](ctx context.Context, db DBTX, query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// RecordPrune marks the leaves (their indexes, ascending) as pruned at at
// (Unix microseconds) by reason, and records them in SealPrunesTable, a
// record for each 10,000: when, by what, how many, and their digest
// (PruneDigest), the record's seq kept on each leaf it marks. Run it in a
// transaction that holds the sealer's lock (SealLockSQL), as a flush does.
func RecordPrune(ctx context.Context, tx DBTX, d Dialect, at int64, reason string, leaves []int64) error {
	if ctx == nil {
		return errNilContext
	}
	for start := 0; start < len(leaves); start += maxIDsPerStatement {
		chunk := leaves[start:min(start+maxIDsPerStatement, len(leaves))]
		digest := PruneDigest(chunk)
		insert := "INSERT INTO " + SealPrunesTable + " (pruned_at, pruned_by, leaves, digest) VALUES (" + d.Placeholder(1) + ", " + d.Placeholder(2) + ", " + d.Placeholder(3) + ", " + d.Placeholder(4) + ")"
		var seq int64
		if d == Postgres {
			err := scanOne(ctx, tx, insert+" RETURNING seq", []any{at, reason, len(chunk), digest}, &seq)
			if err != nil {
				return fmt.Errorf("record what the flush pruned (is the database migrated to version 5?): %w", err)
			}
		} else {
			res, err := tx.ExecContext(ctx, insert, at, reason, len(chunk), digest)
			if err == nil {
				seq, err = res.LastInsertId()
			}
			if err != nil {
				return fmt.Errorf("record what the flush pruned (is the database migrated to version 5?): %w", err)
			}
		}
		args := make([]any, 0, 3+len(chunk))
		args = append(args, at, reason, seq)
		for _, i := range chunk {
			args = append(args, i)
		}
		mark := "UPDATE " + SealLeavesTable + " SET pruned_at = " + d.Placeholder(1) + ", pruned_by = " + d.Placeholder(2) + ", prune_seq = " + d.Placeholder(3) +
			" WHERE leaf_index IN (" + d.placeholders(4, len(chunk)) + ")"
		res, err := tx.ExecContext(ctx, mark, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != int64(len(chunk)) {
			return errors.Join(err, fmt.Errorf("marked %d of %d leaves pruned", n, len(chunk)))
		}
	}
	return nil
}

// scanOne runs a query of one row and scans it into dest.
func scanOne(ctx context.Context, db DBTX, query string, args []any, dest ...any) error {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		return errors.Join(rows.Err(), sql.ErrNoRows)
	}
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	return rows.Close()
}

// PruneDigest is the digest of the leaves a prune record marks: SHA-256
// over their indexes, ascending, each as 8 bytes big-endian.
func PruneDigest(leaves []int64) []byte {
	h := NewPruneHash()
	for _, i := range leaves {
		h.Add(i)
	}
	return h.Sum()
}

// PruneHash computes PruneDigest leaf by leaf, for a reader that meets a
// record's leaves one at a time (in ascending order).
type PruneHash struct {
	h hash.Hash
	b [8]byte
}

// NewPruneHash returns a PruneHash of no leaves.
func NewPruneHash() *PruneHash { return &PruneHash{h: sha256.New()} }

// Add adds the next leaf, in ascending order.
func (p *PruneHash) Add(leaf int64) {
	binary.BigEndian.PutUint64(p.b[:], uint64(leaf))
	p.h.Write(p.b[:])
}

// Sum is the digest of the leaves added.
func (p *PruneHash) Sum() []byte { return p.h.Sum(nil) }

// pruneReason is what a sealed log records as having pruned a flush's
// entries.
func pruneReason(o FlushOptions) string {
	if o.Reason == "" {
		return "flush"
	}
	return clip(o.Reason, MaxContextBytes)
}

// beginner is a connection that can begin a transaction.
type beginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

// inTx runs fn in a transaction of its own where the store's connection
// can begin one, else (a transaction already) on it.
func (s *Store) inTx(ctx context.Context, fn func(DBTX) error) error {
	b, ok := s.db.(beginner)
	if !ok {
		return fn(s.db)
	}
	tx, err := b.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
