package auditcli_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/go-auditlog/auditlog/auditcli"
	"github.com/go-auditlog/auditlog/auditstore"
)

// FuzzParseDSN: any --db value parses or fails with an error; a parsed one
// names a supported dialect, and a server DSN is shown only with its
// password redacted.
func FuzzParseDSN(f *testing.F) {
	for _, s := range []string{"app.db", "sqlite:/tmp/x.db", "postgres://u:pw@h:5432/db?sslmode=disable", "mysql://root:secret@127.0.0.1:3306/test?tls=false", "mysql://h", "oracle://x", "c:\\x.db", "", ":", "postgres://", "mysql://a:b@[::1]:3306/d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := auditcli.ParseDSN(s)
		if err != nil {
			return
		}
		switch tg.Dialect {
		case auditstore.SQLite, auditstore.Postgres, auditstore.MySQL:
		default:
			t.Fatalf("%q parsed to dialect %q", s, tg.Dialect)
		}
		if tg.Dialect == auditstore.SQLite {
			return
		}
		// Messages show the URL with its password replaced, and nothing else.
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || tg.Display != u.Redacted() {
			t.Fatalf("%q is shown as %q", s, tg.Display)
		}
	})
}
