package auditcli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	osuser "os/user"
	"strconv"
	"strings"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/auditstore"
)

// errNoModels is revert's answer where the run has no models to write with.
var errNoModels = errors.New("writing a revert needs the application's models: the revert is an audited write through GORM. " +
	"Build your own command with auditcli.Run and Env.OpenGORM (README, \"Time travel\"), or call auditgorm.Revert; nothing was written")

// runRevert shows what undoing one entry (or every entry of a correlation
// id) would do, asks, and does it through the application's GORM models.
func runRevert(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "revert", "--db DSN [--force] [--yes] (ENTRY_ID | --cid ID)")
	dsn := fs.String("db", "", "database: sqlite:PATH, postgres://…, mysql://…")
	cid := fs.String("cid", "", "undo every entry of this correlation id (a request or job), newest first, all or nothing")
	force := fs.Bool("force", false, "revert even fields changed since the entry")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	var id int64
	switch {
	case *cid != "" && fs.NArg() == 0:
	case *cid == "" && fs.NArg() == 1:
		n, err := strconv.ParseInt(fs.Arg(0), 10, 64)
		if err != nil || n < 1 {
			return usageError("ENTRY_ID must be a positive whole number (the argument given is not shown: it may be a secret)")
		}
		id = n
	default:
		return usageError("give one ENTRY_ID or --cid ID")
	}
	t, err := ParseDSN(*dsn)
	if err != nil {
		return usageError("%v", err)
	}
	s, closeDB, err := openTarget(ctx, t)
	if err != nil {
		return err
	}
	defer closeDB()
	// The plan: the entries to undo, newest first.
	var plan []auditlog.Entry
	if *cid != "" {
		err = s.Each(ctx, auditstore.Filter{CorrelationID: *cid}, func(e auditlog.Entry) error {
			if !auditgorm.ChangesNothing(e) {
				plan = append(plan, e)
			}
			return nil
		})
		if err == nil && len(plan) == 0 {
			// %q escapes what a terminal would act on, once.
			err = fmt.Errorf("no entries with correlation id %q", *cid)
		}
	} else {
		var e auditlog.Entry
		if e, err = s.Get(ctx, id); err == nil {
			plan = append(plan, e)
		}
	}
	if err != nil {
		return err
	}
	if actors := auditgorm.CorrelationActors(plan); *cid != "" && len(actors) > 1 {
		return fmt.Errorf("the entries of correlation id %s were written by %d actors (%s): a correlation id can come from a request header, which any client can set; undo the entries you mean by their ids; nothing was written",
			termSafe(*cid), len(actors), termSafe(strings.Join(actors, ", ")))
	}
	// Nothing is undone by an entry that does not say what it did.
	for _, e := range plan {
		if e.Unreadable != "" {
			return fmt.Errorf("entry %d could not be read as stored (%s): nothing can be undone by it; nothing was written", e.ID, termSafe(e.Unreadable))
		}
	}
	what := fmt.Sprintf("entry %d", id)
	if *cid != "" {
		what = fmt.Sprintf("%d %s of correlation id %s", len(plan), plural(int64(len(plan)), "entry", "entries"), termSafe(*cid))
	}
	fmt.Fprintf(env.Stdout, "Undo %s: each change below is written back as its old value (a create is deleted, a delete restored), newest first, in one transaction, with entries of its own.\n", what)
	if err := printPlan(env.Stdout, plan); err != nil {
		return err
	}
	if *force {
		fmt.Fprintln(env.Stdout, "--force: fields changed since these entries are overwritten too.")
	} else {
		fmt.Fprintln(env.Stdout, "Nothing is written if any field changed since these entries (--force overrides).")
	}
	if env.OpenGORM == nil {
		return errNoModels
	}
	if !*yes {
		if !env.StdinTerminal {
			return errors.New("refusing to revert without confirmation: stdin is not a terminal; pass --yes to confirm")
		}
		if err := confirm(ctx, env, "Undo "+what+"? [y/N] ", "nothing was written"); err != nil {
			return err
		}
	}
	db, err := env.OpenGORM(ctx, t)
	if err != nil {
		return fmt.Errorf("open the application's database: %w", err)
	}
	// The entries of the revert name who ran it, as the system knows them:
	// the process's user, not $USER, which anyone may set (and cron and
	// systemd leave unset).
	user := operator(env)
	ctx = auditlog.WithActor(ctx, auditlog.Actor{ID: "cli:" + user, Name: user + " (auditlog revert)"})
	if err := revertWith(ctx, db, plan, *force); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "Reverted %s.\n", what)
	return nil
}

// printPlan writes the entries a revert would undo, newest first: each by
// its id, time (UTC), action and object (model and key), with every change
// in full.
func printPlan(w io.Writer, plan []auditlog.Entry) error {
	rows := [][]string{{"ENTRY", "TIME (UTC)", "ACTION", "MODEL", "KEY", "OBJECT", "CHANGES"}}
	for _, e := range plan {
		rows = append(rows, []string{strconv.FormatInt(e.ID, 10), e.Timestamp.UTC().Format("2006-01-02 15:04:05"), e.Action.String(),
			termSafe(e.Model), termSafe(e.ObjectPK), termSafe(e.ObjectRepr), termSafe(e.Changes.String())})
	}
	return writeTable(w, rows)
}

// revertWith undoes exactly the entries of the plan that was confirmed:
// an entry written for the correlation id since is not among them, and
// the application's database (Env.OpenGORM) must hold the very entries
// shown, read from --db, under their ids: another database's entry 2 is
// not the one confirmed. Entries are never changed once written, so the
// check before the revert's transaction holds in it.
func revertWith(ctx context.Context, db *gorm.DB, plan []auditlog.Entry, force bool) error {
	s, err := auditgorm.NewStore(db)
	if err != nil {
		return err
	}
	ids := make([]int64, len(plan))
	for i, e := range plan {
		got, err := s.Get(ctx, e.ID)
		if err != nil {
			return fmt.Errorf("the application's database (Env.OpenGORM) has no entry %d as --db does: %w; nothing was written", e.ID, err)
		}
		if !sameEntry(got, e) {
			return fmt.Errorf("entry %d of the application's database (Env.OpenGORM) is not the entry %d shown from --db "+
				"(%s %s %s), so the two are not the same database: nothing was written", e.ID, e.ID, e.Action, termSafe(e.Model), termSafe(e.ObjectPK))
		}
		ids[i] = e.ID
	}
	return auditgorm.RevertEntries(ctx, db, ids, auditgorm.RevertOptions{Force: force})
}

// sameEntry reports whether a and b are one entry as recorded: the same
// id, time, action, object and changes (as JSON, many-to-many keys
// included).
func sameEntry(a, b auditlog.Entry) bool {
	if a.ID != b.ID || !a.Timestamp.Equal(b.Timestamp) || a.Action != b.Action || a.Model != b.Model ||
		a.ObjectPK != b.ObjectPK || a.CorrelationID != b.CorrelationID {
		return false
	}
	ja, errA := json.Marshal(a.Changes)
	jb, errB := json.Marshal(b.Changes)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// operator is the name of the user the process runs as: the system's
// account name, else $USER or $LOGNAME, else its uid.
func operator(env Env) string {
	if u, err := osuser.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	for _, k := range []string{"USER", "LOGNAME"} {
		if v := env.Getenv(k); v != "" {
			return v
		}
	}
	return "uid " + strconv.Itoa(os.Getuid())
}
