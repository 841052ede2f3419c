package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/internal/sqlitedriver"
)

// The quick run works on a fresh machine with no server and prints one JSON
// object per workload with the documented fields, naming the SQLite driver
// and library version, and the floor each workload is measured against.
func TestQuickSQLiteJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every workload")
	}
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"-db", "sqlite", "-quick", "-json", "-dir", t.TempDir()}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(workloads) {
		t.Fatalf("%d lines:\n%s", len(lines), out.String())
	}
	for _, l := range lines {
		var r map[string]any
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"db", "sqlite_driver", "sqlite_version", "workload", "baseline_ops", "audited_ops", "ratio", "entries_per_op", "extra_statements",
			"floor_ops", "floor_ratio", "floor_extra_statements", "efficiency"} {
			if _, ok := r[k]; !ok {
				t.Fatalf("line %s lacks %s", l, k)
			}
		}
		if r["audited_ops"].(float64) <= 0 || r["entries_per_op"].(float64) < 1 || r["floor_ops"].(float64) <= 0 {
			t.Fatalf("implausible result %s", l)
		}
		// The floor adds at least the entry INSERT, and never more
		// statements than the plugin.
		if fs := r["floor_extra_statements"].(float64); fs < 1 || fs > r["extra_statements"].(float64) {
			t.Fatalf("floor statements out of range: %s", l)
		}
		if eff := r["efficiency"].(float64); math.Abs(eff-r["audited_ops"].(float64)/r["floor_ops"].(float64)) > 0.01 {
			t.Fatalf("efficiency is not audited/floor: %s", l)
		}
	}
}

// -cpuprofile writes a profile pprof reads, of the run's own functions,
// its samples labelled with their mode.
func TestCPUProfile(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a workload")
	}
	prof := filepath.Join(t.TempDir(), "cpu.prof")
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"-db", "sqlite", "-quick", "-workload", "create", "-dir", t.TempDir(), "-cpuprofile", prof}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	// A profile is a gzipped protocol buffer.
	f, err := os.Open(prof)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(z)
	if err != nil || len(b) < 100 {
		t.Fatalf("the profile: %d bytes, %v", len(b), err)
	}
	// Samples carry the mode they were taken in, as a label: its key and
	// values are entries of the profile's string table (field 6, a
	// length-prefixed string: 0x32, the length, the bytes).
	entry := func(s string) []byte { return append([]byte{0x32, byte(len(s))}, s...) }
	if !bytes.Contains(b, entry("mode")) || !(bytes.Contains(b, entry("audited")) || bytes.Contains(b, entry("baseline")) || bytes.Contains(b, entry("floor"))) {
		t.Fatal("the profile's samples carry no mode label")
	}
	var bad bytes.Buffer
	if err := run(context.Background(), []string{"-db", "sqlite", "-quick", "-workload", "create", "-cpuprofile", filepath.Join(t.TempDir(), "no", "such", "dir", "cpu.prof")}, &out, &bad); err == nil || !strings.Contains(err.Error(), "-cpuprofile") {
		t.Fatalf("an unwritable profile: %v", err)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-db", "oracle"}, {"-n", "0"}, {"-db", "postgres", "-postgres-dsn", ""}, {"extra"}, {"-sqlite-driver", "nope"}, {"-workload", "create,nope"}} {
		var out, errb bytes.Buffer
		if err := run(context.Background(), args, &out, &errb); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// The floor's entries for created rows name new objects, as the plugin's
// do: an object with history costs more in the object index, and the
// floor must not pay for what the plugin does not.
func TestFloorNamesNewObjectsForCreates(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two workloads")
	}
	db, _ := runKeepingDB(t, "-workload", "create,upsert_new,upsert_new_key")
	var objs, dup int64
	if err := db.QueryRow(`SELECT count(DISTINCT object_id), count(*) - count(DISTINCT object_id) FROM auditlog_entries`).Scan(&objs, &dup); err != nil {
		t.Fatal(err)
	}
	if dup > 0 {
		t.Errorf("%d entries name an object that already had one (%d objects); a create makes new objects only", dup, objs)
	}
}

// -indexes measures every secondary index of the entries table dropped in
// turn, and leaves the table with all of them again.
func TestIndexCosts(t *testing.T) {
	if testing.Short() {
		t.Skip("loads entries for every variant")
	}
	db, out := runKeepingDB(t, "-indexes")
	indexes, err := entryIndexes(context.Background(), db, "sqlite")
	if err != nil {
		t.Fatal(err)
	}
	var variants []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var r indexResult
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		if r.SingleUs <= 0 || r.BatchMs <= 0 {
			t.Fatalf("implausible result %s", l)
		}
		variants = append(variants, r.Variant)
	}
	if len(indexes) < 7 || len(variants) != len(indexes)+2 || variants[0] != "all indexes" || variants[len(variants)-1] != "primary key only" {
		t.Fatalf("%d indexes after the run, variants %q", len(indexes), variants)
	}
	for i, ix := range indexes {
		if variants[i+1] != "without "+ix.name {
			t.Errorf("variant %d is %q, want without %s", i+1, variants[i+1], ix.name)
		}
	}
}

// runKeepingDB runs a quick JSON run on SQLite with args, keeping its
// database file, and returns the database, open, and the output.
func runKeepingDB(t *testing.T, args ...string) (*sql.DB, string) {
	t.Helper()
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if err := run(context.Background(), append([]string{"-db", "sqlite", "-quick", "-json", "-dir", dir}, args...), &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	files, _ := filepath.Glob(filepath.Join(dir, "bench-*.db"))
	if len(files) != 1 {
		t.Fatalf("database files: %v", files)
	}
	d, err := sqlitedriver.Lookup("")
	if err != nil {
		t.Fatal(err)
	}
	db, err := d.OpenSQL(d.DSN(files[0]))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db, out.String()
}

// Where a floor's write returns every column, it reads every row the
// statement returns into the destination GORM scans them into, as the
// plugin reads them all: GORM scans only the first row of RETURNING into
// a struct, and a floor that left the others unread would be cheaper
// than any design that records them.
func TestFloorReadsEveryReturnedRow(t *testing.T) {
	ctx := context.Background()
	e := sqliteEnv(t)
	scanned := -1
	count := func(db *gorm.DB) {
		if _, ok := db.Statement.Clauses["RETURNING"]; !ok {
			return
		}
		scanned = 1
		if rv := reflect.Indirect(db.Statement.ReflectValue); rv.Kind() == reflect.Slice {
			scanned = rv.Len()
		}
	}
	if err := e.plain.Callback().Create().After("gorm:create").Register("bench_test:count", count); err != nil {
		t.Fatal(err)
	}
	if err := e.plain.Callback().Update().After("gorm:update").Register("bench_test:count", count); err != nil {
		t.Fatal(err)
	}
	if err := e.plain.Callback().Delete().After("gorm:delete").Register("bench_test:count", count); err != nil {
		t.Fatal(err)
	}
	for _, w := range workloads {
		if !floors[w.name].needs(floors[w.name].returning, "sqlite") {
			continue
		}
		t.Run(w.name, func(t *testing.T) {
			state, err := w.prepare(ctx, e, 1)
			if err != nil {
				t.Fatal(err)
			}
			scanned = -1
			if err := floorOp(ctx, e, w, state, 0); err != nil {
				t.Fatal(err)
			}
			if scanned != w.entries {
				t.Errorf("the floor's write read %d of the %d rows it returned", scanned, w.entries)
			}
		})
	}
}

// A floor's entries name the objects its write touched (a row deleted is
// gone), as the plugin's do:
// where it creates rows, the keys the database gave them, each above every
// key an earlier entry names (an append to the object index, as the
// audited run's entries are).
func TestFloorNamesTheRowsItCreates(t *testing.T) {
	ctx := context.Background()
	e := sqliteEnv(t)
	for _, w := range workloads {
		t.Run(w.name, func(t *testing.T) {
			state, err := w.prepare(ctx, e, 2)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				var lastEntry, topObject int64
				if err := e.sqlDB.QueryRowContext(ctx, "SELECT coalesce(max(id), 0), coalesce(max(object_id), 0) FROM auditlog_entries").Scan(&lastEntry, &topObject); err != nil {
					t.Fatal(err)
				}
				if err := floorOp(ctx, e, w, state, i); err != nil {
					t.Fatal(err)
				}
				rows, err := e.sqlDB.QueryContext(ctx, "SELECT e.object_id, i.id FROM auditlog_entries e LEFT JOIN bench_items i ON i.id = e.object_id WHERE e.id > ?", lastEntry)
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for rows.Next() {
					var obj int64
					var item sql.NullInt64
					if err := rows.Scan(&obj, &item); err != nil {
						t.Fatal(err)
					}
					n++
					if !item.Valid && floors[w.name].action != 2 {
						t.Errorf("operation %d: an entry names object %d, which is no row", i, obj)
					}
					if floors[w.name].action == 0 && obj <= topObject {
						t.Errorf("operation %d: an entry of a created row names %d, not above the %d named before", i, obj, topObject)
					}
				}
				if err := rows.Err(); err != nil {
					t.Fatal(err)
				}
				rows.Close()
				if n != w.entries {
					t.Errorf("operation %d: %d entries, want %d", i, n, w.entries)
				}
			}
		})
	}
}

// The floor of a many-to-many append on SQLite (and PostgreSQL) learns the
// pairs it inserted as the plugin does there: its join INSERT returns them.
func TestFloorJoinInsertReturnsItsPairs(t *testing.T) {
	ctx := context.Background()
	e := sqliteEnv(t)
	var joinSQL []string
	if err := e.plain.Callback().Create().After("gorm:create").Register("bench_test:join", func(db *gorm.DB) {
		if db.Statement.Table == "bench_item_tags" {
			joinSQL = append(joinSQL, db.Statement.SQL.String())
		}
	}); err != nil {
		t.Fatal(err)
	}
	for _, w := range workloads {
		if w.name != "m2m_append" {
			continue
		}
		state, err := w.prepare(ctx, e, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := floorOp(ctx, e, w, state, 0); err != nil {
			t.Fatal(err)
		}
	}
	if len(joinSQL) != 1 || !strings.Contains(joinSQL[0], "RETURNING") {
		t.Errorf("the floor's join inserts: %q, want one with RETURNING", joinSQL)
	}
}

// sqliteEnv opens the benchmark's SQLite environment (the quick run's) in a
// directory of the test's, closed when the test ends.
func sqliteEnv(t *testing.T) *env {
	t.Helper()
	c, err := parseFlags([]string{"-db", "sqlite", "-quick", "-dir", t.TempDir()}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	e, err := openEnv(context.Background(), c, "sqlite")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.close)
	return e
}
