package sqlitedriver

import (
	"testing"

	_ "github.com/glebarez/go-sqlite" // an application's own database/sql driver, as "sqlite"
)

// A program that embeds the command without its driver (this test binary
// registers none with this package) gets the SQLite driver it linked into
// database/sql itself, with that driver's DSN settings.
func TestLinkedDriverFindsTheApplicationsDriver(t *testing.T) {
	if _, err := Lookup(""); err == nil {
		t.Skip("the default driver is registered in this binary")
	}
	d, err := LinkedDriver()
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != Glebarez || d.SQLName != "sqlite" || d.Dialector != nil {
		t.Fatalf("found %+v, want glebarez as database/sql's \"sqlite\"", d)
	}
	db, err := d.OpenSQL(d.DSN(t.TempDir() + "/app.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, err := Version(db); err != nil || v == "" {
		t.Fatalf("version %q: %v", v, err)
	}
}
