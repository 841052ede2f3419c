// Package auditgorm is the GORM plugin of auditlog: it captures every
// create, update and delete of a registered model and writes its entries in
// the statement's own transaction, so an entry is committed if and only if
// its change is.
//
//	if err := db.Use(auditgorm.New(auditgorm.Config{})); err != nil { … }
//	auditlog.Register(&Book{})
//
// The plugin wraps GORM's own write callbacks, so it sees each statement as
// the database will run it, after every hook, plugin and schema clause
// (optimistic locking, soft delete) has shaped it. Old values come from a
// locking read with the statement's own conditions (on PostgreSQL, inside
// the UPDATE itself), new values from what the database stored (RETURNING,
// or a read-back by key), both read as column values; all entries of one
// statement are written by one multi-row INSERT. Writes that GORM cannot
// describe — raw Exec/Raw SQL and Table("x") without a model — are not seen:
// log them with Log.
package auditgorm

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"
	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditrelay"
	"github.com/go-auditlog/auditlog/auditseal"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/registry"
)

// DefaultMaxRowsPerStatement is the default cap on rows one audited
// statement may change.
const DefaultMaxRowsPerStatement = 100_000

// ErrTooManyRows is returned (wrapped) when an audited statement would
// change more rows than Config.MaxRowsPerStatement allows. Nothing is
// written.
var ErrTooManyRows = errors.New("auditgorm: statement changes too many rows")

// Config configures the plugin. The zero value is ready to use.
type Config struct {
	// Registry holds the audited models. Default: auditlog.DefaultRegistry.
	Registry *auditlog.Registry
	// MaxRowsPerStatement caps how many rows one audited update or delete
	// may change; a larger statement fails with ErrTooManyRows rather than
	// exhausting memory. Default: DefaultMaxRowsPerStatement. An update
	// that runs untracked (Path "untracked": it assigns only columns no
	// entry records) reads no row and is not capped.
	MaxRowsPerStatement int
	// Now gives entry timestamps. Default: time.Now, read after the write;
	// on PostgreSQL the database's clock, read by the statement that writes
	// the entries. Tests and data imports may set their own clock, which
	// then stamps every entry (and, on PostgreSQL, keeps the entries out of
	// the write's own statement, whose locks it would be read before).
	Now func() time.Time
	// SeparatePreSelect makes PostgreSQL read old rows with a separate
	// SELECT … FOR UPDATE, as the other databases do, instead of inside the
	// UPDATE statement, and write entries with a statement of their own.
	// Default: false (one statement, one or two round trips less).
	SeparatePreSelect bool
	// SeparateEntries makes PostgreSQL write the entries of a create,
	// update or delete with a statement of their own, encoded by the Go
	// side, instead of inside the write's own statement, encoded in SQL
	// (see DESIGN.md). Default: false (no round trip for the entries).
	SeparateEntries bool
	// Seal, when set, runs a sealer (package auditseal) in the
	// application, from db.Use on: it appends committed entries to the
	// sealed log and signs checkpoints, outside the write transactions.
	// The entries table must be migrated to version 3 (Migrate does).
	Seal *Seal
	// Relay, when set, runs a relay (package auditrelay) in the
	// application, from db.Use on: it publishes committed entries to its
	// Sink (NATS JetStream with auditnats.ConnectSink, JSON Lines with
	// auditrelay.NewJSONL), outside the write transactions. The entries
	// table must be migrated to version 4 (Migrate does).
	Relay *Relay
	// Hooks, when set, observe each audited statement: its model, action
	// and capture path, the entries written, the statements the plugin
	// added, the time it took, and its error (package auditotel reports
	// them to OpenTelemetry). Default: nil, which costs nothing.
	Hooks Hooks
}

// Relay configures the relay Config.Relay runs.
type Relay struct {
	// Sink receives the entries; its name keys the relay's position.
	Sink auditrelay.Sink
	// Interval between rounds when there is nothing more to publish.
	// Default: 1s.
	Interval time.Duration
	// GapWait: see auditrelay.Relay. Default: auditrelay.DefaultGapWait.
	GapWait time.Duration
	// Context stops the relay when it ends. Default: it runs as long as
	// the process.
	Context context.Context
	// Logger receives failed rounds (error) and published batches
	// (debug). Default: slog.Default().
	Logger *slog.Logger
}

// Seal configures the sealer Config.Seal runs.
type Seal struct {
	// Signer signs the checkpoints; its name is the log's origin.
	Signer note.Signer
	// Interval between rounds. Default: 1s.
	Interval time.Duration
	// GapWait: see auditseal.Sealer. Default: auditseal.DefaultGapWait.
	GapWait time.Duration
	// Context stops the sealer when it ends. Default: it runs as long as
	// the process.
	Context context.Context
	// OnError receives each failed round's error (the next round tries
	// again). Default: none (Logger logs it).
	OnError func(error)
	// Logger receives failed rounds (error) and sealed rounds (debug).
	// Default: slog.Default().
	Logger *slog.Logger
}

// Plugin is the GORM plugin. Install it with db.Use; one plugin serves one
// *gorm.DB and every session derived from it.
type Plugin struct {
	reg     registry.View
	maxRows int
	now     func() time.Time
	fastPG  bool
	// pgPlans: how PostgreSQL writes the entries of updates and deletes in
	// their own statements (pgentries.go); noSQLEntries turns that off.
	pgPlans      pgPlans
	noSQLEntries bool
	seal         *Seal // Config.Seal
	relayCfg     *Relay
	relay        atomic.Pointer[auditrelay.Relay] // Config.Relay's, once started
	hooks        Hooks                            // Config.Hooks
	// dbClock: no Config.Now, so a statement that writes its own entries
	// stamps them with the database's clock when it writes them.
	dbClock bool
	dialect auditstore.Dialect
	lock    bool // the database honours SELECT … FOR UPDATE
	// changedRows: a MySQL connection whose affected-row counts tell an
	// upsert's insert from its update (see changedRowsCounted).
	changedRows bool
	// uniquesMaxAge and sqliteReplacesMaxAge: the constants, or a test's.
	uniquesMaxAge, sqliteReplacesMaxAge time.Duration

	db     *gorm.DB // the root DB, for parsing schemas outside a statement
	models sync.Map // *schema.Schema → *model
	// pairLocks are the RETURNING expressions that take the pair locks of
	// a join table's inserted rows (pairLockSQL), by table and columns.
	pairLocks tableCache
	plain     sync.Map // *schema.Schema → *model, unregistered models (reprs)
	// uniques caches each table's unique indexes as the database has them
	// (uniques.go): table name → *tableUniques.
	uniques tableCache
	// casts caches each table's column casts (columnCasts), as uniques.
	casts tableCache
	// sqliteTables caches whether a SQLite table's constraints replace
	// (uniques.go): table name → sqliteFact.
	sqliteTables tableCache
	// sqlitePairs caches whether a SQLite join table can hold a pair
	// twice (m2m.go, pairUnique): table name → sqliteFact.
	sqlitePairs tableCache
	// ddlTx is the transaction that last ran DDL through GORM (uniques.go).
	ddlTx atomic.Pointer[ddlConn]
	joins atomic.Pointer[joinIndex]
	// displays caches DisplayName's labels.
	displays atomic.Pointer[displayIndex]
	// names caches the table of each name registered models' entries
	// carry (nameOfAnother).
	names atomic.Pointer[nameIndex]
	// prepared holds the plugin's statements prepared per pool (prepared.go).
	prepared preparing
}

var _ gorm.Plugin = (*Plugin)(nil)

// New returns a plugin with the given configuration; db.Use validates it.
func New(cfg Config) *Plugin {
	reg := cfg.Registry
	if reg == nil {
		reg = auditlog.DefaultRegistry
	}
	p := &Plugin{reg: registry.Of(reg), maxRows: cfg.MaxRowsPerStatement, now: cfg.Now, fastPG: !cfg.SeparatePreSelect, seal: cfg.Seal, relayCfg: cfg.Relay, noSQLEntries: cfg.SeparateEntries, hooks: cfg.Hooks, uniquesMaxAge: uniquesMaxAge, sqliteReplacesMaxAge: sqliteReplacesMaxAge}
	if p.now == nil {
		p.now, p.dbClock = time.Now, true
	}
	return p
}

// Name implements gorm.Plugin.
func (p *Plugin) Name() string { return "auditlog" }

// Initialize implements gorm.Plugin: it checks the dialect and installs the
// capture callbacks.
func (p *Plugin) Initialize(db *gorm.DB) error {
	if p.db != nil {
		return errors.New("auditgorm: this Plugin is already installed on another *gorm.DB: call auditgorm.New once per database (with gorm.io/plugin/dbresolver, which opens its sources and replicas with the plugins installed, db.Use dbresolver first)")
	}
	if p.maxRows < 0 {
		return fmt.Errorf("auditgorm: MaxRowsPerStatement is %d: use 0 for the default or a positive cap", p.maxRows)
	}
	if p.maxRows == 0 {
		p.maxRows = DefaultMaxRowsPerStatement
	}
	d, err := auditstore.ParseDialect(db.Dialector.Name())
	if err != nil {
		return fmt.Errorf("auditgorm: %w", err)
	}
	p.dialect = d
	// The relay and the sealer are set up before anything is installed,
	// and started once everything is: a setting refused leaves nothing
	// running (a relay publishing for a plugin that db.Use refused).
	var start []func()
	if p.relayCfg != nil {
		run, err := p.prepareRelay(db)
		if err != nil {
			return err
		}
		start = append(start, run)
	}
	if p.seal != nil {
		run, err := p.prepareSealer(db)
		if err != nil {
			return err
		}
		start = append(start, run)
	}
	p.db = db
	p.lock = d != auditstore.SQLite
	p.changedRows = d == auditstore.MySQL && changedRowsCounted(db)
	cb := db.Callback()
	var steps []error
	for _, c := range []struct {
		proc interface {
			Get(string) func(*gorm.DB)
			Replace(string, func(*gorm.DB)) error
		}
		name string
		kind op
	}{
		{cb.Create(), "gorm:create", opCreate},
		{cb.Update(), "gorm:update", opUpdate},
		{cb.Delete(), "gorm:delete", opDelete},
	} {
		orig := c.proc.Get(c.name)
		if orig == nil {
			steps = append(steps, fmt.Errorf("%s is not registered: the plugin wraps GORM's own write callbacks", c.name))
			continue
		}
		steps = append(steps, c.proc.Replace(c.name, p.wrap(c.kind, orig)))
	}
	// A panic in a model's hook, or in a statement GORM nests to save
	// associations (whose capture runs the related model's String, say),
	// rolls back the transaction GORM began for the statement: GORM
	// recovers none, and would leave it open, holding its connection and
	// locks (SQLite's write lock: every later write fails).
	for _, c := range []struct {
		proc interface {
			Get(string) func(*gorm.DB)
			Replace(string, func(*gorm.DB)) error
		}
		names []string
	}{
		{cb.Create(), []string{"gorm:before_create", "gorm:save_before_associations", "gorm:save_after_associations", "gorm:after_create"}},
		{cb.Update(), []string{"gorm:before_update", "gorm:save_before_associations", "gorm:save_after_associations", "gorm:after_update"}},
		{cb.Delete(), []string{"gorm:before_delete", "gorm:delete_before_associations", "gorm:after_delete"}},
	} {
		for _, name := range c.names {
			if orig := c.proc.Get(name); orig != nil {
				steps = append(steps, c.proc.Replace(name, rollsBackOnPanic(orig)))
			}
		}
	}
	// Around the association rows GORM saves after a create or update
	// (nested.go).
	steps = append(steps,
		cb.Create().Before("gorm:save_after_associations").Register("auditlog:nested_begin", markNested),
		cb.Create().After("gorm:save_after_associations").Before("gorm:after_create").Register("auditlog:nested_end", unmarkNested),
		cb.Update().Before("gorm:save_after_associations").Register("auditlog:nested_begin", markNested),
		cb.Update().After("gorm:save_after_associations").Before("gorm:after_update").Register("auditlog:nested_end", unmarkNested),
		cb.Create().Before("gorm:before_create").Register("auditlog:nested_claim", claimNested),
		cb.Update().Before("gorm:before_update").Register("auditlog:nested_claim", claimNested),
		cb.Delete().Before("gorm:before_delete").Register("auditlog:nested_claim", claimNested),
		// After a write's transaction, the plugin's statements can be
		// prepared on the connection it gave back (prepared.go).
		cb.Create().After("gorm:commit_or_rollback_transaction").Register("auditlog:prepare", p.prepareAfterCommit),
		cb.Update().After("gorm:commit_or_rollback_transaction").Register("auditlog:prepare", p.prepareAfterCommit),
		cb.Delete().After("gorm:commit_or_rollback_transaction").Register("auditlog:prepare", p.prepareAfterCommit),
	)
	if d == auditstore.MySQL || d == auditstore.SQLite {
		// DDL run through GORM (migrations) may change the unique indexes
		// kept for MySQL's tables and what SQLite's constraints replace
		// (uniques.go).
		steps = append(steps, cb.Raw().After("gorm:raw").Register("auditlog:schema_changed", p.schemaChanged))
	}
	if err := errors.Join(steps...); err != nil {
		return fmt.Errorf("auditgorm: register callbacks: %w", err)
	}
	for _, run := range start {
		run()
	}
	return nil
}

// background checks and completes the settings the relay and the sealer
// share (their interval, 1s by default; their context, one that never
// ends by default) and returns the pool they run on.
func background(db *gorm.DB, what string, interval *time.Duration, gapWait time.Duration, ctx *context.Context) (*sql.DB, error) {
	if *interval < 0 || gapWait < 0 {
		return nil, fmt.Errorf("auditgorm: %s's Interval and GapWait must not be negative", what)
	}
	if *interval == 0 {
		*interval = time.Second
	}
	if *ctx == nil {
		*ctx = context.Background()
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("auditgorm: %s needs a *sql.DB: %w", what, err)
	}
	return sqlDB, nil
}

// prepareRelay sets up Config.Relay's relay and returns what starts it.
func (p *Plugin) prepareRelay(db *gorm.DB) (func(), error) {
	c := *p.relayCfg
	if c.Sink == nil {
		return nil, errors.New("auditgorm: Config.Relay has no Sink")
	}
	sqlDB, err := background(db, "Config.Relay", &c.Interval, c.GapWait, &c.Context)
	if err != nil {
		return nil, err
	}
	r, err := auditrelay.New(sqlDB, p.dialect, c.Sink)
	if err != nil {
		return nil, fmt.Errorf("auditgorm: Config.Relay: %w", err)
	}
	if c.GapWait > 0 {
		r.GapWait = c.GapWait
	}
	r.Logger = c.Logger
	return func() {
		p.relay.Store(r)
		go func() { _ = r.Run(c.Context, c.Interval) }()
	}, nil
}

// Relay returns the relay Config.Relay runs (nil without one), for its
// lag: p.Relay().Lag(ctx).
func (p *Plugin) Relay() *auditrelay.Relay { return p.relay.Load() }

// prepareSealer sets up Config.Seal's sealer and returns what starts it.
func (p *Plugin) prepareSealer(db *gorm.DB) (func(), error) {
	c := *p.seal
	if c.Signer == nil {
		return nil, errors.New("auditgorm: Config.Seal has no Signer")
	}
	sqlDB, err := background(db, "Config.Seal", &c.Interval, c.GapWait, &c.Context)
	if err != nil {
		return nil, err
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.OnError == nil {
		c.OnError = func(error) {} // Logger logs it
	}
	s, err := auditseal.New(sqlDB, p.dialect, c.Signer, c.Signer.Name())
	if err != nil {
		return nil, fmt.Errorf("auditgorm: Config.Seal: %w", err)
	}
	if c.GapWait > 0 {
		s.GapWait = c.GapWait
	}
	s.Logger = c.Logger
	return func() { go func() { _ = s.Run(c.Context, c.Interval, c.OnError) }() }, nil
}

// modelFor returns the compiled registration of the statement's model, or
// nil when the model is not audited.
func (p *Plugin) modelFor(db *gorm.DB) (*model, error) {
	s := db.Statement.Schema
	if s == nil {
		return nil, nil
	}
	cfg, ok := p.reg.Lookup(s.ModelType)
	if !ok {
		return nil, nil
	}
	return p.compiled(db, s, cfg)
}

func (p *Plugin) compiled(db *gorm.DB, s *schema.Schema, cfg *registry.Config) (*model, error) {
	if v, ok := p.models.Load(s); ok {
		if m := v.(*model); m.cfg == cfg {
			return m, nil
		}
	}
	m, err := compileModel(db, string(p.dialect), cfg, s, p.reg)
	if err != nil {
		return nil, err
	}
	p.models.Store(s, m)
	return m, nil
}

// DisplayName returns the label registered with auditlog.DisplayNames for a
// column of the model stored under modelName, or the column itself. The
// labels are gathered once per change of the registry.
func (p *Plugin) DisplayName(modelName, column string) string {
	if p.db == nil {
		return column
	}
	idx := p.displays.Load()
	if gen := p.reg.Generation(); idx == nil || idx.gen != gen {
		idx = &displayIndex{gen: gen, byModel: map[string]map[string]string{}}
		for _, t := range p.reg.Models() {
			cfg, ok := p.reg.Lookup(t)
			if !ok {
				continue
			}
			stmt := &gorm.Statement{DB: p.db}
			if err := stmt.Parse(reflect.New(t).Interface()); err != nil {
				continue
			}
			if m, err := p.compiled(p.db, stmt.Schema, cfg); err == nil && idx.byModel[m.name] == nil {
				idx.byModel[m.name] = m.display
			}
		}
		p.displays.Store(idx)
	}
	if label, ok := idx.byModel[modelName][column]; ok {
		return label
	}
	return column
}

// nameIndex holds, for one generation of the registry, the table whose
// rows the entries of each registered model's name describe.
type nameIndex struct {
	gen     uint64
	byName  map[string]string // name → table
	ownedBy map[string]string // name → the model's Go name
}

// nameOfAnother refuses a write to another table than the model's own
// (Table("archive")) whose entries, named by that table, would carry the
// name of another registered model's entries, of another table: that
// model's history would hold them, and a revert of one would write its
// table.
func (p *Plugin) nameOfAnother(db *gorm.DB, m *model) error {
	name := m.entryName(db)
	if name == m.name {
		return nil
	}
	idx := p.names.Load()
	if gen := p.reg.Generation(); idx == nil || idx.gen != gen {
		idx = &nameIndex{gen: gen, byName: map[string]string{}, ownedBy: map[string]string{}}
		for _, t := range p.reg.Models() {
			cfg, ok := p.reg.Lookup(t)
			if !ok {
				continue
			}
			stmt := &gorm.Statement{DB: p.db}
			if stmt.Parse(reflect.New(t).Interface()) != nil {
				continue
			}
			n := cfg.Name
			if n == "" {
				n = stmt.Schema.Table
			}
			if _, seen := idx.byName[n]; !seen {
				idx.byName[n], idx.ownedBy[n] = stmt.Schema.Table, stmt.Schema.Name
			}
		}
		p.names.Store(idx)
	}
	if table, ok := idx.byName[name]; ok && table != name {
		return fmt.Errorf("auditgorm: %s: the entries of a write to table %s would carry its name, which the entries of %s (table %s) carry: give %s another ModelName, or write the table through a model of its own",
			m.schema.Name, name, idx.ownedBy[name], table, idx.ownedBy[name])
	}
	return nil
}

// displayIndex holds the display labels of every registered model, by the
// name its entries carry, for one generation of the registry.
type displayIndex struct {
	gen     uint64
	byModel map[string]map[string]string
}
