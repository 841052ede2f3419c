package auditlog

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-auditlog/auditlog/internal/registry"
)

// ErrRegistration is wrapped by every error that Register returns.
var ErrRegistration = errors.New("auditlog: invalid registration")

// DefaultRegistry is the registry that the package-level Register,
// Unregister and friends use, mirroring the seed system's one-line
// auditlog.register(Model). Applications with several databases or
// independent sets of rules create their own with NewRegistry.
var DefaultRegistry = NewRegistry()

// Register adds model (a struct or a pointer to one) to DefaultRegistry.
func Register(model any, opts ...Option) error { return DefaultRegistry.Register(model, opts...) }

// Unregister removes model from DefaultRegistry.
func Unregister(model any) { DefaultRegistry.Unregister(model) }

// Registry holds the models whose writes are audited and how. It is safe for
// concurrent use; lookups on the write path take no lock.
type Registry struct {
	mu     sync.Mutex // serialises writers
	models atomic.Pointer[map[reflect.Type]*registry.Config]
	mask   atomic.Pointer[MaskFunc]
	gen    atomic.Uint64
}

// view is the registry as adapters read it (internal/registry).
type view struct{ r *Registry }

func init() {
	registry.Of = func(r any) registry.View { return view{r.(*Registry)} }
}

// Generation changes whenever a model is registered or unregistered, so
// adapters can cache what they derive from the registry.
func (v view) Generation() uint64 {
	if v.r == nil {
		return 0
	}
	return v.r.gen.Load()
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	r := &Registry{}
	m := map[reflect.Type]*registry.Config{}
	r.models.Store(&m)
	return r
}

// snapshot is the registry's models now: none for a nil registry or a
// zero one (declared without NewRegistry), which work as empty ones.
func (r *Registry) snapshot() map[reflect.Type]*registry.Config {
	if r == nil {
		return nil
	}
	if m := r.models.Load(); m != nil {
		return *m
	}
	return nil
}

// MaskFunc turns a clear value into the text that is stored instead.
type MaskFunc func(clear string) string

// SetMask sets the registry-wide mask function, used for masked fields of
// models registered without their own. Nil restores the default, MaskString.
func (r *Registry) SetMask(fn MaskFunc) {
	if r == nil {
		return
	}
	if fn == nil {
		r.mask.Store(nil)
		return
	}
	r.mask.Store(&fn)
}

// Mask returns the registry-wide mask function.
func (v view) Mask() func(string) string {
	if v.r == nil {
		return MaskString
	}
	if p := v.r.mask.Load(); p != nil {
		return *p
	}
	return MaskString
}

// Option configures a model's registration.
type Option struct{ apply func(*registry.Config) }

// option wraps fn, so that options are made only by this package.
func option(fn func(*registry.Config)) Option { return Option{apply: fn} }

// Include audits only the named fields (Go field names or column names).
func Include(fields ...string) Option {
	return option(func(c *registry.Config) { c.Include = append(c.Include, fields...) })
}

// Exclude never audits the named fields. A change that touches only
// excluded fields writes no entry. Exclude wins over Include.
func Exclude(fields ...string) Option {
	return option(func(c *registry.Config) { c.Exclude = append(c.Exclude, fields...) })
}

// Mask stores the named fields masked: the clear value never reaches the
// database. The default mask, MaskString, shows at most the last four
// characters.
func Mask(fields ...string) Option {
	return option(func(c *registry.Config) { c.MaskFields = append(c.MaskFields, fields...) })
}

// Unmask records the named fields as the database stores them where they
// would be masked by default. Fields stored through a custom GORM serializer
// (any but json, gob and unixtime: an encrypting one, say) are masked by
// default, since their stored form may be reversible and the application
// holds them decrypted; Unmask them when their stored form is safe to keep.
// A field both masked and unmasked is an error.
func Unmask(fields ...string) Option {
	return option(func(c *registry.Config) { c.UnmaskFields = append(c.UnmaskFields, fields...) })
}

// MaskWith sets the model's own mask function.
func MaskWith(fn MaskFunc) Option {
	return option(func(c *registry.Config) { c.Mask = fn })
}

// DisplayNames sets display labels for fields, keyed by field name.
func DisplayNames(names map[string]string) Option {
	return option(func(c *registry.Config) {
		if c.DisplayNames == nil {
			c.DisplayNames = map[string]string{}
		}
		for k, v := range names {
			c.DisplayNames[k] = v
		}
	})
}

// Snapshot stores the object's full state in each entry's serialized_data.
func Snapshot() Option {
	return option(func(c *registry.Config) { c.Snapshot = true })
}

// SnapshotFields stores a snapshot (as Snapshot does) of the named fields
// only. Naming an excluded field is an error.
func SnapshotFields(fields ...string) Option {
	return option(func(c *registry.Config) {
		c.SnapshotFields = append(c.SnapshotFields, fields...)
		c.Snapshot = true
	})
}

// SnapshotAuditedOnly stores a snapshot (as Snapshot does) of the audited
// fields only (after Include and Exclude).
func SnapshotAuditedOnly() Option {
	return option(func(c *registry.Config) {
		c.SnapshotAuditedOnly = true
		c.Snapshot = true
	})
}

// ModelName sets the stable name stored on entries instead of the table name.
func ModelName(name string) Option {
	return option(func(c *registry.Config) { c.Name = name })
}

// M2M audits changes of the named many-to-many relations (Go field names).
func M2M(fields ...string) Option {
	return option(func(c *registry.Config) { c.M2MFields = append(c.M2MFields, fields...) })
}

// modelType returns the struct type behind model.
func modelType(model any) (reflect.Type, error) {
	if model == nil {
		return nil, fmt.Errorf("%w: model is nil: pass a struct or a pointer to one, such as &Book{}", ErrRegistration)
	}
	t := reflect.TypeOf(model)
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("%w: %T is not a struct: pass a struct or a pointer to one, such as &Book{}", ErrRegistration, model)
	}
	return t, nil
}

// Register adds model to the registry. Registering it again with the same
// options (in any order) does nothing: registering twice never duplicates
// entries. Registering it again with other options is an error and leaves
// the registration as it was, since a second Register without the first
// one's Mask or Exclude would record those secrets from then on; use
// Reregister to replace a model's options. It returns an error wrapping
// ErrRegistration that names the problem when the model is not a struct, a
// field name is unknown, Exclude names the primary key (by GORM's rule: the
// fields tagged primaryKey, else ID), or SnapshotFields names an excluded
// field.
func (r *Registry) Register(model any, opts ...Option) error {
	return r.register(model, opts, false)
}

// Reregister replaces the options of model, registered or not, at once:
// no write between the old options and the new goes unaudited, as it
// would between Unregister and Register. It validates as Register does.
func (r *Registry) Reregister(model any, opts ...Option) error {
	return r.register(model, opts, true)
}

// Reregister replaces the options of model in DefaultRegistry.
func Reregister(model any, opts ...Option) error { return DefaultRegistry.Reregister(model, opts...) }

func (r *Registry) register(model any, opts []Option, replace bool) error {
	if r == nil {
		return fmt.Errorf("%w: the registry is nil: use auditlog.NewRegistry or auditlog.DefaultRegistry", ErrRegistration)
	}
	t, err := modelType(model)
	if err != nil {
		return err
	}
	c := &registry.Config{Type: t}
	for _, o := range opts {
		if o.apply == nil {
			return fmt.Errorf("%w: %s: empty option", ErrRegistration, t.Name())
		}
		o.apply(c)
	}
	if err := validate(c); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.snapshot()
	if was, ok := old[t]; ok && !replace {
		if sameOptions(was, c) {
			return nil
		}
		return fmt.Errorf("%w: %s is already registered with other options: use Reregister to replace them", ErrRegistration, t.Name())
	}
	for other, v := range old {
		// Entries of two models under one name would share histories,
		// and a revert would write the table of whichever it found; two
		// models of one table (a view of its rows) may share it. The
		// tables GORM gives models by its naming are not known here:
		// only TableName methods tell one table (the plugin checks the
		// others when it first writes).
		if other != t && c.Name != "" && v.Name == c.Name && !sameTableName(other, t) {
			return fmt.Errorf("%w: %s: ModelName %q is %s's already: give each model a name of its own", ErrRegistration, t.Name(), c.Name, other.Name())
		}
	}
	next := make(map[reflect.Type]*registry.Config, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[t] = c
	r.models.Store(&next)
	r.gen.Add(1)
	return nil
}

// sameTableName reports whether two model types both name their table
// with a TableName method, the same one, and have the same primary key
// (fields of one name): two views of one table's rows, whose entries name
// the same objects by the same keys.
func sameTableName(a, b reflect.Type) bool {
	type tabler interface{ TableName() string }
	x, okA := reflect.New(a).Interface().(tabler)
	y, okB := reflect.New(b).Interface().(tabler)
	if !okA || !okB || x.TableName() != y.TableName() {
		return false
	}
	_, pkA, _ := fieldNames(a)
	_, pkB, _ := fieldNames(b)
	return slices.Equal(pkA, pkB)
}

// sameOptions reports whether two registrations of a model say the same:
// the same fields in each list in any order, the same labels and flags,
// and no mask function of their own. Two mask functions cannot be told
// apart: method values of one method and closures of one literal share
// their code whatever they hold, and one closure inlined at two places
// has two; a registration with one is never taken for the same.
func sameOptions(a, b *registry.Config) bool {
	set := func(s []string) []string {
		s = slices.Clone(s)
		slices.Sort(s)
		return slices.Compact(s)
	}
	for _, p := range [][2][]string{{a.Include, b.Include}, {a.Exclude, b.Exclude}, {a.MaskFields, b.MaskFields},
		{a.UnmaskFields, b.UnmaskFields}, {a.SnapshotFields, b.SnapshotFields}, {a.M2MFields, b.M2MFields}} {
		if !slices.Equal(set(p[0]), set(p[1])) {
			return false
		}
	}
	if a.Mask != nil || b.Mask != nil {
		return false
	}
	return a.Name == b.Name && a.Snapshot == b.Snapshot && a.SnapshotAuditedOnly == b.SnapshotAuditedOnly &&
		maps.Equal(a.DisplayNames, b.DisplayNames)
}

func validate(c *registry.Config) error {
	name := c.Type.Name()
	if c.Name != "" && strings.TrimSpace(c.Name) == "" {
		return fmt.Errorf("%w: %s: ModelName is blank", ErrRegistration, name)
	}
	if len(c.Name) > 255 {
		return fmt.Errorf("%w: %s: ModelName is longer than 255 bytes", ErrRegistration, name)
	}
	known, pk, soft := fieldNames(c.Type)
	check := func(option string, fields []string) error {
		for _, f := range fields {
			if known[f] == nil && known[folded(f)] == nil {
				return fmt.Errorf("%w: %s: %s names unknown field %q: use a Go field name or a column name of %s", ErrRegistration, name, option, f, name)
			}
		}
		return nil
	}
	// paths are the fields (by their Go paths) that names name.
	paths := func(names []string) map[string]bool {
		out := map[string]bool{}
		for _, n := range names {
			ps := known[n]
			if ps == nil {
				ps = known[folded(n)]
			}
			for _, p := range ps {
				out[p] = true
			}
		}
		return out
	}
	for _, o := range []struct {
		name   string
		fields []string
	}{{"Include", c.Include}, {"Exclude", c.Exclude}, {"Mask", c.MaskFields}, {"Unmask", c.UnmaskFields}, {"SnapshotFields", c.SnapshotFields}, {"M2M", c.M2MFields}} {
		if err := check(o.name, o.fields); err != nil {
			return err
		}
	}
	for f := range c.DisplayNames {
		if known[f] == nil && known[folded(f)] == nil {
			return fmt.Errorf("%w: %s: DisplayNames names unknown field %q", ErrRegistration, name, f)
		}
	}
	excluded := paths(c.Exclude)
	for _, p := range pk {
		if excluded[p] {
			return fmt.Errorf("%w: %s: Exclude names the primary key %s, which every entry must name its object by: use Mask to record it masked", ErrRegistration, name, p)
		}
	}
	// A soft delete and a restore change only the soft-delete field: left
	// out, the delete would still be recorded (it is a delete) but the
	// restore would not, and the log would end with a live row deleted.
	included := paths(c.Include)
	for _, p := range soft {
		if excluded[p] {
			return fmt.Errorf("%w: %s: Exclude names %s, the soft-delete field, whose changes are the rows' deletes and restores: use Mask to record it masked", ErrRegistration, name, p)
		}
		if len(c.Include) > 0 && !included[p] {
			return fmt.Errorf("%w: %s: Include leaves out %s, the soft-delete field, whose changes are the rows' deletes and restores: include it", ErrRegistration, name, p)
		}
	}
	for p := range paths(c.SnapshotFields) {
		if excluded[p] {
			return fmt.Errorf("%w: %s: SnapshotFields names %s, which is excluded: an excluded field is recorded nowhere", ErrRegistration, name, p)
		}
	}
	return nil
}

// fieldNames maps every name a field of t may be given by (its Go name,
// its dotted Go path inside embedded structs, its column tag and its
// default snake_case column name) to the dotted Go paths of the fields it
// names. pk are the paths of the primary key by GORM's rule: the fields
// tagged primaryKey, else the field ID (or the one whose column is id);
// soft those of soft-delete fields (softDeleteType).
func fieldNames(t reflect.Type) (names map[string][]string, pk, soft []string) {
	names = map[string][]string{}
	add := func(name, path string) {
		if !slices.Contains(names[name], path) {
			names[name] = append(names[name], path)
		}
	}
	var idField, idByName string
	var walk func(t reflect.Type, path, prefix string, depth int)
	walk = func(t reflect.Type, path, prefix string, depth int) {
		if depth > 8 {
			return
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag := parseGormTag(f.Tag.Get("gorm"))
			if tag["-"] != "" {
				continue
			}
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			_, embedded := tag["EMBEDDED"]
			if (f.Anonymous || embedded) && ft.Kind() == reflect.Struct && !isValueStruct(ft) {
				p := path
				if !f.Anonymous {
					p = path + f.Name + "."
				}
				walk(ft, p, prefix+tag["EMBEDDEDPREFIX"], depth+1)
				if !f.Anonymous {
					add(path+f.Name, path+f.Name)
				}
				continue
			}
			full := path + f.Name
			if softDeleteType(ft) {
				soft = append(soft, full)
			}
			add(f.Name, full)
			add(full, full)
			add(folded(f.Name), full)
			add(folded(prefix+f.Name), full)
			col := tag["COLUMN"]
			if col != "" {
				add(prefix+col, full)
			}
			if v, ok := tag["PRIMARYKEY"]; !ok {
				v, ok = tag["PRIMARY_KEY"]
				if ok && !strings.EqualFold(v, "false") {
					pk = append(pk, full)
				}
			} else if !strings.EqualFold(v, "false") {
				pk = append(pk, full)
			}
			// GORM's key without a tag: the field whose column is id, else
			// the one whose column or Go name is ID.
			switch {
			case prefix != "":
			case col == "id" || col == "" && folded(f.Name) == folded("id"):
				idField = full
			case idField == "" && (col == "ID" || f.Name == "ID"):
				idByName = full
			}
		}
	}
	walk(t, "", "", 0)
	if idField == "" {
		idField = idByName
	}
	if len(pk) == 0 && idField != "" {
		pk = []string{idField}
	}
	return names, pk, soft
}

// softDeleteType reports whether t is a soft-delete field's type: GORM's
// DeletedAt or one of its soft_delete plugin's, whose DeleteClauses turn a
// DELETE into an UPDATE of the field. (Other types may have DeleteClauses
// too, a tenant's that adds a condition to every delete, say.)
func softDeleteType(t reflect.Type) bool {
	return t.PkgPath() == "gorm.io/gorm" && t.Name() == "DeletedAt" || t.PkgPath() == "gorm.io/plugin/soft_delete"
}

// isValueStruct reports whether a struct type is stored as one value (a
// time, a decimal, a null wrapper) rather than flattened.
func isValueStruct(t reflect.Type) bool {
	if t.PkgPath() == "time" && t.Name() == "Time" {
		return true
	}
	_, ok := reflect.PointerTo(t).MethodByName("Value")
	_, ok2 := t.MethodByName("Value")
	_, scan := reflect.PointerTo(t).MethodByName("Scan")
	return ok || ok2 || scan
}

func parseGormTag(tag string) map[string]string {
	out := map[string]string{}
	if tag == "-" {
		out["-"] = "-"
		return out
	}
	for _, part := range strings.Split(tag, ";") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, ":")
		out[strings.ToUpper(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	if v, ok := out["-"]; ok && v == "" {
		out["-"] = "-"
	}
	return out
}

// folded is a name compared loosely: lower case, without underscores. A
// column name passes registration when it folds to a field's name
// ("user_ids" for UserIDs); the GORM adapter then resolves it against the
// schema's real column names, whatever the naming strategy.
func folded(s string) string {
	return "\x00" + strings.ReplaceAll(strings.ToLower(s), "_", "")
}

// Unregister removes model from the registry. Its existing entries are kept;
// an unknown model is ignored.
func (r *Registry) Unregister(model any) {
	t, err := modelType(model)
	if err != nil || r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.snapshot()
	if _, ok := old[t]; !ok {
		return
	}
	next := make(map[reflect.Type]*registry.Config, len(old))
	for k, v := range old {
		if k != t {
			next[k] = v
		}
	}
	r.models.Store(&next)
	r.gen.Add(1)
}

// Contains reports whether model is registered.
func (r *Registry) Contains(model any) bool {
	t, err := modelType(model)
	if err != nil {
		return false
	}
	_, ok := r.snapshot()[t]
	return ok
}

// Lookup returns the registration of the struct type t. The config must not
// be modified.
func (v view) Lookup(t reflect.Type) (*registry.Config, bool) {
	c, ok := v.r.snapshot()[t]
	return c, ok
}

// Models returns the registered struct types, sorted by name.
func (v view) Models() []reflect.Type {
	m := v.r.snapshot()
	out := make([]reflect.Type, 0, len(m))
	for t := range m {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}
