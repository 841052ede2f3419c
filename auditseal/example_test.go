//go:build !auditlog_mattn

// The example opens SQLite with the default driver, ncruces, which a test
// binary built with -tags auditlog_mattn cannot hold beside mattn.

package auditseal_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

	_ "github.com/ncruces/go-sqlite3/driver" // database/sql driver "sqlite3"
	"golang.org/x/mod/sumdb/note"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditseal"
	"github.com/go-auditlog/auditlog/auditstore"
)

// Seal the entries of a database, then verify them.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "auditseal")
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
	_ = store.Insert(ctx, []auditlog.Entry{{Action: auditlog.ActionCreate, Model: "books", ObjectPK: "1", ObjectRepr: "Dune"}})

	// The signing key stays with the sealer; the verifier key is public.
	skey, vkey, _ := note.GenerateKey(rand.Reader, "example.com/audit")
	signer, _ := note.NewSigner(skey)
	sealer, _ := auditseal.New(db, auditstore.SQLite, signer, "example.com/audit")
	r, err := sealer.Round(ctx) // or go sealer.Run(ctx, time.Second, onError)
	if err != nil {
		panic(err)
	}
	fmt.Println("sealed", r.Sealed, "entries; tree size", r.Size)

	verifier, _ := note.NewVerifier(vkey)
	rep, err := auditseal.Verify(ctx, db, auditstore.SQLite, auditseal.VerifyOptions{Origin: "example.com/audit", Verifier: verifier})
	if err != nil {
		panic(err)
	}
	fmt.Println("intact:", rep.OK())

	_, _ = db.Exec("UPDATE auditlog_entries SET object_repr = 'Dune Messiah' WHERE id = 1")
	rep, _ = auditseal.Verify(ctx, db, auditstore.SQLite, auditseal.VerifyOptions{Origin: "example.com/audit", Verifier: verifier})
	for _, p := range rep.Problems {
		fmt.Println(p)
	}
	// Output:
	// sealed 1 entries; tree size 1
	// intact: true
	// entry modified: entry 1 (leaf 0)
}
