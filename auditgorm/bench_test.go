package auditgorm_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// Micro-benchmarks of the capture paths on every configured database (for
// profiles); cmd/auditbench compares against an unaudited baseline.
func BenchmarkCapture(b *testing.B) {
	for _, dbName := range testdb.Names() {
		b.Run(dbName, func(b *testing.B) { benchCapture(b, dbName) })
	}
}

// The modes: unaudited, audited, audited with Config.Hooks that do
// nothing (the cost of observing), and unaudited and audited with GORM's
// PrepareStmt (an unaudited application's statements prepared too: on
// SQLite the plugin prepares the statements it runs itself, the
// application's writes among them).
const (
	plain = iota
	audited
	hooked
	plainPrepareStmt
	auditedPrepareStmt
)

func benchCapture(b *testing.B, dbName string) {
	for _, audited := range []int{plain, audited, hooked, plainPrepareStmt, auditedPrepareStmt} {
		name := [...]string{"plain", "audited", "hooked", "plain_preparestmt", "audited_preparestmt"}[audited]
		b.Run("create/"+name, func(b *testing.B) {
			db := benchDB(b, dbName, audited)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				must2(b, db.Create(&Gadget{Name: fmt.Sprint(i), Price: i}).Error)
			}
		})
		b.Run("update/"+name, func(b *testing.B) {
			db := benchDB(b, dbName, audited)
			g := Gadget{Name: "g"}
			must2(b, db.Create(&g).Error)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				must2(b, db.Model(&Gadget{ID: g.ID}).Updates(map[string]any{"price": i, "name": fmt.Sprint(i)}).Error)
			}
		})
		b.Run("delete/"+name, func(b *testing.B) {
			db := benchDB(b, dbName, audited)
			quiet := db.WithContext(auditlog.Disable(context.Background()))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				// The row to delete is created unaudited in both modes.
				g := Gadget{Name: fmt.Sprint(i), Price: i}
				must2(b, quiet.Create(&g).Error)
				must2(b, db.Unscoped().Delete(&Gadget{ID: g.ID}).Error)
			}
		})
		b.Run("batch_create_1000/"+name, func(b *testing.B) {
			benchBatchCreate(b, benchDB(b, dbName, audited), func(n, k int) Gadget { return Gadget{Name: fmt.Sprint(n), Price: k} })
		})
		b.Run("batch_create_1000_plainmodel/"+name, func(b *testing.B) {
			// A model without String or other methods of its own: on
			// PostgreSQL its entries are written by the INSERT itself.
			db := benchDB(b, dbName, audited)
			must2(b, db.AutoMigrate(&BenchRow{}))
			benchBatchCreate(b, db, func(n, k int) BenchRow { return BenchRow{Name: fmt.Sprint(n), Price: k} })
		})
		b.Run("bulk_update_1000/"+name, func(b *testing.B) {
			db := benchDB(b, dbName, audited)
			rows := make([]Gadget, 1000)
			for k := range rows {
				rows[k] = Gadget{Name: fmt.Sprint(k), Price: k}
			}
			must2(b, db.WithContext(auditlog.Disable(context.Background())).Create(&rows).Error)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				must2(b, db.Model(&Gadget{}).Where("id > ?", 0).Update("price", i).Error)
			}
		})
	}
}

// benchBatchCreate creates 1,000 rows made by row per operation: row(n,
// k) is the k-th of the operation and the n-th of the benchmark.
func benchBatchCreate[T any](b *testing.B, db *gorm.DB, row func(n, k int) T) {
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		rows := make([]T, 1000)
		for k := range rows {
			n++
			rows[k] = row(n, k)
		}
		must2(b, db.Create(&rows).Error)
	}
}

// benchDB opens an isolated database with the Gadget table, in one of the
// modes.
func benchDB(b *testing.B, dbName string, mode int) *gorm.DB {
	db := testdb.Open(b, dbName)
	reg := auditlog.NewRegistry()
	if mode == plainPrepareStmt || mode == auditedPrepareStmt {
		db = db.Session(&gorm.Session{PrepareStmt: true})
	}
	switch mode {
	case audited, auditedPrepareStmt:
		must2(b, db.Use(auditgorm.New(auditgorm.Config{Registry: reg})))
	case hooked:
		must2(b, db.Use(auditgorm.New(auditgorm.Config{Registry: reg, Hooks: nopHooks{}})))
	}
	must2(b, db.AutoMigrate(&Gadget{}))
	must2(b, reg.Register(&Gadget{}))
	must2(b, reg.Register(&BenchRow{}))
	return db
}

// BenchRow is a model with no methods of its own, like most.
type BenchRow struct {
	ID        uint
	Name      string `gorm:"size:64"`
	Price     int
	Stock     int
	CreatedAt time.Time
	UpdatedAt time.Time
}

func must2(b testing.TB, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

// nopHooks observe and do nothing.
type nopHooks struct{}

func (nopHooks) StatementStart(ctx context.Context, _ auditgorm.StatementStartInfo) context.Context {
	return ctx
}

func (nopHooks) StatementEnd(context.Context, auditgorm.StatementEndInfo) {}
