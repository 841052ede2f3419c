package auditgorm

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/capture"
	"github.com/go-auditlog/auditlog/internal/value"
)

// writer collects the entries of one statement and writes them with one
// multi-row insert on the statement's connection, inside its transaction.
type writer struct {
	db      *gorm.DB
	p       *Plugin
	m       *model
	base    auditlog.Entry
	entries []auditlog.Entry
	// noSnapshot leaves serialized_data empty (many-to-many entries).
	noSnapshot bool
	extra      map[string]any // the context's extra data, read once
	// callers maps the keys of the statement's own objects to them, once
	// an entry's object is rebuilt from its row (withRelated).
	callers map[string]reflect.Value
	// all knows the clear secrets of every row of the statement's entries
	// and of every object the caller passed, where the context has extra
	// data and the model secrets: that data, the same for every entry, is
	// scrubbed of them all (flush), not only of each entry's own row's
	// (add). The caller's objects hold what the rows may not: the clear
	// value of a field stored through an encrypting serializer.
	all *capture.Scrubber
}

// newWriter returns the writer of the statement's entries for objects of m,
// named name, with room for rows entries.
func (p *Plugin) newWriter(db *gorm.DB, m *model, name string, rows int) *writer {
	ctx := db.Statement.Context
	w := &writer{db: db, p: p, m: m, base: p.base(ctx, name), extra: auditlog.ExtraFromContext(ctx),
		entries: make([]auditlog.Entry, 0, rows)}
	if len(w.extra) > 0 && (len(m.secret) > 0 || len(m.secretRelations(p, db)) > 0) {
		w.all = &capture.Scrubber{}
		eachRow(db.Statement.ReflectValue, func(row reflect.Value) {
			if row.Type() == m.schema.ModelType {
				m.hideInto(p, db, row, w.all)
			}
		})
	}
	return w
}

// base is what ctx says about the entries of one statement, for objects
// named name, stamped now. On PostgreSQL without a Config.Now "now" is the
// database's clock, read by the statement that inserts the entries (after
// the write): the clock of the entries statements write themselves
// (pgentries.go), so that one object's entries never mix two clocks.
func (p *Plugin) base(ctx context.Context, name string) auditlog.Entry {
	var now time.Time // zero: the statement that inserts the entry stamps it
	if !p.dbClock || p.dialect != auditstore.Postgres {
		now = p.now()
	}
	return capture.Base(ctx, name, now)
}

// entryName is the model name entries of the statement carry: the
// registered name when the statement writes the model's own table, else the
// table it writes (Table("archive") on a registered model), so that an
// entry never names a row of a table it did not touch.
func (m *model) entryName(db *gorm.DB) string {
	if t := writtenTable(db.Statement); t != m.schema.Table {
		if own, _ := db.InstanceGet(ownTableKey); own == true {
			return m.name
		}
		return t
	}
	return m.name
}

// ownTableKey marks a statement (gorm.DB.InstanceSet) whose table, named
// otherwise, is its model's own (nameOwnTable).
const ownTableKey = "auditlog:own_table"

// nameOwnTable marks a statement that writes its model's own table under
// another spelling (Table("main.books"), "BOOKS" on SQLite, whose names
// ignore case; the current schema's or database's name in front), so that
// its entries name the model, as the writes by the table's own name do.
func (p *Plugin) nameOwnTable(db *gorm.DB, m *model) error {
	t := writtenTable(db.Statement)
	if t == m.schema.Table || strings.Contains(m.schema.Table, ".") {
		return nil
	}
	if p.tableKey(t) == p.tableKey(m.schema.Table) {
		db.InstanceSet(ownTableKey, true)
		return nil
	}
	s, name, qualified := strings.Cut(t, ".")
	if !qualified || p.tableKey(name) != p.tableKey(m.schema.Table) {
		return nil
	}
	same, err := p.resolvesTo(db, s, name)
	if err != nil {
		return err
	}
	if same {
		db.InstanceSet(ownTableKey, true)
	}
	return nil
}

// writtenTable is the table a statement writes: Statement.Table, except
// that GORM sets it to the alias of Table("docs AS d"), and to t alone of
// Table("otherdb.t") (which it quotes whole: `otherdb`.`t`).
func writtenTable(stmt *gorm.Statement) string {
	if stmt.TableExpr != nil {
		if t, ok := tableOfExpr(stmt.TableExpr.SQL); ok {
			return t
		}
	}
	if stmt.Table == "" && stmt.Schema != nil {
		return stmt.Schema.Table
	}
	return stmt.Table
}

// tableOfExpr reads the table of a Table expression: a name or two joined
// by a dot, each quoted (with any characters, a doubled quote standing
// for one) or not, and an alias after it or none ("docs AS d", "docs d").
// ok is false for anything else, such as a subquery.
func tableOfExpr(sql string) (table string, ok bool) {
	s := strings.TrimLeftFunc(sql, unicode.IsSpace)
	var parts []string
	for {
		part, rest, ok := sqlIdent(s)
		if !ok {
			return "", false
		}
		parts, s = append(parts, part), rest
		if len(parts) == 2 || !strings.HasPrefix(s, ".") {
			break
		}
		s = s[1:]
	}
	if rest := strings.TrimLeftFunc(s, unicode.IsSpace); rest != "" {
		if rest == s {
			return "", false
		}
		alias := strings.Fields(rest)
		if len(alias) == 2 && strings.EqualFold(alias[0], "AS") {
			alias = alias[1:]
		}
		if len(alias) != 1 || strings.EqualFold(alias[0], "AS") {
			return "", false
		}
		if _, after, ok := sqlIdent(alias[0]); !ok || after != "" {
			return "", false
		}
	}
	return strings.Join(parts, "."), true
}

// sqlIdent reads the identifier s begins with: quoted in " or `, or a run
// of letters, digits, _ and $.
func sqlIdent(s string) (ident, rest string, ok bool) {
	if s == "" {
		return "", "", false
	}
	if q := s[0]; q == '"' || q == '`' {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			if s[i] != q {
				b.WriteByte(s[i])
				continue
			}
			if i+1 < len(s) && s[i+1] == q {
				b.WriteByte(q)
				i++
				continue
			}
			return b.String(), s[i+1:], b.Len() > 0
		}
		return "", "", false
	}
	i := 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' && r != '$' {
			break
		}
		i += n
	}
	return s[:i], s[i:], i > 0
}

// add adds an entry for the object keyed by key (the row before the write)
// in the state of state (the row after it, or before a delete). obj, when
// valid, is the caller's object for the row; else one is built from state
// when the model wants one for its repr or additional data.
func (w *writer) add(action auditlog.Action, key, state *dbRow, obj reflect.Value, changes auditlog.Changes) error {
	e := w.base
	e.Action, e.Changes = action, changes
	e.ObjectPK, e.ObjectID = w.m.t.ObjectKey(key.vals)
	if !obj.IsValid() && w.m.wantsObject {
		if obj = state.object(w.db.Statement.Context, w.m); obj.IsValid() {
			w.withRelated(obj, e.ObjectPK)
		}
	}
	var err error
	if e.ObjectRepr, e.AdditionalData, err = w.m.shown(w.p, w.db, obj, e.ObjectPK, w.extra, key.vals, state.vals); err != nil {
		return err
	}
	if w.all != nil {
		w.m.rowSecrets(w.all, key.vals, state.vals)
	}
	if !w.noSnapshot {
		e.SerializedData = w.m.t.SnapshotOf(state.vals)
	}
	w.entries = append(w.entries, e)
	return nil
}

// withRelated gives obj, an object rebuilt from its row for an update's
// or a delete's repr, the related objects the caller's object of the same
// key has loaded (a rental's member), as a create's repr sees them: the
// row holds none. visible then hides them by their own registrations and
// adds their secrets to the scrubber, as for a create.
func (w *writer) withRelated(obj reflect.Value, key string) {
	rels := w.m.schema.Relationships.Relations
	if len(rels) == 0 {
		return
	}
	ctx := w.db.Statement.Context
	if w.callers == nil {
		w.callers = map[string]reflect.Value{}
		eachRow(w.db.Statement.ReflectValue, func(row reflect.Value) {
			if row.Type() != w.m.schema.ModelType {
				return
			}
			if k, _, ok, err := w.m.key(ctx, row); err == nil && ok {
				w.callers[k] = row
			}
		})
	}
	src, ok := w.callers[key]
	if !ok {
		return
	}
	for _, rel := range rels {
		if !ownRelation(w.m.schema, rel) || len(rel.Field.BindNames) > 1 {
			continue // a relation inside an embedded struct: left as it is
		}
		v := rel.Field.ReflectValueOf(ctx, src)
		if !v.IsValid() || v.IsZero() || !belongsToRow(ctx, rel, obj, v) {
			continue
		}
		if d := rel.Field.ReflectValueOf(ctx, obj); d.CanSet() && d.Type() == v.Type() {
			d.Set(v)
		}
	}
}

// belongsToRow reports whether related, the caller's object of a
// belongs-to relation, is the one the row's foreign key names now: an
// update that moved the key (a rental given to another member) leaves the
// caller's loaded object naming the old one. Other relations name the row
// by its own key, which the caller's object shares.
func belongsToRow(ctx context.Context, rel *schema.Relationship, row, related reflect.Value) bool {
	if rel.Type != schema.BelongsTo {
		return true
	}
	related = reflect.Indirect(related)
	if related.Kind() != reflect.Struct {
		return false
	}
	for _, ref := range rel.References {
		if ref.OwnPrimaryKey || ref.PrimaryKey == nil || ref.ForeignKey == nil {
			continue
		}
		// Compared as the values they store (a sql.NullInt64 key is its
		// integer).
		fk, _ := ref.ForeignKey.ValueOf(ctx, row)
		pk, _ := ref.PrimaryKey.ValueOf(ctx, related)
		a, err := value.Normalize(fk, value.Options{})
		if err != nil {
			return false
		}
		b, err := value.Normalize(pk, value.Options{})
		if err != nil || !a.Equal(b) {
			return false
		}
	}
	return true
}

func (w *writer) flush() error {
	if len(w.entries) == 0 {
		return nil
	}
	if !w.all.Empty() {
		for i := range w.entries {
			w.entries[i].AdditionalData = w.all.JSON(w.entries[i].AdditionalData)
		}
	}
	s, err := auditstore.New(w.p.entryConn(w.db), w.p.dialect)
	if err == nil {
		// The write these entries record has run: a context cancelled
		// since must not leave it in the transaction without them.
		err = s.Insert(afterWrite(w.db), w.entries)
	}
	if err != nil {
		return fmt.Errorf("auditgorm: write audit entries for %s: %w", w.m.schema.Name, err)
	}
	w.entries = w.entries[:0]
	return nil
}

// afterWrite is the context of the plugin's statements after the write
// they record has run (read-backs, the entries, releasing a savepoint):
// the statement's, without its cancellation. Cancelled half way, they
// would leave the write in the caller's transaction without its entries,
// and a caller that logs the error and commits would commit it unrecorded.
// Their values (the caller's deadline aside) still apply.
func afterWrite(db *gorm.DB) context.Context {
	return context.WithoutCancel(db.Statement.Context)
}
