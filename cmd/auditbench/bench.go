package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"golang.org/x/mod/sumdb/note"
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/auditseal"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/pgdsn"
	"github.com/go-auditlog/auditlog/internal/sqlcount"
	"github.com/go-auditlog/auditlog/internal/sqlitedriver"
	_ "github.com/go-auditlog/auditlog/internal/sqlitedriver/drivers" // the SQLite drivers
)

// BenchItem is the audited model of the write workloads.
type BenchItem struct {
	ID        uint
	Name      string `gorm:"size:64"`
	Price     int
	Stock     int
	Grp       int        `gorm:"index"`
	Tags      []BenchTag `gorm:"many2many:bench_item_tags"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// BenchTag is the related model of the many-to-many workload.
type BenchTag struct {
	ID   uint
	Name string `gorm:"size:64"`
}

type config struct {
	cpuProfile string // -cpuprofile
	dbs        []string
	only       map[string]bool // workloads to run; nil: all
	n          int
	rounds     int
	quick      bool
	jsonOut    bool
	read       bool
	indexes    bool
	seal       bool
	relay      string // a NATS URL: run a relay beside the writes
	readRows   int
	pgDSN      string
	mysqlDSN   string
	sqliteDir  string
	sqlite     *sqlitedriver.Driver
	out        io.Writer
	errOut     io.Writer
}

func parseFlags(args []string, stdout, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("auditbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &config{out: stdout, errOut: stderr}
	dbs := fs.String("db", "sqlite", "databases to run on, comma-separated: sqlite, postgres, mysql")
	fs.IntVar(&c.n, "n", 2000, "operations per single-row workload per round")
	fs.IntVar(&c.rounds, "rounds", 3, "interleaved rounds per workload")
	fs.BoolVar(&c.quick, "quick", false, "a short run (under a minute): -n 200 -rounds 2 and fewer batches")
	fs.BoolVar(&c.jsonOut, "json", false, "print one JSON object per workload per database")
	fs.BoolVar(&c.read, "read", false, "run the read benchmarks on a table of -rows entries instead of the write workloads")
	fs.BoolVar(&c.indexes, "indexes", false, "measure what each index of the entries table costs the writes instead of the write workloads")
	fs.BoolVar(&c.seal, "seal", false, "run a sealer (auditseal) beside the write workloads, a round every second")
	fs.StringVar(&c.relay, "relay", "", "run a relay (auditrelay) to this NATS server beside the write workloads, and report its throughput and lag")
	fs.IntVar(&c.readRows, "rows", 1_000_000, "entries to load for -read")
	fs.StringVar(&c.pgDSN, "postgres-dsn", os.Getenv("AUDITLOG_TEST_POSTGRES_DSN"), "PostgreSQL DSN (default $AUDITLOG_TEST_POSTGRES_DSN)")
	fs.StringVar(&c.mysqlDSN, "mysql-dsn", os.Getenv("AUDITLOG_TEST_MYSQL_DSN"), "MySQL/MariaDB DSN (default $AUDITLOG_TEST_MYSQL_DSN)")
	fs.StringVar(&c.sqliteDir, "dir", "", "directory for the SQLite file (default: a temporary directory)")
	only := fs.String("workload", "", "write workloads to run, comma-separated (default: all)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file, for go tool pprof; its samples are labelled mode=baseline, audited or floor (-tagfocus)")
	sqliteDriver := fs.String("sqlite-driver", sqlitedriver.Default, "SQLite driver for GORM: glebarez, ncruces, or mattn in a binary built with -tags "+sqlitedriver.MattnTag)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: auditbench [flags]\n\nMeasures audited GORM writes against an unaudited baseline in the same run.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.quick {
		c.n, c.rounds = 200, 2
		if c.readRows == 1_000_000 {
			c.readRows = 100_000
		}
	}
	if c.read && c.indexes {
		return nil, errors.New("-read and -indexes are separate runs")
	}
	if c.n < 1 || c.rounds < 1 || c.readRows < 1000 {
		return nil, errors.New("-n and -rounds must be at least 1, -rows at least 1000")
	}
	if *only != "" {
		c.only = map[string]bool{}
		for _, w := range strings.Split(*only, ",") {
			w = strings.TrimSpace(w)
			if !slices.ContainsFunc(workloads, func(x workload) bool { return x.name == w }) {
				return nil, fmt.Errorf("unknown workload %q", w)
			}
			c.only[w] = true
		}
	}
	var err error
	for _, d := range strings.Split(*dbs, ",") {
		d = strings.TrimSpace(d)
		switch d {
		case "sqlite":
			if c.sqlite, err = sqlitedriver.Lookup(*sqliteDriver); err != nil {
				return nil, fmt.Errorf("-sqlite-driver: %w", err)
			}
		case "postgres":
			if c.pgDSN == "" {
				return nil, errors.New("-db postgres needs -postgres-dsn or AUDITLOG_TEST_POSTGRES_DSN")
			}
		case "mysql":
			if c.mysqlDSN == "" {
				return nil, errors.New("-db mysql needs -mysql-dsn or AUDITLOG_TEST_MYSQL_DSN")
			}
		default:
			return nil, fmt.Errorf("unknown database %q: use sqlite, postgres or mysql", d)
		}
		c.dbs = append(c.dbs, d)
	}
	return c, nil
}

// run is the whole command, so tests can drive it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	c, err := parseFlags(args, stdout, stderr)
	if err != nil {
		return err
	}
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			_ = f.Close()
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		defer func() {
			pprof.StopCPUProfile()
			if cerr := f.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("-cpuprofile: %w", cerr)
			}
		}()
	}
	if !c.jsonOut && !c.indexes {
		if c.read {
			fmt.Fprintf(c.out, "%-8s %-26s %10s %10s %8s\n", "db", "query", "p50", "p99", "samples")
		} else {
			fmt.Fprintf(c.out, "%-8s %-18s %12s %12s %6s %8s %7s %12s %6s %7s %5s\n", "db", "workload", "baseline/s", "audited/s", "ratio", "entries", "+stmts",
				"floor/s", "floor", "+floor", "eff")
		}
	}
	for _, name := range c.dbs {
		env, err := openEnv(ctx, c, name)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		switch {
		case c.read:
			err = runRead(ctx, c, env)
		case c.indexes:
			err = runIndexes(ctx, c, env)
		default:
			err = runWrites(ctx, c, env)
		}
		env.close()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// env is one database with two GORM handles over the same tables: plain has
// no plugin, audited has it.
type env struct {
	name           string
	driver         string // the SQLite driver
	version        string // the SQLite library's version
	sqlDB          *sql.DB
	dsn            string // the MySQL DSN the dialector reads its settings from
	plain, audited *gorm.DB
	plainN, auditN *sqlcount.Counter
	store          *auditstore.Store
	floorStmts     map[string]*sql.Stmt // the floor's statements, prepared (floor.go)
	cleanup        []func()
}

func (e *env) close() {
	for i := len(e.cleanup) - 1; i >= 0; i-- {
		e.cleanup[i]()
	}
}

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func openEnv(ctx context.Context, c *config, name string) (*env, error) {
	e := &env{name: name}
	var err error
	switch name {
	case "sqlite":
		dir := c.sqliteDir
		if dir == "" {
			if dir, err = os.MkdirTemp("", "auditbench"); err != nil {
				return nil, err
			}
			e.cleanup = append(e.cleanup, func() { _ = os.RemoveAll(dir) })
		}
		path := filepath.Join(dir, "bench-"+randomSuffix()+".db")
		// The recommended settings: WAL, a busy timeout, foreign keys,
		// immediate transactions and SQLite's default synchronous setting
		// (a commit is durable), spelled as the driver takes them.
		e.driver = c.sqlite.Name
		e.sqlDB, err = c.sqlite.OpenSQL(c.sqlite.DSN(path))
		if err == nil {
			e.sqlDB.SetMaxOpenConns(1)
		}
	case "postgres":
		schema := "auditbench_" + randomSuffix()
		admin, aerr := sql.Open("pgx", c.pgDSN)
		if aerr != nil {
			return nil, aerr
		}
		if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
			_ = admin.Close()
			return nil, fmt.Errorf("create schema: %w", err)
		}
		e.cleanup = append(e.cleanup, func() {
			_, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE")
			_ = admin.Close()
		})
		e.sqlDB, err = sql.Open("pgx", pgdsn.WithSearchPath(c.pgDSN, schema))
	case "mysql":
		cfg, perr := mysqldrv.ParseDSN(c.mysqlDSN)
		if perr != nil {
			return nil, perr
		}
		cfg.ParseTime = true
		// One round trip per statement, as production MySQL setups should use.
		cfg.InterpolateParams = true
		adminCfg := cfg.Clone()
		adminCfg.DBName = ""
		admin, aerr := sql.Open("mysql", adminCfg.FormatDSN())
		if aerr != nil {
			return nil, aerr
		}
		dbName := "auditbench_" + randomSuffix()
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+dbName); err != nil {
			_ = admin.Close()
			return nil, fmt.Errorf("create database: %w", err)
		}
		e.cleanup = append(e.cleanup, func() {
			_, _ = admin.Exec("DROP DATABASE " + dbName)
			_ = admin.Close()
		})
		cfg.DBName = dbName
		e.dsn = cfg.FormatDSN()
		e.sqlDB, err = sql.Open("mysql", e.dsn)
	}
	if err != nil {
		e.close()
		return nil, err
	}
	e.cleanup = append(e.cleanup, func() { _ = e.sqlDB.Close() })
	if err := e.sqlDB.PingContext(ctx); err != nil {
		e.close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	if name == "sqlite" {
		if e.version, err = sqlitedriver.Version(e.sqlDB); err != nil {
			e.close()
			return nil, err
		}
		if !c.jsonOut {
			fmt.Fprintf(c.out, "# sqlite: driver %s (%s), SQLite %s\n", e.driver, c.sqlite.Module, e.version)
		}
	}
	d, _ := auditstore.ParseDialect(name)
	if err := auditstore.Migrate(ctx, e.sqlDB, d); err != nil {
		e.close()
		return nil, err
	}
	e.store, _ = auditstore.New(e.sqlDB, d)
	open := func() (*gorm.DB, *sqlcount.Counter, error) {
		pool, counter := sqlcount.Wrap(e.sqlDB)
		var dl gorm.Dialector
		switch name {
		case "postgres":
			dl = postgres.New(postgres.Config{Conn: pool})
		case "mysql":
			// With the DSN the dialector knows the connection's settings,
			// as an application's mysql.Open does.
			dl = mysql.New(mysql.Config{Conn: pool, DSN: e.dsn})
		default:
			dl = c.sqlite.Dialector(pool, "")
		}
		db, err := gorm.Open(dl, &gorm.Config{Logger: logger.Discard})
		return db, counter, err
	}
	if e.plain, e.plainN, err = open(); err == nil {
		e.audited, e.auditN, err = open()
	}
	if err == nil {
		err = e.plain.AutoMigrate(&BenchItem{}, &BenchTag{})
	}
	if err == nil {
		err = e.plain.Callback().Create().After("gorm:create").Register("floor:created", collectCreated)
	}
	if err == nil {
		err = e.plain.Callback().Create().Before("gorm:create").Register("floor:join_returning", joinReturning)
	}
	if err == nil {
		reg := auditlog.NewRegistry()
		if err = reg.Register(&BenchItem{}, auditlog.M2M("Tags")); err == nil {
			err = e.audited.Use(auditgorm.New(auditgorm.Config{Registry: reg}))
		}
	}
	if err == nil && c.seal {
		err = startSealer(c, e)
	}
	if err == nil && c.relay != "" {
		err = startRelay(c, e)
	}
	if err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// startSealer runs a sealer on the database, outside the counted
// connections, until the environment closes, and reports what it sealed.
func startSealer(c *config, e *env) error {
	skey, _, err := note.GenerateKey(rand.Reader, "auditbench")
	if err != nil {
		return err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return err
	}
	s, err := auditseal.New(e.sqlDB, e.store.Dialect(), signer, signer.Name())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	var sealed, rounds atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for first := true; ; first = false {
			if !first {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
			r, err := s.Round(ctx)
			if err != nil {
				if ctx.Err() == nil {
					fmt.Fprintf(c.errOut, "auditbench: seal: %v\n", err)
				}
				continue
			}
			sealed.Add(int64(r.Sealed))
			rounds.Add(1)
		}
	}()
	e.cleanup = append(e.cleanup, func() {
		cancel()
		<-done
		fmt.Fprintf(c.errOut, "auditbench: %s: the sealer sealed %d entries in %d rounds\n", e.name, sealed.Load(), rounds.Load())
	})
	return nil
}

// workload is one kind of write: prepare makes the rows ops will touch
// (untimed), op performs operation i.
type workload struct {
	name    string
	entries int // entry rows per operation
	ops     func(c *config) int
	prepare func(ctx context.Context, e *env, n int) (any, error)
	op      func(db *gorm.DB, state any, i int) error
	// returned, where set, is op as the floor runs it where its write
	// returns every column (floorSpec.returning): into a destination that
	// takes every row the statement returns, of which it reports the
	// count. GORM scans only the first row RETURNING gives into a struct,
	// and a floor that left the rest unread would be one no design that
	// records them could reach.
	returned func(db *gorm.DB, state any, i int) (int, error)
}

func single(c *config) int { return c.n }

func batches(c *config) int {
	if c.quick {
		return 3
	}
	return max(5, c.n/200)
}

func makeItems(ctx context.Context, e *env, n, grp int) ([]uint, error) {
	items := make([]BenchItem, n)
	for i := range items {
		items[i] = BenchItem{Name: fmt.Sprintf("item %d", i), Price: i, Grp: grp}
	}
	if err := e.plain.WithContext(ctx).CreateInBatches(&items, 500).Error; err != nil {
		return nil, err
	}
	ids := make([]uint, n)
	for i, it := range items {
		ids[i] = it.ID
	}
	return ids, nil
}

var groupSeq int

// upsertKey is the last key upsert_new_key sent, far above the keys the
// table's sequence hands out.
var upsertKey uint = 1 << 40

var workloads = []workload{
	{name: "create", entries: 1, ops: single, prepare: func(context.Context, *env, int) (any, error) { return nil, nil },
		op: func(db *gorm.DB, _ any, i int) error {
			return db.Create(&BenchItem{Name: fmt.Sprintf("new %d", i), Price: i}).Error
		}},
	{name: "upsert_new", entries: 1, ops: single, prepare: func(context.Context, *env, int) (any, error) { return nil, nil },
		op: func(db *gorm.DB, _ any, i int) error {
			return db.Clauses(clause.OnConflict{UpdateAll: true}).Create(&BenchItem{Name: fmt.Sprintf("upserted %d", i), Price: i}).Error
		}},
	{name: "upsert_new_key", entries: 1, ops: single, prepare: func(context.Context, *env, int) (any, error) { return nil, nil },
		op: func(db *gorm.DB, _ any, i int) error {
			// A key the statement sends, new each time: the conflict the
			// capture must look for (on MySQL, without a gap lock).
			upsertKey++
			return db.Clauses(clause.OnConflict{UpdateAll: true}).Create(&BenchItem{ID: upsertKey, Name: fmt.Sprintf("upserted %d", i), Price: i}).Error
		}},
	{name: "update", entries: 1, ops: single, prepare: func(ctx context.Context, e *env, n int) (any, error) { return makeItems(ctx, e, n, 0) },
		op: func(db *gorm.DB, s any, i int) error {
			return db.Model(&BenchItem{ID: s.([]uint)[i]}).Updates(map[string]any{"name": fmt.Sprintf("renamed %d", i), "price": i + 1}).Error
		}},
	{name: "delete", entries: 1, ops: single, prepare: func(ctx context.Context, e *env, n int) (any, error) { return makeItems(ctx, e, n, 0) },
		op: func(db *gorm.DB, s any, i int) error { return db.Delete(&BenchItem{ID: s.([]uint)[i]}).Error }},
	{name: "batch_create_1000", entries: 1000, ops: batches, prepare: func(context.Context, *env, int) (any, error) { return nil, nil },
		op: func(db *gorm.DB, _ any, i int) error {
			items := make([]BenchItem, 1000)
			for k := range items {
				items[k] = BenchItem{Name: "batch", Price: k}
			}
			return db.Create(&items).Error
		}},
	{name: "bulk_update_1000", entries: 1000, ops: batches, prepare: func(ctx context.Context, e *env, n int) (any, error) {
		st := groupsState{first: groupSeq + 1}
		for k := 0; k < n; k++ {
			groupSeq++
			ids, err := makeItems(ctx, e, 1000, groupSeq)
			if err != nil {
				return nil, err
			}
			st.ids = append(st.ids, ids)
		}
		return st, nil
	}, op: func(db *gorm.DB, s any, i int) error {
		return bulkUpdate(db.Model(&BenchItem{}), s, i)
	}, returned: func(db *gorm.DB, s any, i int) (int, error) {
		var rows []BenchItem
		err := bulkUpdate(db.Model(&rows), s, i)
		return len(rows), err
	}},
	{name: "m2m_append", entries: 1, ops: single, prepare: func(ctx context.Context, e *env, n int) (any, error) {
		ids, err := makeItems(ctx, e, 1, 0)
		if err != nil {
			return nil, err
		}
		tags := make([]BenchTag, n)
		for i := range tags {
			tags[i] = BenchTag{Name: fmt.Sprintf("tag %d", i)}
		}
		if err := e.plain.WithContext(ctx).CreateInBatches(&tags, 500).Error; err != nil {
			return nil, err
		}
		return m2mState{ids[0], tags}, nil
	}, op: func(db *gorm.DB, s any, i int) error {
		st := s.(m2mState)
		return db.Model(&BenchItem{ID: st.item}).Association("Tags").Append(&st.tags[i])
	}},
}

// bulkUpdate is operation i of bulk_update_1000, on db's model: the
// update of every row of group i.
func bulkUpdate(db *gorm.DB, s any, i int) error {
	return db.Where("grp = ?", s.(groupsState).first+i).Updates(map[string]any{"stock": 7, "price": 1}).Error
}

// groupsState is the groups of items bulk_update_1000 updates, one per
// operation, and their keys.
type groupsState struct {
	first int
	ids   [][]uint
}

// m2mState is the item and the tags m2m_append appends to it.
type m2mState struct {
	item uint
	tags []BenchTag
}

type writeResult struct {
	DB              string  `json:"db"`
	SQLiteDriver    string  `json:"sqlite_driver,omitempty"`
	SQLiteVersion   string  `json:"sqlite_version,omitempty"`
	Workload        string  `json:"workload"`
	BaselineOps     float64 `json:"baseline_ops"`
	AuditedOps      float64 `json:"audited_ops"`
	Ratio           float64 `json:"ratio"`
	EntriesPerOp    float64 `json:"entries_per_op"`
	ExtraStatements float64 `json:"extra_statements"`
	// The floor: the unaudited write, the same entry rows by a raw
	// INSERT, and the raw reads the database forces (floor.go).
	FloorOps        float64 `json:"floor_ops"`
	FloorRatio      float64 `json:"floor_ratio"`
	FloorStatements float64 `json:"floor_extra_statements"`
	Efficiency      float64 `json:"efficiency"` // audited_ops / floor_ops
}

// Modes of one workload run, interleaved in every round.
const (
	modeBaseline = iota // unaudited
	modeAudited         // with the plugin
	modeFloor           // unaudited, plus the floor's raw reads and entry rows
	modes
)

var modeNames = [modes]string{"baseline", "audited", "floor"}

func runWrites(ctx context.Context, c *config, e *env) error {
	for _, w := range workloads {
		if c.only != nil && !c.only[w.name] {
			continue
		}
		n := w.ops(c)
		var (
			dur     [modes]time.Duration
			stmts   [modes]int64
			entries [modes]int64
		)
		for r := 0; r < c.rounds; r++ {
			// Interleave and rotate the order to cancel drift.
			for k := 0; k < modes; k++ {
				mode := (r + k) % modes
				state, err := w.prepare(ctx, e, n)
				if err != nil {
					return fmt.Errorf("%s: prepare: %w", w.name, err)
				}
				db, counter := e.plain, e.plainN
				if mode == modeAudited {
					db, counter = e.audited, e.auditN
				}
				db = db.WithContext(ctx)
				before, err := e.store.Count(ctx, auditstore.Filter{})
				if err != nil {
					return err
				}
				s0 := counter.Load()
				start := time.Now()
				// The mode is a profile label: go tool pprof -tagfocus
				// mode=audited (or baseline, floor) shows one of them.
				pprof.Do(ctx, pprof.Labels("mode", modeNames[mode]), func(ctx context.Context) {
					for i := 0; i < n && err == nil; i++ {
						if mode == modeFloor {
							err = floorOp(ctx, e, w, state, i)
						} else {
							err = w.op(db, state, i)
						}
					}
				})
				if err != nil {
					return fmt.Errorf("%s: %w", w.name, err)
				}
				dur[mode] += time.Since(start)
				stmts[mode] += counter.Load() - s0
				after, err := e.store.Count(ctx, auditstore.Filter{})
				if err != nil {
					return err
				}
				entries[mode] += after - before
			}
		}
		total := float64(n * c.rounds)
		if entries[modeFloor] != entries[modeAudited] {
			return fmt.Errorf("%s: the floor wrote %d entry rows, the plugin %d", w.name, entries[modeFloor], entries[modeAudited])
		}
		res := writeResult{
			DB: e.name, SQLiteDriver: e.driver, SQLiteVersion: e.version, Workload: w.name,
			BaselineOps:     total / dur[modeBaseline].Seconds(),
			AuditedOps:      total / dur[modeAudited].Seconds(),
			FloorOps:        total / dur[modeFloor].Seconds(),
			EntriesPerOp:    float64(entries[modeAudited]) / total,
			ExtraStatements: float64(stmts[modeAudited]-stmts[modeBaseline]) / total,
			FloorStatements: float64(stmts[modeFloor]-stmts[modeBaseline]) / total,
		}
		res.Ratio = res.AuditedOps / res.BaselineOps
		res.FloorRatio = res.FloorOps / res.BaselineOps
		res.Efficiency = res.AuditedOps / res.FloorOps
		if err := printResult(c, res); err != nil {
			return err
		}
	}
	return nil
}

func printResult(c *config, r writeResult) error {
	if c.jsonOut {
		round := func(f float64, p float64) float64 { return float64(int64(f*p+0.5)) / p }
		r.BaselineOps, r.AuditedOps, r.FloorOps = round(r.BaselineOps, 10), round(r.AuditedOps, 10), round(r.FloorOps, 10)
		r.Ratio, r.EntriesPerOp, r.ExtraStatements = round(r.Ratio, 1000), round(r.EntriesPerOp, 1000), round(r.ExtraStatements, 1000)
		r.FloorRatio, r.FloorStatements, r.Efficiency = round(r.FloorRatio, 1000), round(r.FloorStatements, 1000), round(r.Efficiency, 1000)
		return json.NewEncoder(c.out).Encode(r)
	}
	_, err := fmt.Fprintf(c.out, "%-8s %-18s %12.1f %12.1f %6.2f %8.2f %7.2f %12.1f %6.2f %7.2f %5.2f\n", r.DB, r.Workload, r.BaselineOps, r.AuditedOps, r.Ratio, r.EntriesPerOp, r.ExtraStatements,
		r.FloorOps, r.FloorRatio, r.FloorStatements, r.Efficiency)
	return err
}

type readResult struct {
	DB            string  `json:"db"`
	SQLiteDriver  string  `json:"sqlite_driver,omitempty"`
	SQLiteVersion string  `json:"sqlite_version,omitempty"`
	Query         string  `json:"query"`
	P50Ms         float64 `json:"p50_ms"`
	P99Ms         float64 `json:"p99_ms"`
	Samples       int     `json:"samples"`
	Rows          int     `json:"rows"`
	Note          string  `json:"note,omitempty"`
}

const (
	readModels  = 10
	readObjects = 100_000
	readActors  = 50
)

// runRead loads c.readRows entries with the bulk loader and measures the
// read paths, then a batched flush of half of them.
func runRead(ctx context.Context, c *config, e *env) error {
	start := time.Now()
	base := time.Now().Add(-365 * 24 * time.Hour).UTC()
	step := 365 * 24 * time.Hour / time.Duration(c.readRows)
	const chunk = 10_000
	batch := make([]auditlog.Entry, 0, chunk)
	change, _ := auditlog.NewChange(1, 2)
	for i := 0; i < c.readRows; i++ {
		obj := int64(i % readObjects)
		batch = append(batch, auditlog.Entry{
			Timestamp: base.Add(time.Duration(i) * step), Action: auditlog.ActionUpdate,
			Model: fmt.Sprintf("model_%d", obj%readModels), ObjectPK: fmt.Sprint(obj), ObjectID: &obj,
			ObjectRepr: fmt.Sprintf("Object %d", obj), Changes: auditlog.Changes{"price": change},
			ActorID: fmt.Sprint(i % readActors), ActorName: fmt.Sprintf("user %d", i%readActors),
		})
		if len(batch) == chunk || i == c.readRows-1 {
			if err := e.store.Insert(ctx, batch); err != nil {
				return fmt.Errorf("load: %w", err)
			}
			batch = batch[:0]
		}
	}
	fmt.Fprintf(c.errOut, "%s: loaded %d entries in %s\n", e.name, c.readRows, time.Since(start).Round(time.Millisecond))
	if e.name == "postgres" {
		if _, err := e.sqlDB.ExecContext(ctx, "ANALYZE auditlog_entries"); err != nil {
			return err
		}
	}
	samples := 200
	if c.quick {
		samples = 50
	}
	// A cursor half way down the newest-first list.
	var deep auditlog.Entry
	row := e.sqlDB.QueryRowContext(ctx, fmt.Sprintf("SELECT id, timestamp FROM auditlog_entries ORDER BY timestamp DESC, id DESC LIMIT 1 OFFSET %d", c.readRows/2))
	var ts any
	if err := row.Scan(&deep.ID, &ts); err != nil {
		return fmt.Errorf("find the middle entry: %w", err)
	}
	switch t := ts.(type) {
	case time.Time:
		deep.Timestamp = t
	case string:
		deep.Timestamp, _ = time.Parse("2006-01-02T15:04:05.000000Z", t)
	case []byte:
		deep.Timestamp, _ = time.Parse("2006-01-02T15:04:05.000000Z", string(t))
	}
	deepCursor := auditstore.CursorAfter(deep)
	queries := []struct {
		name string
		run  func(i int) error
	}{
		{"object_history_20", func(i int) error {
			obj := int64((i * 7919) % readObjects)
			_, err := e.store.List(ctx, auditstore.Filter{Objects: []auditstore.ObjectRef{{Model: fmt.Sprintf("model_%d", obj%readModels), ID: &obj}}}, auditstore.Page{Limit: 20})
			return err
		}},
		{"model_newest_page_50", func(i int) error {
			_, err := e.store.List(ctx, auditstore.Filter{Model: fmt.Sprintf("model_%d", i%readModels)}, auditstore.Page{Limit: 50})
			return err
		}},
		{"model_actor_page_50", func(i int) error {
			_, err := e.store.List(ctx, auditstore.Filter{Model: fmt.Sprintf("model_%d", i%readModels), ActorID: fmt.Sprint(i % readActors)}, auditstore.Page{Limit: 50})
			return err
		}},
		{"deep_page_50_cursor", func(int) error {
			_, err := e.store.List(ctx, auditstore.Filter{}, auditstore.Page{Limit: 50, Cursor: deepCursor})
			return err
		}},
	}
	for _, q := range queries {
		lat := make([]time.Duration, samples)
		for i := range lat {
			t0 := time.Now()
			if err := q.run(i); err != nil {
				return fmt.Errorf("%s: %w", q.name, err)
			}
			lat[i] = time.Since(t0)
		}
		sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
		res := readResult{DB: e.name, SQLiteDriver: e.driver, SQLiteVersion: e.version, Query: q.name, Samples: samples, Rows: c.readRows,
			P50Ms: ms(lat[len(lat)/2]), P99Ms: ms(lat[len(lat)*99/100])}
		if err := printRead(c, res); err != nil {
			return err
		}
	}
	// Flush the older half in batches.
	t0 := time.Now()
	fr, err := e.store.Flush(ctx, auditstore.FlushOptions{Filter: auditstore.Filter{Until: base.Add(time.Duration(c.readRows/2) * step)}})
	if err != nil {
		return err
	}
	elapsed := time.Since(t0)
	return printRead(c, readResult{DB: e.name, SQLiteDriver: e.driver, SQLiteVersion: e.version, Query: "flush_older_half", Samples: 1, Rows: int(fr.Deleted),
		P50Ms: ms(elapsed), P99Ms: ms(fr.LongestBatch),
		Note: fmt.Sprintf("%.0f rows/s; p99_ms is the longest single batch (lock)", float64(fr.Deleted)/elapsed.Seconds())})
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func printRead(c *config, r readResult) error {
	if c.jsonOut {
		return json.NewEncoder(c.out).Encode(r)
	}
	_, err := fmt.Fprintf(c.out, "%-8s %-26s %8.3fms %8.3fms %8d %s\n", r.DB, r.Query, r.P50Ms, r.P99Ms, r.Samples, r.Note)
	return err
}
