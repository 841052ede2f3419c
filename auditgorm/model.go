package auditgorm

import (
	"bytes"
	"context"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/migrator"
	"gorm.io/gorm/schema"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/capture"
	"github.com/go-auditlog/auditlog/internal/registry"
	"github.com/go-auditlog/auditlog/internal/value"
)

// model is a registration compiled against a GORM schema: the work that can
// be done once per model rather than once per write.
type model struct {
	t        *capture.Table // the data-layer-free description of the table
	cfg      *registry.Config
	schema   *schema.Schema
	name     string
	fields   []*field // every column, in schema order
	pk       []*field
	byColumn map[string]*field
	display  map[string]string // column → label
	// computed: the model has a field GORM never writes (read-only), which
	// the database may compute from the others, or one its declaration
	// makes the database set on every update (ON UPDATE).
	computed bool
	// wantsObject: the model has a repr or additional data of its own, so
	// entries need its struct.
	wantsObject bool
	// sqlEntries: PostgreSQL may write the model's entries in SQL, as far
	// as its columns' types allow (pgentries.go).
	sqlEntries bool
	// secret lists the masked and excluded fields: their clear values
	// appear in no entry.
	secret []*field
	// related caches secretRelations for one generation of the registry.
	related atomic.Pointer[relatedWithSecrets]
	// m2m are the relations named with auditlog.M2M, by their change key.
	m2m map[string]*schema.Relationship
	// unique lists the column groups of unique columns and indexes other
	// than the primary key.
	unique [][]*field
	// indexes are the fields of each index GORM declares for the model, by
	// name (nil for one on an expression or on another column); unique
	// ones only in uniqueIndexes.
	indexes, uniqueIndexes map[string][]*field
	// floats: on MySQL, the model has a float column, which its reads
	// select as a double (readCols).
	floats bool
	// Built once, used by every write (never appended to: full slices).
	cols      []clause.Column // every column, for SELECT and RETURNING
	colsOfTbl []clause.Column // the same, qualified by the statement's table
	order     clause.OrderBy  // primary-key order
}

// mysqlFloat reports whether f is a float column, not a DECIMAL one, which
// MySQL's reads select as a double (readCols).
func mysqlFloat(f *field) bool { return f.kind == schema.Float && !f.opts.Decimal }

// readCols returns the columns a read or RETURNING of m's rows selects, by
// the statement's table with ofTable: m.cols or m.colsOfTbl, but on MySQL
// a float column as a double, (col + 0e0) AS col. MySQL's text protocol
// (interpolateParams) prints a FLOAT with 6 digits, which lost the 7th
// (1.2345678 read as 1.23457) and made an update of it no entry; a double
// prints with 17, exactly in either protocol.
func (m *model) readCols(stmt *gorm.Statement, ofTable bool) []clause.Column {
	if !m.floats {
		if ofTable {
			return m.colsOfTbl
		}
		return m.cols
	}
	out := make([]clause.Column, len(m.fields))
	for i, f := range m.fields {
		col := clause.Column{Name: f.column}
		if ofTable {
			col.Table = clause.CurrentTable
		}
		if mysqlFloat(f) {
			col = clause.Column{Name: "(" + stmt.Quote(col) + " + 0e0) AS " + stmt.Quote(f.column), Raw: true}
		}
		out[i] = col
	}
	return out
}

// parseIndexes serialises schema.ParseIndexes, which writes to the schema
// and is not safe for concurrent use.
var parseIndexes sync.Mutex

type field struct {
	f       *schema.Field
	index   int // position in model.fields
	column  string
	kind    schema.DataType // the Go side's kind: how to read a driver value
	opts    value.Options
	audited bool
	// noise fields (auto-updated timestamps) never make an update entry on
	// their own and are left out of update changes, unless included by name.
	noise  bool
	masked bool
	// excluded fields are never recorded: not in changes, snapshots, reprs
	// or additional data.
	excluded bool
	// serialized: stored through a custom GORM serializer, so the Go value
	// is not what the database holds.
	serialized bool
	// storageClasses: the database keeps a value's kind as stored
	// (SQLite): a BLOB is bytes, and text in a column of numeric affinity
	// is text, since the column converted what it could (textAffinity: a
	// column of TEXT affinity stores a number given as its text, which is
	// read as the field's kind).
	storageClasses, textAffinity bool
	// textBytes: a byte slice whose column the database returns as text
	// (PostgreSQL's text): recorded as that text, not as bytes.
	textBytes bool
}

var (
	reprerType     = reflect.TypeFor[auditlog.Reprer]()
	stringerType   = reflect.TypeFor[fmt.Stringer]()
	additionalType = reflect.TypeFor[auditlog.AdditionalDataProvider]()
)

var precisionRE = regexp.MustCompile(`\((\d+)\)`)

// paddedTypeRE matches PostgreSQL's blank-padded text types: char(n),
// character(n), bpchar.
var paddedTypeRE = regexp.MustCompile(`^\s*(char|character|bpchar)\s*(\(\s*\d+\s*\))?\s*$`)

// reservedColumnRE matches the column names the plugin's queries give to
// columns of their own (rows.go): a model column of such a name would be
// read as one of them.
var reservedColumnRE = regexp.MustCompile(`^(_ao[0-9]+|_nk[0-9]+|_auditlog_.*)$`)

// nameOfItsOwn refuses a model whose entries would carry the name of
// another registered model's entries, of another table or keyed by other
// columns: the two would share histories, and a revert would write
// whichever table (or row) it found.
func nameOfItsOwn(db *gorm.DB, reg registry.View, s *schema.Schema, name string) error {
	if _, registered := reg.Lookup(s.ModelType); !registered {
		return nil // a related model read for its reprs writes no entries
	}
	for _, t := range reg.Models() {
		if t == s.ModelType {
			continue
		}
		cfg, ok := reg.Lookup(t)
		if !ok {
			continue
		}
		stmt := &gorm.Statement{DB: db}
		if stmt.Parse(reflect.New(t).Interface()) != nil {
			continue // that model's own writes say why
		}
		other := cfg.Name
		if other == "" {
			other = stmt.Schema.Table
		}
		if other == name && (stmt.Schema.Table != s.Table || !slices.Equal(stmt.Schema.PrimaryFieldDBNames, s.PrimaryFieldDBNames)) {
			return fmt.Errorf("auditgorm: %s (table %s) would record its entries as %q, the name of %s's (table %s): give each model a name of its own (auditlog.ModelName)",
				s.Name, s.Table, name, stmt.Schema.Name, stmt.Schema.Table)
		}
	}
	return nil
}

func compileModel(db *gorm.DB, dialect string, cfg *registry.Config, s *schema.Schema, reg registry.View) (*model, error) {
	m := &model{cfg: cfg, schema: s, name: cfg.Name, byColumn: map[string]*field{}}
	if m.name == "" {
		m.name = s.Table
	}
	if err := nameOfItsOwn(db, reg, s, m.name); err != nil {
		return nil, err
	}
	m.t = &capture.Table{Mask: cfg.Mask}
	if m.t.Mask == nil {
		// The registry's mask as it is when a value is masked: one set
		// later (Registry.SetMask) applies to the models compiled before.
		m.t.Mask = func(clear string) string { return reg.Mask()(clear) }
	}
	// A name is a column, a Go field name or a dotted Go path (Billing.Number).
	// A Go field name names every field of that name: two embedded structs
	// may each hold a Number, and Mask("Number") must mask both.
	lookup := func(option, name string) ([]*schema.Field, error) {
		var out []*schema.Field
		for _, f := range s.Fields {
			if f.DBName != "" && (f.DBName == name || f.Name == name || strings.Join(f.BindNames, ".") == name) {
				out = append(out, f)
			}
		}
		if len(out) == 0 {
			if f := s.LookUpField(name); f != nil && f.DBName != "" {
				out = append(out, f)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("auditgorm: %s: %s names %q, which is not a column of table %s", s.Name, option, name, s.Table)
		}
		return out, nil
	}
	resolve := func(option string, names []string) (map[*schema.Field]bool, error) {
		out := map[*schema.Field]bool{}
		for _, n := range names {
			fs, err := lookup(option, n)
			if err != nil {
				return nil, err
			}
			for _, f := range fs {
				out[f] = true
			}
		}
		return out, nil
	}
	include, err := resolve("Include", cfg.Include)
	if err != nil {
		return nil, err
	}
	exclude, err := resolve("Exclude", cfg.Exclude)
	if err != nil {
		return nil, err
	}
	masked, err := resolve("Mask", cfg.MaskFields)
	if err != nil {
		return nil, err
	}
	unmasked, err := resolve("Unmask", cfg.UnmaskFields)
	if err != nil {
		return nil, err
	}
	for f := range unmasked {
		if masked[f] {
			return nil, fmt.Errorf("auditgorm: %s: field %s is both masked and unmasked", s.Name, f.Name)
		}
	}
	snapFields, err := resolve("SnapshotFields", cfg.SnapshotFields)
	if err != nil {
		return nil, err
	}
	for f := range exclude {
		if f.PrimaryKey {
			return nil, fmt.Errorf("auditgorm: %s: Exclude names the primary key %s, which every entry must name its object by: use Mask to record it masked", s.Name, f.Name)
		}
	}
	for f := range snapFields {
		if exclude[f] {
			return nil, fmt.Errorf("auditgorm: %s: SnapshotFields names %s, which is excluded: an excluded field is recorded nowhere", s.Name, f.Name)
		}
	}
	m.m2m = make(map[string]*schema.Relationship, len(cfg.M2MFields))
	for _, name := range cfg.M2MFields {
		rel := s.Relationships.Relations[name]
		if rel == nil || rel.Type != schema.Many2Many || rel.JoinTable == nil {
			return nil, fmt.Errorf("auditgorm: %s: M2M names %q, which is not a many-to-many relation", s.Name, name)
		}
		m.m2m[m2mChangeKey(db, rel)] = rel
	}
	m.display = make(map[string]string, len(cfg.DisplayNames))
	for name, label := range cfg.DisplayNames {
		fs, err := lookup("DisplayNames", name)
		if err != nil {
			return nil, err
		}
		for _, f := range fs {
			m.display[f.DBName] = label
		}
	}
	for _, sf := range s.Fields {
		if sf.DBName == "" || s.FieldsByDBName[sf.DBName] != sf {
			// No column, or a field another of the same column shadows (an
			// embedded struct's, the model's own by the same name): GORM
			// writes and reads the one it lists, and so is the column.
			continue
		}
		if sf.IgnoreMigration && !sf.Creatable && !sf.Updatable {
			// Read only and not migrated: a field filled by queries of the
			// application's own (a count, a join's column), whose table
			// has no such column. Not asked of the catalog: a model is
			// compiled also where no connection is free (a pool of one,
			// held by the write's transaction).
			continue
		}
		if reservedColumnRE.MatchString(sf.DBName) {
			return nil, fmt.Errorf("auditgorm: %s: column %s has a name the plugin gives the columns of its own queries (_ao<n>, _nk<n>, _auditlog_…); rename the column to audit the model", s.Name, sf.DBName)
		}
		f := &field{f: sf, index: len(m.fields), column: sf.DBName, kind: sf.GORMDataType, excluded: exclude[sf], serialized: customSerializer(sf),
			storageClasses: dialect == "sqlite"}
		if f.storageClasses {
			f.textAffinity = sqliteTextAffinity(db.Dialector.DataTypeOf(sf))
		}
		// pgx returns every column but bytea as text.
		f.textBytes = dialect == "postgres" && f.kind == schema.Bytes && !strings.Contains(declaredType(db, sf), "bytea")
		f.masked = masked[sf] || (f.serialized && !unmasked[sf])
		f.audited = (len(include) == 0 || include[sf]) && !exclude[sf]
		f.noise = sf.AutoUpdateTime > 0 && !include[sf]
		f.opts = valueOptions(db, dialect, sf)
		m.fields = append(m.fields, f)
		m.byColumn[sf.DBName] = f
		m.computed = m.computed || (!sf.Creatable && !sf.Updatable) || setOnUpdate(sf)
		if sf.PrimaryKey {
			m.pk = append(m.pk, f)
		}
	}
	for _, t := range []reflect.Type{s.ModelType, reflect.PointerTo(s.ModelType)} {
		m.wantsObject = m.wantsObject || t.Implements(reprerType) || t.Implements(stringerType) || t.Implements(additionalType)
	}
	if len(m.pk) == 0 {
		return nil, fmt.Errorf("auditgorm: %s has no primary key: audited models need one to name their objects", s.Name)
	}
	if len(m.pk) == 1 {
		switch m.pk[0].f.FieldType.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			m.t.IntPK = true
		}
	}
	if cfg.Snapshot {
		for _, f := range m.fields {
			switch {
			case f.excluded:
			case len(snapFields) > 0 && !snapFields[f.f]:
			case cfg.SnapshotAuditedOnly && !f.audited:
			default:
				m.t.Snapshot = append(m.t.Snapshot, f.index)
			}
		}
	}
	for _, f := range m.fields {
		if f.f.Unique && !f.f.PrimaryKey {
			m.unique = append(m.unique, []*field{f})
		}
	}
	parseIndexes.Lock()
	indexes := s.ParseIndexes()
	parseIndexes.Unlock()
	m.indexes, m.uniqueIndexes = map[string][]*field{}, map[string][]*field{}
	for _, ix := range indexes {
		var g []*field
		for _, o := range ix.Fields {
			if o.Field == nil {
				break
			}
			if f := m.byColumn[o.DBName]; f != nil {
				g = append(g, f)
			}
		}
		if len(g) != len(ix.Fields) || len(g) == 0 {
			g = nil
		}
		m.indexes[ix.Name] = g
		if ix.Class != "UNIQUE" {
			continue
		}
		m.uniqueIndexes[ix.Name] = g
		if g != nil {
			m.unique = append(m.unique, g)
		}
	}
	m.t.Model = m.name
	for _, f := range m.fields {
		if f.masked || f.excluded {
			m.secret = append(m.secret, f)
		}
		m.t.Columns = append(m.t.Columns, capture.Column{Name: f.column, Audited: f.audited, Noise: f.noise, Masked: f.masked})
		m.cols = append(m.cols, clause.Column{Name: f.column})
		m.colsOfTbl = append(m.colsOfTbl, clause.Column{Table: clause.CurrentTable, Name: f.column})
		m.floats = m.floats || dialect == "mysql" && mysqlFloat(f)
	}
	for _, f := range m.pk {
		m.t.PK = append(m.t.PK, f.index)
		m.order.Columns = append(m.order.Columns, clause.OrderByColumn{Column: clause.Column{Table: clause.CurrentTable, Name: f.column}})
	}
	m.cols, m.colsOfTbl = slices.Clip(m.cols), slices.Clip(m.colsOfTbl)
	m.order.Columns = slices.Clip(m.order.Columns)
	m.sqlEntries = m.sqlEntriesModel()
	return m, nil
}

// setOnUpdate reports whether the field's declaration makes the database
// set it on every update of its row (MariaDB's "ON UPDATE
// CURRENT_TIMESTAMP", in its type or default).
func setOnUpdate(sf *schema.Field) bool {
	decl := strings.ToLower(sf.TagSettings["TYPE"] + " " + sf.TagSettings["DEFAULT"])
	return strings.Contains(strings.Join(strings.Fields(decl), " "), "on update")
}

// declaredType is a field's column type as the dialect declares it, in
// lower case: "datetime(3)", "jsonb", "decimal(10,2)", or a type from the
// field's GormDBDataType.
func declaredType(db *gorm.DB, sf *schema.Field) string {
	full := db.Dialector.DataTypeOf(sf)
	if typer, ok := reflect.New(sf.IndirectFieldType).Interface().(migrator.GormDataTypeInterface); ok {
		if t := typer.GormDBDataType(db, sf); t != "" {
			full = t
		}
	}
	return strings.ToLower(full)
}

func valueOptions(db *gorm.DB, dialect string, sf *schema.Field) value.Options {
	var o value.Options
	full := declaredType(db, sf)
	dataType := strings.ToLower(string(sf.DataType)) + " " + full
	if sf.GORMDataType == schema.Time || sf.DataType == schema.Time || strings.Contains(dataType, "time") || strings.Contains(dataType, "date") {
		digits := 9
		switch dialect {
		case "postgres":
			digits = 6
		case "mysql":
			digits = 0
		}
		if mm := precisionRE.FindStringSubmatch(full); mm != nil {
			if p, err := strconv.Atoi(mm[1]); err == nil && p <= 9 {
				digits = p
			}
		}
		if sf.Precision > 0 && sf.Precision <= 9 {
			digits = sf.Precision
		}
		o.TimeUnit = time.Duration(1)
		for ; digits < 9; digits++ {
			o.TimeUnit *= 10
		}
		// SQLite's drivers store a time as text with its offset, and as
		// a key one instant at two offsets is two rows. Other values are
		// compared as instants, as on the other databases.
		o.KeepOffset = dialect == "sqlite" && sf.PrimaryKey
	}
	if dialect == "postgres" && sf.PrimaryKey && paddedTypeRE.MatchString(full) {
		o.Padded = true
	}
	if dialect == "postgres" && sf.PrimaryKey && strings.TrimSpace(full) == "uuid" {
		o.Lower = true
	}
	if _, ok := sf.Serializer.(schema.JSONSerializer); ok || strings.Contains(dataType, "json") {
		o.JSON = true
	}
	// GORM's SQLite dialectors declare a bool's column NUMERIC: it holds 0
	// or 1, not a decimal.
	if (strings.Contains(dataType, "decimal") || strings.Contains(dataType, "numeric")) && sf.GORMDataType != schema.Bool {
		o.Decimal = true
	}
	return o
}

// customSerializer reports whether a field is stored through a GORM
// serializer other than the built-in json, gob and unixtime ones.
func customSerializer(sf *schema.Field) bool {
	if sf.Serializer == nil {
		return false
	}
	switch reflect.Indirect(reflect.ValueOf(sf.Serializer)).Type() {
	case reflect.TypeFor[schema.JSONSerializer](), reflect.TypeFor[schema.GobSerializer](), reflect.TypeFor[schema.UnixSecondSerializer]():
		return false
	}
	return true
}

// value reads and normalises the field of one row of Go objects: for a
// field with a custom serializer, the form the serializer would store.
func (f *field) value(ctx context.Context, row reflect.Value) (value.Value, error) {
	if f.serialized {
		v, _ := f.f.ValueOf(ctx, row)
		if dv, ok := v.(driver.Valuer); ok {
			raw, err := dv.Value()
			if err != nil {
				return value.Null, fmt.Errorf("auditgorm: field %s: serializer: %w", f.f.Name, err)
			}
			return f.fromDB(raw)
		}
	}
	v := f.f.ReflectValueOf(ctx, row)
	if !v.IsValid() {
		return value.Null, nil
	}
	out, err := value.Normalize(v.Interface(), f.opts)
	if err != nil {
		return value.Null, fmt.Errorf("auditgorm: field %s: %w", f.f.Name, err)
	}
	return out, nil
}

// MaxValueBytes is the largest value an entry stores as it is. A larger one
// (a 9 MiB text column, say) is recorded as {"$digest": "sha256:…",
// "$bytes": n}, the digest and length of its JSON form: the entry still
// proves what the value was, and no entry statement grows past a server's
// packet limit (MySQL's max_allowed_packet) because of it.
const MaxValueBytes = capture.MaxValueBytes

// key returns the object key of a Go object as entries store it (masked
// where the key is masked) and, for integer keys, the integer; ok is false
// when the key is zero.
func (m *model) key(ctx context.Context, row reflect.Value) (string, *int64, bool, error) {
	if _, zero := m.pk[0].f.ValueOf(ctx, row); zero && len(m.pk) == 1 {
		return "", nil, false, nil
	}
	key, id, err := m.keyOf(ctx, row)
	return key, id, err == nil && key != "", err
}

// keyOf is row's key as an entry names its object, a zero key too.
func (m *model) keyOf(ctx context.Context, row reflect.Value) (string, *int64, error) {
	vals := make([]value.Value, len(m.fields))
	for _, f := range m.pk {
		v, err := f.value(ctx, row)
		if err != nil {
			return "", nil, err
		}
		vals[f.index] = v
	}
	key, id := m.t.ObjectKey(vals)
	return key, id, nil
}

// objects returns row as the values its methods may be found on: its
// pointer first, then the value.
func objects(row reflect.Value) []any {
	if !row.IsValid() {
		return nil
	}
	if row.CanAddr() {
		return []any{row.Addr().Interface(), row.Interface()}
	}
	return []any{row.Interface()}
}

// shown is what an entry may show of obj: its repr (AuditRepr, String, or
// "Type(key)") and its additional data merged with extra. Where the model
// has masked or excluded fields, the object's methods run on a copy in
// which masked fields hold their masked text and excluded ones their zero
// value, and what they return is scrubbed of the clear values that obj and
// the rows in vals hold: a method that reads a secret some other way still
// cannot put it in an entry.
//
// Related objects loaded into obj (a Book's Author, an Order's Lines) are
// hidden by their own models' registrations, one level deep, when p is set:
// a repr that prints a related customer's masked email shows it masked.
func (m *model) shown(p *Plugin, db *gorm.DB, obj reflect.Value, key string, extra map[string]any, vals ...[]value.Value) (string, json.RawMessage, error) {
	obj, sc := m.visible(p, db, obj, vals...)
	var objs []any // the object's methods, where it has some of use
	if m.wantsObject {
		objs = objects(obj)
	}
	repr := sc.Text(capture.Repr(objs, m.schema.Name, key))
	var own any
	for _, o := range objs {
		if p, ok := o.(auditlog.AdditionalDataProvider); ok {
			own = p.AuditAdditionalData()
			break
		}
	}
	raw, err := capture.AdditionalData(extra, own)
	if err != nil {
		return "", nil, fmt.Errorf("auditgorm: %w", err)
	}
	return repr, sc.JSON(raw), nil
}

// scrubbed returns extra with the clear values of m's secrets in rows
// replaced by what entries show of them, as shown scrubs an object's own.
func (m *model) scrubbed(extra map[string]any, rows map[string]*dbRow) (map[string]any, error) {
	var sc capture.Scrubber
	for _, r := range rows {
		for _, f := range m.secret {
			if v := r.vals[f.index]; !v.IsNull() {
				sc.Add(v.Text(), m.standIn(f, v))
			}
		}
	}
	if sc.Empty() {
		return extra, nil
	}
	raw, err := json.Marshal(extra)
	if err != nil {
		return nil, fmt.Errorf("auditgorm: context extra data: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(sc.JSON(raw)))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("auditgorm: context extra data: %w", err)
	}
	return out, nil
}

// reprOf is shown's repr alone: what a many-to-many entry lists for a
// related object.
func (m *model) reprOf(p *Plugin, db *gorm.DB, obj reflect.Value, key string, vals []value.Value) string {
	obj, sc := m.visible(p, db, obj, vals)
	if !m.wantsObject {
		return sc.Text(capture.Repr(nil, m.schema.Name, key))
	}
	return sc.Text(capture.Repr(objects(obj), m.schema.Name, key))
}

// visible returns obj as the object's methods may see it (a copy with the
// secrets of the model and its loaded related objects hidden, or obj
// itself when there are none) and the scrubber for what they return, which
// knows the clear values of obj and of the rows in vals.
func (m *model) visible(p *Plugin, db *gorm.DB, obj reflect.Value, vals ...[]value.Value) (reflect.Value, *capture.Scrubber) {
	var sc capture.Scrubber
	obj = m.hideInto(p, db, obj, &sc)
	// The rows' secrets, object or not: the context's extra data is
	// scrubbed of them on every path (an update's and a delete's build no
	// object where the model has no methods to run).
	m.rowSecrets(&sc, vals...)
	return obj, &sc
}

// hideInto returns obj with its secrets and its loaded related objects'
// hidden (hide, hideRelated), or obj itself where there are none, and adds
// their clear values to sc.
func (m *model) hideInto(p *Plugin, db *gorm.DB, obj reflect.Value, sc *capture.Scrubber) reflect.Value {
	if obj.IsValid() {
		if rels := m.secretRelations(p, db); len(m.secret) > 0 || len(rels) > 0 {
			if obj = m.hide(obj, sc); obj.IsValid() && len(rels) > 0 {
				hideRelated(p, db, rels, obj, sc, 1, map[shared]reflect.Value{})
			}
		}
	}
	return obj
}

// rowSecrets adds the clear values of the secret fields of the rows vals
// to sc.
func (m *model) rowSecrets(sc *capture.Scrubber, vals ...[]value.Value) {
	for _, row := range vals {
		for _, f := range m.secret {
			if v := row[f.index]; !v.IsNull() {
				sc.Add(v.Text(), m.standIn(f, v))
			}
		}
	}
}

// standIn is what an entry shows instead of a secret field's value v.
func (m *model) standIn(f *field, v value.Value) string {
	if f.excluded {
		return capture.Excluded
	}
	return m.t.Stored(f.index, v).Text()
}

// hide returns a copy of obj whose secret fields hold what an entry may
// show, and adds their clear values to sc. Pointers on the way to a secret
// field are copied, never written through, so the caller's object is left
// as it was. When a field cannot be set (it sits behind an unexported
// embedded struct), the object's methods are not used at all.
func (m *model) hide(obj reflect.Value, sc *capture.Scrubber) reflect.Value {
	cp := reflect.New(obj.Type()).Elem()
	cp.Set(obj)
	for _, f := range m.secret {
		fv, ok := settable(cp, f.f.StructField.Index)
		if !ok {
			return reflect.Value{}
		}
		if !fv.IsValid() {
			continue // behind a nil pointer: the object has no such value
		}
		clear, err := value.Normalize(fv.Interface(), f.opts)
		standIn := capture.Excluded
		if err == nil && !clear.IsNull() {
			switch {
			case f.excluded:
			case f.serialized:
				standIn = capture.Masked
			default:
				standIn = m.t.Mask(clear.Text())
			}
			sc.Add(clear.Text(), standIn)
		}
		switch {
		case !f.excluded && fv.Kind() == reflect.String:
			fv.SetString(standIn)
		case !f.excluded && fv.Kind() == reflect.Pointer && fv.Type().Elem().Kind() == reflect.String && !fv.IsNil():
			p := reflect.New(fv.Type().Elem())
			p.Elem().SetString(standIn)
			fv.Set(p)
		default:
			fv.Set(reflect.Zero(fv.Type()))
		}
	}
	return cp
}

// secretRelation is a relation of a model to one with secret fields.
type secretRelation struct {
	rel *schema.Relationship
	m   *model
}

// relatedWithSecrets is what secretRelations found for one generation of
// the registry.
type relatedWithSecrets struct {
	gen  uint64
	rels []secretRelation
}

// secretRelations returns m's relations to models with secret fields, or
// whose relations lead to one (a related object's related object is
// hidden too). It is worked out once per change of the registry, not on
// every write.
func (m *model) secretRelations(p *Plugin, db *gorm.DB) []secretRelation {
	if p == nil || len(m.schema.Relationships.Relations) == 0 {
		return nil
	}
	gen := p.reg.Generation()
	if c := m.related.Load(); c != nil && c.gen == gen {
		return c.rels
	}
	c := &relatedWithSecrets{gen: gen}
	for _, rel := range m.schema.Relationships.Relations {
		if !ownRelation(m.schema, rel) || rel.FieldSchema == nil {
			continue
		}
		if rm := p.plainModel(db, rel.FieldSchema); rm != nil && p.leadsToSecrets(db, rm, map[*schema.Schema]bool{}) {
			c.rels = append(c.rels, secretRelation{rel, rm})
		}
	}
	m.related.Store(c)
	return c.rels
}

// leadsToSecrets reports whether m has secret fields, or a relation of it
// leads to a model that has (seen: the models already looked at).
func (p *Plugin) leadsToSecrets(db *gorm.DB, m *model, seen map[*schema.Schema]bool) bool {
	if len(m.secret) > 0 {
		return true
	}
	if seen[m.schema] {
		return false
	}
	seen[m.schema] = true
	for _, rel := range m.schema.Relationships.Relations {
		if !ownRelation(m.schema, rel) || rel.FieldSchema == nil {
			continue
		}
		if rm := p.plainModel(db, rel.FieldSchema); rm != nil && p.leadsToSecrets(db, rm, seen) {
			return true
		}
	}
	return false
}

// ownRelation reports whether rel, of s's relations, is s's own: GORM
// also lists a has-one or has-many relation in the related model's
// schema (as "_Owner_Field"), where its field is the owner's.
func ownRelation(s *schema.Schema, rel *schema.Relationship) bool {
	return rel.Field != nil && rel.Schema == s
}

// maxRelatedDepth bounds how deep hideRelated follows related objects: an
// object loaded deeper is left out of the copy the methods see.
const maxRelatedDepth = 16

// shared is a related object reached through a pointer: hideRelated
// copies each once (copies holds them), so that objects a program links
// both ways (a parent's children pointing back at it) are not copied
// again on every path to them, which grew as the number of paths.
type shared struct {
	p uintptr
	t reflect.Type
}

// hideRelated hides, in the copy cp, the secret fields of the related
// objects loaded into it, by the related models' registrations, and those
// of their related objects in turn, and adds their clear values to sc.
// Pointers and slices on the way are copied, an object reached through a
// pointer once (copies). depth is cp's, 1 for the object of the entry.
func hideRelated(p *Plugin, db *gorm.DB, rels []secretRelation, cp reflect.Value, sc *capture.Scrubber, depth int, copies map[shared]reflect.Value) {
	for _, r := range rels {
		rm := r.m
		fv, ok := settable(cp, r.rel.Field.StructField.Index)
		if !ok || !fv.IsValid() {
			continue
		}
		if depth >= maxRelatedDepth {
			fv.Set(reflect.Zero(fv.Type()))
			continue
		}
		hide := func(v reflect.Value) reflect.Value {
			h := rm.hide(v, sc)
			if h.IsValid() {
				hideRelated(p, db, rm.secretRelations(p, db), h, sc, depth+1, copies)
			}
			return h
		}
		hidden := func(v reflect.Value) reflect.Value { // v: a struct, or a pointer to one
			if v.Kind() == reflect.Pointer {
				if v.IsNil() {
					return v
				}
				key := shared{v.Pointer(), v.Type()}
				if ptr, ok := copies[key]; ok {
					return ptr
				}
				ptr := reflect.New(v.Type().Elem())
				copies[key] = ptr // before its related objects, which may lead back to it
				if h := hide(v.Elem()); h.IsValid() {
					ptr.Elem().Set(h)
				}
				return ptr
			}
			if h := hide(v); h.IsValid() {
				return h
			}
			return reflect.Zero(v.Type())
		}
		switch fv.Kind() {
		case reflect.Struct, reflect.Pointer:
			fv.Set(hidden(fv))
		case reflect.Slice:
			if fv.Len() == 0 {
				continue
			}
			ns := reflect.MakeSlice(fv.Type(), fv.Len(), fv.Len())
			for i := 0; i < fv.Len(); i++ {
				ns.Index(i).Set(hidden(fv.Index(i)))
			}
			fv.Set(ns)
		}
	}
}

// settable walks the struct field path index (GORM's, where a negative
// step -i-1 goes through the pointer field i) in v, copying each non-nil
// pointer it passes through so that setting the field leaves shared values
// alone. It returns the zero Value when a nil pointer is on the way, and
// false when the field cannot be set.
func settable(v reflect.Value, index []int) (reflect.Value, bool) {
	for _, i := range index {
		if i >= 0 {
			v = v.Field(i)
			continue
		}
		v = v.Field(-i - 1)
		if v.IsNil() {
			return reflect.Value{}, true
		}
		if !v.CanSet() {
			return reflect.Value{}, false
		}
		p := reflect.New(v.Type().Elem())
		p.Elem().Set(v.Elem())
		v.Set(p)
		v = p.Elem()
	}
	return v, v.CanSet()
}

// fromDB normalises a value the driver returned for the field's column. The
// field's Go kind says how to read drivers that return text for every type
// (MySQL) or integers for booleans (SQLite, MySQL); the value itself is the
// database's.
func (f *field) fromDB(raw any) (value.Value, error) {
	if raw == nil {
		return value.Null, nil
	}
	text, isText := raw.(string)
	if b, ok := raw.([]byte); ok && (!f.storageClasses || f.kind == schema.Time) {
		text, isText = string(b), true
	}
	// SQLite converts text a numeric or boolean column is given to a
	// number where it reads as one ('1', ' 2.5'): text left as text (t,
	// Inf, 0x1p-2) is no number, though Go's parsers read some as one, and
	// is recorded as the text it is. MySQL hands every value over as text.
	// A decimal column's text is read as a number everywhere, as the
	// other databases return its numbers (and entries recorded them).
	parse := isText && (!f.storageClasses || f.textAffinity || f.opts.Decimal)
	var conv any
	if f.opts.Decimal {
		// SQLite keeps a DECIMAL column's numbers as INTEGER or REAL: read
		// as the text the other databases return, so that the field's
		// kind decides as there (a number for a number field).
		switch v := raw.(type) {
		case int64:
			text, isText, parse = strconv.FormatInt(v, 10), true, true
			raw = text
		case float64:
			text, isText, parse = strconv.FormatFloat(v, 'f', -1, 64), true, true
			raw = text
		}
	}
	switch f.kind {
	case schema.Bool:
		switch {
		case parse:
			if b, err := strconv.ParseBool(text); err == nil {
				conv = b
			}
		default:
			// 0 and 1 only: SQLite's and MySQL's boolean columns hold any
			// integer, and 2 is not the value 1 is.
			if i, ok := raw.(int64); ok && (i == 0 || i == 1) {
				conv = i != 0
			}
		}
	case schema.Int:
		if parse {
			if i, err := strconv.ParseInt(text, 10, 64); err == nil {
				conv = i
			}
		}
	case schema.Uint:
		if parse {
			if u, err := strconv.ParseUint(text, 10, 64); err == nil {
				conv = u
			}
		}
	case schema.Float:
		switch v := raw.(type) {
		case int64:
			conv = float64(v)
		default:
			if parse {
				if x, err := strconv.ParseFloat(text, 64); err == nil {
					conv = x
				}
			}
		}
	case schema.String:
		if isText {
			conv = text
		}
	case schema.Time:
		if isText {
			if t, ok := parseDBTime(text); ok {
				conv = t
			}
		}
	}
	if conv == nil {
		conv = raw
	}
	// The database rounded the value to its column already.
	opts := f.opts
	opts.TimeUnit = 0
	out, err := value.Normalize(conv, opts)
	if err != nil {
		return value.Null, fmt.Errorf("auditgorm: column %s: %w", f.column, err)
	}
	return out, nil
}

// sqliteTextAffinity reports whether SQLite gives a column declared as
// typ TEXT affinity (its rules, section 3.1 of its datatype page: INT
// first, then CHAR, CLOB or TEXT).
func sqliteTextAffinity(typ string) bool {
	t := strings.ToUpper(typ)
	return !strings.Contains(t, "INT") && (strings.Contains(t, "CHAR") || strings.Contains(t, "CLOB") || strings.Contains(t, "TEXT"))
}

var dbTimeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

// parseDBTime reads a time a driver returned as text. Times without a zone
// are UTC: the plugin stores and compares UTC.
func parseDBTime(s string) (time.Time, bool) {
	for _, l := range dbTimeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
