//go:build !auditlog_mattn

// The example opens SQLite with the default driver, ncruces, which a test
// binary built with -tags auditlog_mattn cannot hold beside mattn.

package auditstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver" // database/sql driver "sqlite3"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
)

// exampleStore opens a throwaway SQLite database with the entries table
// migrated and three entries in it.
func exampleStore() (*auditstore.Store, func()) {
	dir, _ := os.MkdirTemp("", "auditstore-example")
	db, err := sql.Open("sqlite3", filepath.Join(dir, "app.db"))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := auditstore.Migrate(ctx, db, auditstore.SQLite); err != nil {
		panic(err)
	}
	s, err := auditstore.New(db, auditstore.SQLite)
	if err != nil {
		panic(err)
	}
	day := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	err = s.Insert(ctx, []auditlog.Entry{
		{Timestamp: day, Action: auditlog.ActionCreate, Model: "books", ObjectPK: "1", ObjectRepr: "Dune", ActorID: "1", ActorName: "alice"},
		{Timestamp: day.Add(24 * time.Hour), Action: auditlog.ActionUpdate, Model: "books", ObjectPK: "1", ObjectRepr: "Dune", ActorID: "2", ActorName: "bob"},
		{Timestamp: day.Add(48 * time.Hour), Action: auditlog.ActionCreate, Model: "authors", ObjectPK: "7", ObjectRepr: "Herbert", ActorID: "1", ActorName: "alice"},
	})
	if err != nil {
		panic(err)
	}
	return s, func() { _ = db.Close(); _ = os.RemoveAll(dir) }
}

// Migrate creates or upgrades the entries table; it is idempotent and safe
// to run from several processes at once.
func ExampleMigrate() {
	dir, _ := os.MkdirTemp("", "auditstore-example")
	defer os.RemoveAll(dir)
	db, _ := sql.Open("sqlite3", filepath.Join(dir, "app.db"))
	defer db.Close()
	ctx := context.Background()
	fmt.Println(auditstore.Migrate(ctx, db, auditstore.SQLite))
	fmt.Println(auditstore.Migrate(ctx, db, auditstore.SQLite)) // again: nothing to do
	// Output:
	// <nil>
	// <nil>
}

// List pages through entries newest first with an opaque cursor: no
// COUNT(*), no OFFSET.
func ExampleStore_List() {
	s, done := exampleStore()
	defer done()
	ctx := context.Background()
	page := auditstore.Page{Limit: 1}
	for {
		res, err := s.List(ctx, auditstore.Filter{Model: "books"}, page)
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, e := range res.Entries {
			fmt.Println(e.Timestamp.Format(time.DateOnly), e.Action, e.ObjectRepr, "by", e.ActorName)
		}
		if res.Next == "" {
			break
		}
		page.Cursor = res.Next
	}
	// Output:
	// 2026-11-02 update Dune by bob
	// 2026-11-01 create Dune by alice
}

// Each streams every matching entry in constant memory, for exports.
func ExampleStore_Each() {
	s, done := exampleStore()
	defer done()
	err := s.Each(context.Background(), auditstore.Filter{ActorID: "1"}, func(e auditlog.Entry) error {
		fmt.Println(e.Model, e.ObjectPK, e.Action)
		return nil
	})
	fmt.Println(err)
	// Output:
	// authors 7 create
	// books 1 create
	// <nil>
}

// Flush deletes the matching entries in batches, so no lock is held for
// long; Until keeps everything newer.
func ExampleStore_Flush() {
	s, done := exampleStore()
	defer done()
	ctx := context.Background()
	res, err := s.Flush(ctx, auditstore.FlushOptions{
		Filter:    auditstore.Filter{Until: time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)},
		BatchSize: 1000,
	})
	fmt.Println(res.Deleted, err)
	left, _ := s.Count(ctx, auditstore.Filter{})
	fmt.Println(left, "left")
	// Output:
	// 2 <nil>
	// 1 left
}
