package sqlitedriver

import (
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
	if _, err := Lookup(Mattn); err == nil || !strings.Contains(err.Error(), "-tags "+MattnTag) {
		t.Errorf("mattn not linked: %v", err)
	}
}
