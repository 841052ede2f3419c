package main

import (
	"context"
	"fmt"
	"log"

	"github.com/ncruces/go-sqlite3/gormlite"
	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/auditstore"
)

type Book struct {
	ID    uint
	Title string
	Price int
}

func main() {
	ctx := context.Background()
	db, err := gorm.Open(gormlite.Open("file:app.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate"), &gorm.Config{})
	check(err)
	check(auditgorm.Migrate(ctx, db))                // creates auditlog_entries (versioned, idempotent)
	check(db.Use(auditgorm.New(auditgorm.Config{}))) // installs the capture callbacks
	check(auditlog.Register(&Book{}))                // one line per audited model
	check(db.AutoMigrate(&Book{}))

	ctx = auditlog.WithActor(ctx, auditlog.Actor{ID: "42", Name: "alice"})
	book := Book{Title: "Dune", Price: 10}
	check(db.WithContext(ctx).Create(&book).Error)                    // create entry
	check(db.WithContext(ctx).Model(&book).Update("price", 12).Error) // update entry: {"price": [10, 12]}
	check(db.WithContext(ctx).Delete(&book).Error)                    // delete entry

	page, err := auditgorm.History(ctx, db, &book, auditstore.Page{Limit: 20}) // newest first
	check(err)
	for _, e := range page.Entries {
		fmt.Println(e.Action, e.ActorName, e.Changes) // update alice price: 10 → 12
	}
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
