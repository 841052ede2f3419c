//go:build !auditlog_mattn

// The example opens SQLite with the default driver, ncruces, which a test
// binary built with -tags auditlog_mattn cannot hold beside mattn.

package auditgorm_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ncruces/go-sqlite3/gormlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/auditstore"
)

type Product struct {
	ID    uint
	Name  string
	Price int
}

func (p Product) String() string { return p.Name }

// openExampleDB opens a throwaway SQLite database.
func openExampleDB() (*gorm.DB, func()) {
	dir, err := os.MkdirTemp("", "auditlog-example")
	if err != nil {
		panic(err)
	}
	db, err := gorm.Open(gormlite.Open(filepath.Join(dir, "app.db")), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		panic(err)
	}
	return db, func() { _ = os.RemoveAll(dir) }
}

// Install the plugin, register a model in one line, write, and read the
// object's history.
func Example() {
	db, cleanup := openExampleDB()
	defer cleanup()
	ctx := context.Background()

	if err := auditgorm.Migrate(ctx, db); err != nil { // creates auditlog_entries
		fmt.Println(err)
		return
	}
	reg := auditlog.NewRegistry() // or auditlog.DefaultRegistry with auditlog.Register
	if err := db.Use(auditgorm.New(auditgorm.Config{Registry: reg})); err != nil {
		fmt.Println(err)
		return
	}
	_ = db.AutoMigrate(&Product{})
	if err := reg.Register(&Product{}); err != nil {
		fmt.Println(err)
		return
	}

	ctx = auditlog.WithActor(ctx, auditlog.Actor{ID: "7", Name: "alice"})
	p := Product{Name: "Lamp", Price: 30}
	db.WithContext(ctx).Create(&p)
	db.WithContext(ctx).Model(&p).Update("price", 25)
	db.WithContext(ctx).Delete(&p)

	page, err := auditgorm.History(ctx, db, &p, auditstore.Page{Limit: 10})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range page.Entries {
		fmt.Printf("%s by %s: %s\n", e.String(), e.ActorName, e.Changes)
	}
	// Output:
	// Deleted Lamp by alice: id: 1 → null; name: "Lamp" → null; price: 25 → null
	// Updated Lamp by alice: price: 30 → 25
	// Created Lamp by alice: id: null → 1; name: null → "Lamp"; price: null → 30
}

// Raw SQL is invisible to GORM's callbacks: log it by hand, in the same
// transaction.
func ExampleLog() {
	db, cleanup := openExampleDB()
	defer cleanup()
	ctx := context.Background()
	_ = auditgorm.Migrate(ctx, db)
	_ = db.Use(auditgorm.New(auditgorm.Config{Registry: auditlog.NewRegistry()}))
	_ = db.AutoMigrate(&Product{})
	db.Create(&Product{Name: "Desk", Price: 100})

	err := db.Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("UPDATE products SET price = price * 2").Error; err != nil {
			return err
		}
		change, err := auditlog.NewChange(100, 200)
		if err != nil {
			return err
		}
		return auditgorm.Log(ctx, tx, auditgorm.Record{
			Action: auditlog.ActionUpdate, Model: "products", PK: "1",
			Changes: auditlog.Changes{"price": change},
		})
	})
	fmt.Println(err)
	res, _ := auditgorm.ModelHistory(ctx, db, &Product{}, auditstore.Page{})
	fmt.Println(res.Entries[0].String(), res.Entries[0].Changes)
	// Output:
	// <nil>
	// Updated products(1) price: 100 → 200
}

// Access entries record reads that must leave a trace.
func ExampleLogAccess() {
	db, cleanup := openExampleDB()
	defer cleanup()
	ctx := auditlog.WithActor(context.Background(), auditlog.Actor{ID: "9", Name: "auditor"})
	_ = auditgorm.Migrate(ctx, db)
	_ = db.AutoMigrate(&Product{})
	p := Product{Name: "Safe", Price: 1}
	db.Create(&p)

	if err := auditgorm.LogAccess(ctx, db, &p); err != nil {
		fmt.Println(err)
	}
	res, _ := auditgorm.History(ctx, db, &p, auditstore.Page{})
	fmt.Println(res.Entries[0].String(), "by", res.Entries[0].ActorName)
	// Output: Logged Safe by auditor
}

// An object's history can be merged with its related objects': here an
// order's entries with its lines', newest first.
func ExampleHistoryOf() {
	db, cleanup := openExampleDB()
	defer cleanup()
	ctx := context.Background()
	_ = auditgorm.Migrate(ctx, db)
	reg := auditlog.NewRegistry()
	_ = db.Use(auditgorm.New(auditgorm.Config{Registry: reg}))
	_ = db.AutoMigrate(&Product{})
	_ = reg.Register(&Product{})

	lamp, desk, other := Product{Name: "Lamp", Price: 30}, Product{Name: "Desk", Price: 100}, Product{Name: "Chair", Price: 50}
	db.Create(&lamp)
	db.Create(&desk)
	db.Create(&other)
	db.Model(&lamp).Update("price", 25)

	page, err := auditgorm.HistoryOf(ctx, db, []any{&lamp, &desk}, auditstore.Page{Limit: 10})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range page.Entries {
		fmt.Println(e.String())
	}
	// Output:
	// Updated Lamp
	// Created Desk
	// Created Lamp
}

// What did the object look like at a moment? AsOf rebuilds it from its
// entries and says which fields the entries cannot tell.
func ExampleAsOf() {
	db, cleanup := openExampleDB()
	defer cleanup()
	ctx := context.Background()
	_ = auditgorm.Migrate(ctx, db)
	reg := auditlog.NewRegistry()
	_ = db.Use(auditgorm.New(auditgorm.Config{Registry: reg}))
	_ = db.AutoMigrate(&Product{})
	_ = reg.Register(&Product{})

	p := Product{Name: "Lamp", Price: 30}
	db.Create(&p)
	time.Sleep(time.Millisecond)
	then := time.Now()
	time.Sleep(time.Millisecond)
	db.Model(&p).Updates(map[string]any{"name": "Desk lamp", "price": 25})

	old := Product{ID: p.ID}
	state, err := auditgorm.AsOf(ctx, db, &old, then)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s cost %d; unknown: %v\n", old.Name, old.Price, state.Unknown)

	timeline, _ := auditgorm.Timeline(ctx, db, &p)
	for _, s := range timeline {
		fmt.Println(string(s.Values["name"]), string(s.Values["price"]))
	}
	// Output:
	// Lamp cost 30; unknown: map[]
	// "Lamp" 30
	// "Desk lamp" 25
}

// Undo one change, as an audited write of its own. A field changed since
// the entry makes Revert refuse (RevertOptions.Force overrides).
func ExampleRevert() {
	db, cleanup := openExampleDB()
	defer cleanup()
	ctx := context.Background()
	_ = auditgorm.Migrate(ctx, db)
	reg := auditlog.NewRegistry()
	_ = db.Use(auditgorm.New(auditgorm.Config{Registry: reg}))
	_ = db.AutoMigrate(&Product{})
	_ = reg.Register(&Product{})

	p := Product{Name: "Lamp", Price: 30}
	db.Create(&p)
	db.Model(&p).Update("price", 3) // a typo
	page, _ := auditgorm.History(ctx, db, &p, auditstore.Page{Limit: 1})

	if err := auditgorm.Revert(ctx, db, page.Entries[0].ID, auditgorm.RevertOptions{}); err != nil {
		fmt.Println(err)
		return
	}
	var now Product
	db.First(&now, p.ID)
	page, _ = auditgorm.History(ctx, db, &p, auditstore.Page{Limit: 1})
	fmt.Println(now.Price, page.Entries[0].Changes, string(page.Entries[0].AdditionalData))
	// Output: 30 price: 3 → 30 {"reverted_entry":2}
}

// statementPrinter prints what the plugin reports of each audited
// statement; a real implementation would feed traces or metrics (package
// auditotel does).
type statementPrinter struct{}

func (statementPrinter) StatementStart(ctx context.Context, info auditgorm.StatementStartInfo) context.Context {
	return ctx
}

func (statementPrinter) StatementEnd(_ context.Context, info auditgorm.StatementEndInfo) {
	fmt.Printf("%s %s: path %s, %d entries, %d extra statements, failed %v\n",
		info.Action, info.Model, info.Path, info.Entries, info.ExtraStatements, info.Err != nil)
}

// Hooks observe each audited statement: how it was captured, the entries it
// wrote and the statements auditing added.
func ExampleHooks() {
	db, cleanup := openExampleDB()
	defer cleanup()
	ctx := context.Background()
	_ = auditgorm.Migrate(ctx, db)
	reg := auditlog.NewRegistry()
	if err := db.Use(auditgorm.New(auditgorm.Config{Registry: reg, Hooks: statementPrinter{}})); err != nil {
		fmt.Println(err)
		return
	}
	_ = db.AutoMigrate(&Product{})
	_ = reg.Register(&Product{})

	// The first write of a table on SQLite reads its definition too.
	db.Create(&[]Product{{ID: 1, Name: "Lamp", Price: 30}, {ID: 2, Name: "Desk", Price: 100}})
	db.Model(&Product{}).Where("price < ?", 50).Update("price", 25)
	db.Create(&Product{ID: 1, Name: "Lamp again"}) // the key exists
	// Output:
	// create products: path returning, 2 entries, 2 extra statements, failed false
	// update products: path returning, 1 entries, 2 extra statements, failed false
	// create products: path returning, 0 entries, 0 extra statements, failed true
}

// The key text by which entries name an object, here of a composite key
// whose card number is masked.
func ExampleObjectKey() {
	dir, _ := os.MkdirTemp("", "objectkey")
	defer os.RemoveAll(dir)
	db, err := gorm.Open(gormlite.Open("file:"+filepath.Join(dir, "app.db")+"?_pragma=busy_timeout(10000)"), &gorm.Config{})
	if err != nil {
		panic(err)
	}
	reg := auditlog.NewRegistry()
	type Payment struct {
		Card string `gorm:"primaryKey"`
		Seq  int    `gorm:"primaryKey"`
	}
	if err := reg.Register(&Payment{}, auditlog.Mask("Card")); err != nil {
		panic(err)
	}
	if err := db.Use(auditgorm.New(auditgorm.Config{Registry: reg})); err != nil {
		panic(err)
	}
	key, err := auditgorm.ObjectKey(db, &Payment{}, []any{"4111111111111111", 3})
	fmt.Println(key, err)
	// Output: ["************1111",3] <nil>
}
