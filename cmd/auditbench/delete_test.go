package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/go-auditlog/auditlog/internal/sqlitedriver"
)

// What the old row of a delete costs on SQLite, which the floor of the
// delete workload counts there: each delete in its own transaction, as a
// plain DELETE, as DELETE … RETURNING every column, and as a read of the
// row followed by the plain DELETE. The row to delete is inserted with the
// timer stopped.
//
//	go test ./cmd/auditbench -run XXX -bench SQLiteOldRowOfDelete -count 3
func BenchmarkSQLiteOldRowOfDelete(b *testing.B) {
	const cols = "id, name, price, stock, grp, created_at, updated_at"
	ctx := context.Background()
	for _, mode := range []string{"delete", "delete_returning", "read_then_delete"} {
		b.Run(mode, func(b *testing.B) {
			d, err := sqlitedriver.Lookup("")
			if err != nil {
				b.Fatal(err)
			}
			db, err := d.OpenSQL(d.DSN(filepath.Join(b.TempDir(), "delete.db")))
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = db.Close() }()
			db.SetMaxOpenConns(1)
			if _, err := db.Exec(`CREATE TABLE bench_items (id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(64), price INTEGER,
				stock INTEGER, grp INTEGER, created_at DATETIME, updated_at DATETIME)`); err != nil {
				b.Fatal(err)
			}
			if _, err := db.Exec(`CREATE INDEX idx_bench_items_grp ON bench_items (grp)`); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				b.StopTimer()
				var id int64
				if err := db.QueryRow(`INSERT INTO bench_items (name, price, stock, grp, created_at, updated_at)
					VALUES ('item', 1, 0, 0, '2026-12-05 10:00:00', '2026-12-05 10:00:00') RETURNING id`).Scan(&id); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				tx, err := db.Begin()
				if err != nil {
					b.Fatal(err)
				}
				switch mode {
				case "delete":
					_, err = tx.Exec(`DELETE FROM bench_items WHERE id = ?`, id)
				case "delete_returning":
					err = rawRead(ctx, tx, &floorStmt{q: `DELETE FROM bench_items WHERE id = ? RETURNING ` + cols, args: []any{id}})
				case "read_then_delete":
					if err = rawRead(ctx, tx, &floorStmt{q: `SELECT ` + cols + ` FROM bench_items WHERE id = ?`, args: []any{id}}); err == nil {
						_, err = tx.Exec(`DELETE FROM bench_items WHERE id = ?`, id)
					}
				}
				if err != nil {
					b.Fatal(err)
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
