package auditstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/value"
)

// Store reads and writes the entries table of one database.
type Store struct {
	db      DBTX
	dialect Dialect
	// settleWithin, if not 0, replaces the package's (tests).
	settleWithin time.Duration
}

// New returns a store over db in dialect d.
func New(db DBTX, d Dialect) (*Store, error) {
	if db == nil {
		return nil, errors.New("auditstore: New: db is nil")
	}
	if err := d.valid(); err != nil {
		return nil, err
	}
	return &Store{db: db, dialect: d}, nil
}

// Dialect returns the store's dialect.
func (s *Store) Dialect() Dialect { return s.dialect }

// sqliteTime is the fixed-width text form of timestamps on SQLite, so that
// text order is time order.
const sqliteTime = "2006-01-02T15:04:05.000000Z"

// mysqlTime is the text form of timestamps sent to MySQL and MariaDB. A
// DATETIME holds a wall clock without a zone, and the driver converts a
// time.Time to and from its connection's loc (loc=Local on a host that is
// not on UTC shifts every entry by the zone's offset), so the UTC wall
// clock travels as text and what comes back is read as UTC.
const mysqlTime = "2006-01-02 15:04:05.000000"

// EncodeTime is the value the store writes for an entry's timestamp t: on
// SQLite its one text form, whose text order is time order.
func EncodeTime(d Dialect, t time.Time) any { return encodeTime(d, t) }

func encodeTime(d Dialect, t time.Time) any {
	t = t.UTC().Truncate(time.Microsecond)
	switch d {
	case SQLite:
		return t.Format(sqliteTime)
	case MySQL:
		return t.Format(mysqlTime)
	}
	return t
}

// The timestamps every supported database stores and compares alike:
// MySQL's DATETIME and SQLite's fixed-width text end with year 9999, and no
// driver writes a year before 1. Entries, cursors and filters stay inside.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
)

// ValidTimestamp reports whether t is inside the range that every supported
// database stores: 0001-01-01 to 9999-12-31 (UTC).
func ValidTimestamp(t time.Time) bool {
	return !t.Before(minTime) && !t.After(maxTime)
}

// DecodeTime reads an entry timestamp as the dialect's driver returns it,
// as a UTC time.
func DecodeTime(d Dialect, v any) (time.Time, error) { return decodeTime(d, v) }

// decodeTime reads a timestamp column. On MySQL the wall clock the driver
// returns is UTC whatever zone it was parsed in.
func decodeTime(d Dialect, v any) (time.Time, error) {
	switch t := v.(type) {
	case time.Time:
		if d == MySQL {
			return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC), nil
		}
		return t.UTC(), nil
	case []byte:
		return parseTimeText(string(t))
	case string:
		return parseTimeText(t)
	}
	return time.Time{}, fmt.Errorf("auditstore: unexpected timestamp type %T", v)
}

// entryTime reads an entry's timestamp as the lists page by it: only a time
// in the form and range the store writes is one. Any other value (text
// that is no time, a time in another text form or as bytes on SQLite, which
// sorts elsewhere than its instant; a year outside 1 to 9999; MySQL's zero
// date) is an error, so that the entry reads as unreadable and the lists
// page past it by its place (cursor{atEntry}) instead of by an instant that
// is not where the database sorts it.
func entryTime(d Dialect, v any) (time.Time, error) {
	t, err := decodeTime(d, v)
	switch {
	case err != nil:
		return t, err
	case t.IsZero():
		return time.Time{}, errors.New("auditstore: the zero time")
	case !ValidTimestamp(t):
		return time.Time{}, fmt.Errorf("auditstore: year %d is outside 1 to 9999", t.Year())
	}
	if d == SQLite {
		s, ok := v.(string)
		if !ok {
			return time.Time{}, fmt.Errorf("auditstore: the time %s is stored as bytes, not text", storedText(string(looseBytes(v))))
		}
		var buf [len(sqliteTime) + 8]byte
		if want := t.AppendFormat(buf[:0], sqliteTime); s != string(want) {
			return time.Time{}, fmt.Errorf("auditstore: the time %s is not in the stored form (%s)", storedText(s), want)
		}
	}
	return t, nil
}

func parseTimeText(s string) (time.Time, error) {
	for _, layout := range []string{sqliteTime, time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05.999999999-07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("auditstore: cannot parse timestamp %q", s)
}

const insertColumns = "timestamp, action, model, object_pk, object_id, object_repr, changes, serialized_data, additional_data, actor_id, actor_name, remote_addr, remote_port, cid"

const columnsPerEntry = 14

// The columns of an entry row, in the order of insertColumns.
const (
	colTimestamp = iota
	colAction
	colModel
	colPK
	colID
	colRepr
	colChanges
	colSerialized
	colAdditional
	colActorID
	colActorName
	colAddr
	colPort
	colCID
)

// columnNames are the columns of insertColumns, by number.
var columnNames = strings.Split(insertColumns, ", ")

// jsonKeys are the keys of the columns in a JSON batch.
var jsonKeys = [columnsPerEntry]string{"t", "a", "m", "pk", "id", "r", "c", "s", "ad", "ai", "an", "ra", "rp", "cid"}

// columnSet is a set of entry columns: bit c for column c. An insert
// writes the columns that some of its entries have a value in; the others
// are NULL in each, as the table's columns default to (fewer values to
// bind, and on SQLite to extract from a JSON batch).
type columnSet uint16

const (
	allColumns columnSet = 1<<columnsPerEntry - 1
	// requiredColumns are in every insert: the timestamp (on PostgreSQL
	// NULL for the database's clock, which the insert fills in) and the
	// columns that are NOT NULL.
	requiredColumns columnSet = 1<<colTimestamp | 1<<colAction | 1<<colModel | 1<<colPK | 1<<colRepr
)

func (s columnSet) has(c int) bool { return s&(1<<c) != 0 }

func (s columnSet) count() int { return bits.OnesCount16(uint16(s)) }

// writeList writes the column list of an insert of s.
func (s columnSet) writeList(b *strings.Builder) {
	if s == allColumns {
		b.WriteString(insertColumns)
		return
	}
	first := true
	for c, name := range columnNames {
		if s.has(c) {
			if !first {
				b.WriteString(", ")
			}
			first = false
			b.WriteString(name)
		}
	}
}

// columnsOf is the set of columns e has a value in.
func columnsOf(e *auditlog.Entry) columnSet {
	s := requiredColumns
	for c, ok := range [...]bool{colID: e.ObjectID != nil, colChanges: e.Changes != nil, colSerialized: len(e.SerializedData) > 0,
		colAdditional: len(e.AdditionalData) > 0, colActorID: e.ActorID != "", colActorName: e.ActorName != "",
		colAddr: e.RemoteAddr != "", colPort: e.RemotePort != 0, colCID: e.CorrelationID != ""} {
		if ok {
			s |= 1 << c
		}
	}
	return s
}

// columnsOfAll is the set of columns any of entries has a value in.
func columnsOfAll(entries []auditlog.Entry) columnSet {
	var cols columnSet
	for i := range entries {
		cols |= columnsOf(&entries[i])
	}
	return cols
}

// Insert writes entries with as few multi-row INSERT statements as the
// database's bind-variable limit allows, through the store's connection (a
// transaction, to commit them with the change they record). Entries whose
// Timestamp is zero get the current time: on PostgreSQL the database's, at
// the start of the inserting statement; elsewhere the application's.
func (s *Store) Insert(ctx context.Context, entries []auditlog.Entry) error {
	if ctx == nil {
		return errNilContext
	}
	if len(entries) == 0 {
		return nil
	}
	db, d := s.db, s.dialect
	entries = clipped(entries)
	now := time.Now()
	if d == Postgres && len(entries) > 1 {
		done, err := insertArrays(ctx, db, entries, now)
		if err != nil {
			return fmt.Errorf("auditstore: insert %d entries: %w", len(entries), err)
		}
		if done {
			return nil
		}
	}
	if r, ok := db.(repeater); ok && d == SQLite && len(entries) > maxRowsPerValuesInsert && r.Prepares() {
		if err := insertRungs(ctx, r, entries, now); err != nil {
			return fmt.Errorf("auditstore: insert %d entries: %w", len(entries), err)
		}
		return nil
	}
	limit := maxRowsPerValuesInsert
	if d == MySQL {
		limit = maxRowsPerValuesInsertMySQL
	}
	if len(entries) <= limit {
		query, args, err := buildInsert(d, entries, now, columnsOfAll(entries))
		if err != nil {
			return err
		}
		if _, err := db.ExecContext(ctx, query, args...); err != nil {
			return fmt.Errorf("auditstore: insert %d entries: %w", len(entries), err)
		}
		return nil
	}
	// Larger batches travel as one JSON document per statement: one bind
	// variable, so no bind-variable limit, and one round trip for thousands of
	// entries. Documents are cut at jsonBatchBytes to stay under packet limits.
	start := 0
	for start < len(entries) {
		doc, n, cols, err := encodeBatch(d, entries[start:], now)
		if err != nil {
			return err
		}
		if err := execJSONBatch(ctx, db, d, doc, cols); err != nil {
			return fmt.Errorf("auditstore: insert %d entries: %w", n, err)
		}
		start += n
	}
	return nil
}

// execJSONBatch inserts one JSON batch document whose entries have values
// in the columns cols. On SQLite it reads the batch as JSONB where SQLite
// has it, and falls back to text JSON (and stays there) where jsonb_each is
// unknown: a statement that fails to prepare leaves the transaction as it
// was.
func execJSONBatch(ctx context.Context, db DBTX, d Dialect, doc string, cols columnSet) error {
	if d == SQLite && !sqliteNoJSONB.Load() {
		_, err := db.ExecContext(ctx, sqliteJSONInsert(cols, true), doc)
		if err == nil || !strings.Contains(err.Error(), "jsonb_each") {
			return err
		}
		sqliteNoJSONB.Store(true)
	}
	_, err := db.ExecContext(ctx, jsonInsertSQL(d, cols), doc)
	return err
}

// maxRowsPerValuesInsert is the largest batch written as INSERT … VALUES;
// larger batches use the JSON form.
const maxRowsPerValuesInsert = 64

// maxRowsPerValuesInsertMySQL is the same for MySQL, where parsing JSON with
// JSON_TABLE costs more than binding values (2,000 rows × 14 columns stay
// under the 65,535 placeholders of a prepared statement).
const maxRowsPerValuesInsertMySQL = 2000

// jsonBatchBytes bounds one JSON batch document (MariaDB's default
// max_allowed_packet is 16 MiB).
const jsonBatchBytes = 4 << 20

// jsonInsertSQL inserts the entries of a JSON array, in array order. On
// SQLite it writes only the columns cols (the others are NULL in every
// entry of the batch); elsewhere every column.
func jsonInsertSQL(d Dialect, cols columnSet) string {
	const into = "INSERT INTO " + Table + " (" + insertColumns + ") "
	switch d {
	case Postgres:
		return into + `SELECT coalesce((e.d->>'t')::timestamptz, ` + DBNow + `), (e.d->>'a')::smallint, e.d->>'m', e.d->>'pk', (e.d->>'id')::bigint, e.d->>'r',
 (e.d->>'c')::jsonb, (e.d->>'s')::jsonb, (e.d->>'ad')::jsonb, e.d->>'ai', e.d->>'an', e.d->>'ra', (e.d->>'rp')::integer, e.d->>'cid'
FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(d, ord)
ORDER BY e.ord`
	case MySQL:
		return into + `SELECT x.t, x.a, x.m, x.pk, x.id, x.r, x.c, x.s, x.ad, x.ai, x.an, x.ra, x.rp, x.cid
FROM JSON_TABLE(?, '$[*]' COLUMNS (ord FOR ORDINALITY, t DATETIME(6) PATH '$.t', a SMALLINT PATH '$.a', m VARCHAR(255) PATH '$.m',
 pk VARCHAR(255) PATH '$.pk', id BIGINT PATH '$.id', r LONGTEXT PATH '$.r', c LONGTEXT PATH '$.c', s LONGTEXT PATH '$.s',
 ad LONGTEXT PATH '$.ad', ai VARCHAR(255) PATH '$.ai', an VARCHAR(255) PATH '$.an', ra VARCHAR(45) PATH '$.ra',
 rp INTEGER PATH '$.rp', cid VARCHAR(255) PATH '$.cid')) AS x
ORDER BY x.ord`
	}
	return sqliteJSONInsert(cols, false)
}

// sqliteJSONInsert inserts the entries of a JSON batch on SQLite, the
// columns cols of each: from jsonb_each of the document where SQLite has
// JSONB (3.45 and later: its rows are binary, so the extractions of a row
// do not parse the row's text again each), else from json_each of the text.
func sqliteJSONInsert(cols columnSet, jsonb bool) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + Table + " (")
	cols.writeList(&b)
	b.WriteString(") SELECT ")
	first := true
	for c := range columnsPerEntry {
		if !cols.has(c) {
			continue
		}
		if !first {
			b.WriteString(", ")
		}
		first = false
		if jsonb {
			// ->> (3.38 and later) reads a key as json_extract does; it
			// measured a few percent faster on a 1,000-entry batch.
			b.WriteString("value ->> '" + jsonKeys[c] + "'")
		} else {
			b.WriteString("json_extract(value, '$." + jsonKeys[c] + "')")
		}
	}
	if jsonb {
		b.WriteString(" FROM jsonb_each(?) ORDER BY key")
	} else {
		b.WriteString(" FROM json_each(?) ORDER BY key")
	}
	return b.String()
}

// sqliteNoJSONB is set once a SQLite without jsonb_each refused it.
var sqliteNoJSONB atomic.Bool

// encodeBatch encodes entries as a JSON array of objects, up to
// jsonBatchBytes, and reports how many it took and the columns any of them
// has a value in. The keys are jsonKeys; a key without a value is left out.
func encodeBatch(d Dialect, entries []auditlog.Entry, now time.Time) (string, int, columnSet, error) {
	b := make([]byte, 0, min(jsonBatchBytes, 512*len(entries)))
	b = append(b, '[')
	var scratch []byte // each entry's changes, before they are quoted
	var names []string // their field names, sorted
	var cols columnSet
	n := 0
	times := newTimeEncoder(d, now)
	for i := range entries {
		if n > 0 && len(b) >= jsonBatchBytes {
			break
		}
		e := &entries[i]
		if err := validateEntry(e); err != nil {
			return "", 0, 0, err
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"a":`...)
		b = strconv.AppendInt(b, int64(e.Action), 10)
		if t := times.text(e.Timestamp); t != "" {
			b = append(b, `,"t":`...)
			b = value.AppendJSONString(b, t)
		}
		b = append(b, `,"m":`...)
		b = value.AppendJSONString(b, e.Model)
		b = append(b, `,"pk":`...)
		b = value.AppendJSONString(b, e.ObjectPK)
		if e.ObjectID != nil {
			b = append(b, `,"id":`...)
			b = strconv.AppendInt(b, *e.ObjectID, 10)
		}
		b = append(b, `,"r":`...)
		b = value.AppendJSONString(b, e.ObjectRepr)
		if e.Changes != nil {
			var err error
			if scratch, names, err = appendChangesSorted(scratch[:0], names, e.Changes); err != nil {
				return "", 0, 0, err
			}
			b = append(b, `,"c":`...)
			b = value.AppendJSONString(b, scratch)
		}
		for _, f := range [...]struct {
			key string
			val []byte
		}{{"s", e.SerializedData}, {"ad", e.AdditionalData}} {
			if len(f.val) > 0 {
				b = append(b, `,"`...)
				b = append(b, f.key...)
				b = append(b, `":`...)
				b = value.AppendJSONString(b, f.val)
			}
		}
		for _, f := range [...]struct{ key, val string }{{"ai", e.ActorID}, {"an", e.ActorName}, {"ra", e.RemoteAddr}, {"cid", e.CorrelationID}} {
			if f.val != "" {
				b = append(b, `,"`...)
				b = append(b, f.key...)
				b = append(b, `":`...)
				b = value.AppendJSONString(b, f.val)
			}
		}
		if e.RemotePort != 0 {
			b = append(b, `,"rp":`...)
			b = strconv.AppendInt(b, int64(e.RemotePort), 10)
		}
		b = append(b, '}')
		cols |= columnsOf(e)
		n++
	}
	return string(append(b, ']')), n, cols, nil
}

// timeEncoder encodes the timestamps of one insert: the time of entries
// without one once, and a time equal to the one before (a write's entries
// share theirs) not again.
type timeEncoder struct {
	d                 Dialect
	now               time.Time
	nowArg, lastArg   any
	nowText, lastText string
	last              time.Time
}

func newTimeEncoder(d Dialect, now time.Time) timeEncoder {
	return timeEncoder{d: d, now: now}
}

// arg is ts as a bind value (encodeTime), or nil for the database's clock
// (PostgreSQL, ts zero).
func (t *timeEncoder) arg(ts time.Time) any {
	switch {
	case ts.IsZero() && t.d == Postgres:
		return nil
	case ts.IsZero():
		if t.nowArg == nil {
			t.nowArg = encodeTime(t.d, t.now)
		}
		return t.nowArg
	case t.lastArg == nil || !ts.Equal(t.last):
		t.last, t.lastArg, t.lastText = ts, encodeTime(t.d, ts), ""
	}
	return t.lastArg
}

// text is ts's text in a JSON batch, or "" for the database's clock.
func (t *timeEncoder) text(ts time.Time) string {
	a := t.arg(ts)
	switch {
	case a == nil:
		return ""
	case ts.IsZero():
		if t.nowText == "" {
			t.nowText = timeText(a)
		}
		return t.nowText
	case t.lastText == "":
		t.lastText = timeText(a)
	}
	return t.lastText
}

// timeText is the text of a timestamp bind value (encodeTime) in a JSON
// batch.
func timeText(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case time.Time:
		return t.Format(time.RFC3339Nano)
	}
	return ""
}

// encodedEntry is an entry ready for the VALUES insert: validated, its
// timestamp chosen and encoded for the dialect, its changes encoded.
type encodedEntry struct {
	e       *auditlog.Entry
	ts      any    // the timestamp as a bind value (encodeTime)
	model   any    // e.Model as a bind value
	changes string // "" for no changes
}

// encodeEntry encodes an entry for the VALUES insert, as encodeBatch does
// for the JSON batch.
func encodeEntry(d Dialect, e *auditlog.Entry, now time.Time) (encodedEntry, error) {
	x := newEntryEncoder(d, now)
	return x.encode(e)
}

// entryEncoder encodes the entries of one insert. What a write's entries
// share is encoded once: their timestamps (timeEncoder), and a model equal
// to the entry's before; and every entry's changes are written in one
// reused buffer (and their field names sorted in another).
type entryEncoder struct {
	times   timeEncoder
	model   any
	scratch []byte
	names   []string
}

func newEntryEncoder(d Dialect, now time.Time) entryEncoder {
	return entryEncoder{times: newTimeEncoder(d, now)}
}

func (x *entryEncoder) encode(e *auditlog.Entry) (encodedEntry, error) {
	if err := validateEntry(e); err != nil {
		return encodedEntry{}, err
	}
	r := encodedEntry{e: e, ts: x.times.arg(e.Timestamp)}
	if m, ok := x.model.(string); !ok || m != e.Model {
		x.model = e.Model
	}
	r.model = x.model
	if e.Changes != nil {
		if x.scratch == nil {
			x.scratch = make([]byte, 0, 512)
		}
		var err error
		if x.scratch, x.names, err = appendChangesSorted(x.scratch[:0], x.names, e.Changes); err != nil {
			return encodedEntry{}, err
		}
		r.changes = string(x.scratch)
	}
	return r, nil
}

// DBNow is the time PostgreSQL gives an entry inserted without one: the
// database's clock as the row is inserted, after the write it records
// (under that write's row locks), so later than the entries of the writes
// before. Not statement_timestamp(): that is when the server received the
// last simple query (the BEGIN, when a prepared statement follows), which
// can precede a wait for a lock; TestCrashSafety found entries out of
// order with it.
const DBNow = "pg_catalog.clock_timestamp()"

// EntryArgs returns the bind values of one entry, in the order of
// EntryColumns, validated and encoded exactly as Insert writes them (the
// context's fields clipped, the timestamp at the column's precision). It
// serves statements that build some columns of their entries in SQL and
// bind the rest.
func EntryArgs(d Dialect, e auditlog.Entry) ([]any, error) {
	es := clipped([]auditlog.Entry{e})
	r, err := encodeEntry(d, &es[0], time.Now())
	if err != nil {
		return nil, err
	}
	return r.args(make([]any, 0, columnsPerEntry)), nil
}

// EntryColumns are the columns of the entries table an insert writes, in
// the order of EntryArgs.
const EntryColumns = insertColumns

// args are the entry's bind values, in the order of insertColumns.
func (r encodedEntry) args(out []any) []any { return r.argsIn(out, allColumns) }

// argsIn are the entry's bind values of the columns cols, in the order of
// insertColumns.
func (r encodedEntry) argsIn(out []any, cols columnSet) []any {
	e := r.e
	var changes any
	if e.Changes != nil {
		changes = r.changes
	}
	all := [columnsPerEntry]any{
		r.ts, int16(e.Action), r.model, e.ObjectPK, nullInt64(e.ObjectID), e.ObjectRepr,
		changes, nullJSON(e.SerializedData), nullJSON(e.AdditionalData),
		nullString(e.ActorID), nullString(e.ActorName), nullString(e.RemoteAddr), nullPort(e.RemotePort), nullString(e.CorrelationID)}
	if cols == allColumns {
		return append(out, all[:]...)
	}
	for c, v := range all {
		if cols.has(c) {
			out = append(out, v)
		}
	}
	return out
}

// A repeater is a connection that keeps the statements it is told repeat
// prepared, one per connection (auditgorm's, on SQLite and MySQL), and
// reports whether a batch may go as several such statements on its pool,
// and how many bind variables one statement may carry there.
type repeater interface {
	ExecRepeated(ctx context.Context, query string, args ...any) (sql.Result, error)
	Prepares() bool
	MaxArgs() int
}

// sqliteRungs are the sizes of the INSERT … VALUES statements a batch of
// more than maxRowsPerValuesInsert entries is cut into on SQLite where
// statements are prepared and bound quickly (repeater.Prepares), instead
// of one JSON document: a few texts per set of columns, each parsed once
// per connection, so no statement of the batch is parsed again, and no
// value is extracted from JSON. 1,000 entries: 3 × 256, 3 × 64, 2 × 16 and
// 2 × 4 rows, 10 statements in process, where the connection takes 256 ×
// 14 bind variables (repeater.MaxArgs: SQLite 3.32 and later, unless built
// or set lower); otherwise at most 64 rows (999), 19 statements. Against 64
// rows at most, a 1,000-row batch create and bulk update measured 6–8 %
// faster, and statements of 1,000 rows no faster than of 256 (BENCHMARKS.md,
// "Wider batches on SQLite"); a prepared statement of 256 rows holds about
// 340 kB of the library's memory per connection, one of 1,000 rows 1.3 MB.
var sqliteRungs = [...]int{256, 64, 16, 4, 1}

// insertRungs inserts entries on SQLite in statements of sqliteRungs sizes
// that fit the connection's bind-variable limit, the largest first, all
// naming the columns any of the entries fills.
func insertRungs(ctx context.Context, r repeater, entries []auditlog.Entry, now time.Time) error {
	cols := columnsOfAll(entries)
	per, limit := cols.count(), r.MaxArgs()
	for start := 0; start < len(entries); {
		n := 1
		for _, rung := range sqliteRungs {
			if rung <= len(entries)-start && rung*per <= limit {
				n = rung
				break
			}
		}
		query, args, err := buildInsert(SQLite, entries[start:start+n], now, cols)
		if err != nil {
			return err
		}
		if _, err := r.ExecRepeated(ctx, query, args...); err != nil {
			if len(args) > oldSQLiteMaxArgs && strings.Contains(err.Error(), "too many SQL variables") {
				// This connection takes fewer than its pool reported (a
				// limit set on it alone): the statement did not prepare,
				// so nothing ran, and the rest goes in smaller ones.
				limit = oldSQLiteMaxArgs
				continue
			}
			return err
		}
		start += n
	}
	return nil
}

// oldSQLiteMaxArgs is the most bind variables of a statement on every
// SQLite (999 before 3.32).
const oldSQLiteMaxArgs = 999

// buildInsert is one INSERT … VALUES of entries, naming the columns cols
// (columnsOfAll of them, or of the batch they are a piece of).
func buildInsert(d Dialect, entries []auditlog.Entry, now time.Time, cols columnSet) (string, []any, error) {
	per := cols.count()
	var b strings.Builder
	b.Grow(120 + len(entries)*per*5)
	b.WriteString("INSERT INTO " + Table + " (")
	cols.writeList(&b)
	b.WriteString(") VALUES ")
	args := make([]any, 0, len(entries)*per)
	n := 0
	x := newEntryEncoder(d, now)
	for i := range entries {
		r, err := x.encode(&entries[i])
		if err != nil {
			return "", nil, err
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for c := 0; c < per; c++ {
			if c > 0 {
				b.WriteByte(',')
			}
			n++
			if c == 0 && d == Postgres {
				// The timestamp, always the first column.
				b.WriteString("coalesce(")
				d.placeholder(&b, n)
				b.WriteString("::timestamptz, " + DBNow + ")")
				continue
			}
			d.placeholder(&b, n)
		}
		b.WriteByte(')')
		args = r.argsIn(args, cols)
	}
	return b.String(), args, nil
}

// MaxContextBytes is the longest actor id, actor name or correlation id an
// entry stores; a longer one is cut at a character boundary and ends in
// "…", on every database and every insert path. A user's display name must
// never make their write fail.
const MaxContextBytes = 255

// MaxReprBytes is the longest object repr an entry stores: a longer one
// is cut at a character boundary and ends in "…", on every database and
// every insert path. It is what MySQL's TEXT column holds; an object's
// String or AuditRepr method must never make its write fail.
const MaxReprBytes = 65535

// MaxAddrBytes is the longest remote address an entry stores (the
// column's width, that of the longest IPv6 address written out); a longer
// one is no address, and is not stored, nor its port.
const MaxAddrBytes = 45

// clipped returns entries whose context fields and repr every database's
// text columns store: NUL bytes and bytes that are not UTF-8 (which
// PostgreSQL and MySQL refuse, and SQLite would keep) replaced by U+FFFD,
// over-long fields cut to MaxContextBytes (the repr to MaxReprBytes), an
// address over MaxAddrBytes dropped; copying only when one is changed. These come from the
// application, not from the rows recorded: an actor's name must never
// make their write fail, nor fail on one database and not another.
func clipped(entries []auditlog.Entry) []auditlog.Entry {
	var out []auditlog.Entry
	for i := range entries {
		e := &entries[i]
		if len(e.ActorID) <= MaxContextBytes && len(e.ActorName) <= MaxContextBytes && len(e.CorrelationID) <= MaxContextBytes &&
			len(e.RemoteAddr) <= MaxAddrBytes && storable(e.ActorID) && storable(e.ActorName) && storable(e.CorrelationID) &&
			storable(e.RemoteAddr) && storable(e.ObjectRepr) && len(e.ObjectRepr) <= MaxReprBytes {
			continue
		}
		if out == nil {
			out = append([]auditlog.Entry(nil), entries...)
		}
		c := &out[i]
		c.ActorID, c.ActorName = clip(asText(c.ActorID), MaxContextBytes), clip(asText(c.ActorName), MaxContextBytes)
		c.CorrelationID = StoredCorrelationID(c.CorrelationID)
		c.ObjectRepr, c.RemoteAddr = clip(asText(c.ObjectRepr), MaxReprBytes), asText(c.RemoteAddr)
		if len(c.RemoteAddr) > MaxAddrBytes {
			c.RemoteAddr, c.RemotePort = "", 0
		}
	}
	if out == nil {
		return entries
	}
	return out
}

// storable reports whether s is text every database stores as it is.
func storable(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

// asText is s with each NUL and each run of bytes that are not UTF-8
// replaced by U+FFFD.
func asText(s string) string {
	if storable(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// clip is s cut at a character boundary to at most n bytes ending in "…"
// where it is longer.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	cut := n - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// StoredCorrelationID is correlation id id as entries store it and filters
// match it: id itself where it fits the column (MaxContextBytes of text
// without NUL); else its text cut at a character boundary, then "…" and 16
// hex digits of id's SHA-256, so that two ids that differ only past the
// cut, or only in bytes that are not text, stay two ids: a revert by one
// must not undo the other's changes.
func StoredCorrelationID(id string) string {
	if len(id) <= MaxContextBytes && storable(id) {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	tag := "…" + hex.EncodeToString(sum[:8])
	s := asText(id)
	if cut := MaxContextBytes - len(tag); len(s) > cut {
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s + tag
}

func validateEntry(e *auditlog.Entry) error {
	switch {
	case !e.Action.Valid():
		return fmt.Errorf("auditstore: entry has invalid action %d", e.Action)
	case e.Model == "":
		return errors.New("auditstore: entry has no model name")
	case len(e.Model) > 255:
		return fmt.Errorf("auditstore: model name %.40q… is longer than 255 bytes", e.Model)
	case e.ObjectPK == "":
		return fmt.Errorf("auditstore: entry for %s has no object key", e.Model)
	case len(e.ObjectPK) > 255:
		return fmt.Errorf("auditstore: object key of %s is longer than 255 bytes", e.Model)
	case e.ObjectID != nil && !isIntegerKey(e.ObjectPK, *e.ObjectID):
		return fmt.Errorf("auditstore: entry for %s has object id %d and object key %.40q: an integer key's text is its number", e.Model, *e.ObjectID, e.ObjectPK)
	case e.RemotePort < 0 || e.RemotePort > 65535:
		return fmt.Errorf("auditstore: remote port %d is out of range", e.RemotePort)
	case !e.Timestamp.IsZero() && !ValidTimestamp(e.Timestamp):
		return fmt.Errorf("auditstore: entry for %s has timestamp %s outside the years 1 to 9999", e.Model, e.Timestamp.UTC().Format(time.RFC3339))
	}
	for _, raw := range []json.RawMessage{e.SerializedData, e.AdditionalData} {
		if len(raw) > 0 && !json.Valid(raw) {
			return fmt.Errorf("auditstore: entry for %s carries invalid JSON data", e.Model)
		}
	}
	return nil
}

// encodeChanges encodes changes as a JSON object with sorted keys.
func encodeChanges(cs auditlog.Changes) ([]byte, error) {
	return appendChanges(make([]byte, 0, 128), cs)
}

// appendChanges appends changes to b as a JSON object with sorted keys.
func appendChanges(b []byte, cs auditlog.Changes) ([]byte, error) {
	b, _, err := appendChangesSorted(b, nil, cs)
	return b, err
}

// appendChangesSorted is appendChanges sorting the field names in names,
// which it returns for reuse.
func appendChangesSorted(b []byte, names []string, cs auditlog.Changes) ([]byte, []string, error) {
	if cap(names) < len(cs) {
		names = make([]string, 0, len(cs))
	}
	names = names[:0]
	for name := range cs {
		names = append(names, name)
	}
	slices.Sort(names)
	b = append(b, '{')
	for i, name := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = value.AppendJSONString(b, name)
		b = append(b, ':')
		c := cs[name]
		if c.M2M != nil {
			raw, err := c.MarshalJSON()
			if err != nil {
				return nil, names, err
			}
			b = append(b, raw...)
			continue
		}
		b = append(b, '[')
		for k, v := range [2][]byte{c.Old, c.New} {
			if k > 0 {
				b = append(b, ',')
			}
			if len(v) == 0 {
				b = append(b, "null"...)
				continue
			}
			if !validJSON(v) {
				return nil, names, fmt.Errorf("auditstore: change of %q is not valid JSON", name)
			}
			b = append(b, v...)
		}
		b = append(b, ']')
	}
	return append(b, '}'), names, nil
}

func nullInt64(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullPort(p int) any {
	if p == 0 {
		return nil
	}
	return int32(p)
}

func nullJSON(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	return string(raw)
}

// ObjectRef names one object: its model and key. ID is set for integer keys
// and is the fast path (the object_id index).
type ObjectRef struct {
	Model string
	PK    string
	ID    *int64
}

// KeyRefs returns the references that find the object model:pk when all
// that is known is its key text (the UI, the command line): an integer-looking
// key may be an integer key (object_id) or a text key that looks like one
// ("12345" of a SKU), so it matches both. Only a key in canonical form
// ("7", not "007") can be an integer key.
func KeyRefs(model, pk string) []ObjectRef {
	ref := ObjectRef{Model: model, PK: pk}
	if id, ok := IntegerKey(pk); ok {
		return []ObjectRef{{Model: model, PK: pk, ID: &id}, ref}
	}
	return []ObjectRef{ref}
}

// IntegerKey reports whether pk is the canonical text of an integer, as an
// integer key's object_pk is stored.
func IntegerKey(pk string) (int64, bool) {
	id, err := strconv.ParseInt(pk, 10, 64)
	return id, err == nil && isIntegerKey(pk, id)
}

// isIntegerKey reports whether pk is the canonical text of id (IntegerKey's
// rule), without allocating: the writer and the reader check every entry.
func isIntegerKey(pk string, id int64) bool {
	var buf [20]byte
	return string(strconv.AppendInt(buf[:0], id, 10)) == pk
}

// Filter selects entries. Empty fields do not filter. Conditions combine with
// AND; Objects match any of the listed objects.
type Filter struct {
	Model         string
	Objects       []ObjectRef
	Actions       []auditlog.Action
	ActorID       string
	CorrelationID string
	// ObjectPK matches the object key text. With Model it is found through
	// the object indexes, as Objects would; without, it reads every entry
	// in the range of the other conditions.
	ObjectPK string
	// Search matches entries whose object repr contains it (case-sensitive
	// on PostgreSQL, as the collation decides elsewhere).
	Search string
	// Since and Until bound the timestamp: Since <= t < Until.
	Since, Until time.Time
}

// The page sizes every list uses: List, the admin UI's pages and the
// command's history.
const (
	DefaultPageSize = 50
	MaxPageSize     = 1000
)

// Page asks for one page of entries, newest first.
type Page struct {
	// Limit is the page size: 1 to MaxPageSize, 0 means DefaultPageSize.
	// A page whose entries hold more than 16 MiB of values ends early,
	// after the entry that passed that size, with Result.Next set.
	Limit int
	// Cursor is the Next of the previous page; empty for the first page.
	Cursor string
	// SearchWindow bounds a page of a Filter.Search, which no index can
	// serve: the page reads at most this many of the entries that match the
	// other conditions (newest first, after Cursor). When they run out
	// before the page is full, the page ends there: Result.Next goes on
	// after them and Result.SearchedTo tells how far back it read. 0: no
	// bound, the page reads on until it is full.
	SearchWindow int
}

// listMaxBytes bounds the values one page of List holds: a page whose
// entries hold more ends early, with Next set.
var listMaxBytes = 16 << 20

// Result is one page of entries, newest first. Next is empty on the last page.
type Result struct {
	Entries []auditlog.Entry
	Next    string
	// SearchedTo is set when a search window ended before the page was
	// full: the time of the oldest entry the window read. Next continues the
	// search from there. It stays zero when that entry's time is
	// unreadable (Entry.Unreadable); Next is set all the same.
	SearchedTo time.Time
}

// ErrInvalidCursor is returned for a cursor that was not produced by List.
var ErrInvalidCursor = errors.New("auditstore: invalid cursor")

// ErrInvalidFilter is returned for a filter that no query can serve: an
// unknown action, an over-long search text, a time outside the years 1 to
// 9999. The error's text says which.
var ErrInvalidFilter = errors.New("auditstore: invalid filter")

type cursor struct {
	micros int64
	id     int64
	// atEntry: at the stored time of entry id, whatever it holds (an entry
	// whose time does not decode still has a place in the order).
	atEntry bool
}

func (c cursor) String() string {
	if c.atEntry {
		return base64.RawURLEncoding.EncodeToString([]byte("e" + strconv.FormatInt(c.id, 10)))
	}
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.micros, 10) + "." + strconv.FormatInt(c.id, 10)))
}

// CursorAfter returns the cursor of the page that starts right after e in
// newest-first order, as List's Next would.
func CursorAfter(e auditlog.Entry) string {
	if e.UnreadableColumn("timestamp") {
		return cursor{id: e.ID, atEntry: true}.String()
	}
	return cursor{micros: e.Timestamp.UnixMicro(), id: e.ID}.String()
}

// timeOf is the SQL of the cursor's time.
func (q *queryBuilder) timeOf(c cursor) string {
	if c.atEntry {
		return "(SELECT timestamp FROM " + Table + " WHERE id = " + q.arg(c.id) + ")"
	}
	return q.arg(encodeTime(q.d, time.UnixMicro(c.micros)))
}

// CheckCursor returns nil for a cursor that List accepts, and an error
// wrapping ErrInvalidCursor otherwise, without a query.
func CheckCursor(s string) error {
	_, err := parseCursor(s)
	return err
}

// parseCursor accepts exactly the cursors List makes: "micros.id" in
// canonical decimal, with a positive id and a time inside the range every
// database stores. Anything else is ErrInvalidCursor, before a query runs.
func parseCursor(s string) (cursor, error) {
	if len(s) > 64 {
		return cursor{}, fmt.Errorf("%w: too long", ErrInvalidCursor)
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, fmt.Errorf("%w: not base64", ErrInvalidCursor)
	}
	if e, ok := strings.CutPrefix(string(raw), "e"); ok {
		id, err := strconv.ParseInt(e, 10, 64)
		if err != nil || strconv.FormatInt(id, 10) != e || id <= 0 {
			return cursor{}, fmt.Errorf("%w: malformed", ErrInvalidCursor)
		}
		return cursor{id: id, atEntry: true}, nil
	}
	a, b, ok := strings.Cut(string(raw), ".")
	if !ok {
		return cursor{}, fmt.Errorf("%w: malformed", ErrInvalidCursor)
	}
	micros, err1 := strconv.ParseInt(a, 10, 64)
	id, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || strconv.FormatInt(micros, 10) != a || strconv.FormatInt(id, 10) != b {
		return cursor{}, fmt.Errorf("%w: malformed", ErrInvalidCursor)
	}
	if id <= 0 {
		return cursor{}, fmt.Errorf("%w: id out of range", ErrInvalidCursor)
	}
	if micros < minTime.UnixMicro() || micros > maxTime.UnixMicro() {
		return cursor{}, fmt.Errorf("%w: time out of range", ErrInvalidCursor)
	}
	return cursor{micros: micros, id: id}, nil
}

const selectColumns = "id, timestamp, action, model, object_pk, object_id, object_repr, changes, serialized_data, additional_data, actor_id, actor_name, remote_addr, remote_port, cid"

// SelectColumns are every column of the entries table, in the order the
// store reads them.
const SelectColumns = selectColumns

// ReadColumns is the select list of SelectColumns as d's readers send it,
// each column prefixed by alias ("e." or ""): on MySQL the timestamp is read
// as text (TimeColumn).
func ReadColumns(d Dialect, alias string) string {
	cols := strings.Split(selectColumns, ", ")
	for i, c := range cols {
		if c == "timestamp" {
			// No alias: MySQL would order ORDER BY timestamp by the
			// alias's text, without the index.
			cols[i] = TimeColumn(d, alias+c)
			continue
		}
		cols[i] = alias + c
	}
	return strings.Join(cols, ", ")
}

// TimeColumn is expr, an entry timestamp, as the readers select it: on
// MySQL as its text, since the driver turns a date with a zero month or day
// (which MariaDB keeps, outside strict mode) into another, valid date.
func TimeColumn(d Dialect, expr string) string {
	if d == MySQL {
		return "CAST(" + expr + " AS CHAR)"
	}
	return expr
}

// readColumns are ReadColumns for the store's own queries, by dialect.
var readColumns = map[Dialect]string{SQLite: ReadColumns(SQLite, ""), Postgres: ReadColumns(Postgres, ""), MySQL: ReadColumns(MySQL, "")}

type queryBuilder struct {
	d     Dialect
	where []string
	args  []any
}

// textIs is the condition that the text column col holds v exactly. On
// MySQL the entries table's utf8mb4_bin collation pads with spaces ("a"
// equals "a "): there the comparison is made again on the bytes, after the
// one an index serves.
func (q *queryBuilder) textIs(col, v string) string {
	eq := col + " = " + q.arg(v)
	if q.d == MySQL {
		eq += " AND " + col + " = BINARY " + q.arg(v)
	}
	return eq
}

// textIn is textIs for a list of values.
func (q *queryBuilder) textIn(col string, vs []any) string {
	var b strings.Builder
	for _, binary := range []bool{false, true} {
		if binary {
			if q.d != MySQL {
				break
			}
			b.WriteString(" AND BINARY ")
		}
		b.WriteString(col + " IN (")
		for j, v := range vs {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(q.arg(v))
		}
		b.WriteString(")")
	}
	return b.String()
}

func (q *queryBuilder) arg(v any) string {
	q.args = append(q.args, v)
	var b strings.Builder
	q.d.placeholder(&b, len(q.args))
	return b.String()
}

// List returns one page of the entries that match f, newest first
// (timestamp, then id). It never counts the table.
func (s *Store) List(ctx context.Context, f Filter, p Page) (Result, error) {
	if ctx == nil {
		return Result{}, errNilContext
	}
	if p.SearchWindow < 0 {
		return Result{}, fmt.Errorf("auditstore: search window %d is negative", p.SearchWindow)
	}
	var windowEnd *cursor // the last entry of a search window that ends before the last candidate
	if f.Search != "" && p.SearchWindow > 0 {
		var err error
		if windowEnd, err = s.searchWindowEnd(ctx, f, p); err != nil {
			return Result{}, err
		}
	}
	sqlText, args, limit, err := s.listSQL(f, p, windowEnd)
	if err != nil {
		return Result{}, err
	}
	rows, err := s.db.QueryContext(ctx, sqlText, args...)
	if err != nil {
		return Result{}, queryErr(ctx, "list entries", err)
	}
	defer rows.Close()
	var res Result
	size, full := 0, false
	for rows.Next() {
		e, err := scanEntry(s.dialect, rows)
		if err != nil {
			return Result{}, err
		}
		res.Entries = append(res.Entries, e)
		if size += entrySize(e); size > listMaxBytes {
			// A page of a thousand large entries (a document's body in
			// each) held gigabytes: it ends here, and Next goes on.
			full = true
			break
		}
	}
	if err := rows.Err(); err != nil {
		return Result{}, queryErr(ctx, "list entries", err)
	}
	if len(res.Entries) == 0 && p.Cursor != "" {
		if err := s.cursorEntryThere(ctx, p.Cursor); err != nil {
			return Result{}, err
		}
	}
	switch {
	case full && len(res.Entries) <= limit:
		// Only where another entry follows: a next page that is empty
		// would be one more link to nothing.
		if rows.Next() {
			res.Next = CursorAfter(res.Entries[len(res.Entries)-1])
		}
	case len(res.Entries) > limit:
		res.Entries = res.Entries[:limit]
		last := res.Entries[limit-1]
		res.Next = CursorAfter(last)
	case windowEnd != nil:
		res.Next = windowEnd.String()
		if !windowEnd.atEntry {
			res.SearchedTo = time.UnixMicro(windowEnd.micros).UTC()
		}
	}
	return res, nil
}

// cursorEntryThere checks, after an empty page, that the entry a cursor
// after an unreadable time names is still there: its page starts at that
// entry's stored time, and once the entry is gone (flushed) there is none,
// and the page would end the list where entries go on.
func (s *Store) cursorEntryThere(ctx context.Context, cur string) error {
	c, err := parseCursor(cur)
	if err != nil || !c.atEntry {
		return err
	}
	var b strings.Builder
	s.dialect.placeholder(&b, 1)
	n, err := countOf(ctx, s.db, "SELECT COUNT(*) FROM "+Table+" WHERE id = "+b.String(), c.id)
	if err != nil {
		return queryErr(ctx, "list entries", err)
	}
	if n == 0 {
		return fmt.Errorf("%w: entry %d, which it follows, is gone: start again from the first page", ErrInvalidCursor, c.id)
	}
	return nil
}

// searchWindowEnd finds the last of the p.SearchWindow newest entries that
// match f without its search text, after p.Cursor, along the index the
// other conditions use. It returns nil when no candidate follows it, so the
// window holds every remaining candidate.
func (s *Store) searchWindowEnd(ctx context.Context, f Filter, p Page) (*cursor, error) {
	f.Search = ""
	q, err := s.filter(f)
	if err != nil {
		return nil, err
	}
	if err := s.after(q, p.Cursor); err != nil {
		return nil, err
	}
	sqlText := "SELECT " + TimeColumn(s.dialect, "timestamp") + ", id FROM " + Table + q.whereSQL() +
		" ORDER BY timestamp DESC, id DESC LIMIT 2 OFFSET " + strconv.Itoa(p.SearchWindow-1)
	rows, err := s.db.QueryContext(ctx, sqlText, q.args...)
	if err != nil {
		return nil, queryErr(ctx, "search window", err)
	}
	defer rows.Close()
	var found []cursor
	for rows.Next() {
		var ts any
		var id int64
		if err := rows.Scan(&ts, &id); err != nil {
			return nil, fmt.Errorf("auditstore: search window: %w", err)
		}
		t, err := entryTime(s.dialect, ts)
		if err != nil { // an unreadable entry's time: the window ends at its place
			found = append(found, cursor{id: id, atEntry: true})
			continue
		}
		found = append(found, cursor{micros: t.UnixMicro(), id: id})
	}
	if err := rows.Err(); err != nil {
		return nil, queryErr(ctx, "search window", err)
	}
	if len(found) < 2 {
		return nil, nil
	}
	return &found[0], nil
}

// after adds the condition "after the cursor" (older, in list order).
func (s *Store) after(q *queryBuilder, cur string) error {
	if cur == "" {
		return nil
	}
	c, err := parseCursor(cur)
	if err != nil {
		return err
	}
	if s.dialect == MySQL {
		// MariaDB and MySQL plan this form as an index range; they do not
		// use an index for row-value comparisons.
		q.where = append(q.where, "(timestamp < "+q.timeOf(c)+" OR (timestamp = "+q.timeOf(c)+" AND id < "+q.arg(c.id)+"))")
	} else {
		q.where = append(q.where, "(timestamp, id) < ("+q.timeOf(c)+", "+q.arg(c.id)+")")
	}
	return nil
}

// notBefore adds the condition "at or before c" (c or newer, in list order).
func (s *Store) notBefore(q *queryBuilder, c cursor) {
	if s.dialect == MySQL {
		q.where = append(q.where, "(timestamp > "+q.timeOf(c)+" OR (timestamp = "+q.timeOf(c)+" AND id >= "+q.arg(c.id)+"))")
	} else {
		q.where = append(q.where, "(timestamp, id) >= ("+q.timeOf(c)+", "+q.arg(c.id)+")")
	}
}

// listSQL builds List's statement and reports the page size. windowEnd,
// when set, is the last entry a search may read.
func (s *Store) listSQL(f Filter, p Page, windowEnd *cursor) (string, []any, int, error) {
	limit := p.Limit
	switch {
	case limit == 0:
		limit = DefaultPageSize
	case limit < 0 || limit > MaxPageSize:
		return "", nil, 0, fmt.Errorf("auditstore: page limit %d is out of range: use 1 to %d", limit, MaxPageSize)
	}
	order := " ORDER BY timestamp DESC, id DESC LIMIT " + strconv.Itoa(limit+1)
	if branches := s.objectBranches(f); branches != nil {
		// One ordered page of each object, merged: SQLite would read
		// every entry of the objects through both indexes and sort them.
		q := &queryBuilder{d: s.dialect}
		parts := make([]string, len(branches))
		for i, b := range branches {
			start := len(q.where)
			if _, err := s.filterOn(q, b); err != nil {
				return "", nil, 0, err
			}
			if err := s.after(q, p.Cursor); err != nil {
				return "", nil, 0, err
			}
			if windowEnd != nil {
				s.notBefore(q, *windowEnd)
			}
			where := &queryBuilder{where: q.where[start:]}
			parts[i] = "SELECT " + readColumns[s.dialect] + " FROM (SELECT " + readColumns[s.dialect] + " FROM " + Table + where.whereSQL() + order + ")"
		}
		// Each branch binds the filter's values again: past the 999 an
		// SQLite older than 3.32 allows, the OR form below serves.
		if len(q.args) <= maxBranchArgs {
			return strings.Join(parts, " UNION ALL ") + order, q.args, limit, nil
		}
	}
	q, err := s.filter(f)
	if err != nil {
		return "", nil, 0, err
	}
	if err := s.after(q, p.Cursor); err != nil {
		return "", nil, 0, err
	}
	if windowEnd != nil {
		s.notBefore(q, *windowEnd)
	}
	sqlText := "SELECT " + readColumns[s.dialect] + " FROM " + Table + q.whereSQL() + order
	return sqlText, q.args, limit, nil
}

// objectBranches splits, on SQLite, a filter of several objects (or of an
// integer-looking key, which KeyRefs finds by both indexes) into one
// filter per object reference, or returns nil. SQLite reads an OR of
// index ranges as a union it sorts whole; the branches, each one ordered
// page of one index range, make a page cost the same however many entries
// the objects have. The references are disjoint (a model and an integer
// key, or a model and a key text without one), so no entry is in two.
func (s *Store) objectBranches(f Filter) []Filter {
	if s.dialect != SQLite {
		return nil
	}
	f, none := f.folded()
	if none {
		return nil
	}
	refs := f.Objects
	if f.ObjectPK != "" && f.Model != "" {
		refs = KeyRefs(f.Model, f.ObjectPK)
		f.Model, f.ObjectPK = "", ""
	}
	if len(refs) < 2 || len(refs) > maxObjectBranches {
		return nil
	}
	// A reference given twice is one branch: two would list its entries
	// twice, where the OR matches them once.
	type refKey struct {
		model, pk string
		byID      bool
		id        int64
	}
	seen := map[refKey]bool{}
	var out []Filter
	for i, r := range refs {
		k := refKey{model: r.Model, byID: r.ID != nil}
		if k.byID {
			k.id = *r.ID
		} else {
			k.pk = r.PK
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		b := f
		b.Objects = refs[i : i+1]
		out = append(out, b)
	}
	if len(out) < 2 {
		return nil
	}
	return out
}

// maxObjectBranches bounds the branches of one list statement (SQLite
// allows 500 terms in a compound SELECT), and maxBranchArgs their bound
// values (999 before SQLite 3.32).
const (
	maxObjectBranches = 200
	maxBranchArgs     = 999
)

// objects builds "(model = ? AND object_id IN (…)) OR (model = ? AND object_pk IN (…))",
// grouping the refs by model and key kind so each group uses its index.
func (q *queryBuilder) objects(refs []ObjectRef) string {
	type group struct {
		model string
		byID  bool
		keys  []any
	}
	var groups []*group
	index := map[string]*group{}
	for _, r := range refs {
		byID := r.ID != nil
		k := r.Model + "\x00" + strconv.FormatBool(byID)
		g := index[k]
		if g == nil {
			g = &group{model: r.Model, byID: byID}
			index[k] = g
			groups = append(groups, g)
		}
		if byID {
			g.keys = append(g.keys, *r.ID)
		} else {
			g.keys = append(g.keys, r.PK)
		}
	}
	parts := make([]string, len(groups))
	for i, g := range groups {
		// Placeholders are numbered in the order they are written.
		part := "(" + q.textIs("model", g.model) + " AND "
		switch {
		case g.byID && len(g.keys) == 1:
			// "=" lets every planner walk the (model, key, timestamp, id)
			// index backwards and stop after one page.
			part += "object_id = " + q.arg(g.keys[0])
		case g.byID:
			part += "object_id IN ("
			for j, k := range g.keys {
				if j > 0 {
					part += ", "
				}
				part += q.arg(k)
			}
			part += ")"
		case len(g.keys) == 1:
			// object_id IS NULL matches the partial index of non-integer keys.
			part += "object_id IS NULL AND " + q.textIs("object_pk", g.keys[0].(string))
		default:
			part += "object_id IS NULL AND " + q.textIn("object_pk", g.keys)
		}
		parts[i] = part + ")"
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}

// queryErr wraps the error of a query. When the query's context was
// cancelled or ran out of time, the error wraps the context's error too,
// whatever the driver said, so errors.Is(err, context.DeadlineExceeded)
// tells a timeout on every database.
func queryErr(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("auditstore: %s: %w (%w)", op, cerr, err)
	}
	return fmt.Errorf("auditstore: %s: %w", op, err)
}

// ErrNotFound is returned by Get for an id that has no entry.
var ErrNotFound = errors.New("auditstore: entry not found")

// Get returns the entry with the given id.
func (s *Store) Get(ctx context.Context, id int64) (auditlog.Entry, error) {
	if ctx == nil {
		return auditlog.Entry{}, errNilContext
	}
	var b strings.Builder
	s.dialect.placeholder(&b, 1)
	rows, err := s.db.QueryContext(ctx, "SELECT "+readColumns[s.dialect]+" FROM "+Table+" WHERE id = "+b.String(), id)
	if err != nil {
		return auditlog.Entry{}, queryErr(ctx, fmt.Sprintf("get entry %d", id), err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return auditlog.Entry{}, queryErr(ctx, fmt.Sprintf("get entry %d", id), err)
		}
		return auditlog.Entry{}, fmt.Errorf("%w: %d", ErrNotFound, id)
	}
	return scanEntry(s.dialect, rows)
}

// filter turns f into WHERE conditions.
func (s *Store) filter(f Filter) (*queryBuilder, error) {
	return s.filterOn(&queryBuilder{d: s.dialect}, f)
}

// folded is f with its Model and ObjectPK folded into its Objects (the
// objects of that model and with that key text, byte for byte), so that
// no column has two conditions: MariaDB's optimizer took two equalities
// on one column whose values differ only in trailing spaces for one, and
// let entries through that fail one of them. none reports that no object
// is left: f matches nothing.
func (f Filter) folded() (_ Filter, none bool) {
	if len(f.Objects) == 0 || f.Model == "" && f.ObjectPK == "" {
		return f, false
	}
	var keep []ObjectRef
	for _, r := range f.Objects {
		text := r.PK
		if r.ID != nil {
			// Entries by object_id have the number's text as object_pk.
			text = strconv.FormatInt(*r.ID, 10)
		}
		if (f.Model == "" || r.Model == f.Model) && (f.ObjectPK == "" || text == f.ObjectPK) {
			keep = append(keep, r)
		}
	}
	f.Objects, f.Model, f.ObjectPK = keep, "", ""
	return f, len(keep) == 0
}

// filterOn adds f's conditions to q, after the bind values q holds.
func (s *Store) filterOn(q *queryBuilder, f Filter) (*queryBuilder, error) {
	f, none := f.folded()
	if none {
		q.where = append(q.where, "1 = 0")
	}
	if f.Model != "" && f.ObjectPK == "" { // with a key, the object condition names the model
		q.where = append(q.where, q.textIs("model", f.Model))
	}
	if len(f.Objects) > 0 {
		q.where = append(q.where, q.objects(f.Objects))
	}
	if len(f.Actions) > 0 {
		ph := make([]string, len(f.Actions))
		for i, a := range f.Actions {
			if !a.Valid() {
				return nil, fmt.Errorf("%w: action %d", ErrInvalidFilter, a)
			}
			ph[i] = q.arg(int16(a))
		}
		q.where = append(q.where, "action IN ("+strings.Join(ph, ", ")+")")
	}
	if f.ActorID != "" {
		q.where = append(q.where, q.textIs("actor_id", f.ActorID))
	}
	if f.CorrelationID != "" {
		q.where = append(q.where, q.textIs("cid", StoredCorrelationID(f.CorrelationID)))
	}
	switch {
	case f.ObjectPK != "" && f.Model != "":
		// As a history: the object indexes (by integer key and by key text).
		q.where = append(q.where, q.objects(KeyRefs(f.Model, f.ObjectPK)))
	case f.ObjectPK != "":
		// No index leads with the key: this reads every entry in the other
		// filters' range. The UI asks for a model.
		q.where = append(q.where, q.textIs("object_pk", f.ObjectPK))
	}
	if f.Search != "" {
		if len(f.Search) > 200 {
			return nil, fmt.Errorf("%w: search text is longer than 200 bytes", ErrInvalidFilter)
		}
		// '!' escapes: a backslash means something else in MySQL literals.
		esc := strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(f.Search)
		q.where = append(q.where, "object_repr LIKE "+q.arg("%"+esc+"%")+" ESCAPE '!'")
	}
	for _, t := range []time.Time{f.Since, f.Until} {
		if !t.IsZero() && !ValidTimestamp(t) {
			return nil, fmt.Errorf("%w: time %s is outside the years 1 to 9999", ErrInvalidFilter, t.UTC().Format(time.RFC3339))
		}
	}
	// Entries are stored to the microsecond: a bound between two is the
	// next one (an entry at 00:00:00 is before Since 00:00:00.0000005,
	// and before Until the same), not the one before.
	if !f.Since.IsZero() {
		q.where = append(q.where, "timestamp >= "+q.arg(encodeTime(s.dialect, ceilMicrosecond(f.Since))))
	}
	if !f.Until.IsZero() {
		q.where = append(q.where, "timestamp < "+q.arg(encodeTime(s.dialect, ceilMicrosecond(f.Until))))
	}
	return q, nil
}

// ceilMicrosecond is t, or the next microsecond where t falls between two.
func ceilMicrosecond(t time.Time) time.Time {
	if c := t.Truncate(time.Microsecond); !c.Equal(t) {
		return c.Add(time.Microsecond)
	}
	return t
}

// ErrUnreadable is wrapped by the errors of readers that need their entries
// as they were written (rebuilding an object's state, reverting) when one
// of them cannot be read: its Unreadable says why.
var ErrUnreadable = errors.New("auditstore: an entry cannot be read")

// scanEntry reads the entry at rows. A column that does not decode does not
// fail the read: the entry comes back with Unreadable naming it, so that
// one damaged row does not hide the rest of the log from every reader.
func scanEntry(d Dialect, rows *sql.Rows) (auditlog.Entry, error) {
	var (
		e                               auditlog.Entry
		ts                              any
		action                          sql.NullInt64
		objectID, port                  sql.NullInt64
		changes, serialized, additional []byte
		actorID, actorName, addr, cid   sql.NullString
		bad                             unreadable
	)
	if err := rows.Scan(&e.ID, &ts, &action, &e.Model, &e.ObjectPK, &objectID, &e.ObjectRepr,
		&changes, &serialized, &additional, &actorID, &actorName, &addr, &port, &cid); err != nil {
		// A value of the wrong type (SQLite keeps what it is given): read
		// every column as it is and tell which ones did not decode.
		var ok bool
		if e, ts, action, objectID, port, changes, serialized, additional, ok = scanLoose(rows, &bad); !ok {
			return e, fmt.Errorf("auditstore: scan entry: %w", err)
		}
	} else {
		e.ActorID, e.ActorName, e.RemoteAddr, e.CorrelationID = actorID.String, actorName.String, addr.String, cid.String
	}
	if t, err := entryTime(d, ts); err != nil {
		bad.add("timestamp", "%s", strings.TrimPrefix(err.Error(), "auditstore: "))
	} else {
		e.Timestamp = t
	}
	switch {
	case !action.Valid: // named by scanLoose
	case action.Int64 < math.MinInt8 || action.Int64 > math.MaxInt8:
		bad.add("action", "%d is not one of create, update, delete or access", action.Int64)
	case !auditlog.Action(action.Int64).Valid():
		bad.add("action", "%d is not one of create, update, delete or access", action.Int64)
	default:
		e.Action = auditlog.Action(action.Int64)
	}
	if objectID.Valid {
		// The object's key is object_pk; object_id is its integer form,
		// by which the object's entries are found.
		if id := objectID.Int64; isIntegerKey(e.ObjectPK, id) {
			e.ObjectID = &id
		} else {
			bad.add("object_id", "%d does not match object_pk %s", id, storedText(e.ObjectPK))
		}
	}
	if changes != nil {
		if err := json.Unmarshal(changes, &e.Changes); err != nil {
			e.Changes = nil
			bad.add("changes", "%s in %s", strings.TrimPrefix(err.Error(), "auditlog: "), storedText(string(changes)))
		}
	}
	for _, c := range []struct {
		name string
		raw  []byte
		to   *json.RawMessage
	}{{"serialized_data", serialized, &e.SerializedData}, {"additional_data", additional, &e.AdditionalData}} {
		switch {
		case c.raw == nil:
		case !json.Valid(c.raw):
			bad.add(c.name, "not JSON: %s", storedText(string(c.raw)))
		default:
			*c.to = json.RawMessage(c.raw)
		}
	}
	if port.Valid && (port.Int64 < 0 || port.Int64 > 65535) {
		bad.add("remote_port", "%d is not a port", port.Int64)
	} else {
		e.RemotePort = int(port.Int64)
	}
	e.Unreadable = bad.String()
	return e, nil
}

// scanLoose reads the entry at rows column by column as the driver gives
// them, for a row whose typed read failed: a number column that holds
// something else is named in bad and left invalid.
func scanLoose(rows *sql.Rows, bad *unreadable) (e auditlog.Entry, ts any, action, objectID, port sql.NullInt64, changes, serialized, additional []byte, ok bool) {
	var v [15]any
	dest := make([]any, len(v))
	for i := range v {
		dest[i] = &v[i]
	}
	if rows.Scan(dest...) != nil {
		return e, nil, action, objectID, port, nil, nil, nil, false
	}
	if e.ID, ok = looseInt(v[0]); !ok {
		return e, nil, action, objectID, port, nil, nil, nil, false
	}
	number := func(name string, v any) (n sql.NullInt64) {
		if v == nil {
			return n
		}
		if n.Int64, n.Valid = looseInt(v); !n.Valid {
			bad.add(name, "not an integer: %s", storedText(looseText(v)))
		}
		return n
	}
	ts = v[1]
	action = number("action", v[2])
	e.Model, e.ObjectPK, e.ObjectRepr = looseText(v[3]), looseText(v[4]), looseText(v[6])
	objectID = number("object_id", v[5])
	changes, serialized, additional = looseBytes(v[7]), looseBytes(v[8]), looseBytes(v[9])
	e.ActorID, e.ActorName, e.RemoteAddr = looseText(v[10]), looseText(v[11]), looseText(v[12])
	port = number("remote_port", v[13])
	e.CorrelationID = looseText(v[14])
	return e, ts, action, objectID, port, changes, serialized, additional, true
}

func looseInt(v any) (int64, bool) {
	switch v := v.(type) {
	case int64:
		return v, true
	case []byte:
		n, err := strconv.ParseInt(string(v), 10, 64)
		return n, err == nil
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	}
	return 0, false
}

func looseText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []byte:
		return string(v)
	}
	return fmt.Sprint(v)
}

func looseBytes(v any) []byte {
	switch v := v.(type) {
	case nil:
		return nil
	case []byte:
		return v
	}
	return []byte(looseText(v))
}

// unreadable collects what did not decode in an entry.
type unreadable struct{ b strings.Builder }

func (u *unreadable) add(column, format string, args ...any) {
	if u.b.Len() > 0 {
		u.b.WriteString("; ")
	}
	u.b.WriteString(column + ": ")
	fmt.Fprintf(&u.b, format, args...)
}

func (u *unreadable) String() string { return u.b.String() }

// storedText quotes a stored value for an Unreadable, clipped.
func storedText(s string) string {
	const max = 80
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "…"
	}
	return strconv.Quote(s)
}

// errNilContext is the error of a call given no context: database/sql
// would panic on it while holding its pool's lock, and wedge the pool.
var errNilContext = errors.New("auditstore: ctx is nil: pass a context, such as context.Background()")
