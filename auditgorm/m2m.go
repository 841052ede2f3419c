package auditgorm

import (
	"cmp"
	"crypto/md5"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/registry"
	"github.com/go-auditlog/auditlog/internal/value"
)

// m2mTrack is one audited many-to-many relation, seen from its owner: the
// join-table rows that Association().Append/Replace/Delete/Clear, nested
// saves and Table(join) writes change become update entries on the owner
// that list the related objects added or removed. Join rows are read by
// column name: GORM builds a join struct per side of a relation, so the
// same table may be written through either.
type m2mTrack struct {
	owner   *model
	field   string   // the change key: the relation's name in snake case
	ownerFK []string // join columns referring to the owner, in key order
	otherFK []string // join columns referring to the related objects
	related *schema.Schema
	// ownerRef and otherRef are the columns the join columns refer to, in
	// the owner's and the related table: the primary key, or other columns
	// (`foreignKey:`/`References:`), which entries do not name objects by.
	ownerRef, otherRef []string
	// join is the join table's model (GORM's own, or SetupJoinTable's),
	// whose query clauses (a soft delete's) say which rows are pairs in
	// the relation, also for a Table(join) write that names no model.
	join *schema.Schema
}

// refersToKey reports whether ref are the primary key columns of s, in
// order.
func refersToKey(s *schema.Schema, ref []string) bool {
	return slices.Equal(ref, s.PrimaryFieldDBNames)
}

// m2mChangeKey is the key a many-to-many relation's changes carry: its
// name in snake case.
func m2mChangeKey(db *gorm.DB, rel *schema.Relationship) string {
	return db.NamingStrategy.ColumnName("", rel.Name)
}

// joinIndex maps join tables to the tracks that watch them, for one
// generation of the registry.
type joinIndex struct {
	gen     uint64
	byTable map[string][]*m2mTrack
	err     error
}

// joinTracks returns the tracks watching the table the statement writes,
// by its name as written (Table("s.t") writes s's t, which a relation
// joining "t" does not, unless s is where "t" resolves; a join table named
// "s.t" in the relation is written as s's t). SQLite's INSERT drops the
// schema GORM was given and writes the bare name: a create of a join
// table named with a schema the bare name does not resolve to is refused
// there, since the plugin's reads would read the table named.
func (p *Plugin) joinTracks(db *gorm.DB, kind op) ([]*m2mTrack, error) {
	table := writtenTable(db.Statement)
	sqliteInsert := kind == opCreate && p.dialect == auditstore.SQLite && strings.Contains(table, ".")
	tracks, err := p.tracksOf(table)
	if err != nil || len(tracks) > 0 && !sqliteInsert {
		return tracks, err
	}
	s, name, qualified := strings.Cut(table, ".")
	if !qualified {
		return nil, nil
	}
	if len(tracks) == 0 {
		if tracks, err = p.tracksOf(name); err != nil || len(tracks) == 0 {
			return nil, err
		}
	}
	same, err := p.resolvesTo(db, s, name)
	if err != nil {
		return nil, err
	}
	if !same && sqliteInsert {
		return nil, fmt.Errorf("auditgorm: %s: GORM inserts into SQLite's %s, which is another table; write the join table by its bare name", table, name)
	}
	if !same {
		return nil, nil
	}
	return tracks, nil
}

// tableKey is the key of a table name among the join tables: SQLite's
// names compare without case.
func (p *Plugin) tableKey(name string) string {
	if p.dialect == auditstore.SQLite {
		return strings.ToLower(name)
	}
	return name
}

// resolvesTo reports whether the bare table name resolves to the table
// name in schema s: PostgreSQL's search path finds that one, s is MySQL's
// current database, or the first of SQLite's temp, main and attached
// databases that has the table.
func (p *Plugin) resolvesTo(db *gorm.DB, s, name string) (bool, error) {
	var q string
	var args []any
	switch p.dialect {
	case auditstore.Postgres:
		q, args = "SELECT COALESCE(to_regclass(quote_ident($1)) = to_regclass(quote_ident($2) || '.' || quote_ident($1)), false)", []any{name, s}
	case auditstore.MySQL:
		// Database names compare with case unless lower_case_table_names.
		q, args = "SELECT COALESCE(IF(@@lower_case_table_names = 0, BINARY DATABASE() = BINARY ?, LOWER(DATABASE()) = LOWER(?)), false)", []any{s, s}
	default:
		// SQLite looks a bare name up in temp, then main, then the
		// attached databases in the order they were attached.
		q, args = `SELECT COALESCE((SELECT d.name = ? COLLATE NOCASE FROM pragma_database_list AS d
WHERE EXISTS (SELECT 1 FROM pragma_table_list AS t WHERE t.schema = d.name AND t.name = ? COLLATE NOCASE)
ORDER BY CASE d.name WHEN 'temp' THEN 0 WHEN 'main' THEN 1 ELSE 2 + d.seq END LIMIT 1), false)`, []any{s, name}
	}
	var same bool
	p.obsOf(db).sentOne()
	if err := db.Statement.ConnPool.QueryRowContext(db.Statement.Context, q, args...).Scan(&same); err != nil {
		return false, fmt.Errorf("auditgorm: tell whether %s.%s is the join table %s: %w", s, name, name, err)
	}
	return same, nil
}

// tracksOf returns the tracks watching a join table.
func (p *Plugin) tracksOf(table string) ([]*m2mTrack, error) {
	idx := p.joins.Load()
	if idx == nil || idx.gen != p.reg.Generation() {
		idx = p.buildJoinIndex()
		p.joins.Store(idx)
	}
	if idx.err != nil {
		return nil, idx.err
	}
	return idx.byTable[p.tableKey(table)], nil
}

func (p *Plugin) buildJoinIndex() *joinIndex {
	idx := &joinIndex{gen: p.reg.Generation(), byTable: map[string][]*m2mTrack{}}
	for _, t := range p.reg.Models() {
		cfg, ok := p.reg.Lookup(t)
		if !ok || len(cfg.M2MFields) == 0 {
			continue
		}
		stmt := &gorm.Statement{DB: p.db}
		if err := stmt.Parse(reflect.New(t).Interface()); err != nil {
			idx.err = fmt.Errorf("auditgorm: parse %s: %w", t.Name(), err)
			return idx
		}
		owner, err := p.compiled(p.db, stmt.Schema, cfg)
		if err != nil {
			idx.err = err
			return idx
		}
		for _, name := range cfg.M2MFields {
			rel := stmt.Schema.Relationships.Relations[name]
			if rel == nil || rel.Type != schema.Many2Many || rel.JoinTable == nil {
				idx.err = fmt.Errorf("auditgorm: %s: M2M names %q, which is not a many-to-many relation", t.Name(), name)
				return idx
			}
			tr := &m2mTrack{owner: owner, field: m2mChangeKey(p.db, rel), related: rel.FieldSchema, join: rel.JoinTable}
			for _, ref := range rel.References {
				switch {
				case ref.PrimaryValue != "":
				case ref.OwnPrimaryKey:
					tr.ownerFK = append(tr.ownerFK, ref.ForeignKey.DBName)
					tr.ownerRef = append(tr.ownerRef, ref.PrimaryKey.DBName)
				default:
					tr.otherFK = append(tr.otherFK, ref.ForeignKey.DBName)
					tr.otherRef = append(tr.otherRef, ref.PrimaryKey.DBName)
				}
			}
			table := p.tableKey(rel.JoinTable.Table)
			dup := false
			for _, other := range idx.byTable[table] {
				dup = dup || (other.owner.schema == owner.schema && other.field == tr.field)
			}
			if !dup {
				idx.byTable[table] = append(idx.byTable[table], tr)
			}
		}
	}
	return idx
}

// joinRow is one join-table row: column → value.
type joinRow map[string]any

func (r joinRow) values(cols []string) []any {
	out := make([]any, len(cols))
	for i, c := range cols {
		out[i] = r[c]
	}
	return out
}

// captureJoin runs a write to an audited join table and writes the owners'
// entries for the pairs it added or removed.
func (p *Plugin) captureJoin(db *gorm.DB, tracks []*m2mTrack, kind op, orig func(*gorm.DB)) error {
	if kind == opUpdate {
		// Pairs changed in place would change relations without an entry.
		return fmt.Errorf("auditgorm: %s: an UPDATE of an audited join table is refused; delete and insert the pairs instead", db.Statement.Table)
	}
	o := p.obsOf(db)
	o.took(PathM2M)
	cols := joinColumns(tracks)
	js := joinSchema(db.Statement, tracks)
	var changed, removed []joinRow
	var keys []joinKeys
	var err error
	if kind == opCreate {
		sent := sentJoinRows(db.Statement, cols)
		if err := plainPairs(db.Statement, cols, sent); err != nil {
			return err
		}
		if len(sent) == 0 {
			begin := o.writing()
			orig(db)
			o.wrote(begin)
			return nil
		}
		replaces, err := p.joinReplaces(db)
		if err != nil {
			return err
		}
		assigns := replaces || assigningConflict(db.Statement)
		if assigns {
			if err := p.refuseMoves(db, js, cols, replaces); err != nil {
				return err
			}
		}
		if keys, err = p.resolveKeys(db, tracks, sent); err != nil {
			return err
		}
		var exact bool
		if !assigns && !softDeletes(js) && p.returnsJoinRows(db.Statement) {
			if exact, err = p.pairUnique(db, cols); err != nil {
				return err
			}
		}
		if exact {
			// The insert returns the pairs it inserted: not those GORM's ON
			// CONFLICT DO NOTHING skipped, whether they were there before,
			// equal to one there under the column's collation, taken by
			// another unique key of the join table, or inserted by another
			// transaction since. A pair that is there cannot be inserted
			// again (pairUnique), and every row inserted is in the
			// relation (the join model has no soft delete).
			if changed, err = p.insertJoin(db, tracks, cols); err != nil || db.Error != nil {
				return err
			}
		} else if changed, removed, err = p.insertJoinAfterRead(db, tracks, js, cols, sent, orig, assigns); err != nil || db.Error != nil {
			return err
		}
	} else {
		stmt := db.Statement
		// A join model's rows given to Delete (db.Delete(&link)) are
		// deleted by their keys, which gorm:delete adds.
		objectKeyConds(stmt)
		if len(whereExprs(stmt)) == 0 && !db.AllowGlobalUpdate {
			begin := o.writing()
			orig(db)
			o.wrote(begin)
			return nil
		}
		// The join model's delete clauses, as gorm:delete adds them: a
		// soft delete's makes the statement an UPDATE of live pairs only
		// (deleted_at IS NULL), and the read reads those.
		if stmt.Schema != nil {
			for _, c := range stmt.Schema.DeleteClauses {
				stmt.AddClause(c)
			}
		}
		var all []joinRow
		if all, err = p.readJoin(db, js, cols, whereExprs(stmt), false); err != nil {
			return err
		}
		changed = all
		if softDeletes(js) && (stmt.Unscoped || !softDeletes(stmt.Schema)) {
			// An unscoped delete on a join model with soft delete removes
			// the pairs soft deleted before as well: those left the
			// relation then, with their entries. Only the pairs the
			// model's query clauses show are removed now. So does a
			// delete through a join struct without them (GORM's, from the
			// other side of the relation) or a Table(join) delete.
			if changed, err = p.readJoin(db, js, cols, whereExprs(stmt), true); err != nil {
				return err
			}
		}
		// A row with a NULL in a pair column (written outside the
		// relation) joins nothing: deleting it removes no pair.
		changed = slices.DeleteFunc(slices.Clone(changed), func(r joinRow) bool {
			return slices.ContainsFunc(cols, func(c string) bool { return r[c] == nil })
		})
		if keys, err = p.resolveKeys(db, tracks, changed); err != nil {
			return err
		}
		begin := o.writing()
		p.runOnWriteConn(db, orig)
		o.wrote(begin)
		if db.Error != nil {
			return nil
		}
		if db.RowsAffected != int64(len(all)) {
			return fmt.Errorf("auditgorm: %s: the delete removed %d pairs but %d were read before it; retry the transaction", stmt.Table, db.RowsAffected, len(all))
		}
		// A pair held by two rows (a join table without a unique key on
		// it) leaves the relation once, and only where no row of it is
		// left: deleting one of its two rows changes no relation.
		seen := map[string]bool{}
		changed = slices.DeleteFunc(changed, func(r joinRow) bool {
			k := keyText(r.values(cols))
			dup := seen[k]
			seen[k] = true
			return dup
		})
		if len(changed) > 0 {
			// A join model keyed by its pair (GORM's own join tables) holds
			// each pair once; other tables' indexes are read (cached).
			unique := js != nil && len(js.PrimaryFieldDBNames) > 0 && !slices.ContainsFunc(js.PrimaryFieldDBNames, func(c string) bool { return !slices.Contains(cols, c) })
			if !unique {
				if unique, err = p.pairUnique(db, cols); err != nil {
					return err
				}
			}
			if !unique {
				vals := make([][]any, len(changed))
				for i, r := range changed {
					vals[i] = r.values(cols)
				}
				left, err := p.readJoin(db, js, cols, []clause.Expression{keysWhere("", cols, vals, false)}, true)
				if err != nil {
					return err
				}
				held := map[string]bool{}
				for _, r := range left {
					held[keyText(r.values(cols))] = true
				}
				changed = slices.DeleteFunc(changed, func(r joinRow) bool { return held[keyText(r.values(cols))] })
			}
		}
	}
	if len(changed) == 0 && len(removed) == 0 {
		return nil
	}
	if err := p.stillResolved(db, tracks, append(slices.Clip(changed), removed...), keys); err != nil {
		return err
	}
	for i, tr := range tracks {
		if len(removed) > 0 {
			// An upsert that soft deleted pairs (insertJoinAfterRead).
			if err := p.m2mEntries(db, tr, auditlog.M2MRemove, removed, keys[i]); err != nil {
				return err
			}
		}
		if len(changed) == 0 {
			continue
		}
		op := auditlog.M2MAdd
		if kind == opDelete {
			op = auditlog.M2MRemove
			// A clear names the owners alone (Association(…).Clear()); a
			// delete of join rows by their own keys removes pairs.
			allowed := slices.Clone(tr.ownerFK)
			if js != nil {
				// The soft delete's own condition (deleted_at IS NULL).
				for _, f := range js.Fields {
					if _, soft := reflect.New(f.FieldType).Interface().(schema.DeleteClausesInterface); soft && f.DBName != "" {
						allowed = append(allowed, f.DBName)
					}
				}
			}
			if where := whereExprs(db.Statement); mentionsColumns(where, tr.ownerFK) && onlyColumns(where, allowed) {
				op = auditlog.M2MClear
			}
		}
		if err := p.m2mEntries(db, tr, op, changed, keys[i]); err != nil {
			return err
		}
	}
	return nil
}

// returnsJoinRows reports whether an insert of join rows runs with
// RETURNING, to tell the pairs it inserted: on SQLite and PostgreSQL, for a
// join model. Not for rows given as maps (Table(join).Create), into which
// gorm:create writes the keys SQLite assigned ("@id"), nor where the caller
// asked for the driver's result (gorm.WithResult) of an insert GORM would
// have run without RETURNING: there GORM runs it, after a read of the pairs
// already there (insertJoinAfterRead).
func (p *Plugin) returnsJoinRows(stmt *gorm.Statement) bool {
	if p.dialect == auditstore.MySQL || !builds(stmt, "RETURNING") || stmt.Schema == nil {
		return false
	}
	return stmt.Result == nil || len(stmt.Schema.FieldsWithDefaultDBValue) > 0
}

// insertJoin runs the insert of join rows with RETURNING and returns the
// rows it inserted, deduplicated, as the database stored them.
func (p *Plugin) insertJoin(db *gorm.DB, tracks []*m2mTrack, cols []string) ([]joinRow, error) {
	stmt := db.Statement
	var out []joinRow
	seen := map[string]bool{}
	add := func(r joinRow) {
		if k := keyText(r.values(cols)); !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	if stmt.Schema != nil && len(stmt.Schema.FieldsWithDefaultDBValue) > 0 {
		// A join model with columns the database fills (a key it assigns):
		// GORM's own RETURNING of them is scanned into its objects as
		// gorm:create would.
		jm := p.plainModel(db, stmt.Schema)
		if jm == nil {
			return nil, fmt.Errorf("auditgorm: %s: the join model cannot be read", stmt.Table)
		}
		idx := make([]int, len(cols))
		for i, c := range cols {
			f := jm.byColumn[c]
			if f == nil {
				return nil, fmt.Errorf("auditgorm: %s: the join model has no column %s", stmt.Table, c)
			}
			idx[i] = f.index
		}
		rows, err := p.insertReturning(db, jm, nil)
		if err != nil || db.Error != nil {
			return nil, err
		}
		for _, r := range rows {
			jr := joinRow{}
			for i, c := range cols {
				jr[c] = r.raw[idx[i]]
			}
			add(jr)
		}
		// The pairs it inserted are held as an insert that reads first
		// holds them (holdPairs), so that one does not find them missing
		// and then update the row: in the same statement below.
		if p.dialect == auditstore.Postgres && len(out) > 0 {
			if err := p.holdPairs(db, tracks, cols, out); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	// Nothing of GORM's to scan back: a join model whose columns are all
	// sent (GORM's own join tables).
	o := p.obsOf(db)
	sel := make([]clause.Column, len(cols), len(cols)+1)
	for i, c := range cols {
		sel[i] = clause.Column{Name: c}
	}
	hold := p.dialect == auditstore.Postgres && len(tracks) > 0
	if hold {
		// Each row inserted is held as holdPairs holds it, in the
		// statement: an insert that reads first (an upsert that assigns,
		// say) waits for it, or finds it, instead of finding the pair
		// missing and then updating its row.
		sel = append(sel, clause.Column{Name: p.pairLockSQL(stmt, joinTableOf(db, tracks), cols), Raw: true})
	}
	addCreateClauses(stmt)
	stmt.AddClause(clause.Returning{Columns: sel})
	defer delete(stmt.Clauses, "RETURNING")
	buildCreate(stmt)
	if db.Error != nil {
		return nil, nil
	}
	begin := o.writing()
	defer o.wrote(begin)
	rows, err := p.writeConn(db).QueryContext(stmt.Context, stmt.SQL.String(), stmt.Vars...)
	if err != nil {
		return nil, err
	}
	n := int64(0)
	scanned := cols
	if hold {
		scanned = append(slices.Clip(cols), "") // the lock's void
	}
	if err := scanJoinRows(rows, scanned, func(r joinRow) error {
		n++
		delete(r, "")
		add(r)
		return nil
	}); err != nil {
		return nil, err
	}
	setResult(db, n)
	return out, nil
}

// scanJoinRows reads rows of the columns cols as join rows, closes them, and
// hands each to fn.
func scanJoinRows(rows *sql.Rows, cols []string, fn func(joinRow) error) error {
	defer rows.Close()
	holders, dest := scanTargets(len(cols))
	for rows.Next() {
		clear(holders)
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		r := make(joinRow, len(cols))
		for i, c := range cols {
			r[c] = holders[i]
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// insertJoinAfterRead runs GORM's insert of join rows where what it
// returns cannot tell the pairs it added (insertJoin): on MySQL, whose ON
// DUPLICATE KEY UPDATE (GORM's DO NOTHING there) returns every row; for a
// join table that can hold a pair twice; for a join model with soft
// delete, whose pairs in the relation are those its query clauses show;
// for an upsert that assigns columns. The pairs in the relation are read,
// under lock, before it. Those it added are the pairs not there before
// that are there after it, as its count tells where it can (all of them,
// or none), else as a read after it shows. An upsert that soft deletes
// pairs removes those there before and not after.
func (p *Plugin) insertJoinAfterRead(db *gorm.DB, tracks []*m2mTrack, js *schema.Schema, cols []string, sent []joinRow, orig func(*gorm.DB), assigns bool) (added, removed []joinRow, err error) {
	o := p.obsOf(db)
	soft := softDeletes(js)
	if !assigns && !soft {
		if counted, err := p.pairCounted(db, cols, sent); err != nil {
			return nil, nil, err
		} else if counted {
			begin := o.writing()
			p.runOnWriteConn(db, orig)
			o.wrote(begin)
			if db.Error != nil || db.RowsAffected != 1 {
				return nil, nil, nil
			}
			return sent, nil, nil
		}
	}
	if p.lock {
		// Another transaction's insert of a pair not there would be told
		// from this one's by the count and the read after it, where the
		// join table holds a pair once, this insert assigns nothing and its
		// count is the rows it inserted; otherwise the pairs are held first.
		hold := soft || assigns || !p.countsJoinInserts(db)
		if !hold {
			unique, err := p.pairUnique(db, cols)
			if err != nil {
				return nil, nil, err
			}
			hold = !unique
		}
		if hold {
			if err := p.holdPairs(db, tracks, cols, sent); err != nil {
				return nil, nil, err
			}
		}
	}
	tuples := make([][]any, len(sent))
	for i, r := range sent {
		tuples[i] = r.values(cols)
	}
	of := []clause.Expression{tuplesIn(db.Statement.Table, cols, tuples)}
	if soft && p.lock {
		// Every row of the pairs is locked first, soft-deleted ones too:
		// the scoped read locks the live ones only (PostgreSQL; MariaDB
		// under READ COMMITTED), and two upserts reviving the same pair
		// at once would each find it not there and record its add.
		if _, err := p.readJoin(db, js, cols, of, false); err != nil {
			return nil, nil, err
		}
	}
	before, err := p.readJoin(db, js, cols, of, true)
	if err != nil {
		return nil, nil, err
	}
	// A pair the read did not find (foundAmong) was not in the relation.
	// One sent in several spellings that fold alike, of which the read
	// found one, is read alone: whether the collation holds it equal to
	// the one found is the database's to say.
	there := foundAmong(before, sent, cols)
	folded := map[string]bool{}
	for _, r := range before {
		folded[foldedKeyText(r.values(cols))] = true
	}
	seen := map[string]bool{}
	var changed []joinRow
	for _, r := range sent {
		k := keyText(r.values(cols))
		if seen[k] {
			continue
		}
		seen[k] = true
		in := there(r)
		if !in && folded[foldedKeyText(r.values(cols))] {
			alone, err := p.readJoin(db, js, cols, []clause.Expression{tuplesIn(db.Statement.Table, cols, [][]any{r.values(cols)})}, true)
			if err != nil {
				return nil, nil, err
			}
			in = len(alone) > 0
		}
		if !in {
			changed = append(changed, r)
		}
	}
	begin := o.writing()
	p.runOnWriteConn(db, orig)
	o.wrote(begin)
	if db.Error != nil {
		return nil, nil, nil
	}
	// An insert that assigns nothing changes no pair that was there, and
	// its count, where it is the rows it inserted, may tell which it
	// added: none, or all of those not there where the table cannot hold
	// a pair twice and every row inserted is in the relation. Otherwise
	// the read after it tells: a pair that another unique key of the join
	// table holds, or that is soft deleted under GORM's primary key, is
	// skipped, and an entry saying this statement added it would be false.
	n, counts := db.RowsAffected, !assigns && p.countsJoinInserts(db)
	if !assigns {
		if len(changed) == 0 || counts && n == 0 {
			return nil, nil, nil
		}
		if counts && !soft && n == int64(len(changed)) {
			// Every pair sent was not there, each sent once: the rows
			// inserted are those pairs'. Else a pair that was there may
			// have been inserted again, unless the table forbids it.
			if len(changed) == len(sent) {
				return changed, nil, nil
			}
			if unique, err := p.pairUnique(db, cols); err != nil || unique {
				return changed, nil, err
			}
		}
	}
	after, err := p.readJoin(db, js, cols, of, true)
	if err != nil {
		return nil, nil, err
	}
	now := foundAmong(after, sent, cols)
	for _, r := range changed {
		if now(r) {
			added = append(added, r)
		}
	}
	if counts && int64(len(added)) > n {
		// More pairs came into the relation than the insert inserted
		// rows: another transaction inserted some since the read before
		// (READ COMMITTED locks no gap), and which are this statement's
		// cannot be told.
		return nil, nil, fmt.Errorf("auditgorm: %s: %d pairs that were not there when read before the insert are there after it, which inserted %d rows: another transaction added some since; retry the transaction", db.Statement.Table, len(added), n)
	}
	if assigns {
		stays := foundAmong(after, before, cols)
		for _, r := range before {
			if !stays(r) {
				removed = append(removed, r)
			}
		}
	}
	return added, removed, nil
}

// pairLockClass is the first key of the PostgreSQL advisory locks that
// hold pairs of join tables (holdPairs): "auditlog" packs no further.
const pairLockClass = 0x61756474 // "audt"

// holdPairs makes every other audited insert of the pairs sent wait, until
// this transaction ends, before it reads them: the read before an insert
// finds no row of a pair that is not there to lock, and another
// transaction could insert the pair and commit between that read and this
// insert, which would then update its row (an upsert soft deleting or
// reviving the pair) or insert the pair again (a join table that can hold
// it twice), each with entries that no longer say what happened. On
// PostgreSQL a transaction-level advisory lock per pair (no privilege
// needed; a hash of the join table and the pair, so that two pairs may
// share one and wait for each other, never the reverse); on MySQL, whose
// named locks end with the session, not the transaction, the rows of one
// side of the pairs under FOR UPDATE (REPEATABLE READ would lock the gap;
// READ COMMITTED does not). SQLite has one writer at a time. An insert
// that does not hold (told exactly by RETURNING or its count) does not
// wait for one that does.
func (p *Plugin) holdPairs(db *gorm.DB, tracks []*m2mTrack, cols []string, sent []joinRow) error {
	if len(tracks) == 0 {
		return nil
	}
	// The same locks whichever tracks see the table (a registry with one
	// side of the relation, another with both): named by the join table
	// and the pair's columns in name order; on MySQL the rows of the side
	// whose table sorts first.
	tr := tracks[0]
	switch p.dialect {
	case auditstore.Postgres:
		join := joinTableOf(db, tracks)
		keys := make([]int32, 0, len(sent))
		for _, r := range sent {
			keys = append(keys, pairLockKey(join, cols, r))
		}
		slices.Sort(keys)
		keys = slices.Compact(keys)
		// One statement per thousand locks, taken left to right.
		for len(keys) > 0 {
			n := min(len(keys), 1000)
			var q strings.Builder
			q.WriteString("SELECT ")
			for i, k := range keys[:n] {
				if i > 0 {
					q.WriteString(", ")
				}
				fmt.Fprintf(&q, "pg_advisory_xact_lock(%d, %d)", pairLockClass, k)
			}
			keys = keys[n:]
			p.obsOf(db).sentOne()
			if _, err := p.writeConn(db).ExecContext(db.Statement.Context, q.String()); err != nil {
				return fmt.Errorf("auditgorm: %s: hold the pairs: %w", db.Statement.Table, err)
			}
		}
	case auditstore.MySQL:
		m, table, fk, ref := tr.owner, tr.owner.schema.Table, tr.ownerFK, tr.ownerRef
		if o := tr.related.Table; o < table || o == table && strings.Join(tr.otherFK, ",") < strings.Join(fk, ",") {
			if m = p.plainModel(db, tr.related); m == nil {
				return fmt.Errorf("auditgorm: %s: the model %s cannot be read", db.Statement.Table, tr.related.Name)
			}
			table, fk, ref = o, tr.otherFK, tr.otherRef
		}
		refs := distinctValues(sent, fk, foldedKeyText)
		exclusive := func(q *gorm.DB) *gorm.DB { return q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}) }
		if _, err := p.readWhereIn(db, db.Statement.Context, m, table, ref, refs, exclusive); err != nil {
			return fmt.Errorf("auditgorm: %s: hold the pairs' %s rows: %w", db.Statement.Table, m.schema.Name, err)
		}
	}
	return nil
}

// joinTableOf names the join table of tracks as the relation does (not as
// the statement wrote it: "public.x" and "x" are one table), for the keys
// of holdPairs.
func joinTableOf(db *gorm.DB, tracks []*m2mTrack) string {
	if len(tracks) > 0 && tracks[0].join != nil {
		return tracks[0].join.Table
	}
	return db.Statement.Table
}

// pairLockKey is the second key of the advisory lock that holds a pair on
// PostgreSQL: the first 32 bits of the MD5 of the join table's name and
// the pair's columns, in name order, each with its value as PostgreSQL's
// ::text renders it (pairText), so that pairLockSQL computes the same key
// from a row the database returns.
func pairLockKey(join string, cols []string, r joinRow) int32 {
	var b strings.Builder
	b.WriteString(join)
	for _, c := range slices.Sorted(slices.Values(cols)) {
		v := pairText(r[c])
		b.WriteString("|" + c + "=" + strconv.Itoa(len(v)) + ":" + v)
	}
	sum := md5.Sum([]byte(b.String()))
	return int32(binary.BigEndian.Uint32(sum[:4]))
}

// pairLockSQL is the RETURNING expression that takes, for a row inserted
// into the join table, the advisory lock pairLockKey names; built once per
// join table and columns, since an append runs it on every write.
func (p *Plugin) pairLockSQL(stmt *gorm.Statement, join string, cols []string) string {
	key := join + "\x00" + strings.Join(cols, "\x00")
	if v, ok := p.pairLocks.Load(key); ok {
		return v.(string)
	}
	var b strings.Builder
	b.WriteString("pg_advisory_xact_lock(" + strconv.Itoa(pairLockClass) + ", ('x' || substr(md5(" + pgQuoteText(join))
	for _, c := range slices.Sorted(slices.Values(cols)) {
		v := "(" + stmt.Quote(c) + ")::text"
		b.WriteString(" || " + pgQuoteText("|"+c+"=") + " || octet_length(" + v + ") || ':' || " + v)
	}
	b.WriteString("), 1, 8))::bit(32)::int)")
	p.pairLocks.Store(key, b.String())
	return b.String()
}

// pgQuoteText is s as a PostgreSQL string literal.
func pgQuoteText(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// pairText renders a pair's value as PostgreSQL's ::text renders the
// column's: integers, text, booleans, and values whose driver value or
// String() is their text (UUIDs). Another type may render otherwise, and
// two inserts of such a pair, one holding before its read and one in its
// RETURNING, then take different locks.
func pairText(v any) string {
	if dv, ok := v.(driver.Valuer); ok {
		if x, err := dv.Value(); err == nil {
			v = x
		}
	}
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return ""
		}
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(rv.Uint(), 10)
	case reflect.String:
		return rv.String()
	case reflect.Bool:
		return strconv.FormatBool(rv.Bool())
	}
	if b, ok := rv.Interface().([]byte); ok {
		return string(b) // text a driver returned as bytes
	}
	if st, ok := rv.Interface().(fmt.Stringer); ok {
		return st.String()
	}
	return fmt.Sprint(rv.Interface())
}

// countsJoinInserts reports whether the affected-row count of the join
// insert that ran is the number of rows it inserted: on SQLite and
// PostgreSQL for GORM's DO NOTHING (whose RETURNING returns the rows
// inserted only); on MySQL where the connection counts changed rows and
// no RETURNING ran (MariaDB returns the rows an ON DUPLICATE KEY UPDATE
// found too, and GORM counts them).
func (p *Plugin) countsJoinInserts(db *gorm.DB) bool {
	if p.dialect != auditstore.MySQL {
		return true
	}
	_, returning := db.Statement.Clauses["RETURNING"]
	return !returning && p.countsChangedRows(db)
}

// softDeletes reports whether the join model has query clauses (a soft
// delete's deleted_at IS NULL): the pairs in the relation are the rows
// they show, not every row.
func softDeletes(js *schema.Schema) bool {
	return js != nil && len(js.QueryClauses) > 0
}

// joinSchema is the model whose query clauses say which rows of a join
// table are pairs in the relation: the statement's, unless it has none and
// a relation the table joins has a join model that does (SetupJoinTable on
// one side: GORM writes from the other side with a join struct of its own,
// and a Table(join) write names no model).
func joinSchema(stmt *gorm.Statement, tracks []*m2mTrack) *schema.Schema {
	js := stmt.Schema
	for _, tr := range tracks {
		if tr.join != nil && (js == nil || softDeletes(tr.join) && !softDeletes(js)) {
			js = tr.join
		}
	}
	return js
}

// joinReplaces reports whether an insert of join rows deletes the rows it
// collides with on any unique key before it inserts (SQLite's INSERT OR
// REPLACE, or a table whose constraint says ON CONFLICT REPLACE): it
// changes pairs as an upsert that assigns every column does.
func (p *Plugin) joinReplaces(db *gorm.DB) (bool, error) {
	modifier := insertModifier(db.Statement)
	if strings.Contains(modifier, "REPLACE") {
		return true, nil
	}
	if modifier != "" || p.dialect != auditstore.SQLite {
		return false, nil
	}
	if c, ok := db.Statement.Clauses["ON CONFLICT"]; ok {
		if oc, ok := c.Expression.(clause.OnConflict); ok && len(oc.Columns) == 0 && oc.OnConstraint == "" {
			// A conflict clause without a target (GORM's DO NOTHING)
			// takes every uniqueness conflict: no constraint replaces.
			return false, nil
		}
	}
	return p.sqliteReplaces(db, writtenTable(db.Statement))
}

// unsentKey returns the column of js's auto-increment primary key when no
// row of the insert sends it (zero, or absent from a map), "" otherwise:
// the database assigns each row a new key, on which no row collides.
func unsentKey(stmt *gorm.Statement, js *schema.Schema) string {
	if js == nil || js.PrioritizedPrimaryField == nil || !js.PrioritizedPrimaryField.AutoIncrement {
		return ""
	}
	pk := js.PrioritizedPrimaryField
	sent := false
	if maps := createdMaps(stmt.Dest); maps != nil {
		for _, mv := range maps {
			for k, v := range mv {
				// A map sends what it holds: 0 too, which SQLite stores.
				if (k == pk.DBName || k == pk.Name) && v != nil {
					sent = true
				}
			}
		}
	} else if stmt.Schema != nil {
		f := stmt.Schema.LookUpField(pk.DBName)
		if f == nil {
			return ""
		}
		eachRow(stmt.ReflectValue, func(row reflect.Value) {
			if _, zero := f.ValueOf(stmt.Context, row); !zero {
				sent = true
			}
		})
	} else {
		return ""
	}
	if sent {
		return ""
	}
	return pk.DBName
}

// sameColumn reports whether two column names name the same column:
// PostgreSQL's quoted names keep their case, MySQL's and SQLite's do not.
func (p *Plugin) sameColumn(a, b string) bool {
	if p.dialect == auditstore.Postgres {
		return a == b
	}
	return strings.EqualFold(a, b)
}

// hasColumn reports whether cols names the column c.
func (p *Plugin) hasColumn(cols []string, c string) bool {
	return slices.ContainsFunc(cols, func(k string) bool { return p.sameColumn(k, c) })
}

// columnsHold reports whether key, a unique key's columns, holds every
// column of cols.
func (p *Plugin) columnsHold(key, cols []string) bool {
	for _, c := range cols {
		if !p.hasColumn(key, c) {
			return false
		}
	}
	return len(key) > 0
}

// assigningConflict reports whether an insert is an upsert that assigns
// columns on a conflict, not GORM's DO NOTHING (which on MySQL assigns a
// column to itself).
func assigningConflict(stmt *gorm.Statement) bool {
	c, ok := stmt.Clauses["ON CONFLICT"]
	if !ok {
		return false
	}
	oc, ok := c.Expression.(clause.OnConflict)
	return !ok || !oc.DoNothing || oc.UpdateAll || len(oc.DoUpdates) > 0
}

// refuseMoves refuses an upsert of join rows that may change a pair other
// than the ones it sends: one that assigns a pair's column anything but
// the value it sends (excluded.col), or that, on a conflict with a unique
// key that does not hold the whole pair, assigns a pair's column (moving
// the row it collides with to the pair sent) or, on a join model with soft
// delete, any column (soft deleting or reviving that row's pair). Neither
// is read: the pairs read before and after are the pairs sent. REPLACE
// collides on every unique key and assigns every column. The pair changed
// would change in the relation without an entry, as with an UPDATE of the
// join table, which captureJoin refuses.
func (p *Plugin) refuseMoves(db *gorm.DB, js *schema.Schema, cols []string, replaces bool) error {
	stmt := db.Statement
	refuse := func(why string) error {
		return fmt.Errorf("auditgorm: %s: an upsert of an audited join table that %s may change another pair in place, which no entry would tell; insert the pairs with DO NOTHING (as GORM's associations do), or delete and insert them", stmt.Table, why)
	}
	var oc clause.OnConflict
	if c, ok := stmt.Clauses["ON CONFLICT"]; ok || !replaces {
		// Its assignments count under a table's REPLACE too: a conflict
		// on its target updates, one on another key replaces.
		if oc, ok = c.Expression.(clause.OnConflict); !ok {
			return refuse("has a conflict clause of its own")
		}
	}
	// changes: what it assigns may change which pairs are in the relation.
	changes := replaces || softDeletes(js) && (oc.UpdateAll || len(oc.DoUpdates) > 0)
	for _, a := range oc.DoUpdates {
		if !p.hasColumn(cols, a.Column.Name) {
			continue
		}
		if v, ok := a.Value.(clause.Column); !ok || v.Table != "excluded" || !p.sameColumn(v.Name, a.Column.Name) {
			return refuse("assigns " + a.Column.Name)
		}
		changes = true
	}
	if oc.UpdateAll {
		// GORM assigns every column it inserts but the primary key's.
		for _, c := range cols {
			if js == nil || !p.hasColumn(js.PrimaryFieldDBNames, c) {
				changes = true
			}
		}
	}
	if !changes {
		return nil
	}
	what := "assigns the pair's columns"
	if replaces {
		what = "replaces rows"
	} else if softDeletes(js) {
		what = "assigns columns of a join model with soft delete"
	}
	if !replaces && p.dialect != auditstore.MySQL && oc.OnConstraint == "" {
		target := make([]string, len(oc.Columns))
		for i, c := range oc.Columns {
			target[i] = c.Name
		}
		if len(target) == 0 && oc.UpdateAll && js != nil {
			target = js.PrimaryFieldDBNames // GORM's target for UpdateAll
		}
		if len(target) > 0 {
			if p.columnsHold(target, cols) {
				return nil
			}
			return refuse(what + " on a conflict with " + strings.Join(target, ", "))
		}
	}
	if p.dialect == auditstore.Postgres {
		return refuse(what + " on a conflict it does not name by columns")
	}
	// MySQL's ON DUPLICATE KEY UPDATE, SQLite's REPLACE and its conflict
	// without a target: any unique key of the table, as the catalog has
	// them, and the model's primary key (SQLite's INTEGER PRIMARY KEY is
	// the rowid, which no index lists).
	u, err := p.uniqueIndexes(db, writtenTable(stmt))
	if err != nil {
		return err
	}
	if u.unreadable != "" {
		return refuse(what + ", on a table with " + u.unreadable + ",")
	}
	keys := make([][]string, 0, len(u.indexes)+1)
	for _, ix := range u.indexes {
		keys = append(keys, ix.cols)
	}
	if js != nil && len(js.PrimaryFieldDBNames) > 0 {
		keys = append(keys, js.PrimaryFieldDBNames)
	}
	unsent := unsentKey(stmt, js)
	for _, k := range keys {
		if unsent != "" && len(k) == 1 && p.sameColumn(k[0], unsent) {
			continue // the database assigns it: no row sent collides on it
		}
		if !p.columnsHold(k, cols) {
			return refuse(what + " on a conflict with " + strings.Join(k, ", "))
		}
	}
	return nil
}

// foundAmong reports whether found, join rows the database returned for
// the pairs sent, holds a pair sent, as the database matched them under
// the columns' collation, which may ignore case or trailing spaces: a pair
// returned with its text, or with the same text without case and trailing
// spaces where no other pair sent folds to it too (then the one returned
// matched that other).
func foundAmong(found, sent []joinRow, cols []string) func(joinRow) bool {
	exact, folded := map[string]bool{}, map[string]bool{}
	for _, r := range found {
		exact[keyText(r.values(cols))] = true
		folded[foldedKeyText(r.values(cols))] = true
	}
	spellings := map[string]map[string]bool{}
	for _, r := range sent {
		k, f := keyText(r.values(cols)), foldedKeyText(r.values(cols))
		if spellings[f] == nil {
			spellings[f] = map[string]bool{}
		}
		spellings[f][k] = true
	}
	return func(r joinRow) bool {
		f := foldedKeyText(r.values(cols))
		return exact[keyText(r.values(cols))] || folded[f] && len(spellings[f]) == 1
	}
}

// joinColumns lists the key columns of a join table, as the tracks name them.
func joinColumns(tracks []*m2mTrack) []string {
	var cols []string
	seen := map[string]bool{}
	for _, tr := range tracks {
		for _, c := range append(append([]string{}, tr.ownerFK...), tr.otherFK...) {
			if !seen[c] {
				seen[c] = true
				cols = append(cols, c)
			}
		}
	}
	return cols
}

// sentJoinRows returns the join rows a create inserts, read by column name
// from its structs or maps.
func sentJoinRows(stmt *gorm.Statement, cols []string) []joinRow {
	var out []joinRow
	if maps := createdMaps(stmt.Dest); maps != nil {
		for _, mv := range maps {
			r := joinRow{}
			for k, v := range mv {
				// GORM takes a field's name for its column where the
				// statement has a model (db.Model(&Link{}).Create(map)).
				if stmt.Schema != nil {
					if f := stmt.Schema.LookUpField(k); f != nil && f.DBName != "" {
						k = f.DBName
					}
				}
				if slices.Contains(cols, k) {
					r[k] = v
				}
			}
			out = append(out, r)
		}
		return out
	}
	if stmt.Schema == nil {
		return nil
	}
	eachRow(stmt.ReflectValue, func(row reflect.Value) {
		r := joinRow{}
		for _, c := range cols {
			if f := stmt.Schema.LookUpField(c); f != nil {
				r[c], _ = f.ValueOf(stmt.Context, row)
			}
		}
		out = append(out, r)
	})
	return out
}

// plainPairs refuses join rows whose pair the insert's entries could not
// tell before it runs: a pair column left out (Omit, Select, a map without
// it: the database's default, or NULL, goes in), given as SQL (gorm.Expr),
// or NULL (a row that joins nothing, recorded as an object of no key).
func plainPairs(stmt *gorm.Statement, cols []string, sent []joinRow) error {
	if stmt.Schema != nil && createdMaps(stmt.Dest) == nil {
		selected, restricted := stmt.SelectAndOmitColumns(true, false)
		for _, c := range cols {
			if v, named := selected[c]; named && !v || restricted && !named {
				return fmt.Errorf("auditgorm: %s: a join row inserted without its column %s (Select, Omit) cannot be audited: which pair it holds is not known; insert every pair column", stmt.Table, c)
			}
			// GORM leaves a zero value out where the database has a
			// default for the column: the default goes in.
			// GORM sends a zero value as the field's default, or leaves it
			// out where the default is the database's: then which pair
			// the row holds is the database's to say.
			if f := stmt.Schema.LookUpField(c); f != nil && f.HasDefaultValue {
				for _, r := range sent {
					if v := reflect.ValueOf(r[c]); v.IsValid() && !v.IsZero() {
						continue
					}
					if f.DefaultValueInterface == nil {
						return fmt.Errorf("auditgorm: %s: a join row whose column %s is zero takes the database's default for it, and cannot be audited: which pair it holds is not known; give its value", stmt.Table, c)
					}
					r[c] = f.DefaultValueInterface
				}
			}
		}
	}
	for _, r := range sent {
		for _, c := range cols {
			v, ok := r[c]
			switch x := v.(type) {
			case clause.Expression, *gorm.DB:
				return fmt.Errorf("auditgorm: %s: a join row whose column %s is given as SQL cannot be audited: which pair it holds is not known before the insert; give its value", stmt.Table, c)
			default:
				rv := reflect.ValueOf(x)
				if !ok || x == nil || rv.Kind() == reflect.Pointer && rv.IsNil() {
					return fmt.Errorf("auditgorm: %s: a join row without a value in its column %s joins nothing, and cannot be audited; give every pair column a value", stmt.Table, c)
				}
			}
		}
	}
	return nil
}

// readJoin reads the join rows matching exprs, locked where the database
// can: every row, or with scoped only those the join model js's query
// clauses (a soft delete's) let a query see.
func (p *Plugin) readJoin(db *gorm.DB, js *schema.Schema, cols []string, exprs []clause.Expression, scoped bool) ([]joinRow, error) {
	sel := make([]clause.Column, len(cols))
	for i, c := range cols {
		sel[i] = clause.Column{Name: c}
	}
	q := p.query(db)
	if scoped && js != nil && js != db.Statement.Schema {
		// A write through another join struct, or none: the join model's
		// query clauses say which rows are pairs in the relation.
		q = q.Model(reflect.New(js.ModelType).Interface())
	}
	q = q.Clauses(clause.Select{Columns: sel}, whereOf(exprs)).Limit(p.maxRows + 1)
	q.Statement.Unscoped = !scoped
	if p.lock {
		q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
	}
	p.obsOf(db).sentOne()
	rows, err := p.rows(q)
	if err != nil {
		return nil, fmt.Errorf("auditgorm: read join rows of %s: %w", db.Statement.Table, err)
	}
	var out []joinRow
	err = scanJoinRows(rows, cols, func(r joinRow) error {
		out = append(out, r)
		if len(out) > p.maxRows {
			return fmt.Errorf("%w: %s: more than %d pairs", ErrTooManyRows, db.Statement.Table, p.maxRows)
		}
		return nil
	})
	return out, err
}

// pairCounted reports whether the insert of the one join row sent tells by
// its affected-row count alone whether it added the pair, so that no read
// before it is needed: on MySQL, whose count is 1 for a row inserted, 0
// for one found as it was (GORM's ON DUPLICATE KEY UPDATE a = a, or
// IGNORE) and 2 for one updated, where the connection counts changed rows
// (not clientFoundRows: countsChangedRows), and where a unique index of
// the join table lies within the pair's columns (its primary key, as GORM
// makes it), so that a pair that is there cannot be inserted again. The
// count is the insert's own: no other transaction can slip in between, as
// it could between a read and the insert.
func (p *Plugin) pairCounted(db *gorm.DB, cols []string, sent []joinRow) (bool, error) {
	if len(sent) != 1 || p.dialect != auditstore.MySQL || db.Statement.TableExpr != nil || !p.countsChangedRows(db) || !countsInsertsOnly(db.Statement) {
		return false, nil
	}
	return p.pairUnique(db, cols)
}

// pairUnique reports whether the join table, as the database has it, has
// a unique index (not partial) whose columns all lie within the pair's
// (GORM's primary key on the pair): a pair that is there cannot be
// inserted again. An index on an expression or a prefix leaves it unknown:
// false. SQLite's answer serves for sqliteReplacesMaxAge, as
// sqliteReplaces' does (its catalog is read per statement otherwise).
func (p *Plugin) pairUnique(db *gorm.DB, cols []string) (bool, error) {
	table := writtenTable(db.Statement)
	read := func() (bool, error) {
		u, err := p.uniqueIndexes(db, table)
		if err != nil || u.unreadable != "" {
			return false, err
		}
		return slices.ContainsFunc(u.indexes, func(ix catalogIndex) bool {
			return len(ix.cols) > 0 && !ix.partial && p.columnsHold(cols, ix.cols)
		}), nil
	}
	if p.dialect == auditstore.SQLite {
		return p.sqliteCached(db, &p.sqlitePairs, table, read)
	}
	return read()
}

// countsInsertsOnly reports whether a join insert's affected-row count is
// 1 only for a row it inserted: no RETURNING (GORM adds one on MariaDB for
// a join model with a column the database fills, and MariaDB returns the
// row it found, so that GORM counts 1 for a pair that was there), and no
// ON CONFLICT that assigns anything (a row it moved onto the pair counts
// 2, as one it found and changed does), only GORM's DO NOTHING or none.
func countsInsertsOnly(stmt *gorm.Statement) bool {
	if stmt.Schema != nil && len(stmt.Schema.FieldsWithDefaultDBValue) > 0 {
		return false
	}
	if _, ok := stmt.Clauses["RETURNING"]; ok {
		return false
	}
	if assigningConflict(stmt) {
		return false
	}
	oc, _ := stmt.Clauses["ON CONFLICT"].Expression.(clause.OnConflict)
	return oc.OnConstraint == ""
}

// m2mEntries writes one update entry per owner with the related objects of
// the changed join rows.
func (p *Plugin) m2mEntries(db *gorm.DB, tr *m2mTrack, op auditlog.M2MOperation, joinRows []joinRow, keys joinKeys) error {
	ctx := db.Statement.Context
	relModel := p.plainModel(db, tr.related)
	if relModel == nil {
		return fmt.Errorf("auditgorm: %s: the related model cannot be read", tr.related.Name)
	}
	type group struct {
		ownerKey []any
		related  [][]any
	}
	ownerKeyOf, relatedKeyOf := keys.owner, keys.related
	var err error
	var (
		order       []string
		ownerKeys   [][]any
		relatedKeys [][]any
		groups      = map[string]*group{}
	)
	for _, row := range joinRows {
		ok := ownerKeyOf(row)
		k := rawKeyText(tr.owner, ok)
		g := groups[k]
		if g == nil {
			g = &group{ownerKey: ok}
			groups[k] = g
			order = append(order, k)
			ownerKeys = append(ownerKeys, ok)
		}
		rk := relatedKeyOf(row)
		g.related = append(g.related, rk)
		relatedKeys = append(relatedKeys, rk)
	}
	// The owners are read for what their entries show beyond their key: an
	// object with a repr or additional data of its own. An owner with an
	// integer key and neither is named by the key the join row holds (the
	// same integer), as an owner without a row is. Where the owner has
	// secrets and the context extra data, its row is read all the same:
	// the extra data is scrubbed of the secrets the row holds.
	scrub := len(tr.owner.secret) > 0 && len(auditlog.ExtraFromContext(ctx)) > 0
	var owners map[string]*dbRow
	if tr.owner.wantsObject || !tr.owner.t.IntPK || scrub {
		if owners, err = p.readByKey(db, tr.owner, tr.owner.schema.Table, ownerKeys); err != nil {
			return err
		}
	}
	// The related objects are read for their reprs. A model without a repr
	// of its own and without secrets is named Model(key) from the key the
	// join row holds: nothing to read.
	plainRelated := !relModel.wantsObject && len(relModel.secret) == 0
	var related map[string]*dbRow
	if !plainRelated {
		if related, err = p.readByKey(db, relModel, tr.related.Table, relatedKeys); err != nil {
			return err
		}
	}
	w := p.newWriter(db, tr.owner, tr.owner.name, len(order))
	w.noSnapshot = true // as in the seed system, m2m entries carry no snapshot
	if len(w.extra) > 0 && len(relModel.secret) > 0 {
		// The context's extra data is scrubbed of the related rows'
		// secrets too: the other side's entry of the same write is.
		if w.extra, err = relModel.scrubbed(w.extra, related); err != nil {
			return err
		}
	}
	for _, k := range order {
		g := groups[k]
		owner, ok := owners[k]
		if !ok {
			// No such owner row (a join table without foreign keys): the
			// change is still recorded, under the key the join row names.
			owner = &dbRow{raw: make([]any, len(tr.owner.fields))}
			for i, f := range tr.owner.pk {
				owner.raw[f.index] = g.ownerKey[i]
			}
			if err := owner.normalize(tr.owner); err != nil {
				return err
			}
		}
		// Each object by its repr, as in the seed system, and by its key
		// where the two differ, so that the change can be replayed and
		// reverted (auditgorm.AsOf, Revert).
		type named struct{ repr, key string }
		objs := make([]named, 0, len(g.related))
		keyed := false
		for _, rk := range g.related {
			vals := rawKeyValues(relModel, rk)
			id, _ := relModel.t.Key(vals)
			key, _ := relModel.t.ObjectKey(vals)
			text := key
			if plainRelated {
				text = relModel.reprOf(p, db, reflect.Value{}, key, nil)
			} else if r, ok := related[id]; ok {
				var obj reflect.Value
				if relModel.wantsObject {
					obj = r.object(ctx, relModel)
				}
				text = relModel.reprOf(p, db, obj, text, r.vals)
			}
			keyed = keyed || text != key
			objs = append(objs, named{text, key})
		}
		slices.SortFunc(objs, func(a, b named) int { return cmp.Or(strings.Compare(a.repr, b.repr), strings.Compare(a.key, b.key)) })
		ch := &auditlog.M2MChange{Operation: op, Objects: make([]string, len(objs))}
		if keyed {
			ch.Keys = make([]string, len(objs))
		}
		for i, o := range objs {
			ch.Objects[i] = o.repr
			if keyed {
				ch.Keys[i] = o.key
			}
		}
		changes := auditlog.Changes{tr.field: {M2M: ch}}
		if err := w.add(auditlog.ActionUpdate, owner, owner, reflect.Value{}, changes); err != nil {
			return err
		}
	}
	return w.flush()
}

// stillResolved resolves, on PostgreSQL, the references of the changed
// join rows that are not primary keys again after the write, and refuses
// the change if one now names another row: another transaction moved the
// reference (a slug) between the read before the write and the write, and
// which row the pair referred to when it was written cannot be told. On
// MySQL the read before the write held the rows; SQLite has one writer.
func (p *Plugin) stillResolved(db *gorm.DB, tracks []*m2mTrack, rows []joinRow, keys []joinKeys) error {
	if p.dialect != auditstore.Postgres {
		return nil
	}
	for i, tr := range tracks {
		for _, side := range []struct {
			s       *schema.Schema
			fk, ref []string
			before  func(joinRow) []any
		}{{tr.owner.schema, tr.ownerFK, tr.ownerRef, keys[i].owner}, {tr.related, tr.otherFK, tr.otherRef, keys[i].related}} {
			if refersToKey(side.s, side.ref) {
				continue
			}
			now, err := p.keysOf(db, side.s, side.fk, side.ref, rows)
			if err != nil {
				return err
			}
			for _, r := range rows {
				if keyText(now(r)) != keyText(side.before(r)) {
					return fmt.Errorf("auditgorm: %s: a %s row the pair refers to by %s changed while it was written; retry the transaction", db.Statement.Table, side.s.Name, strings.Join(side.ref, ", "))
				}
			}
		}
	}
	return nil
}

// joinKeys give the primary keys of the owner and the related object a
// join row of one track refers to.
type joinKeys struct {
	owner, related func(joinRow) []any
}

// resolveKeys prepares, before the write, the keys of the objects the join
// rows refer to, for every track: a join row that cannot be named is
// refused before anything is written.
func (p *Plugin) resolveKeys(db *gorm.DB, tracks []*m2mTrack, rows []joinRow) ([]joinKeys, error) {
	out := make([]joinKeys, len(tracks))
	for i, tr := range tracks {
		var err error
		if out[i].owner, err = p.keysOf(db, tr.owner.schema, tr.ownerFK, tr.ownerRef, rows); err != nil {
			return nil, err
		}
		if out[i].related, err = p.keysOf(db, tr.related, tr.otherFK, tr.otherRef, rows); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// keysOf returns the function that gives the primary key of the object a
// join row refers to through its columns fk, which hold the values of the
// columns ref of s: the values themselves where ref is the primary key,
// otherwise the key of the row of s that has them, read here (before the
// write) for every join row at once. A join row that refers to no row, or
// to more than one (ref is not unique), is an error: its change cannot name
// its object. The error names no value: a reference column may be masked.
// On MySQL values are matched as its default collations compare them, case
// and trailing spaces aside.
func (p *Plugin) keysOf(db *gorm.DB, s *schema.Schema, fk, ref []string, rows []joinRow) (func(joinRow) []any, error) {
	if refersToKey(s, ref) {
		return func(r joinRow) []any { return r.values(fk) }, nil
	}
	m := p.plainModel(db, s)
	if m == nil {
		return nil, fmt.Errorf("auditgorm: %s: the model %s cannot be read", db.Statement.Table, s.Name)
	}
	refFields := make([]*field, len(ref))
	for i, c := range ref {
		if refFields[i] = m.byColumn[c]; refFields[i] == nil {
			return nil, fmt.Errorf("auditgorm: %s: %s has no column %s", db.Statement.Table, s.Name, c)
		}
	}
	match := keyText
	if p.dialect == auditstore.MySQL {
		match = foldedKeyText
	}
	refs := distinctValues(rows, fk, match)
	// On MySQL a locking read (its plain read sees an older snapshot), which
	// also holds the rows. PostgreSQL's row locks need the UPDATE privilege
	// on the referenced table, which GORM's insert does not: there the
	// references are resolved again after the write (stillResolved).
	found, err := p.readWhereIn(db, db.Statement.Context, m, s.Table, ref, refs, p.current)
	if err != nil {
		return nil, fmt.Errorf("auditgorm: read %s rows by %s: %w", s.Name, strings.Join(ref, ", "), err)
	}
	keys := make(map[string][]any, len(found))
	ambiguous := map[string]bool{}
	for _, r := range found {
		vals := make([]any, len(refFields))
		for i, f := range refFields {
			vals[i] = r.raw[f.index]
		}
		k := match(vals)
		if prev, ok := keys[k]; ok && keyText(prev) != keyText(r.keyRaw(m)) {
			ambiguous[k] = true
		}
		keys[k] = r.keyRaw(m)
	}
	for _, v := range refs {
		k := match(v)
		if _, ok := keys[k]; !ok {
			return nil, fmt.Errorf("auditgorm: %s: a join row refers by %s to no %s row, so the many-to-many change cannot name it", db.Statement.Table, strings.Join(ref, ", "), s.Name)
		}
		if ambiguous[k] {
			return nil, fmt.Errorf("auditgorm: %s: a join row refers by %s to more than one %s row, so the many-to-many change cannot name it", db.Statement.Table, strings.Join(ref, ", "), s.Name)
		}
	}
	return func(r joinRow) []any { return keys[match(r.values(fk))] }, nil
}

// distinctValues returns the values of cols of rows, each tuple once as
// key renders it.
func distinctValues(rows []joinRow, cols []string, key func([]any) string) [][]any {
	seen := map[string]bool{}
	var out [][]any
	for _, r := range rows {
		v := r.values(cols)
		if k := key(v); !seen[k] {
			seen[k] = true
			out = append(out, v)
		}
	}
	return out
}

// keyText renders key values for matching join rows: each value's text
// preceded by its length, so that no two different tuples render alike.
func keyText(vals []any) string { return renderKey(vals, false) }

// foldedKeyText is keyText with text values compared as MySQL's default
// collations compare them: without case, and without trailing spaces.
func foldedKeyText(vals []any) string { return renderKey(vals, true) }

func renderKey(vals []any, fold bool) string {
	var b strings.Builder
	for _, v := range vals {
		if bs, ok := v.([]byte); ok {
			v = string(bs)
		}
		var text string
		if n, err := value.Normalize(v, value.Options{}); err == nil {
			text = n.Text()
		} else {
			text = fmt.Sprint(v)
		}
		if _, isText := v.(string); isText && fold {
			text = strings.ToLower(strings.TrimRight(text, " "))
		}
		b.WriteString(strconv.Itoa(len(text)))
		b.WriteByte(':')
		b.WriteString(text)
	}
	return b.String()
}

// plainModel compiles s with its registration, or with default options when
// it is not registered, for reprs.
func (p *Plugin) plainModel(db *gorm.DB, s *schema.Schema) *model {
	if cfg, ok := p.reg.Lookup(s.ModelType); ok {
		if m, err := p.compiled(db, s, cfg); err == nil {
			return m
		}
	}
	if v, ok := p.plain.Load(s); ok {
		return v.(*model)
	}
	m, err := compileModel(db, string(p.dialect), &registry.Config{Type: s.ModelType}, s, p.reg)
	if err != nil {
		return nil
	}
	p.plain.Store(s, m)
	return m
}

// mentionsColumns reports whether any expression refers to one of fields'
// columns: a Replace or Delete names the related keys, a Clear does not.
func mentionsColumns(exprs []clause.Expression, cols []string) bool {
	names := map[string]bool{}
	for _, c := range cols {
		names[c] = true
	}
	var walk func(e any) bool
	col := func(c any) bool {
		switch c := c.(type) {
		case clause.Column:
			return names[c.Name]
		case []clause.Column:
			for _, x := range c {
				if names[x.Name] {
					return true
				}
			}
		case string:
			return names[c]
		}
		return false
	}
	walk = func(e any) bool {
		switch e := e.(type) {
		case clause.IN:
			return col(e.Column)
		case clause.Eq:
			return col(e.Column)
		case clause.Neq:
			return col(e.Column)
		case clause.NotConditions:
			return walkAll(e.Exprs, walk)
		case clause.AndConditions:
			return walkAll(e.Exprs, walk)
		case clause.OrConditions:
			return walkAll(e.Exprs, walk)
		case clause.Where:
			return walkAll(e.Exprs, walk)
		case clause.Expr:
			for n := range names {
				if strings.Contains(e.SQL, n) {
					return true
				}
			}
		}
		return false
	}
	return walkAll(exprs, walk)
}

// onlyColumns reports whether exprs are conditions on cols alone (IN and
// = of them, joined by AND): a delete of an owner's every pair, as
// Association(…).Clear() writes it, and not one narrowed by anything else.
func onlyColumns(exprs []clause.Expression, cols []string) bool {
	ok := func(c any) bool {
		switch c := c.(type) {
		case clause.Column:
			return slices.Contains(cols, c.Name)
		case []clause.Column:
			for _, x := range c {
				if !slices.Contains(cols, x.Name) {
					return false
				}
			}
			return len(c) > 0
		case string:
			return slices.Contains(cols, c)
		}
		return false
	}
	for _, e := range exprs {
		switch e := e.(type) {
		case clause.IN:
			if !ok(e.Column) {
				return false
			}
		case clause.Eq:
			if !ok(e.Column) {
				return false
			}
		case clause.Where:
			if !onlyColumns(e.Exprs, cols) {
				return false
			}
		case clause.AndConditions:
			if !onlyColumns(e.Exprs, cols) {
				return false
			}
		case clause.Expr:
			// Where("user_id = ?", id): its words are the columns, AND,
			// IN, IS NULL, and maybe the table's name before a column.
			for w := range sqlNames(e.SQL) {
				if !slices.Contains(cols, w) && !slices.Contains([]string{"and", "in", "is", "null"}, w) && !tableWord(cols, e.SQL, w) {
					return false
				}
			}
		default:
			return false
		}
	}
	return true
}

// tableWord reports whether w stands in sql as a table's name before one
// of cols ("user_tags.user_id").
func tableWord(cols []string, sql, w string) bool {
	lower := strings.ToLower(sql)
	for _, c := range cols {
		for _, q := range []string{"", "`", `"`} {
			if strings.Contains(lower, q+w+q+"."+q+strings.ToLower(c)+q) {
				return true
			}
		}
	}
	return false
}

func walkAll(exprs []clause.Expression, fn func(any) bool) bool {
	for _, e := range exprs {
		if fn(e) {
			return true
		}
	}
	return false
}
