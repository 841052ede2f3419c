package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
)

// An index of the entries table, as the database reports it.
type entryIndex struct {
	name, create string
}

// entryIndexes lists the secondary indexes of the entries table with the
// statements that create them again.
func entryIndexes(ctx context.Context, db *sql.DB, dbName string) ([]entryIndex, error) {
	var q string
	switch dbName {
	case "sqlite":
		q = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'auditlog_entries' AND sql IS NOT NULL ORDER BY name"
	case "postgres":
		q = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'auditlog_entries' AND schemaname = current_schema() AND indexname <> 'auditlog_entries_pkey' ORDER BY indexname"
	case "mysql":
		q = `SELECT index_name, CONCAT('CREATE INDEX ', index_name, ' ON auditlog_entries (',
 GROUP_CONCAT(CONCAT(column_name, IF(sub_part IS NULL, '', CONCAT('(', sub_part, ')'))) ORDER BY seq_in_index SEPARATOR ', '), ')')
 FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = 'auditlog_entries' AND index_name <> 'PRIMARY'
 GROUP BY index_name ORDER BY index_name`
	}
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []entryIndex
	for rows.Next() {
		var ix entryIndex
		if err := rows.Scan(&ix.name, &ix.create); err != nil {
			return nil, err
		}
		out = append(out, ix)
	}
	return out, rows.Err()
}

func dropIndex(ctx context.Context, db *sql.DB, dbName, name string) error {
	q := "DROP INDEX " + name
	if dbName == "mysql" {
		q += " ON auditlog_entries"
	}
	_, err := db.ExecContext(ctx, q)
	return err
}

type indexResult struct {
	DB            string  `json:"db"`
	SQLiteDriver  string  `json:"sqlite_driver,omitempty"`
	SQLiteVersion string  `json:"sqlite_version,omitempty"`
	Variant       string  `json:"variant"`
	SingleUs      float64 `json:"single_us_per_entry"`    // one entry per transaction
	BatchMs       float64 `json:"batch_ms_per_1000"`      // 1,000 entries per transaction
	SingleSaved   float64 `json:"single_saved,omitempty"` // share of the all-indexes time
	BatchSaved    float64 `json:"batch_saved,omitempty"`
}

// indexObjects is the number of objects with history the entries name.
const indexObjects = 1000

// indexSizes are the entries in the table before each measurement, and the
// single-entry and 1,000-entry transactions measured (fewer with -quick).
func indexSizes(c *config) (preload, singles, batches int) {
	if c.quick {
		return 1000, 50, 1
	}
	return 20_000, 1000, 5
}

// indexEntries are n entries as an application writes them: an actor and a
// correlation id each (so the partial indexes take them), objects that have
// history, a few changed fields.
func indexEntries(n, seq int) []auditlog.Entry {
	es := make([]auditlog.Entry, n)
	now := time.Now().UTC()
	for i := range es {
		k := seq + i
		obj := int64(k % indexObjects)
		ch, _ := auditlog.NewChange(k, k+1)
		name, _ := auditlog.NewChange(fmt.Sprintf("item %d", k), fmt.Sprintf("item %d", k+1))
		es[i] = auditlog.Entry{Timestamp: now, Action: auditlog.ActionUpdate, Model: "bench_items", ObjectPK: fmt.Sprint(obj), ObjectID: &obj,
			ObjectRepr: fmt.Sprintf("BenchItem(%d)", obj), Changes: auditlog.Changes{"price": ch, "name": name},
			ActorID: fmt.Sprint(k % 50), ActorName: fmt.Sprintf("user %d", k%50), CorrelationID: fmt.Sprintf("req-%d", k/10)}
	}
	return es
}

// runIndexes measures what each secondary index of the entries table costs
// the writes: entries inserted one per transaction and 1,000 per
// transaction into a table of indexPreload entries, with every index, with
// each one dropped in turn, and with the primary key only.
func runIndexes(ctx context.Context, c *config, e *env) error {
	all, err := entryIndexes(ctx, e.sqlDB, e.name)
	if err != nil {
		return fmt.Errorf("list indexes: %w", err)
	}
	type variant struct {
		name string
		drop []entryIndex
	}
	variants := []variant{{name: "all indexes"}}
	for _, ix := range all {
		variants = append(variants, variant{name: "without " + ix.name, drop: []entryIndex{ix}})
	}
	variants = append(variants, variant{name: "primary key only", drop: all})
	var single, batch = make([]time.Duration, len(variants)), make([]time.Duration, len(variants))
	indexPreload, indexSingles, indexBatches := indexSizes(c)
	seq := 0
	for r := 0; r < c.rounds; r++ {
		for k := range variants {
			v := variants[(k+r)%len(variants)]
			vi := (k + r) % len(variants)
			if err := emptyEntries(ctx, e); err != nil {
				return err
			}
			for _, ix := range v.drop {
				if err := dropIndex(ctx, e.sqlDB, e.name, ix.name); err != nil {
					return fmt.Errorf("drop %s: %w", ix.name, err)
				}
			}
			for loaded := 0; loaded < indexPreload; loaded += 1000 {
				if err := e.store.Insert(ctx, indexEntries(1000, seq)); err != nil {
					return err
				}
				seq += 1000
			}
			start := time.Now()
			for i := 0; i < indexSingles; i++ {
				if err := insertInTx(ctx, e, indexEntries(1, seq)); err != nil {
					return err
				}
				seq++
			}
			single[vi] += time.Since(start)
			start = time.Now()
			for i := 0; i < indexBatches; i++ {
				if err := insertInTx(ctx, e, indexEntries(1000, seq)); err != nil {
					return err
				}
				seq += 1000
			}
			batch[vi] += time.Since(start)
			for _, ix := range v.drop {
				if _, err := e.sqlDB.ExecContext(ctx, ix.create); err != nil {
					return fmt.Errorf("create %s again: %w", ix.name, err)
				}
			}
		}
	}
	if !c.jsonOut {
		fmt.Fprintf(c.out, "%-8s %-48s %14s %8s %14s %8s\n", "db", "variant", "µs/entry (1)", "saved", "ms/1000 (1000)", "saved")
	}
	for i, v := range variants {
		res := indexResult{DB: e.name, SQLiteDriver: e.driver, SQLiteVersion: e.version, Variant: v.name,
			SingleUs: float64(single[i].Microseconds()) / float64(c.rounds*indexSingles),
			BatchMs:  float64(batch[i].Microseconds()) / 1000 / float64(c.rounds*indexBatches)}
		if i > 0 {
			res.SingleSaved = 1 - float64(single[i])/float64(single[0])
			res.BatchSaved = 1 - float64(batch[i])/float64(batch[0])
		}
		if c.jsonOut {
			if err := json.NewEncoder(c.out).Encode(res); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(c.out, "%-8s %-48s %14.1f %7.0f%% %14.2f %7.0f%%\n", res.DB, strings.TrimPrefix(res.Variant, "without auditlog_entries_"),
			res.SingleUs, 100*res.SingleSaved, res.BatchMs, 100*res.BatchSaved)
	}
	return nil
}

func emptyEntries(ctx context.Context, e *env) error { return e.store.Truncate(ctx) }

// insertInTx inserts entries in a transaction of their own, as a write's
// entries are.
func insertInTx(ctx context.Context, e *env, es []auditlog.Entry) error {
	tx, err := e.sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	s, err := auditstore.New(tx, e.store.Dialect())
	if err == nil {
		err = s.Insert(ctx, es)
	}
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
