package auditcli

import (
	"slices"
	"strings"
	"testing"
)

// secretsIn finds the passwords of every DSN form, parsed or not, and
// takes nothing from arguments that are not DSNs, so messages are not
// garbled by replacing ordinary text.
func TestSecretsIn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--db", "postgres://u:p%40ss@h/db"}, []string{"p@ss", "p%40ss"}},
		{[]string{"--db=postgresql://h/db?sslpassword=k3y&password=pw1"}, []string{"k3y", "pw1"}},
		{[]string{"--db", "postgres://u:unparsable@[h/db?application_name=a:b@c"}, []string{"unparsable"}},
		{[]string{"host=h password='a b\\'c' sslpassword=z9"}, []string{"a b'c", `a b\'c`, "z9"}},
		{[]string{"host=h password='open"}, []string{"open"}},
		{[]string{"host=h PassWord = spaced db_password=x7"}, []string{"spaced", "x7"}},
		// Backslash-escaped spaces: as written, as read, and each piece,
		// since a driver's message may cut the value at a space.
		{[]string{`host=h port=x password=a\ Secret99xyz`}, []string{`a\ Secret99xyz`, "a Secret99xyz", `a\`, "Secret99xyz"}},
		{[]string{`host=h password = p\ass\ word\ Secret99xyz`}, []string{`p\ass\ word\ Secret99xyz`, "pass word Secret99xyz", `p\ass\`, `word\`, "Secret99xyz"}},
		{[]string{`host=h password='a\' b\\ Secret99xyz'`}, []string{`a\' b\\ Secret99xyz`, "a' b\\ Secret99xyz", "Secret99xyz", `a\'`}},
		{[]string{"u:pw2@tcp(h:3306)/db?timeout=1s"}, []string{"pw2"}},
		{[]string{"u:pw3@tcp(h:3306/db"}, []string{"pw3"}},
		{[]string{"serve", "--basic-auth", "auditor:correct-horse"}, []string{"correct-horse"}},
		{[]string{"serve", "--basic-auth=auditor:battery-staple"}, []string{"battery-staple"}},
		// The MySQL driver's form without an address (its default, the
		// local server's port 3306), also with a one-letter user.
		{[]string{"--db", "u:pw4@/db"}, []string{"pw4"}},
		{[]string{"--db=root:pw5@/db?timeout=1s"}, []string{"pw5"}},
		{[]string{"root:pw6@unix(/run/mysqld/mysqld.sock)/db"}, []string{"pw6"}},
		// A list of NATS servers: every server's password.
		{[]string{"--witness", "nats://user:secretpw@127.0.0.1:4222,nats://u2:otherpw12@127.0.0.1:4298"}, []string{"secretpw", "otherpw12"}},
		// A private key, wherever it is pasted: a misplaced argument, a
		// flag's value.
		{[]string{"seal", "--db", "a.db", "PRIVATE+KEY+example.com/audit+1a2b3c4d+AaBbCc"}, []string{"PRIVATE+KEY+example.com/audit+1a2b3c4d+AaBbCc"}},
		{[]string{"seal", "--interval=PRIVATE+KEY+x+1a2b3c4d+Zz9"}, []string{"PRIVATE+KEY+x+1a2b3c4d+Zz9"}},
		{[]string{"seal", "--interval", "key PRIVATE+KEY+x+1a2b3c4d+Yy8 pasted"}, []string{"PRIVATE+KEY+x+1a2b3c4d+Yy8"}},
		// In a URL's query, before another parameter, and escaped: the key
		// data alone too, so that a message that re-encodes it hides it.
		{[]string{"--db", "postgres://u@h/db?application_name=PRIVATE+KEY+e.com/a+1a2b3c4d+AbCdEfGhIjKlMnOp+q/r=&connect_timeout=1"},
			[]string{"PRIVATE+KEY+e.com/a+1a2b3c4d+AbCdEfGhIjKlMnOp+q/r=", "AbCdEfGhIjKlMnOp+q/r=", "AbCdEfGhIjKlMnOp q/r="}},
		{[]string{"--db", "postgres://u@h/db?application_name=PRIVATE%2BKEY%2Be.com/a%2B1a2b3c4d%2BAbCdEfGhIjKlMnOp%2Bq/r=&x=1"},
			[]string{"PRIVATE%2BKEY%2Be.com/a%2B1a2b3c4d%2BAbCdEfGhIjKlMnOp%2Bq/r=", "AbCdEfGhIjKlMnOp+q/r="}},
		// SQLite encryption keys and authentication passwords, in the
		// file: and sqlite: forms, quoted, escaped or cut short.
		{[]string{"--db", "file:/tmp/a.db?_pragma=textkey('pwGs3cret')"}, []string{"pwGs3cret"}},
		{[]string{"--db", "file:/tmp/a.db?_pragma=textkey('pwGs3cret"}, []string{"pwGs3cret"}},
		{[]string{"--db", "sqlite:/tmp/a.db?_pragma=key(%22k3y%20word%22)&_pragma=busy_timeout(1)"}, []string{"k3y word"}},
		{[]string{"--db=sqlite:file:/tmp/a.db?_auth_pass=pwAuth9&_auth_user=u"}, []string{"pwAuth9"}},
		{[]string{"--db", "file:/tmp/a.db?_pragma=hexkey=%27a1b2c3d4%27"}, []string{"a1b2c3d4"}},
		{[]string{"--db", "file:/tmp/a.db?_pragma_key=x9y8z7&_pragma=rekey(\"n3w\")"}, []string{"x9y8z7", "n3w"}},
		{[]string{"--db", "file:/tmp/a.db?_pragma=key('a;b-s3cret')"}, []string{"a;b-s3cret"}},
	} {
		got := secretsIn(tc.args)
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("%q: %q not found in %q", tc.args, w, got)
			}
		}
	}
	for _, args := range [][]string{
		{"flush", "--model", "bypass=1"},
		{"history", "--db", "app.db", "user:x@y", "1"},
		{"export", "--search", "compass=north"},
		{"--db", "postgres://h/db?application_name=a:b@c"},
		{"history", "--db", "app.db", "books", "a:b@c.d"},
		{"history", "--db", "sqlite:backup:1@/tmp/x.db", "books", "1"},
		{"history", "--db", "file:/tmp/a.db?_pragma=busy_timeout(5000)&_txlock=immediate", "books", "1"},
	} {
		if got := secretsIn(args); len(got) != 0 {
			t.Errorf("%q: found secrets %q", args, got)
		}
	}
}

// The MySQL driver's form is told from a file path: with a protocol and
// address, or without them only with a password.
func TestIsMySQLDriverForm(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"u:pw@tcp(h:3306)/db": true, "u:pw@/db": true, "root:p@ss/w@/db?x=1": true, "u@unix(/run/s)/db": true,
		"snapshots@/app.db": false, "icon@2x(1)/app.db": false, "sqlite:a:b@/c.db": false, "./a:b@/c.db": false,
		"dir/a:b@/c.db": false, "a:b@c.db": false, "app.user:pw@/db": true, "app.db": false, "mysql://u:p@h/db": false, ":p@/db": false,
	} {
		if got := isMySQLDriverForm(s); got != want {
			t.Errorf("isMySQLDriverForm(%q) = %v, want %v", s, got, want)
		}
	}
}

// A password shorter than eight characters is hidden where it stands as a
// word of its own (in a DSN, quoted, between spaces), not inside other
// words: a one-letter password must not turn every message into noise.
// Longer secrets are hidden wherever they occur.
func TestRedactShortSecrets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		secret, in, want string
	}{
		{"a", "auditlog: cannot connect to postgres://u:a@h/db: refused", "auditlog: cannot connect to postgres://u:xxxxx@h/db: refused"},
		{"a", `password "a" rejected`, `password "xxxxx" rejected`},
		{"a", "a", "xxxxx"},
		{"pw", "user:pw@tcp(h:3306)/db", "user:xxxxx@tcp(h:3306)/db"},
		{"pw", "pw", "xxxxx"},
		{"pass", "password authentication failed; pass=pass", "password authentication failed; xxxxx=xxxxx"},
		{"é", "café é", "café xxxxx"},
		{"a!", "xa!y a!", "xa!y xxxxx"},
		{"!a", "x!ay !a", "x!ay xxxxx"},
		{"x", "x", "xxxxx"},
		{"longsecret", "xlongsecretx", "xxxxxxx"},
		{"s3cr3t12", "as3cr3t12b", "axxxxxb"},
	} {
		if got := newRedactor([]string{tc.secret}).redact(tc.in); got != tc.want {
			t.Errorf("secret %q in %q: got %q, want %q", tc.secret, tc.in, got, tc.want)
		}
	}
}

// The PostgreSQL driver masks a keyword/value password up to its first
// space only; the rest of a password with escaped spaces is hidden by the
// redactor, whatever the driver's message shows of it.
func TestRedactEscapedSpacePassword(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		dsn, msg, leak string
	}{
		{`host=h port=bogus password=a\ Secret99xyz`, "cannot parse `host=h port=bogus password=xxxxx Secret99xyz`: invalid port", "Secret99xyz"},
		{`host=h password = a\ Secret99xyz`, "cannot parse `host=h password = a\\ Secret99xyz`", "Secret99xyz"},
		{`host=h sslmode=bogus password=p\ass\ word\ Secret99xyz`, "cannot parse `host=h sslmode=bogus password=xxxxx word\\ Secret99xyz`", "word\\"},
		{`host=h sslmode=bogus password=p\ass\ word\ Secret99xyz`, "password=pass word Secret99xyz", "=pass"},
	} {
		got := newRedactor(secretsIn([]string{"--db", tc.dsn})).redact(tc.msg)
		if strings.Contains(got, tc.leak) {
			t.Errorf("%q: %q shows %q", tc.dsn, got, tc.leak)
		}
	}
}

// The pieces of a password with escaped spaces are hidden only where they
// are long enough to be the password's: "to", "1" and "connect" are words
// of every connection message.
func TestPasswordPiecesKeepMessagesReadable(t *testing.T) {
	t.Parallel()
	r := newRedactor(secretsIn([]string{"export", "--db", `host=127.0.0.1 port=1 user=u password=to\ 1\ connect dbname=d`}))
	msg := "auditlog export: cannot connect to host=127.0.0.1 port=1: dial tcp 127.0.0.1:1: connection refused"
	if got := r.redact(msg); got != msg {
		t.Fatalf("garbled:\n%s", got)
	}
	if got := r.redact(`password=to\ 1\ connect and to 1 connect`); strings.Contains(got, "to 1 connect") || strings.Contains(got, `to\ 1\ connect`) {
		t.Fatalf("not hidden: %s", got)
	}
}
