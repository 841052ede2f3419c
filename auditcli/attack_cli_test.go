package auditcli_test

// Attacks on `auditlog history --as-of` and `auditlog revert`.
// Hostile and edge cases: output that must stay escaped, confirmation that
// must hold, a plan that must say what is written.

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditcli"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// revertFixture is an application database with one audited Gadget whose
// price and name a job (correlation id job-7) changed.
type revertFixture struct {
	db  *gorm.DB
	dsn string
	g   Gadget
}

// openGadgets opens an SQLite database of audited gadgets, and returns it
// with its --db value.
func openGadgets(t *testing.T) (*gorm.DB, string) {
	t.Helper()
	db := testdb.Open(t, "sqlite")
	reg := auditlog.NewRegistry()
	must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg})))
	must(t, db.AutoMigrate(&Gadget{}))
	must(t, reg.Register(&Gadget{}))
	var files []struct {
		Seq        int
		Name, File string
	}
	must(t, db.Raw("PRAGMA database_list").Scan(&files).Error)
	return db, "sqlite:" + files[0].File
}

func newRevertFixture(t *testing.T) *revertFixture {
	t.Helper()
	db, dsn := openGadgets(t)
	f := &revertFixture{db: db, dsn: dsn}
	f.g = Gadget{Name: "lamp", Price: 30}
	must(t, db.Create(&f.g).Error)
	job := db.WithContext(auditlog.WithCorrelationID(context.Background(), "job-7"))
	must(t, job.Model(&f.g).Update("price", 3).Error)
	must(t, job.Model(&f.g).Update("name", "LAMP").Error)
	return f
}

func (f *revertFixture) run(stdin io.Reader, terminal, withModels bool, args ...string) result {
	var out, errb bytes.Buffer
	env := auditcli.Env{Stdin: stdin, Stdout: &out, Stderr: &errb, StdinTerminal: terminal,
		Now:    func() time.Time { return time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC) },
		Getenv: func(k string) string { return map[string]string{"USER": "tester"}[k] }}
	if withModels {
		env.OpenGORM = func(context.Context, auditcli.Target) (*gorm.DB, error) { return f.db, nil }
	}
	code := auditcli.Run(context.Background(), append([]string{"revert", "--db", f.dsn}, args...), env)
	return result{code, out.String(), errb.String()}
}

func (f *revertFixture) gadget(t *testing.T) Gadget {
	t.Helper()
	var got Gadget
	must(t, f.db.First(&got, f.g.ID).Error)
	return got
}

// --- regressions -----------------------------------------------------------

// revert --cid shows the entries of the correlation id and asks "Undo 2
// entries of correlation id job-7?", but auditgorm.RevertCorrelation reads
// the correlation's entries again when it runs: an entry the job wrote
// while the question waited is undone too, without being shown or
// confirmed, and the command still reports "Reverted 2 entries". flush
// pins what it deletes to what was confirmed (TestFlushDeletesWhatWasConfirmed);
// revert does not.
func TestAttackCLIRevertCorrelationUndoesOnlyWhatWasConfirmed(t *testing.T) {
	t.Parallel()
	f := newRevertFixture(t)
	stdin := &hookReader{r: strings.NewReader("y\n"), hook: func() {
		// The job, still running, writes one more change meanwhile.
		job := f.db.WithContext(auditlog.WithCorrelationID(context.Background(), "job-7"))
		if err := job.Model(&Gadget{ID: f.g.ID}).Update("name", "LAMP XL").Error; err != nil {
			t.Error(err)
		}
	}}
	r := f.run(stdin, true, true, "--cid", "job-7")
	// What was confirmed: undo price 30->3 and name lamp->LAMP. The name
	// change written meanwhile (LAMP->LAMP XL) was never shown, so it is
	// not undone: it is a change since the confirmed name entry, and the
	// revert refuses, writing nothing.
	if r.code != 1 || !strings.Contains(r.stderr, "Undo 2 entries of correlation id job-7?") || !strings.Contains(r.stderr, "revert refused") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := f.gadget(t); got.Name != "LAMP XL" || got.Price != 3 {
		t.Fatalf("a refused revert wrote: the gadget is now %+v", got)
	}
}

// The plan revert shows before it asks names no model, no object key and
// no entry id: only each object's repr (which the application, or a user
// who names things, writes). With --cid spanning objects of several
// models, the person confirming cannot tell what will be written to.
func TestAttackCLIRevertPlanNamesWhatItWritesTo(t *testing.T) {
	t.Parallel()
	f := newRevertFixture(t)
	r := f.run(strings.NewReader("n\n"), true, true, "--cid", "job-7")
	if r.code != 1 || !strings.Contains(r.stderr, "aborted") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The header names entry, model and key; each row gives them.
	lines := strings.Split(r.stdout, "\n")
	var header, row3 string
	for _, l := range lines {
		if strings.HasPrefix(l, "ENTRY") {
			header = l
		}
		if f := strings.Fields(l); len(f) > 5 && f[0] == "3" {
			row3 = l
		}
	}
	if !strings.Contains(header, "MODEL") || !strings.Contains(header, "KEY") || len(strings.Fields(row3)) < 6 || strings.Fields(row3)[4] != "gadgets" || strings.Fields(row3)[5] != "1" {
		t.Fatalf("the revert plan does not name entry, model and key:\n%s", r.stdout)
	}
}

// The entries revert writes back are those it showed and had confirmed:
// where the application's database (Env.OpenGORM) is another than --db,
// and holds other entries under the same ids, nothing is written.
func TestAttackCLIRevertWritesOnlyTheEntriesItShowed(t *testing.T) {
	t.Parallel()
	shown, shownDSN := openGadgets(t) // --db: the plan is read here
	app, _ := openGadgets(t)          // what OpenGORM returns
	g := Gadget{Name: "lamp", Price: 30}
	must(t, shown.Create(&g).Error)
	must(t, shown.Model(&g).Update("price", 3).Error) // entry 2 of --db
	h := Gadget{Name: "desk", Price: 100}
	must(t, app.Create(&h).Error)
	must(t, app.Model(&h).Update("name", "DESK").Error) // entry 2 of the application's
	for _, args := range [][]string{{"2"}, {"--yes", "2"}} {
		var out, errb bytes.Buffer
		env := auditcli.Env{Stdin: strings.NewReader("y\n"), Stdout: &out, Stderr: &errb, StdinTerminal: true,
			Getenv:   func(string) string { return "tester" },
			OpenGORM: func(context.Context, auditcli.Target) (*gorm.DB, error) { return app, nil }}
		code := auditcli.Run(context.Background(), append([]string{"revert", "--db", shownDSN}, args...), env)
		if code != 1 || !strings.Contains(errb.String(), "nothing was written") {
			t.Errorf("%q: exit %d\n%s%s", args, code, out.String(), errb.String())
		}
		var got Gadget
		must(t, app.First(&got, h.ID).Error)
		if got.Name != "DESK" {
			t.Fatalf("%q reverted an entry it never showed: the application's gadget is now %+v", args, got)
		}
	}
}

// --- cases that held ---------------------------------------------------------

// history --as-of escapes every terminal control in what it prints from
// stored entries: model, key, field names, JSON values (raw bidi and C1
// characters that JSON leaves unescaped, whitespace inside raw JSON),
// related keys, actor names; and its error messages.
func TestAttackCLIHeldHistoryAsOfEscapes(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.db")
	if r := run(t, "", false, "migrate", "--db", "sqlite:"+path); r.code != 0 {
		t.Fatalf("migrate: %+v", r)
	}
	s := openStore(t, path)
	model, pk := "bo\x1b]0;pwned\x07oks", "4\u202e2"
	at := func(h int) time.Time { return time.Date(2026, 11, 1, h, 0, 0, 0, time.UTC) }
	es := []auditlog.Entry{
		{Timestamp: at(9), Action: auditlog.ActionCreate, Model: model, ObjectPK: pk, ObjectRepr: "x" + hostile,
			Changes: auditlog.Changes{
				"ti\x1b[2Jtle" + hostile: mustChange(t, nil, "v"+hostile),
				"doc":                    {New: []byte("{\"k\u202e\u009b\":\t\"v\u2028\u0085\",\r\n\"z\":1}")},
			}, ActorName: "alice" + hostile, ActorID: "1"},
		{Timestamp: at(11), Action: auditlog.ActionUpdate, Model: model, ObjectPK: pk,
			Changes:   auditlog.Changes{"price": mustChange(t, 10, 12), "shel\x9bves": {M2M: &auditlog.M2MChange{Operation: auditlog.M2MAdd, Objects: []string{"E1" + hostile}}}},
			ActorName: "bob\x1b[31m"},
	}
	if err := s.Insert(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	for _, asOf := range []string{"2026-11-01T10:00Z", "2026-11-01T12:00Z", "2026-11-01T08:00Z"} {
		r := run(t, "", false, "history", "--db", path, "--tz", "Asia/Kolkata", "--as-of", asOf, model, pk)
		if r.code != 0 && r.code != 1 {
			t.Fatalf("%s: exit %d: %s%s", asOf, r.code, r.stdout, r.stderr)
		}
		if c, bad := unsafeForTerminal(r.stdout + r.stderr); bad {
			t.Fatalf("--as-of %s passes %q to the terminal:\n%s%s", asOf, c, r.stdout, r.stderr)
		}
		if asOf != "2026-11-01T08:00Z" && !strings.Contains(r.stdout, `bo\u001b]0;pwned\u0007oks 4\u202e2 as of 2026-11-01`) {
			t.Fatalf("--as-of %s:\n%s", asOf, r.stdout)
		}
	}
}

func mustChange(t *testing.T, old, new any) auditlog.Change {
	t.Helper()
	c, err := auditlog.NewChange(old, new)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// revert's plan, question and messages escape hostile stored text and a
// hostile --cid.
func TestAttackCLIHeldRevertEscapes(t *testing.T) {
	t.Parallel()
	path := hostileLog(t) // entry 7 is the hostile one, correlation id "cid"+hostile
	for _, args := range [][]string{{"7"}, {"--cid", "cid" + hostile}, {"--cid", "nope" + hostile}, {"--yes", "7"}} {
		var out, errb bytes.Buffer
		code := auditcli.Run(context.Background(), append([]string{"revert", "--db", path}, args...), auditcli.Env{
			Stdin: strings.NewReader("y\n"), Stdout: &out, Stderr: &errb, StdinTerminal: true})
		if code != 1 {
			t.Fatalf("%q: exit %d", args, code)
		}
		if c, bad := unsafeForTerminal(out.String() + errb.String()); bad {
			t.Fatalf("%q passes %q to the terminal:\n%s%s", args, c, out.String(), errb.String())
		}
	}
}

// revert never writes without confirmation: not without a terminal unless
// --yes (whatever stdin holds), not on an answer other than y/yes, not on
// EOF; and the standalone command (no models) never writes at all.
func TestAttackCLIHeldRevertConfirmation(t *testing.T) {
	t.Parallel()
	f := newRevertFixture(t)
	for _, c := range []struct {
		stdin    string
		terminal bool
		args     []string
		want     string
	}{
		{"y\n", false, []string{"--force", "2"}, "stdin is not a terminal"},
		{"yes\n", false, []string{"--force", "--cid", "job-7"}, "stdin is not a terminal"},
		{"", true, []string{"--force", "2"}, "aborted"},
		{"yy\n", true, []string{"--force", "2"}, "aborted"},
		{"\x1b[A y\n", true, []string{"--force", "2"}, "aborted"},
		{"n\ny\n", true, []string{"--force", "2"}, "aborted"},
		{"y\n", true, []string{"2", "3"}, "give one ENTRY_ID"},
		{"y\n", true, []string{"2", "--cid", "job-7"}, "give one ENTRY_ID"},
	} {
		r := f.run(strings.NewReader(c.stdin), c.terminal, true, c.args...)
		if r.code == 0 || !strings.Contains(r.stdout+r.stderr, c.want) {
			t.Fatalf("%q on %q (terminal %v): exit %d\n%s%s", c.args, c.stdin, c.terminal, r.code, r.stdout, r.stderr)
		}
	}
	// Flags after the id are read as flags.
	if r := f.run(strings.NewReader(""), false, true, "3", "--yes", "--force"); r.code != 0 || !strings.Contains(r.stdout, "Reverted entry 3.") {
		t.Fatalf("revert ID --yes --force: %+v", r)
	}
	if got := f.gadget(t); got.Name != "lamp" {
		t.Fatalf("revert ID --yes --force did not write: %+v", got)
	}
	must(t, f.db.Model(&f.g).Update("name", "LAMP").Error)
	// Standalone: no models, so nothing is written even with --yes.
	r := f.run(strings.NewReader(""), false, false, "--yes", "--force", "2")
	if r.code != 1 || !strings.Contains(r.stderr, "needs the application's models") {
		t.Fatalf("standalone: %+v", r)
	}
	if got := f.gadget(t); got.Price != 3 || got.Name != "LAMP" {
		t.Fatalf("a refused revert wrote: %+v", got)
	}
	// The real process with stdin from /dev/null: not a terminal.
	if r := runProcess(t, nil, "revert", "--db", f.dsn, "--force", "2"); r.code != 1 || !strings.Contains(r.stderr, "needs the application's models") {
		t.Fatalf("process: %+v", r)
	}
}

// Passwords in --db never appear in what revert and history --as-of print,
// when the database cannot be reached.
func TestAttackCLIHeldNoPasswordInRevertOrAsOf(t *testing.T) {
	t.Parallel()
	const pw = "S3cr%21t-pw"
	for _, dsn := range []string{
		"postgres://audit:" + pw + "@127.0.0.1:1/db?sslmode=disable&connect_timeout=2",
		"mysql://audit:" + pw + "@127.0.0.1:1/db",
		"audit:" + pw + "@tcp(127.0.0.1:1)/db",
		"host=127.0.0.1 port=1 user=audit password=" + pw + " dbname=db sslmode=disable connect_timeout=2",
	} {
		for _, args := range [][]string{{"revert", "--db", dsn, "--yes", "5"}, {"revert", "--db=" + dsn, "--cid", "x"}, {"history", "--db", dsn, "--as-of", "7d", "books", "1"}} {
			r := run(t, "", false, args...)
			if r.code == 0 {
				t.Fatalf("%q succeeded", args)
			}
			for _, form := range []string{pw, "S3cr!t-pw"} {
				if strings.Contains(r.stdout+r.stderr, form) {
					t.Fatalf("%q shows the password:\n%s%s", args, r.stdout, r.stderr)
				}
			}
		}
	}
}

// Ctrl-C at flush's or revert's [y/N] question ends the command at once:
// it says it was interrupted and that nothing was deleted or written, and
// exits 1, whether or not an answer comes after the interrupt (stdin
// blocks here until the test ends; or a "y" follows the interrupt).
func TestInterruptAtConfirmation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		revert bool
		late   string // what stdin gives after the interrupt; "": nothing, ever
		want   string
	}{
		{"flush, no answer", false, "", "interrupted; nothing was deleted"},
		{"flush, y after the interrupt", false, "y\n", "interrupted; nothing was deleted"},
		{"revert, no answer", true, "", "interrupted; nothing was written"},
		{"revert, y after the interrupt", true, "y\n", "interrupted; nothing was written"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			pr, pw := io.Pipe()
			t.Cleanup(func() { pw.Close() })
			// The interrupt comes once the question waits for its answer.
			stdin := &hookReader{hook: func() {
				cancel()
				if tc.late != "" {
					go pw.Write([]byte(tc.late))
				}
			}, r: pr}
			var out, errb bytes.Buffer
			env := auditcli.Env{Stdin: stdin, Stdout: &out, Stderr: &errb, StdinTerminal: true,
				Getenv: func(k string) string { return map[string]string{"USER": "tester"}[k] }}
			var args []string
			var check func()
			if tc.revert {
				f := newRevertFixture(t)
				env.OpenGORM = func(context.Context, auditcli.Target) (*gorm.DB, error) { return f.db, nil }
				args = []string{"revert", "--db", f.dsn, "--force", "2"}
				check = func() {
					if got := f.gadget(t); got.Price != 3 || got.Name != "LAMP" {
						t.Errorf("an interrupted revert wrote: %+v", got)
					}
				}
			} else {
				path, s := seeded(t)
				args = []string{"flush", "--db", path}
				check = func() {
					if n := count(t, s); n != 6 {
						t.Errorf("an interrupted flush left %d entries, want 6", n)
					}
				}
			}
			done := make(chan int, 1)
			go func() { done <- auditcli.Run(ctx, args, env) }()
			select {
			case code := <-done:
				if code != 1 || !strings.Contains(errb.String(), tc.want) || strings.Contains(out.String()+errb.String(), "Deleted") {
					t.Errorf("exit %d\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("still waiting for an answer 10 s after the interrupt")
			}
			check()
		})
	}
}
