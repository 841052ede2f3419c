package auditgorm

import (
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/capture"
	"github.com/go-auditlog/auditlog/internal/value"
)

// On PostgreSQL an update or a delete writes its own entries: one statement
//
//	WITH _au AS (UPDATE … FROM (locking read) … RETURNING old and new),
//	     _ae AS (INSERT INTO auditlog_entries SELECT … FROM _au WHERE …)
//	SELECT …
//
// in which SQL compares and encodes each value as the Go side would
// (internal/value) from the rows the write returned. The entries cost no
// round trip of their own, and no value travels to the client and back.
//
// SQL builds an entry only where its encoding provably equals the Go
// side's: models without masked fields and without repr or additional
// data methods (which need the Go object), a single-column integer, text or
// uuid key, and columns of the types pgKind lists, read as the Go side
// reads them. Per row, a value the SQL form cannot take (text over 170,000
// bytes, which the Go side may record as a digest; a time outside the
// years 1 to 9999) sends that row to the client, where the Go side writes
// its entry in a second statement of the same transaction. A column whose
// type changed since it was read from the catalog fails the write
// (checkTypes). TestPGEntriesEqualGo writes the same changes both ways and
// compares the entries column by column.

// pgKind is how SQL encodes a column's values for an entry.
type pgKind uint8

const (
	pgNone pgKind = iota // not in SQL: the model's entries are built in Go
	pgInt
	pgBool
	pgText
	pgUUID
	pgNumeric
	pgFloat
	pgNumericFloat // a numeric column of a float field: read as a float
	pgTimestamptz
	pgTimestamp
	pgDate
	pgJSONB
)

// pgMaxText bounds the bytes of a text or jsonb value whose entry SQL
// writes: escaped as JSON (at most six bytes a byte) it stays under
// capture.MaxValueBytes, above which the Go side records a digest.
const pgMaxText = (capture.MaxValueBytes - 2) / 6

// pgColumn is one column of a pgPlan.
type pgColumn struct {
	kind pgKind
	typ  string // the column's type name in the catalog
	oid  string // and its oid
	used bool   // in the entries: audited, the key or in the snapshot
}

// pgPlan is how SQL writes the entries of one model's writes to one table.
type pgPlan struct {
	cols   []pgColumn // per model field
	pieces sync.Map   // pgPiecesKey → *pgPieces, the SQL built from it
}

type pgPiecesKey struct {
	action auditlog.Action
	hasOld bool
}

// pgPieces are the parts of a statement that writes its entries that
// depend only on the plan: built once.
type pgPieces struct {
	columns string // object_pk … serialized_data of the entries' SELECT
	where   string // which rows get an entry from SQL
	safe    string // which rows SQL can encode
}

// pgPlans caches the plans of the models and tables written, nil where SQL
// cannot write the entries.
type pgPlans struct{ m tableCache } // pgPlanKey → *pgPlan

type pgPlanKey struct {
	m     *model
	table string
}

// sqlEntriesModel reports whether the model's entries can be built in SQL
// at all, whatever its columns' types: compileModel keeps the answer in
// model.sqlEntries, so that no write asks again.
func (m *model) sqlEntriesModel() bool {
	if m.wantsObject || len(m.pk) != 1 || strings.ContainsAny(m.t.Model, "?\\\x00") {
		return false
	}
	for _, f := range m.fields {
		if f.masked || strings.ContainsAny(f.column, "?\\\x00") {
			return false
		}
	}
	return true
}

// pgEntries is how one statement writes its own entries: the plan of its
// model and table, and the bind values of what its entries share.
type pgEntries struct {
	plan *pgPlan
	args []any // auditstore.EntryArgs of the statement's entry template
}

// maxBindVars is PostgreSQL's limit on a statement's bind variables.
const maxBindVars = 65535

// pgEntryBinds are the bind variables statementWith adds for the entries:
// action, model, additional data and the five actor and request columns.
const pgEntryBinds = 8

// sqlEntries returns how the statement writes its own entries, or nil
// where it does not: off (Config.SeparatePreSelect), a Config.Now (whose
// time would be read before the write waited for its locks), a model or
// table SQL cannot encode, or context data that does not encode (the Go
// side then refuses the statement only if it writes an entry).
func (p *Plugin) sqlEntries(db *gorm.DB, m *model, action auditlog.Action) (*pgEntries, error) {
	if p.dialect != auditstore.Postgres || p.noSQLEntries || !p.fastPG || !p.dbClock || !m.sqlEntries {
		return nil, nil
	}
	plan, err := p.pgPlanOf(db, m, writtenTable(db.Statement))
	if err != nil || plan == nil {
		return nil, err
	}
	// No object: the additional data is the context's extra data alone,
	// which the Go side scrubs of the rows' secrets (excluded fields: a
	// model with masked ones is built in Go): SQL does not, so extra data
	// with such a model goes there.
	extra := auditlog.ExtraFromContext(db.Statement.Context)
	if len(extra) > 0 && len(m.secret) > 0 {
		return nil, nil
	}
	additional, err := capture.AdditionalData(extra, nil)
	if err != nil {
		return nil, nil
	}
	e := p.base(db.Statement.Context, m.entryName(db))
	e.Action, e.ObjectPK, e.AdditionalData = action, "-", additional
	args, err := auditstore.EntryArgs(auditstore.Postgres, e)
	if err != nil {
		return nil, nil
	}
	return &pgEntries{plan: plan, args: args}, nil
}

// pgPlanOf returns the plan of m's writes to table, reading the table's
// column types from the catalog the first time, or nil.
func (p *Plugin) pgPlanOf(db *gorm.DB, m *model, table string) (*pgPlan, error) {
	key := pgPlanKey{m, table}
	if v, ok := p.pgPlans.m.Load(key); ok {
		return v.(*pgPlan), nil
	}
	p.obsOf(db).sentOne()
	rows, err := db.Session(&gorm.Session{NewDB: true, SkipHooks: true}).Raw(
		"SELECT a.attname, t.typname, a.atttypid::int8 FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid WHERE a.attrelid = to_regclass(?) AND a.attnum > 0 AND NOT a.attisdropped",
		db.Statement.Quote(clause.Table{Name: table})).Rows()
	if err != nil {
		return nil, fmt.Errorf("auditgorm: read the column types of %s: %w", table, err)
	}
	defer rows.Close()
	// Each write checks the types of the columns it returns against the
	// plan (checkTypes): only with a driver that reports them.
	reported := false
	if cts, err := rows.ColumnTypes(); err == nil && len(cts) == 3 {
		reported = strings.EqualFold(cts[1].DatabaseTypeName(), "name")
	}
	types := map[string]pgColumn{}
	for rows.Next() {
		var name, typ string
		var oid int64
		if err := rows.Scan(&name, &typ, &oid); err != nil {
			return nil, err
		}
		types[name] = pgColumn{kind: pgKindOf(typ), typ: typ, oid: strconv.FormatInt(oid, 10)}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var plan *pgPlan
	if reported {
		plan = &pgPlan{cols: make([]pgColumn, len(m.fields))}
	}
	for i, f := range m.fields {
		if plan == nil {
			break
		}
		c, ok := types[f.column]
		if !ok {
			plan = nil
			break
		}
		c.kind = readsAs(f, c.kind)
		c.used = f.audited || f.index == m.pk[0].index || inSnapshot(m, f)
		plan.cols[i] = c
		if c.kind == pgNone && c.used {
			plan = nil
		}
	}
	if plan != nil {
		switch k := plan.cols[m.pk[0].index].kind; {
		case m.t.IntPK && k != pgInt, !m.t.IntPK && k != pgText && k != pgUUID:
			plan = nil
		}
	}
	p.pgPlans.m.Store(key, plan)
	return plan, nil
}

// forget drops the cached plans of a table, after a write found a column
// whose type changed.
func (ps *pgPlans) forget(m *model, table string) { ps.m.Delete(pgPlanKey{m, table}) }

func inSnapshot(m *model, f *field) bool {
	for _, i := range m.t.Snapshot {
		if i == f.index {
			return true
		}
	}
	return false
}

// pgKindOf maps a PostgreSQL type name to its encoding, pgNone for the
// types SQL does not encode (float4, whose Go value widens; bytea, whose
// base64 PostgreSQL wraps; arrays, domains, enums and the rest).
func pgKindOf(typ string) pgKind {
	switch typ {
	case "int2", "int4", "int8":
		return pgInt
	case "bool":
		return pgBool
	case "text", "varchar":
		return pgText
	case "uuid":
		return pgUUID
	case "numeric":
		return pgNumeric
	case "float8":
		return pgFloat
	case "timestamptz":
		return pgTimestamptz
	case "timestamp":
		return pgTimestamp
	case "date":
		return pgDate
	case "jsonb":
		return pgJSONB
	}
	return pgNone
}

// readsAs returns the column's encoding if the Go side reads its values
// as that encoding assumes (field.fromDB: a text column of a bool field is
// parsed as a bool, a numeric column of a float field as a float, and so
// on), else pgNone.
func readsAs(f *field, k pgKind) pgKind {
	plain := !f.opts.JSON && !f.opts.Decimal
	goText := f.kind != schema.Bool && f.kind != schema.Int && f.kind != schema.Uint && f.kind != schema.Float && f.kind != schema.Time
	switch k {
	case pgInt:
		if plain && (f.kind == schema.Int || f.kind == schema.Uint) {
			return k
		}
	case pgBool:
		if plain && f.kind == schema.Bool {
			return k
		}
	case pgText, pgUUID:
		if plain && goText {
			return k
		}
	case pgNumeric:
		switch {
		case f.opts.Decimal && !f.opts.JSON && goText:
			return k
		case f.kind == schema.Float && !f.opts.JSON:
			// GORM declares float fields "decimal" on PostgreSQL; the Go
			// side parses their text as a float64.
			return pgNumericFloat
		}
	case pgFloat:
		if plain && f.kind == schema.Float {
			return k
		}
	case pgTimestamptz, pgTimestamp, pgDate:
		if plain && f.kind == schema.Time {
			return k
		}
	case pgJSONB:
		if f.opts.JSON && !f.opts.Decimal && goText {
			return k
		}
	}
	return pgNone
}

// sqlQuote is s as an SQL string literal. Names with a question mark or a
// backslash never get here (sqlEntriesModel).
func sqlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// norm is the column's value as the Go side sees it: a JSON null is null
// (a row holding the document null is not inRange: the Go side records it).
func (c pgColumn) norm(ref string) string {
	if c.kind == pgJSONB {
		return "NULLIF(" + ref + ", 'null'::jsonb)"
	}
	return ref
}

// enc is the JSON (jsonb) of a value as internal/value encodes it; SQL
// null for null: encText's text, parsed.
func (c pgColumn) enc(ref string) string {
	if c.kind == pgJSONB {
		return c.norm(ref)
	}
	return "(" + c.encText(ref) + ")::jsonb"
}

// encText is the JSON text of a value as internal/value encodes it, SQL
// null for null: the pieces of an entry's changes are joined as text and
// parsed into jsonb once, which costs PostgreSQL a third of building a
// jsonb value for each value, array and object (BENCHMARKS.md). to_json
// writes a value with its type's output function, as to_jsonb reads it, so
// the parsed text is the jsonb to_jsonb would build.
func (c pgColumn) encText(ref string) string {
	const ts = `, 'YYYY-MM-DD"T"HH24:MI:SS.US'), '0'), '.') || 'Z"')`
	switch c.kind {
	case pgUUID, pgNumeric:
		return "pg_catalog.to_json(" + ref + "::text)::text"
	case pgFloat, pgNumericFloat:
		if c.kind == pgNumericFloat {
			ref = numericFloat(ref)
		}
		// Negative zero is text, as NaN and the infinities (value.Normalize).
		return "CASE WHEN " + ref + " = 'Infinity' THEN '\"+Inf\"' WHEN " + ref + " = '-Infinity' THEN '\"-Inf\"' WHEN " + ref + " = 0 THEN CASE WHEN " + ref + "::text = '-0' THEN '\"-0\"' ELSE '0' END ELSE pg_catalog.to_json(" + ref + ")::text END"
	case pgTimestamptz:
		return "('\"' || pg_catalog.rtrim(pg_catalog.rtrim(pg_catalog.to_char(" + ref + " AT TIME ZONE 'UTC'" + ts
	case pgTimestamp:
		return "('\"' || pg_catalog.rtrim(pg_catalog.rtrim(pg_catalog.to_char(" + ref + ts
	case pgDate:
		return "('\"' || pg_catalog.rtrim(pg_catalog.rtrim(pg_catalog.to_char(" + ref + "::timestamp" + ts
	case pgJSONB:
		return c.norm(ref) + "::text"
	}
	return "pg_catalog.to_json(" + ref + ")::text"
}

// joinParts joins the non-null parts with commas: concat_ws of at most 90
// (a function takes at most 100 arguments), and of those groups, each
// null where none of its parts has a value.
func joinParts(parts []string) string {
	if len(parts) <= 90 {
		return "pg_catalog.concat_ws(',', " + strings.Join(parts, ", ") + ")"
	}
	var groups []string
	for len(parts) > 0 {
		n := min(len(parts), 90)
		groups = append(groups, "NULLIF(pg_catalog.concat_ws(',', "+strings.Join(parts[:n], ", ")+"), '')")
		parts = parts[n:]
	}
	return joinParts(groups)
}

// jsonKey is name as the SQL literal of a JSON object key and its colon:
// an escape string (E'…'), whose backslashes (JSON's escapes of a quote or
// a control character in the name) mean the same whatever the server's
// standard_conforming_strings says.
func jsonKey(name string) string {
	k := string(value.AppendJSONString(nil, name)) + ":"
	return "E" + sqlQuote(strings.ReplaceAll(k, `\`, `\\`))
}

// distinct is true where a and b differ as internal/value compares them.
func (c pgColumn) distinct(a, b string) string {
	switch c.kind {
	case pgText:
		return a + ` COLLATE "C" IS DISTINCT FROM ` + b + ` COLLATE "C"`
	case pgJSONB:
		return c.norm(a) + "::text IS DISTINCT FROM " + c.norm(b) + "::text"
	case pgNumericFloat:
		return numericFloat(a) + " IS DISTINCT FROM " + numericFloat(b)
	case pgFloat:
		// 0 and -0 are equal numbers and distinct values (value.Normalize).
		return "(" + a + " IS DISTINCT FROM " + b + " OR coalesce(" + a + " = 0 AND " + b + " = 0 AND " + a + "::text <> " + b + "::text, false))"
	}
	return a + " IS DISTINCT FROM " + b
}

// inRange is true where the value is in the range SQL encodes as Go does,
// or "" where every value is.
func (c pgColumn) inRange(ref string) string {
	switch c.kind {
	case pgText:
		return "coalesce(pg_catalog.octet_length(" + ref + ") <= " + strconv.Itoa(pgMaxText) + ", true)"
	case pgJSONB:
		// A document with a tag's key ({"$json": …}, value.tagShaped) is
		// recorded apart from the tag by the Go side; jsonb_exists_any
		// (the ?| operator) also finds such a string, in an array or alone.
		// The document null is recorded as {"$json": "null"}, apart
		// from SQL NULL, by the Go side as well.
		return "coalesce(pg_catalog.octet_length(" + ref + "::text) <= " + strconv.Itoa(pgMaxText) + " AND NOT pg_catalog.jsonb_exists_any(" + ref + ", '{$base64,$bytes,$digest,$doc,$json}'::text[]) AND " + ref + " <> 'null'::jsonb, true)"
	case pgTimestamptz:
		return "coalesce(" + ref + " BETWEEN '0001-01-01 00:00:00+00' AND '9999-12-31 23:59:59.999999+00', true)"
	case pgTimestamp:
		return "coalesce(" + ref + " BETWEEN '0001-01-01 00:00:00' AND '9999-12-31 23:59:59.999999', true)"
	case pgDate:
		return "coalesce(" + ref + " BETWEEN '0001-01-01' AND '9999-12-31', true)"
	case pgFloat:
		return floatDigits
	case pgNumericFloat:
		// The Go side parses the text as a float64: out of its range it
		// records the text, or 0; SQL could not cast it.
		return floatDigits + " AND coalesce(" + floatRange(ref) + ", true)"
	}
	return ""
}

// floatRange holds where a numeric value casts to float8 as Go parses it.
func floatRange(ref string) string {
	return "(" + ref + " = 0 OR pg_catalog.abs(" + ref + ") BETWEEN 1e-300 AND 1e300)"
}

// numericFloat is a numeric value as a float8, null out of floatRange
// (whose rows go to the client): a CASE, because SQL may evaluate a
// condition before the one that excludes the row.
func numericFloat(ref string) string {
	return "CASE WHEN " + floatRange(ref) + " THEN (" + ref + ")::float8 END"
}

// floatDigits holds where PostgreSQL writes a float8 as Go does, with the
// fewest digits that read back exactly: with extra_float_digits above 0
// (the default, 1). A server, role or session that sets it to 0 or below
// rounds to 15 digits, and its rows' entries are written by the Go side.
const floatDigits = "pg_catalog.current_setting('extra_float_digits')::int > 0"

// pgEntrySQL builds the SQL parts of a statement that writes its entries.
type pgEntrySQL struct {
	m    *model
	plan *pgPlan
	stmt *gorm.Statement
	// created: the write is an INSERT whose RETURNING names the model's
	// columns _ac<i> (GORM's own columns come first and may repeat them).
	created bool
	// count: the statement counts the entries it inserts (Config.Hooks).
	count bool
}

// ref is the reference to field i of the written rows: its old value
// (old) or its value after the write.
func (q pgEntrySQL) ref(i int, old bool) string {
	switch {
	case old:
		return "_au." + aliasOld + strconv.Itoa(i)
	case q.created:
		return "_au." + aliasCreated + strconv.Itoa(i)
	}
	return "_au." + q.stmt.Quote(q.m.fields[i].column)
}

// safe is the condition under which SQL writes a row's entry: every value
// in the entry is in the range SQL encodes as Go does. It is never null.
func (q pgEntrySQL) safe(hasOld bool) string {
	ranges := []string{"coalesce(pg_catalog.octet_length(" + q.pkText(hasOld) + ") BETWEEN 1 AND 255, false)"}
	for i, c := range q.plan.cols {
		if !c.used {
			continue
		}
		refs := []string{q.ref(i, false)}
		if hasOld {
			refs = append(refs, q.ref(i, true))
		}
		for _, r := range refs {
			if g := c.inRange(r); g != "" {
				ranges = append(ranges, g)
			}
		}
	}
	return "(" + strings.Join(ranges, " AND ") + ")"
}

// pkText is the object key as entries store it: the key before the write.
func (q pgEntrySQL) pkText(hasOld bool) string {
	return q.ref(q.m.pk[0].index, hasOld) + "::text"
}

// object builds jsonb_build_object calls of at most 50 pairs (the
// function's argument limit), joined by ||.
func jsonbObject(pairs []string) string {
	if len(pairs) == 0 {
		return "'{}'::jsonb"
	}
	var parts []string
	for len(pairs) > 0 {
		n := min(len(pairs), 50)
		parts = append(parts, "pg_catalog.jsonb_build_object("+strings.Join(pairs[:n], ", ")+")")
		pairs = pairs[n:]
	}
	return strings.Join(parts, " || ")
}

// changes is the jsonb of an entry's changes and the condition under which
// the row gets an entry.
func (q pgEntrySQL) changes(action auditlog.Action, hasOld bool) (changes, cond string) {
	// Each part is one key and its [old, new] as JSON text, or null for a
	// field without a change; concat_ws joins the others.
	var parts, conds []string
	for i, f := range q.m.fields {
		if !f.audited {
			continue
		}
		c, key := q.plan.cols[i], jsonKey(f.column)
		if !hasOld {
			// A create or a hard delete: every non-null value, as
			// [null, new] or [old, null].
			v := q.ref(i, false)
			pair := "'[' || " + c.encText(v) + " || ',null]'"
			if action == auditlog.ActionCreate {
				pair = "'[null,' || " + c.encText(v) + " || ']'"
			}
			parts = append(parts, "CASE WHEN "+c.norm(v)+" IS NOT NULL THEN "+key+" || "+pair+" END")
			continue
		}
		if action == auditlog.ActionUpdate && f.noise {
			continue
		}
		o, n := q.ref(i, true), q.ref(i, false)
		d := c.distinct(o, n)
		conds = append(conds, d)
		parts = append(parts, "CASE WHEN "+d+" THEN "+key+" || '[' || coalesce("+c.encText(o)+", 'null') || ',' || coalesce("+c.encText(n)+", 'null') || ']' END")
	}
	changes = "'{}'::jsonb"
	if len(parts) > 0 {
		changes = "('{' || " + joinParts(parts) + " || '}')::jsonb"
	}
	switch {
	case action != auditlog.ActionUpdate:
		cond = "true"
	case len(conds) == 0:
		cond = "false"
	default:
		cond = "(" + strings.Join(conds, " OR ") + ")"
	}
	return changes, cond
}

// snapshot is the jsonb of serialized_data, of the row after the write (or
// before a delete), or NULL.
func (q pgEntrySQL) snapshot(hasOld bool) string {
	if len(q.m.t.Snapshot) == 0 {
		return "NULL::jsonb"
	}
	fields := make([]string, 0, 2*len(q.m.t.Snapshot))
	for _, i := range q.m.t.Snapshot {
		fields = append(fields, sqlQuote(q.m.fields[i].column)+", "+q.plan.cols[i].enc(q.ref(i, false)))
	}
	pk := q.m.pk[0].index
	// The key of the row after the write, as SnapshotOf names it.
	return "pg_catalog.jsonb_build_object('model', " + sqlQuote(q.m.t.Model) + "::text, 'pk', " + q.plan.cols[pk].enc(q.ref(pk, false)) + ", 'fields', " + jsonbObject(fields) + ")"
}

// pieces returns the plan's statement parts for action.
func (q pgEntrySQL) pieces(action auditlog.Action, hasOld bool) *pgPieces {
	key := pgPiecesKey{action, hasOld}
	if v, ok := q.plan.pieces.Load(key); ok {
		return v.(*pgPieces)
	}
	changes, cond := q.changes(action, hasOld)
	safe := q.safe(hasOld)
	pk := q.pkText(hasOld)
	objectID := "NULL::int8"
	if q.m.t.IntPK {
		objectID = q.ref(q.m.pk[0].index, hasOld) + "::int8"
	}
	pc := &pgPieces{
		columns: pk + ", " + objectID + ", " + sqlQuote(q.m.schema.Name+"(") + " || " + pk + " || ')', " + changes + ", " + q.snapshot(hasOld),
		where:   safe + " AND " + cond,
		safe:    safe,
	}
	q.plan.pieces.Store(key, pc)
	return pc
}

// statement returns the whole statement around write (an UPDATE or a
// DELETE whose RETURNING names its rows' columns, and the old ones as
// _ao<i> when hasOld, with nVars bind variables $1…$nVars) and its bind
// values after write's, or false when they would be more than PostgreSQL
// takes. Its rows: one, the count of rows written and the count of entries
// it inserted, with no row after it when SQL wrote every entry, else one
// row per row written whose entry it left to the client, with _aleft set
// and that row's columns.
func (q pgEntrySQL) statement(args []any, write string, nVars int, action auditlog.Action, hasOld bool) (string, []any, bool) {
	return q.statementWith(args, write, nVars, action, hasOld, func(pc *pgPieces) string {
		n := "pg_catalog.count(*)"
		if strings.HasPrefix(write, "WITH ") {
			n = checkedCount(n) // an UPDATE of pgUpdateSQL's
		}
		return "SELECT _an._an, _an._aen, _ax.* FROM (SELECT " + n + " AS _an, " + q.entriesCount() + " AS _aen FROM _au) AS _an LEFT JOIN (SELECT true AS _aleft, _au.* FROM _au WHERE NOT " + pc.safe + ") AS _ax ON true"
	})
}

// entriesCount is the count of entries the statement inserted, for
// Config.Hooks: the rows of _ae's RETURNING, in a scalar subquery computed
// once. Without hooks, NULL: _ae then returns nothing, which costs nothing
// (a count costs about 0.2 µs an entry, 5% of a small statement's time).
func (q pgEntrySQL) entriesCount() string {
	if q.count {
		return "(SELECT pg_catalog.count(*) FROM _ae)"
	}
	return "NULL::int8"
}

// statementWith is statement with the final SELECT that final returns.
func (q pgEntrySQL) statementWith(args []any, write string, nVars int, action auditlog.Action, hasOld bool, final func(*pgPieces) string) (string, []any, bool) {
	if nVars+pgEntryBinds > maxBindVars {
		return "", nil, false
	}
	pc := q.pieces(action, hasOld)
	// The time of an entry is when its row was written, after any wait
	// for its lock: the database's clock, read as the entry is inserted.
	// Entries the Go side writes on PostgreSQL take the same clock
	// (auditstore), so that one object's entries never mix two clocks.
	vars := make([]any, 0, 9)
	bind := func(v any, typ string) string {
		vars = append(vars, v)
		return "$" + strconv.Itoa(nVars+len(vars)) + "::" + typ
	}
	ts := auditstore.DBNow
	var b strings.Builder
	b.Grow(len(write) + len(pc.columns) + 2*len(pc.where) + 400)
	if strings.HasPrefix(write, "WITH ") {
		// The write's own WITH clause, which names it _au.
		b.WriteString(write)
	} else {
		b.WriteString("WITH _au AS (" + write + ")")
	}
	b.WriteString(", _ae AS (INSERT INTO " + auditstore.Table + " (" + auditstore.EntryColumns + ") SELECT " + ts + ", " + bind(args[1], "int2") + ", " + bind(args[2], "text") + ", ")
	b.WriteString(pc.columns + ", " + bind(args[8], "jsonb"))
	for i, typ := range []string{"text", "text", "text", "int4", "text"} {
		b.WriteString(", " + bind(args[9+i], typ))
	}
	b.WriteString(" FROM _au WHERE " + pc.where)
	if q.count {
		b.WriteString(" RETURNING 1")
	}
	b.WriteString(") ")
	b.WriteString(final(pc))
	return b.String(), vars, true
}

// runPGEntries runs a statement built by statement and returns the count
// of rows written and the rows whose entries are left to the client.
func (p *Plugin) runPGEntries(db *gorm.DB, m *model, plan *pgPlan, table, sqlText string, vars ...any) (n int64, left []*dbRow, err error) {
	o := p.obsOf(db)
	defer o.wrote(o.writing())
	var entries int64 // read from the first row
	defer func() { o.wroteEntries(entries) }()
	// Logged as GORM logs the statements it runs.
	begin := time.Now()
	defer func() {
		db.Logger.Trace(db.Statement.Context, begin, func() (string, int64) { return explain(db, sqlText, vars), n }, err)
	}()
	rows, err := db.Statement.ConnPool.QueryContext(db.Statement.Context, sqlText, vars...)
	if err != nil {
		if planError(err) {
			// A column's type may have changed so that the statement no
			// longer holds: the next write reads the catalog again.
			p.pgPlans.forget(m, table)
		}
		return 0, nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, nil, err
	}
	if err := checkTypes(rows, m, plan, cols, 3); err != nil {
		p.pgPlans.forget(m, table)
		return 0, nil, err
	}
	rr := newRowReader(m, cols[3:])
	holders, dest := scanTargets(len(cols))
	for rows.Next() {
		clear(holders)
		if err := rows.Scan(dest...); err != nil {
			return 0, nil, err
		}
		c, ok := holders[0].(int64)
		e, eok := holders[1].(int64)
		if !ok || !eok && holders[1] != nil {
			return 0, nil, fmt.Errorf("auditgorm: unexpected row counts %T, %T from the database", holders[0], holders[1])
		}
		n, entries = c, e
		if holders[2] == nil {
			continue
		}
		if p.maxRows > 0 && len(left) == p.maxRows {
			return 0, nil, errTooMany(m, p.maxRows)
		}
		r, err := rr.read(holders[3:])
		if err != nil {
			return 0, nil, err
		}
		left = append(left, r)
	}
	if err := rows.Err(); err != nil {
		return 0, nil, err
	}
	return n, left, nil
}

// checkTypes compares the types of the columns the write returned (from
// the from-th) with those the plan was made for. A column whose type changed since (an ALTER
// TABLE) may have been encoded otherwise than Go would: the error rolls the
// write and its entries back, and the next write reads the catalog again.
func checkTypes(rows *sql.Rows, m *model, plan *pgPlan, cols []string, from int) error {
	cts, err := rows.ColumnTypes()
	if err != nil {
		return err
	}
	for i, name := range cols {
		if i < from {
			continue
		}
		f := m.byColumn[name]
		if n, ok := strings.CutPrefix(name, aliasOld); ok && f == nil {
			if j, err := strconv.Atoi(n); err == nil && j >= 0 && j < len(m.fields) {
				f = m.fields[j]
			}
		}
		if f == nil || !plan.cols[f.index].used {
			continue
		}
		c, got := plan.cols[f.index], cts[i].DatabaseTypeName()
		if !strings.EqualFold(got, c.typ) && got != c.oid {
			return fmt.Errorf("auditgorm: %s: column %s is of type %s, not %s, since the plugin read the table's columns; the write was not recorded and is rolled back: retry it", m.schema.Name, f.column, strings.ToLower(got), c.typ)
		}
	}
	return nil
}

// planError reports whether err may come from a plan made for column types
// that changed since: PostgreSQL's errors of class 42 (a function or
// operator that does not apply to the type) and 0A000 (a cached plan whose
// result type changed).
func planError(err error) bool {
	var coded interface{ SQLState() string }
	if !errors.As(err, &coded) {
		return true
	}
	c := coded.SQLState()
	return strings.HasPrefix(c, "42") || c == "0A000"
}

// explain is a statement as GORM's logger shows it: its values filtered
// as the logger asks (gorm.ParamsFilter, which ParameterizedQueries uses
// to keep values out of the log), as GORM's own callbacks do.
func explain(db *gorm.DB, sqlText string, vars []any) string {
	if f, ok := db.Logger.(gorm.ParamsFilter); ok {
		sqlText, vars = f.ParamsFilter(db.Statement.Context, sqlText, vars...)
	}
	return db.Dialector.Explain(sqlText, vars...)
}
