package auditgorm

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"github.com/go-auditlog/auditlog"
)

// m2mTrack is one audited many-to-many relation, seen from its owner: the
// join-table rows that Association().Append/Replace/Delete/Clear and nested
// saves write become update entries on the owner that list the related
// objects added or removed.
type m2mTrack struct {
	owner   *model
	field   string // the change key: the relation's name in snake case
	ownerFK []*schema.Field
	otherFK []*schema.Field
	related *schema.Schema
}

// joinIndex maps join tables to the tracks that watch them, for one
// generation of the registry.
type joinIndex struct {
	gen     uint64
	byTable map[string][]*m2mTrack
	err     error
}

// joinTracks returns the tracks watching the statement's table.
func (p *Plugin) joinTracks(db *gorm.DB) ([]*m2mTrack, error) {
	idx := p.joins.Load()
	if idx == nil || idx.gen != p.reg.Generation() {
		idx = p.buildJoinIndex()
		p.joins.Store(idx)
	}
	if idx.err != nil {
		return nil, idx.err
	}
	return idx.byTable[db.Statement.Table], nil
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
			tr := &m2mTrack{owner: owner, field: p.db.NamingStrategy.ColumnName("", rel.Name), related: rel.FieldSchema}
			for _, ref := range rel.References {
				switch {
				case ref.PrimaryValue != "":
				case ref.OwnPrimaryKey:
					tr.ownerFK = append(tr.ownerFK, ref.ForeignKey)
				default:
					tr.otherFK = append(tr.otherFK, ref.ForeignKey)
				}
			}
			table := rel.JoinTable.Table
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

// beforeJoinWrite pre-selects the join rows a join-table statement will insert or
// delete.
func (p *Plugin) beforeJoinWrite(db *gorm.DB, st *stmtState, create bool) {
	stmt := db.Statement
	var exprs []clause.Expression
	if create {
		// The pairs about to be inserted; those that already exist are skipped
		// by GORM's ON CONFLICT DO NOTHING and were not added.
		fk := append(append([]*schema.Field{}, st.tracks[0].ownerFK...), st.tracks[0].otherFK...)
		var tuples [][]any
		eachRow(stmt.ReflectValue, func(row reflect.Value) {
			t := make([]any, len(fk))
			for i, f := range fk {
				t[i], _ = f.ValueOf(stmt.Context, row)
			}
			tuples = append(tuples, t)
		})
		if len(tuples) == 0 {
			return
		}
		names := make([]string, len(fk))
		for i, f := range fk {
			names[i] = f.DBName
		}
		column, values := schema.ToQueryValues(stmt.Table, names, tuples)
		exprs = []clause.Expression{clause.IN{Column: column, Values: values}}
	} else {
		exprs = whereExprs(stmt)
		if len(exprs) == 0 && !db.AllowGlobalUpdate {
			return
		}
	}
	rows, err := p.selectRows(db, stmt.Schema, exprs, true, true)
	if err != nil {
		_ = db.AddError(err)
		return
	}
	st.rows = rows
}

// afterJoinWrite writes the owners' entries for the join rows added or
// removed.
func (p *Plugin) afterJoinWrite(db *gorm.DB, st *stmtState, create bool) {
	if db.Error != nil {
		return
	}
	stmt, ctx := db.Statement, db.Statement.Context
	var changed []reflect.Value
	if create {
		existing := map[string]bool{}
		if st.rows.IsValid() {
			for i := 0; i < st.rows.Len(); i++ {
				existing[pairKey(ctx, st.tracks[0], st.rows.Index(i))] = true
			}
		}
		eachRow(stmt.ReflectValue, func(row reflect.Value) {
			k := pairKey(ctx, st.tracks[0], row)
			if !existing[k] {
				existing[k] = true
				changed = append(changed, row)
			}
		})
	} else if st.rows.IsValid() {
		for i := 0; i < st.rows.Len(); i++ {
			changed = append(changed, st.rows.Index(i))
		}
	}
	if len(changed) == 0 {
		return
	}
	for _, tr := range st.tracks {
		op := auditlog.M2MAdd
		if !create {
			op = auditlog.M2MRemove
			if !mentionsColumns(whereExprs(stmt), tr.otherFK) {
				op = auditlog.M2MClear
			}
		}
		if err := p.m2mEntries(db, tr, op, changed); err != nil {
			_ = db.AddError(err)
			return
		}
	}
}

func pairKey(ctx context.Context, tr *m2mTrack, row reflect.Value) string {
	return keyText(rawValues(ctx, append(append([]*schema.Field{}, tr.ownerFK...), tr.otherFK...), row))
}

// m2mEntries writes one update entry per owner with the related objects of
// the changed join rows.
func (p *Plugin) m2mEntries(db *gorm.DB, tr *m2mTrack, op auditlog.M2MOperation, joinRows []reflect.Value) error {
	ctx := db.Statement.Context
	type group struct {
		ownerKey []any
		related  [][]any
	}
	var (
		order       []string
		ownerKeys   [][]any
		relatedKeys [][]any
		groups      = map[string]*group{}
	)
	for _, row := range joinRows {
		ok := rawValues(ctx, tr.ownerFK, row)
		k := keyText(ok)
		g := groups[k]
		if g == nil {
			g = &group{ownerKey: ok}
			groups[k] = g
			order = append(order, k)
			ownerKeys = append(ownerKeys, ok)
		}
		rk := rawValues(ctx, tr.otherFK, row)
		g.related = append(g.related, rk)
		relatedKeys = append(relatedKeys, rk)
	}
	owners, err := p.loadByKey(db, tr.owner.schema, ownerKeys)
	if err != nil {
		return err
	}
	related, err := p.loadByKey(db, tr.related, relatedKeys)
	if err != nil {
		return err
	}
	relModel := p.plainModel(db, tr.related)
	w := p.newWriter(db, tr.owner)
	w.noSnapshot = true // as in the seed system, m2m entries carry no snapshot
	for _, k := range order {
		g := groups[k]
		owner, ok := owners[k]
		if !ok {
			continue // the owner is gone; nothing to attribute the change to
		}
		objs := make([]string, 0, len(g.related))
		for _, rk := range g.related {
			text := keyText(rk)
			if r, ok := related[text]; ok && relModel != nil {
				key, _, _, err := relModel.key(ctx, r)
				if err != nil {
					return err
				}
				text = relModel.repr(r, key)
			}
			objs = append(objs, text)
		}
		sort.Strings(objs)
		key, id, _, err := tr.owner.key(ctx, owner)
		if err != nil {
			return err
		}
		changes := auditlog.Changes{tr.field: {M2M: &auditlog.M2MChange{Operation: op, Objects: objs}}}
		if err := w.add(auditlog.ActionUpdate, owner, key, id, changes); err != nil {
			return err
		}
	}
	return w.flush()
}

func rawValues(ctx context.Context, fields []*schema.Field, row reflect.Value) []any {
	out := make([]any, len(fields))
	for i, f := range fields {
		out[i], _ = f.ValueOf(ctx, row)
	}
	return out
}

// keyText renders key values so that a join row's foreign key and the
// referenced row's key give the same text.
func keyText(vals []any) string {
	var b strings.Builder
	for i, v := range vals {
		if i > 0 {
			b.WriteByte(0)
		}
		if n, err := auditlog.Normalize(v, auditlog.ValueOptions{}); err == nil {
			b.WriteString(n.Text())
		} else {
			fmt.Fprint(&b, v)
		}
	}
	return b.String()
}

// loadByKey reads rows of s by primary key, keyed by keyText.
func (p *Plugin) loadByKey(db *gorm.DB, s *schema.Schema, keys [][]any) (map[string]reflect.Value, error) {
	ctx := db.Statement.Context
	return p.rowsByKey(db, s, keys, func(row reflect.Value) (string, error) {
		return keyText(rawValues(ctx, s.PrimaryFields, row)), nil
	})
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
	m, err := compileModel(db, string(p.dialect), &auditlog.ModelConfig{Type: s.ModelType}, s, p.reg.Mask())
	if err != nil {
		return nil
	}
	p.plain.Store(s, m)
	return m
}

// mentionsColumns reports whether any expression refers to one of fields'
// columns: a Replace or Delete names the related keys, a Clear does not.
func mentionsColumns(exprs []clause.Expression, fields []*schema.Field) bool {
	names := map[string]bool{}
	for _, f := range fields {
		names[f.DBName] = true
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

func walkAll(exprs []clause.Expression, fn func(any) bool) bool {
	for _, e := range exprs {
		if fn(e) {
			return true
		}
	}
	return false
}
