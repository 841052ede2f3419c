package auditstore_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// BenchmarkPartitionedFlush flushes 500,000 entries, 50,000 a month over
// ten months, from a table partitioned by month (the partitions dropped
// whole) and from one table (row by row, batches of DefaultFlushBatch).
// Each run fills the table first, untimed. On PostgreSQL only:
//
//	go test ./auditstore -run '^$' -bench BenchmarkPartitionedFlush -benchtime 1x -v
func BenchmarkPartitionedFlush(b *testing.B) {
	if !slices.Contains(testdb.Names(), "postgres") {
		b.Skip("no PostgreSQL (" + testdb.PostgresEnv + ")")
	}
	const months, perMonth = 10, 50_000
	from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	until := from.AddDate(0, months, 0)
	fill := func(b *testing.B, s *auditstore.Store) {
		ctx := context.Background()
		es := make([]auditlog.Entry, 0, 10_000)
		step := time.Duration(int64(30*24*time.Hour) / perMonth)
		for m := range months {
			start := from.AddDate(0, m, 0)
			for i := range perMonth {
				oid := int64(i % 5000)
				es = append(es, auditlog.Entry{Timestamp: start.Add(time.Duration(i) * step), Action: auditlog.ActionUpdate, Model: "books",
					ObjectPK: fmt.Sprint(oid), ObjectID: &oid, ObjectRepr: "Book", ActorID: "7", CorrelationID: "req"})
				if len(es) == cap(es) {
					if err := s.Insert(ctx, es); err != nil {
						b.Fatal(err)
					}
					es = es[:0]
				}
			}
		}
	}
	for _, c := range []struct {
		name        string
		partitioned bool
	}{{"drop_partitions", true}, {"row_by_row", false}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				ctx := context.Background()
				db := rawDB(b, "postgres", !c.partitioned)
				s := pgStore(b, db)
				if c.partitioned {
					if err := auditstore.MigrateWith(ctx, db, auditstore.Postgres, monthly(0)); err != nil {
						b.Fatal(err)
					}
					if _, _, err := auditstore.EnsurePartitionsAt(ctx, s, from, months); err != nil {
						b.Fatal(err)
					}
				}
				fill(b, s)
				if _, err := db.Exec("ANALYZE auditlog_entries"); err != nil {
					b.Fatal(err)
				}
				if c.partitioned {
					book := int64(42)
					query, args, err := auditstore.ListSQL(ctx, s, auditstore.Filter{Objects: []auditstore.ObjectRef{{Model: "books", ID: &book}}}, auditstore.Page{Limit: 50})
					if err != nil {
						b.Fatal(err)
					}
					b.Logf("history of one book on %d entries:\n%s", months*perMonth, strings.Join(lines(b, db, "EXPLAIN (ANALYZE, COSTS OFF, SUMMARY ON) "+query, args...), "\n"))
				}
				n, maxID, err := s.CountMax(ctx, auditstore.Filter{Until: until})
				if err != nil || n != months*perMonth {
					b.Fatalf("count %d, %v", n, err)
				}
				b.StartTimer()
				start := time.Now()
				res, err := s.Flush(ctx, auditstore.FlushOptions{Filter: auditstore.Filter{Until: until}, MaxID: maxID})
				elapsed := time.Since(start)
				b.StopTimer()
				if err != nil || res.Deleted != n {
					b.Fatalf("flush: %+v, %v", res, err)
				}
				b.ReportMetric(elapsed.Seconds(), "s/flush")
				b.ReportMetric(res.LongestBatch.Seconds()*1000, "ms/longest-lock")
				b.Logf("%s: %d entries in %s, %d partitions dropped, longest step %s", c.name, res.Deleted, elapsed.Round(time.Millisecond), res.Partitions, res.LongestBatch.Round(time.Millisecond))
				b.StartTimer()
			}
		})
	}
}

// BenchmarkPartitionConvert converts a table of 1,000,000 entries in place
// and reports how long writes were blocked (the swap) against the whole
// conversion (the concurrent index build and the constraint's validation
// let writes go on). It checks that every entry stayed. On PostgreSQL only:
//
//	go test ./auditstore -run '^$' -bench BenchmarkPartitionConvert -benchtime 1x -v
func BenchmarkPartitionConvert(b *testing.B) {
	if !slices.Contains(testdb.Names(), "postgres") {
		b.Skip("no PostgreSQL (" + testdb.PostgresEnv + ")")
	}
	const n = 1_000_000
	for b.Loop() {
		b.StopTimer()
		ctx := context.Background()
		db := rawDB(b, "postgres", true)
		s := pgStore(b, db)
		from := time.Now().AddDate(-1, 0, 0)
		es := make([]auditlog.Entry, 0, 10_000)
		for i := range n {
			oid := int64(i % 5000)
			es = append(es, auditlog.Entry{Timestamp: from.Add(time.Duration(i) * 30 * time.Second), Action: auditlog.ActionUpdate, Model: "books",
				ObjectPK: fmt.Sprint(oid), ObjectID: &oid, ObjectRepr: "Book"})
			if len(es) == cap(es) {
				if err := s.Insert(ctx, es); err != nil {
					b.Fatal(err)
				}
				es = es[:0]
			}
		}
		var sum string
		if err := db.QueryRow("SELECT md5(string_agg(concat_ws('|', " + auditstore.SelectColumns + "), ',' ORDER BY id)) FROM auditlog_entries").Scan(&sum); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if err := auditstore.MigrateWith(ctx, db, auditstore.Postgres, monthly(0)); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		var after string
		if err := db.QueryRow("SELECT md5(string_agg(concat_ws('|', " + auditstore.SelectColumns + "), ',' ORDER BY id)) FROM auditlog_entries").Scan(&after); err != nil || after != sum {
			b.Fatalf("entries changed by the conversion (%v)", err)
		}
		b.ReportMetric(elapsed.Seconds(), "s/convert")
		b.Logf("converted %d entries in %s", n, elapsed.Round(time.Millisecond))
		b.StartTimer()
	}
}
