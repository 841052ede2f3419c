package auditgorm

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/migrator"
	"gorm.io/gorm/schema"

	"github.com/go-auditlog/auditlog"
)

// model is a registration compiled against a GORM schema: the work that can
// be done once per model rather than once per write.
type model struct {
	cfg      *auditlog.ModelConfig
	schema   *schema.Schema
	name     string
	fields   []*field // every column, in schema order
	pk       []*field
	intPK    bool
	snapshot []*field
	mask     auditlog.MaskFunc
	byColumn map[string]*field
	display  map[string]string // column → label
	// nonCreatable: some column is never written by an insert (a
	// read-only or default-only field), so created rows are read back.
	nonCreatable bool
	// defaults are non-key columns the database fills when the insert leaves
	// them out.
	defaults []*field
}

type field struct {
	f       *schema.Field
	column  string
	opts    auditlog.ValueOptions
	audited bool
	// noise fields (auto-updated timestamps) never make an update entry on
	// their own and are left out of update changes, unless included by name.
	noise  bool
	masked bool
}

var precisionRE = regexp.MustCompile(`\((\d+)\)`)

func compileModel(db *gorm.DB, dialect string, cfg *auditlog.ModelConfig, s *schema.Schema, registryMask auditlog.MaskFunc) (*model, error) {
	m := &model{cfg: cfg, schema: s, name: cfg.Name, mask: cfg.Mask, byColumn: map[string]*field{}}
	if m.name == "" {
		m.name = s.Table
	}
	if m.mask == nil {
		m.mask = registryMask
	}
	lookup := func(option, name string) (*schema.Field, error) {
		if f := s.LookUpField(name); f != nil && f.DBName != "" {
			return f, nil
		}
		for _, f := range s.Fields {
			if f.DBName != "" && strings.Join(f.BindNames, ".") == name {
				return f, nil
			}
		}
		return nil, fmt.Errorf("auditgorm: %s: %s names %q, which is not a column of table %s", s.Name, option, name, s.Table)
	}
	resolve := func(option string, names []string) (map[*schema.Field]bool, error) {
		out := map[*schema.Field]bool{}
		for _, n := range names {
			f, err := lookup(option, n)
			if err != nil {
				return nil, err
			}
			out[f] = true
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
	snapFields, err := resolve("SnapshotFields", cfg.SnapshotFields)
	if err != nil {
		return nil, err
	}
	for _, name := range cfg.M2MFields {
		if rel := s.Relationships.Relations[name]; rel == nil || rel.Type != schema.Many2Many || rel.JoinTable == nil {
			return nil, fmt.Errorf("auditgorm: %s: M2M names %q, which is not a many-to-many relation", s.Name, name)
		}
	}
	m.display = make(map[string]string, len(cfg.DisplayNames))
	for name, label := range cfg.DisplayNames {
		f, err := lookup("DisplayNames", name)
		if err != nil {
			return nil, err
		}
		m.display[f.DBName] = label
	}
	for _, sf := range s.Fields {
		if sf.DBName == "" {
			continue
		}
		f := &field{f: sf, column: sf.DBName, masked: masked[sf]}
		f.audited = (len(include) == 0 || include[sf]) && !exclude[sf]
		f.noise = sf.AutoUpdateTime > 0 && !include[sf]
		f.opts = valueOptions(db, dialect, sf)
		m.fields = append(m.fields, f)
		m.byColumn[sf.DBName] = f
		if !sf.Creatable {
			m.nonCreatable = true
		}
		if sf.PrimaryKey {
			m.pk = append(m.pk, f)
		} else if sf.HasDefaultValue {
			m.defaults = append(m.defaults, f)
		}
	}
	if len(m.pk) == 0 {
		return nil, fmt.Errorf("auditgorm: %s has no primary key: audited models need one to name their objects", s.Name)
	}
	if len(m.pk) == 1 {
		switch m.pk[0].f.FieldType.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			m.intPK = true
		}
	}
	if cfg.Snapshot {
		for _, f := range m.fields {
			switch {
			case len(snapFields) > 0 && !snapFields[f.f]:
			case cfg.SnapshotAuditedOnly && !f.audited:
			default:
				m.snapshot = append(m.snapshot, f)
			}
		}
	}
	return m, nil
}

func valueOptions(db *gorm.DB, dialect string, sf *schema.Field) auditlog.ValueOptions {
	var o auditlog.ValueOptions
	// The column type as the dialect declares it: "datetime(3)", "jsonb",
	// "decimal(10,2)", or a type from the field's GormDBDataType.
	full := db.Dialector.DataTypeOf(sf)
	if typer, ok := reflect.New(sf.IndirectFieldType).Interface().(migrator.GormDataTypeInterface); ok {
		if t := typer.GormDBDataType(db, sf); t != "" {
			full = t
		}
	}
	full = strings.ToLower(full)
	dataType := strings.ToLower(string(sf.DataType)) + " " + full
	if sf.GORMDataType == schema.Time || sf.DataType == schema.Time || strings.Contains(dataType, "time") || strings.Contains(dataType, "date") {
		o.TimePrecisionSet = true
		o.TimePrecision = 9
		switch dialect {
		case "postgres":
			o.TimePrecision = 6
		case "mysql":
			o.TimePrecision = 0
		}
		if mm := precisionRE.FindStringSubmatch(full); mm != nil {
			if p, err := strconv.Atoi(mm[1]); err == nil && p <= 9 {
				o.TimePrecision = p
			}
		}
		if sf.Precision > 0 && sf.Precision <= 9 {
			o.TimePrecision = sf.Precision
		}
	}
	if strings.Contains(dataType, "json") {
		o.JSON = true
	}
	if strings.Contains(dataType, "decimal") || strings.Contains(dataType, "numeric") {
		o.Decimal = true
	}
	return o
}

// value reads and normalises the field of one row.
func (f *field) value(ctx context.Context, row reflect.Value) (auditlog.Value, error) {
	v := f.f.ReflectValueOf(ctx, row)
	if !v.IsValid() {
		return auditlog.Null, nil
	}
	out, err := auditlog.Normalize(v.Interface(), f.opts)
	if err != nil {
		return auditlog.Null, fmt.Errorf("auditgorm: field %s: %w", f.f.Name, err)
	}
	return out, nil
}

// stored is the form of v that may reach the database: masked fields are
// masked (a null stays null).
func (m *model) stored(f *field, v auditlog.Value) auditlog.Value {
	if !f.masked || v.IsNull() {
		return v
	}
	return auditlog.StringValue(m.mask(v.Text()))
}

// key returns the object key text and, for integer keys, the integer.
func (m *model) key(ctx context.Context, row reflect.Value) (string, *int64, bool, error) {
	if len(m.pk) == 1 {
		v, err := m.pk[0].value(ctx, row)
		if err != nil || v.IsNull() {
			return "", nil, false, err
		}
		if m.intPK {
			if i, ok := v.Int64(); ok {
				if i == 0 {
					return "", nil, false, nil
				}
				return strconv.FormatInt(i, 10), &i, true, nil
			}
		}
		text := v.Text()
		return text, nil, text != "", nil
	}
	b, err := m.keyJSON(ctx, row)
	if err != nil {
		return "", nil, false, err
	}
	return string(b), nil, true, nil
}

// repr is the object's display text.
func (m *model) repr(row reflect.Value, key string) string {
	if row.CanAddr() {
		switch o := row.Addr().Interface().(type) {
		case auditlog.Reprer:
			return o.AuditRepr()
		case fmt.Stringer:
			return o.String()
		}
	}
	switch o := row.Interface().(type) {
	case auditlog.Reprer:
		return o.AuditRepr()
	case fmt.Stringer:
		return o.String()
	}
	return m.schema.Name + "(" + key + ")"
}

// additionalData merges the model's data and the context's extra data.
func additionalData(extra map[string]any, row reflect.Value) (json.RawMessage, error) {
	var own any
	if row.CanAddr() {
		if p, ok := row.Addr().Interface().(auditlog.AdditionalDataProvider); ok {
			own = p.AuditAdditionalData()
		}
	} else if p, ok := row.Interface().(auditlog.AdditionalDataProvider); ok {
		own = p.AuditAdditionalData()
	}
	var v any
	switch {
	case own == nil && len(extra) == 0:
		return nil, nil
	case len(extra) == 0:
		v = own
	case own == nil:
		v = extra
	default:
		raw, err := json.Marshal(own)
		if err != nil {
			return nil, fmt.Errorf("auditgorm: additional data: %w", err)
		}
		var obj map[string]any
		if json.Unmarshal(raw, &obj) == nil && obj != nil {
			for k, x := range extra {
				if _, taken := obj[k]; !taken {
					obj[k] = x
				}
			}
			v = obj
		} else {
			merged := map[string]any{"data": json.RawMessage(raw)}
			for k, x := range extra {
				if k != "data" {
					merged[k] = x
				}
			}
			v = merged
		}
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("auditgorm: additional data: %w", err)
	}
	if string(raw) == "null" {
		return nil, nil
	}
	return raw, nil
}

// snapshotOf encodes the object's state for serialized_data.
func (m *model) snapshotOf(ctx context.Context, row reflect.Value, keyJSON []byte) (json.RawMessage, error) {
	if len(m.snapshot) == 0 {
		return nil, nil
	}
	b := make([]byte, 0, 256)
	b = append(b, `{"model":`...)
	name, _ := json.Marshal(m.name)
	b = append(b, name...)
	b = append(b, `,"pk":`...)
	b = append(b, keyJSON...)
	b = append(b, `,"fields":{`...)
	for i, f := range m.snapshot {
		v, err := f.value(ctx, row)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			b = append(b, ',')
		}
		col, _ := json.Marshal(f.column)
		b = append(b, col...)
		b = append(b, ':')
		b = m.stored(f, v).AppendJSON(b)
	}
	return append(b, '}', '}'), nil
}

// keyJSON is the object key as JSON: the typed value, or an array for
// composite keys.
func (m *model) keyJSON(ctx context.Context, row reflect.Value) ([]byte, error) {
	if len(m.pk) == 1 {
		v, err := m.pk[0].value(ctx, row)
		if err != nil {
			return nil, err
		}
		return v.AppendJSON(nil), nil
	}
	b := []byte{'['}
	for i, f := range m.pk {
		v, err := f.value(ctx, row)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = v.AppendJSON(b)
	}
	return append(b, ']'), nil
}
