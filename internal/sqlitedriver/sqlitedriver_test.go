package sqlitedriver

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestDSN(t *testing.T) {
	for _, c := range []struct{ driver, want string }{
		{Glebarez, "file:/d/a.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=secure_delete(1)&_txlock=immediate"},
		{Ncruces, "file:/d/a.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=secure_delete(1)&_txlock=immediate"},
		{Mattn, "file:/d/a.db?_busy_timeout=10000&_journal_mode=WAL&_foreign_keys=1&_secure_delete=1&_synchronous=FULL&_txlock=immediate"},
	} {
		if got := DSN(c.driver, "/d/a.db", "secure_delete(1)"); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.driver, got, c.want)
		}
	}
}

func TestLookupSaysHowToBuild(t *testing.T) {
	if _, err := Lookup("nope"); err == nil || !strings.Contains(err.Error(), "glebarez, ncruces, mattn") {
		t.Errorf("unknown driver: %v", err)
	}
	other := Mattn
	if Default == Mattn {
		other = Ncruces
	}
	if _, err := Lookup(other); err == nil || !strings.Contains(err.Error(), "-tags "+MattnTag) {
		t.Errorf("%s not linked: %v", other, err)
	}
	if _, err := Lookup(Glebarez); err == nil || !strings.Contains(err.Error(), "not linked") {
		t.Errorf("glebarez not linked: %v", err)
	}
}

// The library's packages link no SQLite driver, under either set of build
// tags: an application brings its own, and any of them works.
func TestLibraryLinksNoSQLiteDriver(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	for _, tags := range []string{"", MattnTag} {
		cmd := exec.Command(goCmd, "list", "-tags", tags, "-deps", ".", "./auditgorm", "./auditstore", "./audithttp", "./auditui")
		cmd.Dir = filepath.Join("..", "..")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		for _, pkg := range strings.Fields(string(out)) {
			for _, driver := range []string{"github.com/ncruces/go-sqlite3", "github.com/mattn/go-sqlite3", "gorm.io/driver/sqlite", "github.com/glebarez/", "modernc.org/sqlite"} {
				if strings.HasPrefix(pkg, driver) {
					t.Errorf("with tags %q the library links %s", tags, pkg)
				}
			}
		}
	}
}
