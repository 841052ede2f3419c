package auditcli_test

import (
	"bytes"
	"context"
	osuser "os/user"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditcli"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/auditstore"
)

// Gadget is the model the revert command writes through.
type Gadget struct {
	ID    uint
	Name  string `gorm:"size:32"`
	Price int
}

func TestRevertCommand(t *testing.T) {
	t.Parallel()
	db, dsn := openGadgets(t)

	g := Gadget{Name: "lamp", Price: 30}
	must(t, db.Create(&g).Error)
	job := db.WithContext(auditlog.WithCorrelationID(context.Background(), "job-7"))
	must(t, job.Model(&g).Update("price", 3).Error)
	must(t, job.Model(&g).Update("name", "LAMP").Error)
	count := func() int64 {
		var n int64
		must(t, db.Table("auditlog_entries").Count(&n).Error)
		return n
	}
	price := func() Gadget {
		var got Gadget
		must(t, db.First(&got, g.ID).Error)
		return got
	}
	revert := func(stdin string, terminal, withModels bool, args ...string) result {
		var out, errb bytes.Buffer
		env := auditcli.Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, StdinTerminal: terminal,
			Now:    func() time.Time { return time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC) },
			Getenv: func(k string) string { return map[string]string{"USER": "tester"}[k] }}
		if withModels {
			env.OpenGORM = func(context.Context, auditcli.Target) (*gorm.DB, error) { return db, nil }
		}
		code := auditcli.Run(context.Background(), append([]string{"revert", "--db", dsn}, args...), env)
		return result{code, out.String(), errb.String()}
	}
	must(t, db.Model(&g).Update("price", 4).Error) // outside the job, after it
	before := count()
	for _, c := range []struct {
		name             string
		stdin            string
		terminal, models bool
		args             []string
		code             int
		want             string
	}{
		{"no models", "", true, false, []string{"2"}, 1, "needs the application's models"},
		{"no terminal", "", false, true, []string{"2"}, 1, "stdin is not a terminal"},
		{"answered no", "n\n", true, true, []string{"2"}, 1, "aborted; nothing was written"},
		{"both", "", true, true, []string{"--cid", "job-7", "2"}, 2, "give one ENTRY_ID or --cid"},
		{"not a number", "", true, true, []string{"x"}, 2, "positive whole number"},
		{"no such entry", "", true, true, []string{"--yes", "99"}, 1, "99"},
		{"no such job", "", true, true, []string{"--yes", "--cid", "nope"}, 1, "no entries with correlation id"},
		{"conflict", "", true, true, []string{"--yes", "2"}, 1, "revert refused"}, // price changed since
		{"job conflict", "", true, true, []string{"--yes", "--cid", "job-7"}, 1, "revert refused"},
	} {
		r := revert(c.stdin, c.terminal, c.models, c.args...)
		if r.code != c.code || !strings.Contains(r.stdout+r.stderr, c.want) {
			t.Fatalf("%s: exit %d, want %d with %q:\n%s%s", c.name, r.code, c.code, c.want, r.stdout, r.stderr)
		}
	}
	if n := count(); n != before {
		t.Fatalf("refused reverts wrote %d entries", n-before)
	}
	if got := price(); got.Price != 4 || got.Name != "LAMP" {
		t.Fatalf("refused reverts changed the row: %+v", got)
	}
	// The whole job, forced and confirmed on the terminal: both changes
	// undone.
	r := revert("y\n", true, true, "--force", "--cid", "job-7")
	if r.code != 0 || !strings.Contains(r.stdout, "Undo 2 entries of correlation id job-7") || !strings.Contains(r.stdout, "Reverted 2 entries") {
		t.Fatalf("job revert: %+v", r)
	}
	if got := price(); got.Price != 30 || got.Name != "lamp" {
		t.Fatalf("after the job revert: %+v", got)
	}
	// The operator is the process's user, not the USER variable (which
	// the test sets to "tester", as anyone may).
	me, err := osuser.Current()
	must(t, err)
	var last auditlog.Entry
	es, err := auditgorm.History(context.Background(), db, &g, auditstore.Page{Limit: 1})
	must(t, err)
	last = es.Entries[0]
	if n := count(); n != before+2 || last.ActorID != "cli:"+me.Username || !strings.Contains(string(last.AdditionalData), `"reverted_correlation":"job-7"`) {
		t.Fatalf("%d new entries; the last: %+v", count()-before, last)
	}
}

// revert --cid refuses a correlation id whose entries name several actors
// (a client can send another request's id), writing nothing.
func TestRevertCommandRefusesACorrelationIDOfSeveralActors(t *testing.T) {
	t.Parallel()
	db, dsn := openGadgets(t)
	ctx := auditlog.WithCorrelationID(context.Background(), "req-shared")
	g := Gadget{Name: "lamp", Price: 30}
	must(t, db.WithContext(auditlog.WithActor(ctx, auditlog.Actor{ID: "victim"})).Create(&g).Error)
	must(t, db.WithContext(auditlog.WithActor(ctx, auditlog.Actor{ID: "attacker"})).Create(&Gadget{Name: "x", Price: 1}).Error)
	var out, errb bytes.Buffer
	env := auditcli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, StdinTerminal: true,
		Now:      func() time.Time { return time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC) },
		Getenv:   func(string) string { return "" },
		OpenGORM: func(context.Context, auditcli.Target) (*gorm.DB, error) { return db, nil }}
	code := auditcli.Run(context.Background(), []string{"revert", "--db", dsn, "--yes", "--cid", "req-shared"}, env)
	if code != 1 || !strings.Contains(errb.String(), "2 actors (attacker, victim)") || !strings.Contains(errb.String(), "nothing was written") {
		t.Errorf("exit %d:\n%s%s", code, out.String(), errb.String())
	}
	var n int64
	must(t, db.Model(&Gadget{}).Count(&n).Error)
	if n != 2 {
		t.Errorf("%d gadgets left of 2", n)
	}
}

// The plan shows each value as stored, quoted: a value that reads like
// another change ("desk; price: 30 → 3") shows as the one string it is,
// and the revert writes back the name alone.
func TestRevertPlanShowsValuesAsStored(t *testing.T) {
	t.Parallel()
	db, dsn := openGadgets(t)
	g := Gadget{Name: "LAMP", Price: 3}
	must(t, db.Create(&g).Error)
	must(t, db.Model(&g).Update("name", "desk; price: 30 → 3").Error)
	var out, errb bytes.Buffer
	env := auditcli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		OpenGORM: func(context.Context, auditcli.Target) (*gorm.DB, error) { return db, nil },
		Getenv:   func(string) string { return "" }}
	if code := auditcli.Run(context.Background(), []string{"revert", "--db", dsn, "--yes", "2"}, env); code != 0 {
		t.Fatalf("revert: exit %d: %s%s", code, out.String(), errb.String())
	}
	if want := `name: "LAMP" → "desk; price: 30 → 3"`; !strings.Contains(out.String(), want) {
		t.Errorf("the plan does not show %s:\n%s", want, out.String())
	}
	var got Gadget
	must(t, db.First(&got, g.ID).Error)
	if got.Name != "LAMP" || got.Price != 3 {
		t.Errorf("after the revert: %+v", got)
	}
}
