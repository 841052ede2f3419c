package auditgorm

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/capture"
	"github.com/go-auditlog/auditlog/internal/registry"
	"github.com/go-auditlog/auditlog/internal/value"
)

// DialectOf returns the auditstore dialect of db.
func DialectOf(db *gorm.DB) (auditstore.Dialect, error) {
	if db == nil || db.Dialector == nil {
		return "", errors.New("auditgorm: db is nil: pass an opened *gorm.DB")
	}
	return auditstore.ParseDialect(db.Dialector.Name())
}

// Migrate creates or upgrades the auditlog_entries table of db. It is
// idempotent and safe to run from several processes at once.
func Migrate(ctx context.Context, db *gorm.DB) error {
	if ctx == nil {
		return errNilContext
	}
	d, err := DialectOf(db)
	if err != nil {
		return err
	}
	sqlDB, err := db.DB()
	if err != nil {
		return fmt.Errorf("auditgorm: Migrate needs the root *gorm.DB, not a transaction: %w", err)
	}
	return auditstore.Migrate(ctx, sqlDB, d)
}

// NewStore returns an auditstore.Store reading through db's connection (its
// transaction, if db is one). Under GORM's PrepareStmt it uses the pool or
// transaction beneath: the store begins transactions of its own (a flush's
// batches) and tells a transaction from a pool, which GORM's wrappers hide.
func NewStore(db *gorm.DB) (*auditstore.Store, error) {
	d, err := DialectOf(db)
	if err != nil {
		return nil, err
	}
	pool := db.Statement.ConnPool
	switch p := pool.(type) {
	case *gorm.PreparedStmtDB:
		if p.ConnPool != nil {
			pool = p.ConnPool
		}
	case *gorm.PreparedStmtTX:
		if p.Tx != nil {
			pool = p.Tx
		}
	}
	return auditstore.New(pool, d)
}

// Record is an entry to write by hand, for changes GORM cannot see (raw SQL,
// Table() writes) or for objects that are not registered.
type Record struct {
	// Action is what happened: auditlog.ActionCreate (the zero value),
	// ActionUpdate, ActionDelete or ActionAccess.
	Action auditlog.Action
	// Object, when set, names the entry's object: its model name, key and
	// repr are taken from it (and its registration, if any).
	Object any
	// Model and PK name the object explicitly when Object is nil; they
	// override what Object gives when set.
	Model string
	PK    string
	// Repr overrides the object's repr; by default it is Object's, or
	// "Model(PK)".
	Repr string
	// Changes are stored as given; nil for none.
	Changes auditlog.Changes
	// Timestamp defaults to now (on PostgreSQL, with the plugin installed
	// and no Config.Now, the database's clock, as for captured writes).
	Timestamp time.Time
}

// Log writes one entry through db — pass the transaction that made the
// change, so the entry commits with it. The actor, remote address,
// correlation id and extra data come from ctx, as for captured writes.
// auditlog.Disable turns off the capture of writes, not Log: an entry
// asked for by name is written.
func Log(ctx context.Context, db *gorm.DB, r Record) error {
	if ctx == nil {
		return errors.New("auditgorm: Log: ctx is nil")
	}
	if !r.Action.Valid() {
		return fmt.Errorf("auditgorm: Log: invalid action %d: use auditlog.ActionCreate, ActionUpdate, ActionDelete or ActionAccess", r.Action)
	}
	d, err := DialectOf(db)
	if err != nil {
		return err
	}
	var e auditlog.Entry
	p := pluginOf(db)
	if p != nil {
		e = p.base(ctx, r.Model)
	} else {
		e = capture.Base(ctx, r.Model, time.Now())
	}
	e.Action, e.Changes = r.Action, r.Changes
	if !r.Timestamp.IsZero() {
		e.Timestamp = r.Timestamp.UTC().Truncate(time.Microsecond)
	}
	if r.Object != nil {
		if err := describe(ctx, db, r.Object, &e); err != nil {
			return err
		}
	} else if e.AdditionalData, err = capture.AdditionalData(auditlog.ExtraFromContext(ctx), nil); err != nil {
		return fmt.Errorf("auditgorm: Log: %w", err)
	}
	if r.Model != "" {
		e.Model = r.Model
	}
	if r.PK != "" {
		e.ObjectPK, e.ObjectID = r.PK, nil
		if id, ok := auditstore.IntegerKey(r.PK); ok {
			// An integer key's entries carry the number, as captured
			// writes' do; a registered model with a text key ("7" of a
			// code) does not, or its history would not find the entry.
			textKey := false
			if p != nil {
				m, err := p.modelByName(db, e.Model)
				if err != nil {
					return err
				}
				textKey = m != nil && (len(m.pk) != 1 || m.pk[0].kind != schema.Int && m.pk[0].kind != schema.Uint)
			}
			if !textKey {
				e.ObjectID = &id
			}
		}
		if r.Object == nil {
			e.ObjectRepr = e.Model + "(" + r.PK + ")"
		}
	}
	if r.Repr != "" {
		e.ObjectRepr = r.Repr
	}
	if e.Model == "" || e.ObjectPK == "" {
		return errors.New("auditgorm: Log: the record names no object: set Object, or Model and PK")
	}
	if p != nil && p.hooks != nil {
		return p.observeLog(ctx, db.Statement.ConnPool, d, e)
	}
	return insertLogged(ctx, db.Statement.ConnPool, d, e)
}

// insertLogged inserts the entry of a Log.
func insertLogged(ctx context.Context, conn auditstore.DBTX, d auditstore.Dialect, e auditlog.Entry) error {
	s, err := auditstore.New(conn, d)
	if err != nil {
		return fmt.Errorf("auditgorm: Log: %w", err)
	}
	if err := s.Insert(ctx, []auditlog.Entry{e}); err != nil {
		return fmt.Errorf("auditgorm: Log: %w", err)
	}
	return nil
}

// observeLog inserts the entry of a Log between the hooks' StatementStart
// and StatementEnd.
func (p *Plugin) observeLog(ctx context.Context, conn auditstore.DBTX, d auditstore.Dialect, e auditlog.Entry) (err error) {
	info := StatementStartInfo{Model: e.Model, Action: e.Action}
	hctx, err := p.start(ctx, info)
	if err != nil {
		return err
	}
	o := &observation{path: PathLog}
	begin := time.Now()
	done := false
	defer func() {
		took := time.Since(begin)
		end := StatementEndInfo{StatementStartInfo: info, Path: PathLog, Entries: o.entries, ExtraStatements: o.extra(), Duration: took, Overhead: took, Err: err}
		if !done {
			end.Err = ErrStatementPanicked
		}
		if herr := p.end(hctx, end); herr != nil && done && err == nil {
			if _, inTx := conn.(gorm.TxCommitter); !inTx {
				// Outside a transaction the entry is in: a caller that
				// retries on the error would write it twice.
				herr = fmt.Errorf("%w; the entry was committed", herr)
			}
			err = herr
		}
	}()
	err = insertLogged(hctx, countingConn{conn, o}, d, e)
	done = true
	return err
}

// LogAccess writes an access entry (action 3) for obj, for reads that must
// leave a trace. It is written even where auditing is disabled, as in the
// seed system.
func LogAccess(ctx context.Context, db *gorm.DB, obj any) error {
	if obj == nil {
		return errors.New("auditgorm: LogAccess: obj is nil")
	}
	return Log(ctx, db, Record{Action: auditlog.ActionAccess, Object: obj})
}

// describe fills the model name, key, repr, snapshot and additional data of
// obj into e.
func describe(ctx context.Context, db *gorm.DB, obj any, e *auditlog.Entry) error {
	m, row, err := objectModel(db, obj)
	if err != nil {
		return err
	}
	key, id, ok, err := m.key(ctx, row)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("auditgorm: %s has a zero primary key: save it first", m.schema.Name)
	}
	e.Model, e.ObjectPK, e.ObjectID = m.name, key, id
	vals := make([]value.Value, len(m.fields))
	for i, f := range m.fields {
		if vals[i], err = f.value(ctx, row); err != nil {
			return err
		}
	}
	if e.ObjectRepr, e.AdditionalData, err = m.shown(pluginOf(db), db, row, key, auditlog.ExtraFromContext(ctx), vals); err != nil {
		return err
	}
	e.SerializedData = m.t.SnapshotOf(vals)
	return nil
}

// pluginOf returns the auditlog plugin installed on db, if any.
func pluginOf(db *gorm.DB) *Plugin {
	if db.Config == nil {
		return nil
	}
	if p, ok := db.Config.Plugins[(&Plugin{}).Name()].(*Plugin); ok {
		return p
	}
	return nil
}

// objectModel compiles obj's model: with its registration if the plugin on
// db has one, else with default options.
// registered reports whether t is registered with db's plugin (or the
// default registry, without one).
func registered(db *gorm.DB, t reflect.Type) bool {
	reg := registry.Of(auditlog.DefaultRegistry)
	if p := pluginOf(db); p != nil {
		reg = p.reg
	}
	_, ok := reg.Lookup(t)
	return ok
}

func objectModel(db *gorm.DB, obj any) (*model, reflect.Value, error) {
	if db == nil || db.Statement == nil {
		return nil, reflect.Value{}, errors.New("auditgorm: db is nil: pass an opened *gorm.DB")
	}
	row := reflect.ValueOf(obj)
	for row.Kind() == reflect.Pointer {
		if row.IsNil() {
			return nil, row, errors.New("auditgorm: object is a nil pointer")
		}
		row = row.Elem()
	}
	if row.Kind() != reflect.Struct {
		return nil, row, fmt.Errorf("auditgorm: object of type %T is not a struct", obj)
	}
	stmt := &gorm.Statement{DB: db}
	if err := stmt.Parse(obj); err != nil {
		return nil, row, fmt.Errorf("auditgorm: parse %T: %w", obj, err)
	}
	p := pluginOf(db)
	reg, dialect := registry.Of(auditlog.DefaultRegistry), db.Dialector.Name()
	if p != nil {
		reg = p.reg
	}
	cfg, ok := reg.Lookup(stmt.Schema.ModelType)
	if !ok {
		cfg = &registry.Config{Type: stmt.Schema.ModelType}
	}
	if p != nil && ok {
		m, err := p.compiled(db, stmt.Schema, cfg)
		return m, row, err
	}
	m, err := compileModel(db, dialect, cfg, stmt.Schema, reg)
	return m, row, err
}

// ref returns the store reference of obj.
func ref(ctx context.Context, db *gorm.DB, obj any) (auditstore.ObjectRef, error) {
	m, row, err := objectModel(db, obj)
	if err != nil {
		return auditstore.ObjectRef{}, err
	}
	key, id, ok, err := m.key(ctx, row)
	if err != nil {
		return auditstore.ObjectRef{}, err
	}
	if !ok {
		return auditstore.ObjectRef{}, fmt.Errorf("auditgorm: %s has a zero primary key: it has no history", m.schema.Name)
	}
	return auditstore.ObjectRef{Model: m.name, PK: key, ID: id}, nil
}

// errNilContext is the error of a call given no context: database/sql
// would panic on it while holding its pool's lock, and wedge the pool.
var errNilContext = errors.New("auditgorm: ctx is nil: pass a context, such as context.Background()")

// History returns one page of obj's entries, newest first, like the seed
// system's history.all(). obj is a pointer to a model with its key set.
func History(ctx context.Context, db *gorm.DB, obj any, p auditstore.Page) (auditstore.Result, error) {
	return HistoryOf(ctx, db, []any{obj}, p)
}

// HistoryOf returns the entries of several objects merged and ordered
// newest first, like the seed system's get_for_objects. objs may mix models,
// so an object's history can be combined with its related objects'. objs is
// a slice of models, of pointers to models, or of any mix ([]any).
func HistoryOf(ctx context.Context, db *gorm.DB, objs any, p auditstore.Page) (auditstore.Result, error) {
	if ctx == nil {
		return auditstore.Result{}, errNilContext
	}
	list := reflect.ValueOf(objs)
	if list.Kind() == reflect.Pointer {
		list = list.Elem()
	}
	if list.Kind() != reflect.Slice && list.Kind() != reflect.Array {
		return auditstore.Result{}, fmt.Errorf("auditgorm: HistoryOf: objs is a %T, not a slice", objs)
	}
	if list.Len() == 0 {
		return auditstore.Result{}, errors.New("auditgorm: HistoryOf: no objects given")
	}
	refs := make([]auditstore.ObjectRef, 0, list.Len())
	for i := 0; i < list.Len(); i++ {
		o := list.Index(i)
		if o.Kind() != reflect.Pointer && o.Kind() != reflect.Interface && o.CanAddr() {
			o = o.Addr()
		}
		r, err := ref(ctx, db, o.Interface())
		if err != nil {
			return auditstore.Result{}, err
		}
		refs = append(refs, r)
	}
	s, err := NewStore(db)
	if err != nil {
		return auditstore.Result{}, err
	}
	return s.List(ctx, auditstore.Filter{Objects: refs}, p)
}

// ObjectKey returns the key text by which the entries of model (a value or
// pointer of the model type) name the object whose primary key is pk: the
// key field's value (42, a time), or for a composite key a slice or array
// of the key fields' values in the model's key order. It is the text
// History finds the object by: masked where the key is masked, and as the
// database stores the key (a time with its offset in an SQLite key).
func ObjectKey(db *gorm.DB, model any, pk any) (string, error) {
	m, _, err := objectModel(db, model)
	if err != nil {
		return "", err
	}
	parts := []any{pk}
	if len(m.pk) > 1 {
		rv := reflect.ValueOf(pk)
		if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array || rv.Len() != len(m.pk) {
			return "", fmt.Errorf("auditgorm: %s has a key of %d columns: give pk as a slice of %d values", m.schema.Name, len(m.pk), len(m.pk))
		}
		parts = make([]any, rv.Len())
		for i := range parts {
			parts[i] = rv.Index(i).Interface()
		}
	}
	vals := make([]value.Value, len(m.fields))
	for i, f := range m.pk {
		v, err := value.Normalize(parts[i], f.opts)
		if err != nil {
			return "", fmt.Errorf("auditgorm: %s's key %s: %w", m.schema.Name, f.column, err)
		}
		vals[f.index] = v
	}
	key, _ := m.t.ObjectKey(vals)
	return key, nil
}

// ModelName returns the name the entries of model (a value or pointer of
// the model type) carry: its ModelName option, or its table name.
func ModelName(db *gorm.DB, model any) (string, error) {
	m, _, err := objectModel(db, model)
	if err != nil {
		return "", err
	}
	return m.name, nil
}

// ModelHistory returns one page of the entries of every object of model
// (a value or pointer of the model type), newest first.
func ModelHistory(ctx context.Context, db *gorm.DB, model any, p auditstore.Page) (auditstore.Result, error) {
	if ctx == nil {
		return auditstore.Result{}, errNilContext
	}
	m, _, err := objectModel(db, model)
	if err != nil {
		return auditstore.Result{}, err
	}
	s, err := NewStore(db)
	if err != nil {
		return auditstore.Result{}, err
	}
	return s.List(ctx, auditstore.Filter{Model: m.name}, p)
}
