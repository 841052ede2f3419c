// Command quickstart shows auditlog end to end on an embedded SQLite file:
// it registers a model, writes through GORM as two users and prints the
// object's history.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ncruces/go-sqlite3/gormlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/auditstore"
)

type Book struct {
	ID        uint
	Title     string
	Price     string `gorm:"type:decimal(10,2)"`
	Secret    string
	DeletedAt gorm.DeletedAt
}

func (b Book) String() string { return b.Title }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run() error {
	dir, err := os.MkdirTemp("", "auditlog-quickstart")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	db, err := gorm.Open(gormlite.Open("file:"+filepath.Join(dir, "books.db")+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate"), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		return err
	}
	ctx := context.Background()
	if err := auditgorm.Migrate(ctx, db); err != nil {
		return err
	}
	if err := db.Use(auditgorm.New(auditgorm.Config{})); err != nil {
		return err
	}
	if err := db.AutoMigrate(&Book{}); err != nil {
		return err
	}
	if err := auditlog.Register(&Book{}, auditlog.Mask("Secret")); err != nil {
		return err
	}

	alice := auditlog.WithActor(ctx, auditlog.Actor{ID: "1", Name: "alice"})
	bob := auditlog.WithActor(ctx, auditlog.Actor{ID: "2", Name: "bob"})
	book := Book{Title: "Dune", Price: "9.99", Secret: "supplier-code-42"}
	steps := []error{
		db.WithContext(alice).Create(&book).Error,
		db.WithContext(bob).Model(&book).Updates(map[string]any{"price": "12.50", "title": "Dune (hardcover)"}).Error,
		db.WithContext(alice).Delete(&book).Error,
	}
	for _, err := range steps {
		if err != nil {
			return err
		}
	}
	page, err := auditgorm.History(ctx, db, &book, auditstore.Page{Limit: 10})
	if err != nil {
		return err
	}
	fmt.Printf("History of %q (newest first):\n", book.Title)
	for _, e := range page.Entries {
		fmt.Printf("  %s  %-6s by %-5s  %s\n", e.Timestamp.Format("15:04:05.000000"), e.Action, e.ActorName, e.Changes)
	}
	return nil
}
