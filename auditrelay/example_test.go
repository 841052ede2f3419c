//go:build !auditlog_mattn

// The example opens SQLite with the default driver, ncruces, which a test
// binary built with -tags auditlog_mattn cannot hold beside mattn.

package auditrelay_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver" // database/sql driver "sqlite3"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditrelay"
	"github.com/go-auditlog/auditlog/auditstore"
)

// Publish the committed entries of a database as JSON Lines on stdout; a
// second relay of the same name continues where the first stopped.
// auditnats.ConnectSink publishes to NATS JetStream instead.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "auditrelay")
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite3", filepath.Join(dir, "audit.db"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	if err := auditstore.Migrate(ctx, db, auditstore.SQLite); err != nil {
		panic(err)
	}
	store, _ := auditstore.New(db, auditstore.SQLite)
	at := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	_ = store.Insert(ctx, []auditlog.Entry{{Timestamp: at, Action: auditlog.ActionCreate, Model: "books", ObjectPK: "1", ObjectRepr: "Dune"}})

	r, _ := auditrelay.New(db, auditstore.SQLite, auditrelay.NewJSONL(os.Stdout, "jsonl:stdout"))
	n, err := r.CatchUp(ctx) // or go r.Run(ctx, time.Second)
	if err != nil {
		panic(err)
	}
	fmt.Println("published", n)

	_ = store.Insert(ctx, []auditlog.Entry{{Timestamp: at.Add(time.Hour), Action: auditlog.ActionDelete, Model: "books", ObjectPK: "1", ObjectRepr: "Dune"}})
	again, _ := auditrelay.New(db, auditstore.SQLite, auditrelay.NewJSONL(os.Stdout, "jsonl:stdout"))
	n, _ = again.CatchUp(ctx)
	fmt.Println("published", n)
	lag, _ := again.Lag(ctx)
	fmt.Println("waiting", lag.Entries, "published in all", lag.Published)
	// Output:
	// {"id":1,"timestamp":"2026-12-05T09:00:00Z","action":"create","model":"books","object_pk":"1","object_id":null,"object_repr":"Dune","changes":null}
	// published 1
	// {"id":2,"timestamp":"2026-12-05T10:00:00Z","action":"delete","model":"books","object_pk":"1","object_id":null,"object_repr":"Dune","changes":null}
	// published 1
	// waiting 0 published in all 2
}
