package auditcli_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-auditlog/auditlog/auditcli"
)

func runWithEnv(vars map[string]string, args ...string) result {
	var out, errb bytes.Buffer
	env := auditcli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return vars[k] }}
	code := auditcli.Run(context.Background(), args, env)
	return result{code, out.String(), errb.String()}
}

// A DSN's password on the command line is visible to every local user
// while the command runs (ps), for as long as a relay or a sealer runs:
// --db env:NAME takes the DSN from the environment, its password shown
// nowhere, and the long-running commands warn of one given as an
// argument.
func TestDBFromTheEnvironment(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "app.db")
	vars := map[string]string{"APP_DB": path, "PG_DB": "postgres://u:Pa55w0rd-xyz@127.0.0.1:1/x?connect_timeout=1", "EMPTY": " ", "NATS": "nats://relay:Pa55w0rd-xyz@127.0.0.1:1"}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"migrate", "--db", "env:APP_DB"}, 0, "auditlog_entries is at version"},
		{[]string{"history", "--db=env:APP_DB", "books", "1"}, 0, ""},
		{[]string{"export", "--db", "env:NOPE"}, 2, "the environment variable it names is not set"},
		{[]string{"export", "--db", "env:EMPTY"}, 2, "the environment variable it names is not set"},
		{[]string{"export", "--db", "env:PG_DB"}, 1, "xxxxx"},
		{[]string{"relay", "--db", "postgres://u:Pa55w0rd-xyz@127.0.0.1:1/x?connect_timeout=1", "--to", "-", "--once"}, 1, "warning: the credentials in --db are visible"},
		{[]string{"relay", "--db", "env:APP_DB", "--nats", "nats://relay:Pa55w0rd-xyz@127.0.0.1:1", "--once"}, 1, "warning: the credentials in --nats are visible"},
		{[]string{"relay", "--db", "env:APP_DB", "--nats=env:NATS", "--once"}, 1, "127.0.0.1:1"},
		{[]string{"relay", "--db", "env:PG_DB", "--to", "-", "--once"}, 1, "cannot connect"},
		{[]string{"history", "--db", "env:APP_DB", "--", "--db", "env:NOPE"}, 0, ""},
	} {
		r := runWithEnv(vars, c.args...)
		if r.code != c.code || !strings.Contains(r.stdout+r.stderr, c.want) || strings.Contains(r.stdout+r.stderr, "Pa55w0rd") || strings.Contains(r.stderr, "NOPE") {
			t.Errorf("%q: %+v", c.args, r)
		}
		if strings.Contains(r.stderr, "auditlog xxxxx") {
			t.Errorf("%q: the command's name hidden: %s", c.args, r.stderr)
		}
		if !strings.Contains(c.want, "warning") && strings.Contains(r.stderr, "warning") {
			t.Errorf("%q warned of a DSN from the environment: %s", c.args, r.stderr)
		}
	}
}
