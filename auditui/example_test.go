//go:build !auditlog_mattn

// The example opens SQLite with the default driver, ncruces, which a test
// binary built with -tags auditlog_mattn cannot hold beside mattn.

package auditui_test

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	_ "github.com/ncruces/go-sqlite3/driver" // database/sql driver "sqlite3"

	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/auditui"
)

// Mount the UI under /audit on a ServeMux, behind the application's own
// authentication; Authorize decides who may read the log.
func Example() {
	store, cleanup := exampleStore() // auditgorm.NewStore(db) in an application
	defer cleanup()
	ui, err := auditui.New(auditui.Config{
		Store:  store,
		Prefix: "/audit",
		Authorize: func(r *http.Request) bool {
			user, pass, ok := r.BasicAuth() // or your session's roles
			return ok && user == "auditor" && subtle.ConstantTimeCompare([]byte(pass), []byte("s3cret")) == 1
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/audit/", ui)

	for _, auth := range []bool{false, true} {
		req := httptest.NewRequest("GET", "/audit/", nil)
		if auth {
			req.SetBasicAuth("auditor", "s3cret")
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// 403
	// 200
}

// exampleStore opens a throwaway SQLite store with the entries table.
func exampleStore() (*auditstore.Store, func()) {
	dir, err := os.MkdirTemp("", "auditui-example")
	if err != nil {
		panic(err)
	}
	db, err := sql.Open("sqlite3", filepath.Join(dir, "audit.db"))
	if err != nil {
		panic(err)
	}
	if err := auditstore.Migrate(context.Background(), db, auditstore.SQLite); err != nil {
		panic(err)
	}
	s, err := auditstore.New(db, auditstore.SQLite)
	if err != nil {
		panic(err)
	}
	return s, func() { _ = db.Close(); _ = os.RemoveAll(dir) }
}
