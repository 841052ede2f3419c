package auditcli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
)

func parseAction(s string) (auditlog.Action, error) {
	a, err := auditlog.ParseAction(s)
	if err != nil {
		return 0, usageError("--action must be create, update, delete or access")
	}
	return a, nil
}

func runMigrate(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "migrate", migrateArgs)
	dsn := fs.String("db", "", "database: sqlite:PATH, postgres://…, mysql://…")
	print := fs.Bool("print", false, "print the SQL instead of running it (with --db, only its dialect is used)")
	dialect := fs.String("dialect", "", "with --print and no --db: sqlite, postgres or mysql")
	partition := fs.String("partition", "", "monthly: partition the table by month (PostgreSQL only; converts an existing table in place)")
	ahead := fs.Int("ahead", auditstore.DefaultPartitionsAhead, "with --partition: months after the current one to make partitions for")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case set["dialect"] && !*print:
		return usageError("--dialect names the dialect --print prints; without --print the database is --db's")
	case set["dialect"] && set["db"]:
		return usageError("give --db or --dialect, not both: --print prints the migrations of --db's dialect")
	case set["ahead"] && *partition == "":
		return usageError("--ahead goes with --partition monthly")
	}
	if *partition != "" && *partition != auditstore.PartitionMonthly {
		return usageError("--partition must be monthly, not %q", *partition)
	}
	if *ahead < 1 || *ahead > 120 {
		return usageError("--ahead must be from 1 to 120")
	}
	if *print {
		if *partition != "" {
			return usageError("--print shows the migrations of an unpartitioned table; --partition cannot be combined with it")
		}
		var d auditstore.Dialect
		switch {
		case *dsn != "":
			t, err := ParseDSN(*dsn)
			if err != nil {
				return usageError("%v", err)
			}
			d = t.Dialect
		case *dialect != "":
			var err error
			if d, err = auditstore.ParseDialect(*dialect); err != nil {
				return usageError("%v", err)
			}
		default:
			return usageError("--print needs --db or --dialect")
		}
		stmts, err := auditstore.MigrationSQL(d)
		if err != nil {
			return err
		}
		for _, s := range stmts {
			fmt.Fprintf(env.Stdout, "%s;\n\n", s)
		}
		return nil
	}
	t, err := ParseDSN(*dsn)
	if err != nil {
		return usageError("%v", err)
	}
	if *partition != "" && t.Dialect != auditstore.Postgres {
		return usageError("--partition monthly needs PostgreSQL: %s is a %s database, whose entries table is not partitioned", termSafe(t.Display), t.Dialect)
	}
	created := t.Dialect == auditstore.SQLite && !fileExists(t.Path)
	db, err := t.Open(ctx, true)
	if err != nil {
		return err
	}
	defer db.Close()
	o := auditstore.MigrateOptions{Partition: *partition, Ahead: *ahead}
	if err := auditstore.MigrateWith(ctx, db, t.Dialect, o); err != nil {
		return err
	}
	s, err := auditstore.New(db, t.Dialect)
	if err != nil {
		return err
	}
	ps, err := s.Partitions(ctx)
	if err != nil {
		return err
	}
	layout := ""
	if len(ps) > 0 {
		last := ps[0]
		for _, p := range ps {
			if !p.Default && p.To.After(last.To) {
				last = p
			}
		}
		layout = fmt.Sprintf(", partitioned by month: %d partitions, the last for %s, and a default", len(ps)-1, last.To.AddDate(0, -1, 0).Format("2006-01"))
	}
	if created && fileExists(t.Path) {
		// A mistyped path must not pass for the application's database.
		fmt.Fprintf(env.Stdout, "%s did not exist: created a new SQLite database there\n", termSafe(t.Display))
	}
	fmt.Fprintf(env.Stdout, "%s: auditlog_entries is at version %d%s\n", termSafe(t.Display), auditstore.LatestVersion(), layout)
	return nil
}

// fileExists reports whether path names an existing file system entry.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func runFlush(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "flush", "--db DSN [--before DATE|90d] [--model NAME] [--truncate] [--yes] [--unrelayed]")
	dsn := fs.String("db", "", "database: sqlite:PATH, postgres://…, mysql://…")
	before := fs.String("before", "", "only entries older than DATE (2006-01-02, RFC 3339) or an age such as 90d")
	model := fs.String("model", "", "only entries of this model")
	truncate := fs.Bool("truncate", false, "empty the whole table at once (TRUNCATE); not with --before or --model")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	batch := fs.Int("batch", auditstore.DefaultFlushBatch, "entries per DELETE statement")
	unrelayed := fs.Bool("unrelayed", false, "delete entries that a relay has not published yet, too")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *truncate && (*before != "" || *model != "") {
		return usageError("--truncate empties the whole table and cannot be combined with --before or --model")
	}
	now := env.Now()
	until, err := parseWhen(*before, now)
	if err != nil {
		return usageError("--before: %v", err)
	}
	if until.After(now) {
		return usageError("--before: %q is in the future; to delete every entry, leave --before out", *before)
	}
	if *batch < 1 || *batch > 1_000_000 {
		return usageError("--batch must be from 1 to 1000000")
	}
	s, closeDB, err := openStore(ctx, *dsn)
	if err != nil {
		return err
	}
	defer closeDB()
	f := auditstore.Filter{Model: *model, Until: until}
	// The count pins the flush: only entries up to the highest id counted
	// are deleted, so nothing written while the question waits goes too.
	var n, maxID int64
	if *truncate {
		// A TRUNCATE takes what is there when it runs, pinned to no id:
		// the count is what the question names.
		n, err = s.Count(ctx, f)
	} else {
		n, maxID, err = s.CountMax(ctx, f)
	}
	if errors.Is(err, auditstore.ErrUnsettled) {
		return fmt.Errorf("%w; nothing was deleted: retry once that transaction ends", err)
	}
	if err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintln(env.Stdout, "No entries to delete.")
		return nil
	}
	if !*unrelayed && *truncate {
		// A TRUNCATE cannot be pinned: what is written while the question
		// waits, or after the check, goes too, published or not.
		relays, err := s.Relays(ctx)
		if err != nil {
			return err
		}
		if len(relays) > 0 {
			return fmt.Errorf("refusing to empty the table that relay %s reads: entries written before it runs would be deleted unpublished; "+
				"flush without --truncate deletes only what the relays have published, or pass --unrelayed to empty it anyway", termSafe(strings.Join(relays, ", ")))
		}
	}
	if !*unrelayed && !*truncate {
		// An entry deleted before a relay publishes it is never published.
		backlog, err := s.Unrelayed(ctx, f, maxID)
		if err != nil {
			return err
		}
		if len(backlog) > 0 {
			var behind []string
			for _, b := range backlog {
				behind = append(behind, fmt.Sprintf("relay %s has not published %d of them", termSafe(b.Relay), b.Entries))
			}
			return fmt.Errorf("refusing to delete entries not published yet: %s (auditlog relay --lag); let the relay catch up, or pass --unrelayed to delete them anyway", strings.Join(behind, ", "))
		}
	}
	what := fmt.Sprintf("%d %s", n, plural(n, "entry", "entries"))
	if *model != "" {
		what += " of model " + *model
	}
	if !until.IsZero() {
		what += " older than " + until.UTC().Format(time.RFC3339Nano)
	}
	question := "Delete " + what + "?"
	if *truncate {
		// TRUNCATE cannot be pinned: it empties the table as it is when it runs.
		what = "the whole entries table (" + what + " now, and whatever is written before it runs)"
		question = "Empty " + what + "?"
	}
	if !*yes {
		if !env.StdinTerminal {
			return errors.New("refusing to delete " + what + " without confirmation: stdin is not a terminal; pass --yes to confirm")
		}
		if err := confirm(ctx, env, question+" This cannot be undone. [y/N] ", "nothing was deleted"); err != nil {
			return err
		}
	}
	if *truncate {
		if err := s.Truncate(ctx); err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, "Emptied the entries table.")
		return nil
	}
	progress := func(int64) {}
	if env.StderrTerminal {
		progress = func(done int64) { bar(env.progressWriter(), done, n) }
	}
	res, err := s.Flush(ctx, auditstore.FlushOptions{Filter: f, MaxID: maxID, BatchSize: *batch, Progress: progress, Reason: "auditlog flush: " + what})
	if env.StderrTerminal {
		fmt.Fprintln(env.Stderr)
	}
	switch {
	case err != nil && res.Deleted == 0:
		// The error says it; nothing was deleted.
	case res.Deleted < n && err == nil:
		fmt.Fprintf(env.Stdout, "Deleted %d of the %d entries confirmed: %d %s deleted by someone else meanwhile.\n",
			res.Deleted, n, n-res.Deleted, plural(n-res.Deleted, "was", "were"))
	case res.Deleted > n:
		// An entry's id is taken when it is inserted, but it is seen when its
		// transaction commits. CountMax waits for such transactions, and
		// refuses a sequence that hands ids out of order (one given a
		// cache); ids given by hand can still put a late entry below the
		// highest id counted.
		fmt.Fprintf(env.Stdout, "Deleted %d entries, %d more than confirmed: matching entries got ids below the highest counted after the count.\n",
			res.Deleted, res.Deleted-n)
		if err == nil {
			err = fmt.Errorf("deleted %d %s more than confirmed", res.Deleted-n, plural(res.Deleted-n, "entry", "entries"))
		}
	case res.Partitions > 0:
		fmt.Fprintf(env.Stdout, "Deleted %d %s; %d monthly %s dropped whole.\n", res.Deleted, plural(res.Deleted, "entry", "entries"), res.Partitions, plural(int64(res.Partitions), "partition was", "partitions were"))
	default:
		fmt.Fprintf(env.Stdout, "Deleted %d %s.\n", res.Deleted, plural(res.Deleted, "entry", "entries"))
	}
	return err
}

// confirm asks question on stderr and reads the answer from stdin: nil
// for y or yes, an error that says nothing was done otherwise. An
// interrupt (ctx ends, Ctrl-C) while it waits ends the wait at once, as an
// error: the read goes on in the background, and an answer typed after
// the interrupt counts for nothing.
func confirm(ctx context.Context, env Env, question, nothing string) error {
	fmt.Fprint(env.Stderr, question)
	answers := make(chan string, 1)
	go func() {
		answer, _ := bufio.NewReader(env.Stdin).ReadString('\n')
		answers <- answer
	}()
	var answer string
	select {
	case <-ctx.Done():
	case answer = <-answers:
	}
	if ctx.Err() != nil {
		fmt.Fprintln(env.Stderr) // off the question's line (past the ^C)
		return fmt.Errorf("interrupted; %s", nothing)
	}
	if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
		return errors.New("aborted; " + nothing)
	}
	return nil
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// bar draws a one-line progress bar.
func bar(w io.Writer, done, total int64) {
	const width = 30
	if total <= 0 {
		return
	}
	filled := int(min(done, total) * width / total)
	fmt.Fprintf(w, "\r[%s%s] %d/%d", strings.Repeat("#", filled), strings.Repeat(".", width-filled), done, total)
}

func runExport(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "export", "--db DSN [--format jsonl|csv] [filters] [--output FILE [--force]]")
	dsn := fs.String("db", "", "database: sqlite:PATH, postgres://…, mysql://…")
	format := fs.String("format", "jsonl", "jsonl or csv")
	output := fs.String("output", "", "write to FILE instead of stdout (through a temporary file, renamed at the end)")
	force := fs.Bool("force", false, "replace FILE if it exists (never the database being exported)")
	var ff filterFlags
	ff.register(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *format != "jsonl" && *format != "csv" {
		return usageError("--format must be jsonl or csv")
	}
	if *force && *output == "" {
		return usageError("--force needs --output")
	}
	f, err := ff.filter(env.Now())
	if err != nil {
		return err
	}
	t, err := ParseDSN(*dsn)
	if err != nil {
		return usageError("%v", err)
	}
	if *output != "" {
		if err := checkOutput(*output, *force, t.Path); err != nil {
			return err
		}
	}
	s, closeDB, err := openTarget(ctx, t)
	if err != nil {
		return err
	}
	defer closeDB()
	if *output == "" {
		_, err := Export(ctx, s, ExportOptions{Filter: f, Format: *format}, env)
		return err
	}
	var n int64
	var unreadable error // the file is whole all the same: keep it, then say so
	err = writeFileAtomic(*output, *force, t.Path, func(w io.Writer) error {
		fenv := env
		fenv.Stdout, fenv.StdoutTerminal = w, false
		var err error
		n, err = Export(ctx, s, ExportOptions{Filter: f, Format: *format}, fenv)
		if errors.Is(err, ErrUnreadableEntries) {
			unreadable, err = err, nil
		}
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "Exported %d %s to %s.\n", n, plural(n, "entry", "entries"), *output)
	return unreadable
}

// oneLine returns e with the line breaks in its text columns escaped as
// \u000a and \u000d, as a terminal shows other control characters (the JSON
// columns hold none: JSON escapes them).
func oneLine(e auditlog.Entry) auditlog.Entry {
	r := strings.NewReplacer("\n", `\u000a`, "\r", `\u000d`)
	for _, p := range []*string{&e.Model, &e.ObjectPK, &e.ObjectRepr, &e.ActorID, &e.ActorName, &e.RemoteAddr, &e.CorrelationID, &e.Unreadable} {
		if strings.ContainsAny(*p, "\r\n") {
			*p = r.Replace(*p)
		}
	}
	return e
}

// ExportOptions choose what Export writes.
type ExportOptions struct {
	// Filter selects the entries; the zero Filter exports every entry.
	Filter auditstore.Filter
	// Format is "jsonl" (auditstore.ExportRecord per line) or "csv".
	Format string
}

// Export streams the entries that match o.Filter to env.Stdout, page by page, in
// constant memory, with a running count on env.Stderr when that is a
// terminal. When env.StdoutTerminal is set, what a terminal would act on
// (controls, bidi overrides, stray bytes) is escaped as \uXXXX or \xNN:
// JSON Lines stay valid JSON with the same values.
func Export(ctx context.Context, s *auditstore.Store, o ExportOptions, env Env) (n int64, err error) {
	out, done := forTerminal(env.Stdout, env.StdoutTerminal)
	defer func() {
		if ferr := done(); err == nil {
			err = ferr
		}
	}()
	bw := bufio.NewWriterSize(out, 64<<10)
	ew, err := auditstore.NewExportWriter(bw, o.Format)
	if err != nil {
		return 0, err
	}
	var unreadable []int64
	err = s.Each(ctx, o.Filter, func(e auditlog.Entry) error {
		if env.StdoutTerminal && o.Format == "csv" {
			// A line break inside a value is part of a CSV cell, which a
			// terminal shows as a line of its own: stored text would read
			// as a row. On a terminal each entry is one line.
			e = oneLine(e)
		}
		if err := ew.Write(e); err != nil {
			return err
		}
		if e.Unreadable != "" {
			unreadable = append(unreadable, e.ID)
		}
		if n++; env.StderrTerminal && n%10_000 == 0 {
			fmt.Fprintf(env.progressWriter(), "\r%d entries…", n)
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	if env.StderrTerminal {
		fmt.Fprintf(env.progressWriter(), "\r%d %s.\n", n, plural(n, "entry", "entries"))
	}
	if err := ew.Flush(); err != nil {
		return n, err
	}
	if err := bw.Flush(); err != nil {
		return n, err
	}
	return n, unreadableError(unreadable, "written with their unreadable field set")
}

// ErrUnreadableEntries is returned by Export, after it wrote every entry,
// and by the history command, after it printed them, when some entries
// could not be read as stored (auditlog.Entry.Unreadable): a column
// changed by hand, a damaged row. The error names them.
var ErrUnreadableEntries = errors.New("entries could not be read as stored")

// unreadableError is nil for no ids, or names them (up to ten).
func unreadableError(ids []int64, what string) error {
	if len(ids) == 0 {
		return nil
	}
	var b strings.Builder
	for i, id := range ids[:min(len(ids), 10)] {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.FormatInt(id, 10))
	}
	if len(ids) > 10 {
		b.WriteString(", …")
	}
	return fmt.Errorf("%w: %d (ids %s), %s", ErrUnreadableEntries, len(ids), b.String(), what)
}

func runHistory(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "history", "--db DSN [--limit N] [--tz ZONE] [--as-of TIME] MODEL KEY")
	dsn := fs.String("db", "", "database: sqlite:PATH, postgres://…, mysql://…")
	limit := fs.Int("limit", auditstore.DefaultPageSize, fmt.Sprintf("newest entries to show (1-%d)", auditstore.MaxPageSize))
	tz := fs.String("tz", "UTC", "time zone of the times shown, and of --as-of without one")
	asOf := fs.String("as-of", "", "print the object's state at TIME (RFC 3339, 2026-11-01T12:00, or an age such as 7d) instead of its entries")
	if err := parse(fs, args, 2); err != nil {
		return err
	}
	// An unset shell variable names no object.
	if strings.TrimSpace(fs.Arg(0)) == "" {
		return usageError("MODEL is empty: give the model's name, such as books")
	}
	if fs.Arg(1) == "" {
		return usageError("KEY is empty: give the object's primary key")
	}
	if *limit < 1 || *limit > auditstore.MaxPageSize {
		return usageError("--limit must be from 1 to %d", auditstore.MaxPageSize)
	}
	loc, err := auditstore.LoadZone(*tz)
	if err != nil {
		return usageError("--tz: %v", err)
	}
	var at time.Time
	if *asOf != "" {
		if at, err = auditstore.ParseTime(*asOf, env.Now(), loc); err != nil {
			return usageError("--as-of: %v", err)
		}
	}
	s, closeDB, err := openStore(ctx, *dsn)
	if err != nil {
		return err
	}
	defer closeDB()
	if *asOf != "" {
		return printStateAt(ctx, env.Stdout, s, fs.Arg(0), fs.Arg(1), at, loc)
	}
	res, err := s.List(ctx, auditstore.Filter{Objects: auditstore.KeyRefs(fs.Arg(0), fs.Arg(1))}, auditstore.Page{Limit: *limit})
	if err != nil {
		return err
	}
	if err := PrintHistory(env.Stdout, res.Entries, loc); err != nil {
		return err
	}
	if res.Next != "" {
		// Not a whole history: say so, and how to see the rest.
		shown := "newest entry"
		if len(res.Entries) > 1 {
			shown = fmt.Sprintf("newest %d entries", len(res.Entries))
		}
		more := fmt.Sprintf("--limit up to %d, or ", auditstore.MaxPageSize)
		if len(res.Entries) < *limit {
			more = "their values are large (a page holds up to 16 MiB): " // the page ended by its size
		}
		fmt.Fprintf(env.Stderr, "Showed the %s; there are older ones: %sexport --model %s --pk %s for all of them.\n",
			shown, more, shellWord(fs.Arg(0)), shellWord(fs.Arg(1)))
	}
	var unreadable []int64
	for _, e := range res.Entries {
		if e.Unreadable != "" {
			unreadable = append(unreadable, e.ID)
		}
	}
	return unreadableError(unreadable, "shown as unreadable")
}

// printStateAt prints the state of model:pk at time at, as its entries
// tell it, with the entry each value comes from.
func printStateAt(ctx context.Context, w io.Writer, s *auditstore.Store, model, pk string, at time.Time, loc *time.Location) error {
	es, err := auditstore.ObjectEntries(ctx, s, auditstore.KeyRefs(model, pk), pk, 0)
	if err != nil {
		return err
	}
	n := 0
	for n < len(es) && !es[n].Timestamp.After(at) {
		n++
	}
	st := auditstore.RebuildState(model, pk, es, n, auditstore.EntriesOnlyRules())
	when := at.In(loc).Format("2006-01-02 15:04:05 MST")
	name := termSafe(model) + " " + termSafe(pk)
	if !st.Exists {
		if len(es) == 0 {
			return fmt.Errorf("%s has no entries", name)
		}
		if st.MovedTo != "" {
			return fmt.Errorf("%s had taken the key %s at %s (entry %d): look its state up under that key", name, termSafe(st.MovedTo), when, st.MovedBy)
		}
		if n == 0 && es[0].Action != auditlog.ActionCreate {
			// As AsOf's ErrBeforeItsEntries: the entries before were
			// flushed, or the object predates auditing.
			return fmt.Errorf("the state of %s at %s is unknown: its first entry (%d, %s %s) is no create (earlier entries were flushed, or it predates auditing)", name, when,
				es[0].ID, es[0].Action, es[0].Timestamp.In(loc).Format("2006-01-02 15:04:05"))
		}
		return fmt.Errorf("%s did not exist at %s as far as its entries tell (its entries run from %s to %s)", name, when,
			es[0].Timestamp.In(loc).Format("2006-01-02 15:04:05"), es[len(es)-1].Timestamp.In(loc).Format("2006-01-02 15:04:05"))
	}
	byID := make(map[int64]auditlog.Entry, len(es))
	for _, e := range es {
		byID[e.ID] = e
	}
	describe := func(id int64) string {
		e := byID[id]
		by := e.Actor().String()
		if by == "" {
			by = "-"
		}
		return fmt.Sprintf("entry %d (%s %s by %s)", e.ID, e.Action, e.Timestamp.In(loc).Format("2006-01-02 15:04:05"), termSafe(by))
	}
	head := fmt.Sprintf("%s as of %s, after %s", name, when, describe(st.Entry))
	switch {
	case st.Deleted && st.Soft:
		head += fmt.Sprintf("; soft-deleted by entry %d", st.DeletedBy)
	case st.Deleted:
		head += fmt.Sprintf("; deleted by entry %d, these were its last values", st.DeletedBy)
	}
	if _, err := fmt.Fprintln(w, head+":"); err != nil {
		return err
	}
	rows := [][]string{{"FIELD", "VALUE", "RECORDED BY"}}
	for _, k := range st.Fields() {
		switch {
		case st.Values[k] != nil:
			rows = append(rows, []string{termSafe(k), fitCell(string(st.Values[k]), 60), describe(st.Recorded[k])})
		case st.Related[k] != nil:
			rows = append(rows, []string{termSafe(k), fitCell("["+strings.Join(st.Related[k], ", ")+"]", 60), "its many-to-many entries"})
		default:
			rows = append(rows, []string{termSafe(k), "unknown (" + string(st.Unknown[k]) + ")", "-"})
		}
	}
	if err := writeTable(w, rows); err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, "Each value is the one the named entry recorded. Masked fields show as recorded, excluded fields not at all;\n"+
		"auto-updated timestamps other than updated_at are not known either (auditgorm.AsOf, with the models, says which).")
	return err
}

// PrintHistory writes entries as a table, oldest first. Cells are escaped
// for the terminal (see termSafe), columns are aligned by display width,
// and long changes are cut to 120 columns on a character boundary.
func PrintHistory(w io.Writer, entries []auditlog.Entry, loc *time.Location) error {
	if len(entries) == 0 {
		_, err := fmt.Fprintln(w, "No entries.")
		return err
	}
	rows := [][]string{{"TIME", "ACTION", "ACTOR", "OBJECT", "CORRELATION", "CHANGES"}}
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		actor := e.Actor().String()
		if actor == "" {
			actor = "-"
		}
		cid := e.CorrelationID
		if cid == "" {
			cid = "-"
		}
		when, action, changes := e.Timestamp.In(loc).Format("2006-01-02 15:04:05"), e.Action.String(), e.Changes.String()
		if e.Unreadable != "" {
			changes = "UNREADABLE entry " + strconv.FormatInt(e.ID, 10) + ": " + e.Unreadable
			if e.UnreadableColumn("timestamp") {
				when = "unreadable"
			}
			if e.UnreadableColumn("action") {
				action = "unreadable"
			}
		}
		rows = append(rows, []string{when, action, termSafe(actor), termSafe(e.ObjectRepr), termSafe(cid), fitCell(changes, 120)})
	}
	return writeTable(w, rows)
}

// writeTable writes rows with each column padded to its widest cell plus
// two spaces, by display width; the last column is not padded.
func writeTable(w io.Writer, rows [][]string) error {
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row[:len(row)-1] {
			widths[i] = max(widths[i], textWidth(c))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		for i, c := range row {
			b.WriteString(c)
			if i < len(row)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-textWidth(c)+2))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// shellWord is s as one word of a POSIX shell command line: as it is
// where that is safe, else in single quotes.
func shellWord(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_./:@%+=,-", r)) {
			safe = false
			break
		}
	}
	if safe && s[0] != '-' {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
