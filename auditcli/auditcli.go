// Package auditcli is the auditlog command: demo, serve, migrate, flush,
// export, history, revert, relay, seal-key, seal, verify, prove and
// verify-proof. cmd/auditlog is a thin main over Run, so the command
// can be embedded in an application's own binary and tested with injected
// input and output.
package auditcli

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/term"
	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/auditstore"
)

// Env is the outside world of a run.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// StdinTerminal: stdin is a terminal, so flush may ask for confirmation.
	StdinTerminal bool
	// StdoutTerminal: stdout is a terminal, so export escapes what a
	// terminal would act on.
	StdoutTerminal bool
	// StderrTerminal: progress bars are drawn on stderr.
	StderrTerminal bool
	// Getenv reads environment variables (serve's --token-env). Default: os.Getenv.
	Getenv func(string) string
	// Now is the clock for --before durations. Default: time.Now.
	Now func() time.Time
	// OpenGORM opens the application's database (t is the parsed --db)
	// with the auditgorm plugin installed and its models registered: revert
	// writes through it, as an audited write. Nil in the standalone
	// command, whose revert shows the plan and writes nothing.
	OpenGORM func(ctx context.Context, t Target) (*gorm.DB, error)

	// secrets are redacted from Stderr; commands add the secrets they read.
	secrets *redactor
	// progress is the raw Stderr, for progress bars (which need \r).
	progress io.Writer
}

// OSEnv is the environment of a real process.
func OSEnv() Env {
	return Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		StdinTerminal: isTerminal(os.Stdin), StdoutTerminal: isTerminal(os.Stdout), StderrTerminal: isTerminal(os.Stderr)}
}

// isTerminal reports whether f is a terminal. A character device is not
// enough: /dev/null is one, and it cannot answer a question.
func isTerminal(f *os.File) bool {
	return term.IsTerminal(int(f.Fd()))
}

type command struct {
	name, args, summary string
	run                 func(ctx context.Context, env Env, args []string) error
}

// commands lists the commands in the order usage shows them. It is a
// function, not a variable, because the commands' own code prints usage.
func commands() []command {
	return []command{
		{"demo", "[--addr ADDR] [--dir DIR] [--once]", "run an audited bookstore on embedded SQLite with the admin UI", runDemo},
		{"serve", serveArgs, "serve the admin UI over an entries table", runServe},
		{"migrate", migrateArgs, "create or upgrade the entries table (or print its SQL)", runMigrate},
		{"flush", "--db DSN [--before DATE|90d] [--model NAME] [--truncate] [--yes] [--unrelayed]", "delete entries, after confirmation", runFlush},
		{"export", "--db DSN [--format jsonl|csv] [filters] [--output FILE [--force]]", "stream entries as JSON Lines or CSV", runExport},
		{"history", "--db DSN [--limit N] [--tz ZONE] [--as-of TIME] MODEL KEY", "print an object's history (its newest 50 entries unless --limit), or its state at a time", runHistory},
		{"revert", "--db DSN [--force] [--yes] (ENTRY_ID | --cid ID)", "undo an entry, or a request's or job's entries, after confirmation", runRevert},
		{"relay", relayArgs, "publish committed entries to NATS JetStream or as JSON Lines, until interrupted", runRelay},
		{"seal-key", sealKeyArgs, "make the key pair that signs the sealed log", runSealKey},
		{"seal", sealArgs, "append committed entries to the sealed log and sign checkpoints", runSeal},
		{"verify", verifyArgs, "check that no sealed entry or checkpoint was changed", runVerify},
		{"prove", proveArgs, "print an entry's inclusion proof", runProve},
		{"verify-proof", verifyProofArgs, "check an inclusion proof with the public key alone", runVerifyProof},
	}
}

// errUsage marks a usage error: exit status 2.
type errUsage struct{ error }

// migrateArgs are the arguments of migrate, as the usage shows them.
const migrateArgs = "(--db DSN [--print] | --print --dialect sqlite|postgres|mysql) [--partition monthly [--ahead N]]"

func usageError(format string, a ...any) error { return errUsage{fmt.Errorf(format, a...)} }

func usage(w io.Writer) {
	fmt.Fprintf(w, "auditlog: an audit trail for Go applications\n\nUsage:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  auditlog %-12s %s\n", c.name, c.args)
		fmt.Fprintf(w, "  %-21s %s\n", "", c.summary)
	}
	fmt.Fprintf(w, "\n--db takes sqlite:PATH (or a file path, or a file: URI), postgres://user@host:5432/db\n(or host=… user=… dbname=…), or mysql://user:pass@host:3306/db (or user:pass@tcp(host:3306)/db, user:pass@/db),\nor env:NAME, the DSN in the environment variable NAME. Passwords and private keys are never shown.\nRun auditlog COMMAND -h for a command's flags.\n")
}

// Run runs the command line args (without the program name) and returns
// the exit status: 0 on success, 1 on failure, 2 on a usage error.
func Run(ctx context.Context, args []string, env Env) int {
	if env.Stdin == nil {
		env.Stdin = strings.NewReader("")
	}
	if env.Stdout == nil {
		env.Stdout = io.Discard
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	// No password given on the command line is ever shown: not in our
	// messages, not in the flag package's, not in a driver's error.
	// Every message goes to stderr with terminal controls escaped.
	env.secrets = newRedactor(secretsIn(args))
	env.progress = env.Stderr
	env.Stderr = messageWriter{env.secrets, env.Stderr}
	if holdsPrivateKey(args) {
		// No command takes one (keys are read from files): one given as
		// an argument would end up in a message, a stored name or the
		// output, besides the shell's history.
		fmt.Fprintln(env.Stderr, "auditlog: an argument holds a private key: no command takes one; keep it in a file and give the file's path (--key-file, --tls-key). Nothing was run.")
		return 2
	}
	args, err := dbFromEnv(args, env)
	if err != nil {
		fmt.Fprintf(env.Stderr, "auditlog: %v\n", err)
		return 2
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.Stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, env, args[1:])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		}
		fmt.Fprintf(env.Stderr, "auditlog %s: %v\n", c.name, err)
		var u errUsage
		if errors.As(err, &u) {
			fmt.Fprintf(env.Stderr, "usage: auditlog %s %s\n", c.name, c.args)
			return 2
		}
		return 1
	}
	// The argument is not repeated, unless it is a command misspelt: it may
	// be anything pasted in the wrong place, a password too.
	if near := nearCommand(args[0]); near != "" {
		fmt.Fprintf(env.Stderr, "auditlog: unknown command: did you mean %s?\n\n", near)
	} else {
		fmt.Fprintf(env.Stderr, "auditlog: unknown command: the first argument names none of the commands below\n\n")
	}
	usage(env.Stderr)
	return 2
}

// credentialFlags are the flags whose values may hold credentials: a
// DSN's password, a NATS server's user and password or token.
var credentialFlags = []string{"db", "nats", "witness", "checkpoint"}

// dbFromEnv replaces the value env:NAME of a flag that may hold
// credentials (--db, --nats, --witness, --checkpoint) with the value of
// the environment variable NAME, whose secrets join those no message
// shows. Arguments are visible to every local user (ps, /proc/PID/cmdline)
// for as long as a command runs: credentials are better given this way.
// A long running command (serve, relay, seal) given them on the command
// line warns.
func dbFromEnv(args []string, env Env) ([]string, error) {
	out := slices.Clone(args)
	var exposed []string
	for i := 0; i < len(out); i++ {
		a := out[i]
		if a == "--" {
			break
		}
		var value *string
		name := ""
		for _, f := range credentialFlags {
			switch {
			case a == "--"+f || a == "-"+f:
				if i+1 < len(out) {
					i++
					value, name = &out[i], f
				}
			case strings.HasPrefix(a, "--"+f+"=") || strings.HasPrefix(a, "-"+f+"="):
				_, v, _ := strings.Cut(a, "=")
				out[i] = "--" + f
				out = slices.Insert(out, i+1, v)
				i++
				value, name = &out[i], f
			}
			if value != nil {
				break
			}
		}
		if value == nil {
			continue
		}
		variable, ok := strings.CutPrefix(*value, "env:")
		if !ok {
			if len(secretsIn([]string{"--" + name, *value})) > 0 && !slices.Contains(exposed, name) {
				exposed = append(exposed, name)
			}
			continue
		}
		v := env.Getenv(variable)
		if strings.TrimSpace(v) == "" {
			// The name is not repeated: it may be the value itself,
			// pasted in its place.
			return nil, fmt.Errorf("--%s env:…: the environment variable it names is not set, or empty", name)
		}
		for _, s := range secretsIn([]string{"--" + name, v}) {
			env.secrets.add(s)
		}
		*value = v
	}
	if len(exposed) > 0 && len(args) > 0 && (args[0] == "serve" || args[0] == "relay" || args[0] == "seal") {
		fmt.Fprintf(env.Stderr, "auditlog %s: warning: the credentials in --%s are visible to other local users (ps) while the command runs: give the value as env:NAME, NAME an environment variable holding it\n",
			args[0], strings.Join(exposed, ", --"))
	}
	return out, nil
}

// nearFlag is the name of fs's flag within two edits of name, or "".
func nearFlag(fs *flag.FlagSet, name string) string {
	if len(name) > 24 || len(name) < 2 {
		return ""
	}
	near := ""
	fs.VisitAll(func(f *flag.Flag) {
		if near == "" && editDistance(strings.ToLower(name), f.Name) <= 2 {
			near = f.Name
		}
	})
	return near
}

// nearCommand is the command name within two edits of arg, or "".
func nearCommand(arg string) string {
	if len(arg) > 20 {
		return ""
	}
	for _, c := range commands() {
		if editDistance(strings.ToLower(arg), c.name) <= 2 {
			return c.name
		}
	}
	return ""
}

// editDistance is the Levenshtein distance of two short strings, by bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// progressWriter is where progress bars go: stderr as it is.
func (env Env) progressWriter() io.Writer {
	if env.progress != nil {
		return env.progress
	}
	return env.Stderr
}

// flags returns a flag set that reports to stderr and a parse function that
// turns flag errors into usage errors.
func flags(env Env, name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "usage: auditlog %s %s\n\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args, flags and positional arguments in any order, and
// wants positional arguments (fs.Arg) exactly.
func parse(fs *flag.FlagSet, args []string, positional int) error {
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() != positional {
		if positional == 0 {
			// Not shown: it may be a credential given after a flag that
			// takes a name (--token-env NAME "$TOKEN").
			return usageError("unexpected argument: this command takes none, and the one given is not shown (it may be a secret); a flag's value goes right after the flag")
		}
		return usageError("want %d arguments, got %d", positional, fs.NArg())
	}
	return nil
}

// parseArgs parses args into fs with flags allowed after and between the
// positional arguments (the flag package stops at the first of those):
// "history books 42 --as-of 7d", "revert 329 --yes". After "--" every
// argument is positional, so one that begins with "-" can be given. The
// positional arguments are fs.Args(). Flag errors are usage errors, except
// -h, which stays flag.ErrHelp.
func parseArgs(fs *flag.FlagSet, args []string) error {
	flags, positional := splitArgs(fs, args)
	// The flag package prints its error and the usage itself; the error
	// is said once, as a usage error, and the usage only for -h.
	out, usage := fs.Output(), fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(flags)
	if err == nil {
		// Every flag is parsed: this sets the positional arguments.
		err = fs.Parse(append([]string{"--"}, positional...))
	}
	fs.SetOutput(out)
	fs.Usage = usage
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.Usage()
			return err
		}
		if strings.HasPrefix(err.Error(), "flag provided but not defined: ") {
			// Not repeated, unless it is a flag misspelt: it may be a
			// secret that begins with "-", given where no flag takes it.
			name := strings.TrimPrefix(err.Error(), "flag provided but not defined: ")
			name, _, _ = strings.Cut(strings.TrimLeft(name, "-"), "=")
			if near := nearFlag(fs, name); near != "" {
				return usageError("unknown flag: did you mean --%s? (an argument that begins with \"-\" goes after --)", near)
			}
			return usageError("an argument that begins with \"-\" is no flag of this command (not shown: it may be a secret); such an argument goes after --")
		}
		if strings.HasPrefix(err.Error(), "bad flag syntax: ") {
			return usageError("an argument of a flag's bad syntax (not shown: it may be a secret); an argument that begins with \"-\" goes after --")
		}
		if strings.HasPrefix(err.Error(), "invalid boolean value ") {
			if _, rest, ok := strings.Cut(err.Error(), " for -"); ok {
				flagName, _, _ := strings.Cut(rest, ":")
				return usageError("--%s takes no value, or true or false (the value given is not shown)", flagName)
			}
		}
		if strings.HasPrefix(err.Error(), "invalid value ") {
			// The flag package quotes the value: only the flag is named.
			if _, rest, ok := strings.Cut(err.Error(), " for flag -"); ok {
				flagName, why, _ := strings.Cut(rest, ": ")
				return usageError("--%s: invalid value (not shown): %s", flagName, why)
			}
		}
		return errUsage{err}
	}
	// A flag given empty or blank is an error, not the flag left out: an
	// unset shell variable (--output "$OUT", --witness-file "$W") must not
	// send the log to stdout, seal without a witness, or listen on every
	// address.
	for i := 0; i < len(flags); i++ {
		name, v, given := strings.Cut(strings.TrimLeft(flags[i], "-"), "=")
		f := fs.Lookup(name)
		if f == nil {
			continue
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if !given && i+1 < len(flags) {
			i++
			v = flags[i]
		}
		if strings.TrimSpace(v) == "" {
			return usageError("--%s is empty: give it a value, or leave it out", f.Name)
		}
	}
	return nil
}

// splitArgs separates args into flags (with the values they take) and
// positional arguments, as the flag package reads them: "-" alone and
// anything not beginning with "-" is positional, "--" ends the flags, a
// flag takes the next argument as its value unless it is written -name=v
// or is a boolean flag. An unknown flag takes no value: fs.Parse reports it.
func splitArgs(fs *flag.FlagSet, args []string) (flags, positional []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return flags, append(positional, args[i+1:]...)
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimPrefix(a[1:], "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			flags = append(flags, args[i+1])
			i++
		}
	}
	return flags, positional
}

// openStore opens --db for a command that reads or deletes entries.
func openStore(ctx context.Context, dsn string) (*auditstore.Store, func(), error) {
	t, err := ParseDSN(dsn)
	if err != nil {
		return nil, nil, usageError("%v", err)
	}
	return openTarget(ctx, t)
}

func openTarget(ctx context.Context, t Target) (*auditstore.Store, func(), error) {
	db, err := openMigrated(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	s, err := auditstore.New(db, t.Dialect)
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	return s, func() { _ = db.Close() }, nil
}

// openMigrated opens t for a command that needs the audit tables, and
// says to migrate where they are missing or older than this program's,
// rather than fail on the first query with the database's own words.
func openMigrated(ctx context.Context, t Target) (*sql.DB, error) {
	db, err := t.Open(ctx, false)
	if err != nil {
		return nil, err
	}
	if err := auditstore.CheckMigrated(ctx, db, t.Dialect); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("%s: %w", t.Display, err)
	}
	return db, nil
}

// filterFlags are the list filters shared by export (the UI's filters).
type filterFlags struct {
	model, action, actor, cid, pk, search, since, until string
}

func (f *filterFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.model, "model", "", "only this model")
	fs.StringVar(&f.action, "action", "", "only this action: create, update, delete or access")
	fs.StringVar(&f.actor, "actor", "", "only this actor id")
	fs.StringVar(&f.cid, "cid", "", "only this correlation id")
	fs.StringVar(&f.pk, "pk", "", "only this object key")
	fs.StringVar(&f.search, "search", "", "only objects whose repr contains this text")
	fs.StringVar(&f.since, "since", "", "only entries at or after DATE (2006-01-02, RFC 3339, or a duration ago such as 7d)")
	fs.StringVar(&f.until, "until", "", "only entries before DATE")
}

func (f *filterFlags) filter(now time.Time) (auditstore.Filter, error) {
	out := auditstore.Filter{Model: f.model, ActorID: f.actor, CorrelationID: f.cid, ObjectPK: f.pk, Search: f.search}
	if f.action != "" {
		a, err := parseAction(f.action)
		if err != nil {
			return out, err
		}
		out.Actions = append(out.Actions, a)
	}
	var err error
	if out.Since, err = parseWhen(f.since, now); err != nil {
		return out, usageError("--since: %v", err)
	}
	if out.Until, err = parseWhen(f.until, now); err != nil {
		return out, usageError("--until: %v", err)
	}
	if !out.Since.IsZero() && !out.Until.IsZero() && !out.Since.Before(out.Until) {
		// As the UI says: no entry is at or after the one and before the
		// other, and an empty export would read as "nothing happened".
		return out, usageError("--since %s is not before --until %s", termSafe(f.since), termSafe(f.until))
	}
	return out, nil
}

// oldestWhen is the earliest time a --before, --since or --until may name.
var oldestWhen = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)

// parseWhen reads a date, an RFC 3339 time, or a positive age before now
// ("90d", "12h", "30m"). The result is never before 1970-01-01, so no
// value wraps around or turns into the zero time (which means "no bound").
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := parseWhenText(s, now)
	if err != nil {
		return time.Time{}, err
	}
	if t.Before(oldestWhen) {
		return time.Time{}, errOutOfRange(s)
	}
	return t, nil
}

func parseWhenText(s string, now time.Time) (time.Time, error) {
	return auditstore.ParseTime(s, now, time.UTC)
}

func errOutOfRange(s string) error {
	return fmt.Errorf("%q is out of range: the earliest time allowed is 1970-01-01", s)
}
