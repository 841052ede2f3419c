package auditcli_test

import (
	"net/url"
	"strings"
	"testing"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/go-auditlog/auditlog/auditcli"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/pgdsn"
)

// FuzzParseDSN: any --db value parses or fails with an error; a parsed one
// names a supported dialect, and a server DSN is shown only with every
// password replaced by xxxxx.
func FuzzParseDSN(f *testing.F) {
	for _, s := range []string{"app.db", "sqlite:/tmp/x.db", "file:x.db?mode=ro", "postgres://u:pw@h:5432/db?sslmode=disable",
		"postgresql://h/db?password=pw&sslpassword=x", "mysql://root:secret@127.0.0.1:3306/test?tls=false", "mysql://h", "oracle://x",
		"c:\\x.db", "", ":", "postgres://", "mysql://a:b@[::1]:3306/d", "host=h user=u password='p w' dbname=d", "host = h password=",
		"root:pw@tcp(127.0.0.1:3306)/test?parseTime=true", "u:p@unix(/tmp/s)/d", "u:p@tcp(h)/", "u:pw@/db", "root:p/w@/d?timeout=1s", "sqlite:a:b@/c.db", "u:p@/tmp/x.db"} {
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
		redacted := func(v string) bool { return v == "" || v == "xxxxx" }
		switch d := tg.Display; {
		case pgdsn.IsKeywordForm(d):
			settings, err := pgdsn.ParseKeywords(d)
			if err != nil {
				t.Fatalf("%q is shown as %q, which does not parse: %v", s, d, err)
			}
			for _, st := range settings {
				if pgdsn.IsSecretKey(st.Key) && !redacted(st.Value) {
					t.Fatalf("%q is shown as %q", s, d)
				}
			}
		case strings.Contains(d, "://"):
			u, err := url.Parse(d)
			if err != nil {
				t.Fatalf("%q is shown as %q, which does not parse: %v", s, d, err)
			}
			if pw, _ := u.User.Password(); !redacted(pw) {
				t.Fatalf("%q is shown as %q", s, d)
			}
			for k, vs := range u.Query() {
				if pgdsn.IsSecretKey(k) && !redacted(vs[0]) {
					t.Fatalf("%q is shown as %q", s, d)
				}
			}
		default:
			cfg, err := mysqldrv.ParseDSN(d)
			if err != nil || !redacted(cfg.Passwd) {
				t.Fatalf("%q is shown as %q (%v)", s, d, err)
			}
			for k, v := range cfg.Params {
				if pgdsn.IsSecretKey(k) && !redacted(v) {
					t.Fatalf("%q is shown as %q", s, d)
				}
			}
		}
	})
}
