package main

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// The floor of a workload is what any design that writes its entries in the
// write's own transaction must pay: the unaudited write, plus the same
// number of entry rows inserted with raw SQL into the real entries table,
// plus the raw reads the database forces on a design that records what the
// database did. No Go-side capture work is in it: no diffing, no GORM
// statement building, no scanning into values beyond the driver's own.
//
// The reads are those no design can avoid on that database:
//
//   - the old rows of an update where the statement cannot return them
//     (SQLite's UPDATE … RETURNING gives only the new row; MariaDB has no
//     UPDATE … RETURNING), as a locking read where the database locks;
//   - the stored new rows on MariaDB (a read-back by key after the UPDATE or
//     an upsert);
//   - the conflicting row of an upsert that sends its key, before the
//     statement (an update records the old values);
//   - the join row of a many-to-many append on MariaDB (whether the pair was
//     there): on SQLite and PostgreSQL the join INSERT returns the pairs it
//     inserted instead (joinReturning).
//
// PostgreSQL returns old and new rows from one UPDATE (a locking subquery
// joined to the target), and every database returns deleted rows from the
// DELETE and created rows from the INSERT, so those add no read. But the
// floor's DELETE and INSERT do return every column of the rows they delete
// or store, and its UPDATE every column of the rows as stored where the
// database can (GORM's write with a RETURNING clause, which scans them into
// the object passed in, a slice where the write returns many rows:
// workload.returned), as any design must have them: on SQLite a
// RETURNING costs about as much as a read of the rows
// (BenchmarkSQLiteOldRowOfDelete), and returning every column of a
// 1,000-row INSERT instead of its keys alone makes the batch create's floor
// about a fifth slower there. On "mysql"
// that is MariaDB 10.5 and later: GORM drops the clause for MySQL, which
// cannot return deleted or inserted rows (the plugin reads them there, and
// this floor has no such read). The upsert that sends its key reads its
// row back on MariaDB instead of returning it, as the plugin does there.
type floorSpec struct {
	// action and changes are those of the entry rows: changes(k) of the
	// k-th entry of the workload (operation × entries per operation + row).
	action  int16
	changes func(k int) string
	// read is the query of the rows operation i touches (before: the key
	// it is about to write), with "?" placeholders; nil when the workload
	// reads nothing on any database.
	read func(state any, i int, before bool) (string, []any)
	// readBefore and readBack name the databases that need the read
	// before the write and after it.
	readBefore, readBack string
	// returning names the databases where the write returns every column
	// of the rows it writes (RETURNING *), instead of a read.
	returning string
}

func (f floorSpec) needs(list, db string) bool {
	for _, d := range strings.Split(list, ",") {
		if d == db {
			return true
		}
	}
	return false
}

// objects returns the keys of the objects operation i writes entries for:
// the rows it changes, or nil where it creates them, whose keys the
// database hands out and the floor reads from its write (createdKey).
func objects(state any, i, n int) []int64 {
	switch s := state.(type) {
	case []uint:
		return []int64{int64(s[i])}
	case groupsState:
		out := make([]int64, n)
		for k, id := range s.ids[i] {
			out[k] = int64(id)
		}
		return out
	case m2mState:
		return []int64{int64(s.item)}
	}
	return nil
}

// createdKey carries, in the context of a floor's write, where the
// floor:created callback puts the keys of the rows it creates. The floor's
// entries name them, as the plugin's name the rows the audited run creates:
// each key above every earlier one, so that both append to the object
// index. Keys of the floor's own (once 2^50 up) put every entry of the
// audited run in the middle of that index, below the floor's, which cost
// the audited batch create a tenth of its speed on SQLite
// (BENCHMARKS.md, "The floor names the rows it creates").
type createdKey struct{}

// joinReturningKey marks the context of a floor's many-to-many append on a
// database whose join INSERT returns the pairs it inserted, which a design
// must learn to record them (GORM's ON CONFLICT DO NOTHING skips those that
// are there): the floor:join_returning callback adds that RETURNING.
type joinReturningKey struct{}

// joinReturning is the floor:join_returning callback.
func joinReturning(db *gorm.DB) {
	if db.Statement.Context.Value(joinReturningKey{}) == nil || db.Statement.Table != "bench_item_tags" {
		return
	}
	db.Statement.AddClause(clause.Returning{Columns: []clause.Column{{Name: "bench_item_id"}, {Name: "bench_tag_id"}}})
}

// collectCreated is the floor:created callback: it records the keys of the
// items a create stored, where the context asks for them.
func collectCreated(db *gorm.DB) {
	keys, ok := db.Statement.Context.Value(createdKey{}).(*[]int64)
	if !ok || db.Error != nil {
		return
	}
	switch d := db.Statement.Dest.(type) {
	case *BenchItem:
		*keys = append(*keys, int64(d.ID))
	case *[]BenchItem:
		for _, it := range *d {
			*keys = append(*keys, int64(it.ID))
		}
	}
}

const itemColumns = "id, name, price, stock, grp, created_at, updated_at"

func itemRead(where string) func(any, int, bool) (string, []any) {
	return func(state any, i int, _ bool) (string, []any) {
		var arg any
		switch s := state.(type) {
		case []uint:
			arg = s[i]
		case groupsState:
			arg = s.first + i
		}
		return "SELECT " + itemColumns + " FROM bench_items WHERE " + where + " = ?", []any{arg}
	}
}

func changesJSON(fields ...string) string { return "{" + strings.Join(fields, ",") + "}" }

func jsonTime(t time.Time) string { return `"` + t.UTC().Format(time.RFC3339Nano) + `"` }

func createdChanges(i int) string {
	now := jsonTime(time.Now())
	return changesJSON(`"created_at":[null,`+now+`]`, `"grp":[null,0]`, `"id":[null,`+strconv.Itoa(i+1)+`]`,
		fmt.Sprintf(`"name":[null,"new %d"]`, i), fmt.Sprintf(`"price":[null,%d]`, i), `"stock":[null,0]`, `"updated_at":[null,`+now+`]`)
}

var floors = map[string]floorSpec{
	"create":     {action: 0, changes: createdChanges, returning: "sqlite,postgres,mysql"},
	"upsert_new": {action: 0, changes: createdChanges, returning: "sqlite,postgres,mysql"},
	"upsert_new_key": {action: 0, changes: createdChanges, read: func(_ any, _ int, before bool) (string, []any) {
		k := upsertKey
		if before {
			k++
		}
		return "SELECT " + itemColumns + " FROM bench_items WHERE id = ?", []any{k}
	}, readBefore: "sqlite,postgres,mysql", readBack: "mysql", returning: "sqlite,postgres"},
	"update": {action: 1, changes: func(i int) string {
		return changesJSON(fmt.Sprintf(`"name":["item %d","renamed %d"]`, i, i), fmt.Sprintf(`"price":[%d,%d]`, i, i+1),
			`"updated_at":[`+jsonTime(time.Now().Add(-time.Second))+`,`+jsonTime(time.Now())+`]`)
	}, read: itemRead("id"), readBefore: "sqlite,mysql", readBack: "mysql", returning: "sqlite,postgres"},
	"delete": {action: 2, changes: func(i int) string {
		then := jsonTime(time.Now().Add(-time.Second))
		return changesJSON(`"created_at":[`+then+`,null]`, `"grp":[0,null]`, `"id":[`+strconv.Itoa(i+1)+`,null]`,
			fmt.Sprintf(`"name":["item %d",null]`, i), fmt.Sprintf(`"price":[%d,null]`, i), `"stock":[0,null]`, `"updated_at":[`+then+`,null]`)
	}, returning: "sqlite,postgres,mysql"},
	"batch_create_1000": {action: 0, changes: func(i int) string {
		now := jsonTime(time.Now())
		return changesJSON(`"created_at":[null,`+now+`]`, `"grp":[null,0]`, `"id":[null,`+strconv.Itoa(i+1)+`]`,
			`"name":[null,"batch"]`, fmt.Sprintf(`"price":[null,%d]`, i%1000), `"stock":[null,0]`, `"updated_at":[null,`+now+`]`)
	}, returning: "sqlite,postgres,mysql"},
	"bulk_update_1000": {action: 1, changes: func(i int) string {
		return changesJSON(fmt.Sprintf(`"price":[%d,1]`, i%1000), `"stock":[0,7]`,
			`"updated_at":[`+jsonTime(time.Now().Add(-time.Second))+`,`+jsonTime(time.Now())+`]`)
	}, read: itemRead("grp"), readBefore: "sqlite,mysql", readBack: "mysql", returning: "sqlite,postgres"},
	// No read: the join INSERT returns its pairs (SQLite, PostgreSQL), or
	// its affected-row count tells whether it added the one pair (MariaDB,
	// whose join table's primary key is the pair).
	"m2m_append": {action: 1, changes: func(i int) string {
		return fmt.Sprintf(`{"tags":{"type":"m2m","operation":"add","objects":["BenchTag(%d)"]}}`, i+1)
	}},
}

// floorOp performs operation i of w unaudited, in one transaction with the
// reads and entry rows of its floor. On SQLite the floor's own statements
// run prepared, as the plugin's do: prepared on the pool once, before the
// transaction takes the pool's connection, and run through the transaction
// (PostgreSQL's driver caches its statements by text itself; on MySQL the
// plugin does not prepare, DESIGN.md).
func floorOp(ctx context.Context, e *env, w workload, state any, i int) error {
	f := floors[w.name]
	var before, after *floorStmt
	if f.read != nil && f.needs(f.readBefore, e.name) {
		q, args := f.read(state, i, true)
		if e.name != "sqlite" {
			q += " FOR UPDATE"
		}
		before = &floorStmt{q: rebind(e.name, q), args: args}
	}
	if f.read != nil && f.needs(f.readBack, e.name) {
		q, args := f.read(state, i, false)
		after = &floorStmt{q: rebind(e.name, q), args: args}
	}
	objs := objects(state, i, w.entries)
	var created *[]int64
	if objs == nil {
		// The rows' keys come from the write: the entries get their
		// arguments after it (their texts, prepared now, depend on their
		// number alone).
		created = new([]int64)
		ctx = context.WithValue(ctx, createdKey{}, created)
	}
	if _, ok := state.(m2mState); ok && e.name != "mysql" {
		ctx = context.WithValue(ctx, joinReturningKey{}, true)
	}
	inserts := floorEntries(e.name, w.entries)
	if objs != nil {
		fillEntries(inserts, e.name, f, i*w.entries, objs)
	}
	for _, st := range append([]*floorStmt{before, after}, inserts...) {
		if err := e.prepareFloor(ctx, st); err != nil {
			return err
		}
	}
	return e.plain.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		conn := tx.Statement.ConnPool
		if before != nil {
			if err := rawRead(ctx, conn, before); err != nil {
				return err
			}
		}
		switch {
		case !f.needs(f.returning, e.name):
			if err := w.op(tx, state, i); err != nil {
				return err
			}
		case w.returned != nil:
			n, err := w.returned(tx.Clauses(clause.Returning{}), state, i)
			if err != nil {
				return err
			}
			if n != w.entries {
				return fmt.Errorf("floor: the write returned %d rows, not %d", n, w.entries)
			}
		default:
			if err := w.op(tx.Clauses(clause.Returning{}), state, i); err != nil {
				return err
			}
		}
		if after != nil {
			if err := rawRead(ctx, conn, after); err != nil {
				return err
			}
		}
		if created != nil {
			if len(*created) != w.entries {
				return fmt.Errorf("floor: the write created %d rows, not %d", len(*created), w.entries)
			}
			fillEntries(inserts, e.name, f, i*w.entries, *created)
		}
		for _, st := range inserts {
			if err := st.exec(ctx, conn); err != nil {
				return fmt.Errorf("floor entries: %w", err)
			}
		}
		return nil
	})
}

// floorStmt is one statement of a floor, prepared where stmt is set.
type floorStmt struct {
	q    string
	args []any
	stmt *sql.Stmt
}

// prepareFloor prepares st on the pool, once per text, on SQLite.
func (e *env) prepareFloor(ctx context.Context, st *floorStmt) error {
	if st == nil || e.name != "sqlite" {
		return nil
	}
	if s, ok := e.floorStmts[st.q]; ok {
		st.stmt = s
		return nil
	}
	s, err := e.sqlDB.PrepareContext(ctx, st.q)
	if err != nil {
		return fmt.Errorf("floor: prepare: %w", err)
	}
	if e.floorStmts == nil {
		e.floorStmts = map[string]*sql.Stmt{}
	}
	e.floorStmts[st.q], st.stmt = s, s
	return nil
}

// in returns st's statement in the transaction conn, or nil.
func (st *floorStmt) in(ctx context.Context, conn gorm.ConnPool) *sql.Stmt {
	tx, ok := conn.(gorm.Tx)
	if st.stmt == nil || !ok {
		return nil
	}
	// The counting pool counts it as it counts the plugin's (RanPrepared).
	if r, ok := conn.(interface{ RanPrepared(context.Context, string) }); ok {
		r.RanPrepared(ctx, st.q)
	}
	return tx.StmtContext(ctx, st.stmt)
}

func (st *floorStmt) exec(ctx context.Context, conn gorm.ConnPool) error {
	var err error
	if s := st.in(ctx, conn); s != nil {
		_, err = s.ExecContext(ctx, st.args...)
	} else {
		_, err = conn.ExecContext(ctx, st.q, st.args...)
	}
	return err
}

// rawRead runs st and reads every column of every row it returns.
func rawRead(ctx context.Context, conn gorm.ConnPool, st *floorStmt) error {
	var (
		rows *sql.Rows
		err  error
	)
	if s := st.in(ctx, conn); s != nil {
		rows, err = s.QueryContext(ctx, st.args...)
	} else {
		rows, err = conn.QueryContext(ctx, st.q, st.args...)
	}
	if err != nil {
		return fmt.Errorf("floor read: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for k := range vals {
		ptrs[k] = &vals[k]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
	}
	return rows.Err()
}

// rebind turns "?" placeholders into PostgreSQL's "$n".
func rebind(db, q string) string {
	if db != "postgres" {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

const floorColumns = "timestamp, action, model, object_pk, object_id, object_repr, changes"

// floorChunk is the most entry rows one floor INSERT carries (7 bind
// variables each: 7,000, under every database's limit).
const floorChunk = 1000

// floorEntries returns the statements that insert n entry rows the
// cheapest way we measured: one multi-row INSERT … VALUES per floorChunk
// rows (one round trip, and prepared, no parse), or on PostgreSQL, for more
// than one row, one INSERT … SELECT over unnest of one array per column (a
// statement of thousands of bind variables is slower there to parse and
// plan than the whole insert). Their texts depend on n alone; fillEntries
// gives them their arguments.
func floorEntries(db string, n int) []*floorStmt {
	if db == "postgres" && n > 1 {
		return []*floorStmt{{q: "INSERT INTO auditlog_entries (" + floorColumns + ") " +
			"SELECT * FROM unnest($1::timestamptz[], $2::smallint[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::jsonb[])"}}
	}
	var out []*floorStmt
	for start := 0; start < n; start += floorChunk {
		rows := min(floorChunk, n-start)
		var b strings.Builder
		b.WriteString("INSERT INTO auditlog_entries (" + floorColumns + ") VALUES ")
		for r := 0; r < rows; r++ {
			if r > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(?, ?, ?, ?, ?, ?, ?)")
		}
		out = append(out, &floorStmt{q: rebind(db, b.String())})
	}
	return out
}

// fillEntries gives the statements of floorEntries the entry rows naming
// objs, the k-th of them with the changes of entry first+k.
func fillEntries(sts []*floorStmt, db string, f floorSpec, first int, objs []int64) {
	now := time.Now().UTC()
	if db == "postgres" && len(objs) > 1 {
		n := len(objs)
		ts := make([]time.Time, n)
		actions := make([]int16, n)
		models := make([]string, n)
		pks := make([]string, n)
		ids := make([]int64, n)
		reprs := make([]string, n)
		changes := make([]string, n)
		for r, obj := range objs {
			ts[r], actions[r], models[r], ids[r] = now, f.action, "bench_items", obj
			pks[r] = strconv.FormatInt(obj, 10)
			reprs[r] = "BenchItem(" + pks[r] + ")"
			changes[r] = f.changes(first + r)
		}
		sts[0].args = []any{ts, actions, models, pks, ids, reprs, changes}
		return
	}
	var ts any = now
	switch db {
	case "sqlite":
		ts = now.Format("2006-01-02T15:04:05.000000Z")
	case "mysql":
		ts = now.Format("2006-01-02 15:04:05.000000")
	}
	for k, st := range sts {
		start := k * floorChunk
		rows := min(floorChunk, len(objs)-start)
		st.args = make([]any, 0, rows*7)
		for r := start; r < start+rows; r++ {
			obj := objs[r]
			st.args = append(st.args, ts, f.action, "bench_items", strconv.FormatInt(obj, 10), obj,
				"BenchItem("+strconv.FormatInt(obj, 10)+")", f.changes(first+r))
		}
	}
}
