package auditcli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditnats"
	"github.com/go-auditlog/auditlog/auditrelay"
	"github.com/go-auditlog/auditlog/auditstore"
)

const relayArgs = "--db DSN (--nats nats://HOST:4222 [--stream NAME] [--prefix P] | --to jsonl:FILE|jsonl:-|-) [--once] [--lag]"

// runRelay publishes committed entries to NATS JetStream or as JSON Lines
// (package auditrelay), until interrupted.
func runRelay(ctx context.Context, env Env, args []string) (rerr error) {
	fs := flags(env, "relay", relayArgs)
	dsn := fs.String("db", "", "database: sqlite:PATH, postgres://…, mysql://…")
	natsURL := fs.String("nats", "", "publish to NATS JetStream at this server: nats://host:4222")
	stream := fs.String("stream", auditnats.DefaultEntriesStream, "the JetStream stream (created when absent)")
	prefix := fs.String("prefix", auditnats.DefaultEntriesPrefix, "subject prefix: an entry goes to PREFIX.<model>.<action>")
	dups := fs.Duration("duplicate-window", auditnats.DefaultDuplicates, "the duplicate window of a stream the relay creates")
	to := fs.String("to", "", "write JSON Lines instead: jsonl:FILE (appended) or jsonl:- (or -: stdout)")
	name := fs.String("name", "", "the relay's name, which keys its position (default: nats:STREAM or jsonl:FILE)")
	interval := fs.Duration("interval", time.Second, "time between rounds when nothing is waiting")
	batch := fs.Int("batch", auditrelay.DefaultBatch, "entries a round publishes at most")
	gapWait := fs.Duration("gap-wait", auditrelay.DefaultGapWait, "how long a missing entry id holds the relay's position (above the longest transaction)")
	once := fs.Bool("once", false, "publish what is waiting and exit")
	lagOnly := fs.Bool("lag", false, "print how far the relay is behind and exit")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if (*natsURL == "") == (*to == "") {
		return usageError("give one destination: --nats URL or --to jsonl:FILE|jsonl:-")
	}
	if *interval <= 0 || *gapWait <= 0 || *batch <= 0 || *batch > 100_000 || *dups <= 0 {
		return usageError("--interval, --gap-wait and --duplicate-window must be positive, --batch 1 to 100000")
	}
	var path string
	if *to == "-" {
		*to = "jsonl:-"
	}
	if *to != "" {
		var ok bool
		if path, ok = strings.CutPrefix(*to, "jsonl:"); !ok || path == "" {
			return usageError("--to takes jsonl:FILE or jsonl:-")
		}
		if path != "-" {
			abs, err := filepath.Abs(path)
			if err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			path = abs
		}
	}
	relayName := *name
	if relayName == "" {
		if *natsURL != "" {
			relayName = "nats:" + *stream
		} else {
			relayName = "jsonl:" + path
		}
	}
	if err := auditrelay.CheckName(relayName); err != nil {
		return usageError("%s", strings.TrimPrefix(err.Error(), "auditrelay: "))
	}
	db, t, err := openDB(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if *lagOnly {
		lag, err := auditrelay.ReadLag(ctx, db, t.Dialect, relayName, time.Now())
		if err != nil {
			return err
		}
		printLag(env, relayName, lag)
		return nil
	}
	var sink auditrelay.Sink
	var where string
	out := env.Stdout // the command's own messages: stderr when stdout carries the entries
	switch {
	case *natsURL != "":
		s, err := auditnats.ConnectSink(ctx, *natsURL, auditnats.SinkOptions{Stream: *stream, Prefix: *prefix, Duplicates: *dups})
		if err != nil {
			return err
		}
		defer func() {
			if err := s.Close(); err != nil && rerr == nil {
				rerr = err
			}
		}()
		sink, where = s, "stream "+*stream+" on "+auditnats.Target{URL: *natsURL}.Host()
	case path == "-":
		// Stored text is escaped on a terminal, as export does; a pipe
		// gets the exact lines.
		w, done := forTerminal(env.Stdout, env.StdoutTerminal)
		defer done()
		sink, where, out = auditrelay.NewJSONL(w, relayName), "stdout", env.Stderr
	default:
		if t.Dialect == auditstore.SQLite && isDatabaseFile(path, t.Path) {
			// SQLite's checkpoints would overwrite the lines, after the
			// relay saved its position past them.
			return usageError("--to %s is the database (or one of its files): choose another file", termSafe(path))
		}
		f, err := openJSONL(path)
		if err != nil {
			return fmt.Errorf("--to: %w", err)
		}
		if isTerminal(f) { // jsonl:/dev/tty
			defer f.Close()
			w, done := forTerminal(f, true)
			defer done()
			sink = auditrelay.NewJSONL(w, relayName)
		} else {
			rs := &reopeningJSONL{path: path, name: relayName, f: f, sink: auditrelay.NewJSONL(f, relayName)}
			defer rs.close()
			sink = rs
		}
		where = path
	}
	r, err := auditrelay.New(db, t.Dialect, sink)
	if err != nil {
		return err
	}
	r.Name, r.Batch, r.GapWait = relayName, *batch, *gapWait
	r.Logger = slog.New(slog.NewTextHandler(env.Stderr, nil))
	if *once {
		n, err := r.CatchUp(ctx)
		fmt.Fprintf(out, "Published %d %s to %s.\n", n, plural(int64(n), "entry", "entries"), termSafe(where))
		if err != nil {
			return err
		}
		lag, err := r.Lag(ctx)
		if err != nil {
			return err
		}
		printLag(envWithStdout(env, out), relayName, lag)
		return nil
	}
	fmt.Fprintf(env.Stderr, "auditlog relay: publishing entries to %s as %s every %s\n", termSafe(where), termSafe(relayName), *interval)
	err = r.Run(ctx, *interval)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func envWithStdout(env Env, w io.Writer) Env {
	env.Stdout = w
	return env
}

// printLag prints how far the relay named name is behind.
func printLag(env Env, name string, lag auditrelay.Lag) {
	name = termSafe(name)
	if lag.Updated.IsZero() {
		fmt.Fprintf(env.Stdout, "Relay %s has not published yet; %d %s waiting.\n", name, lag.Entries, plural(lag.Entries, "entry is", "entries are"))
		return
	}
	fmt.Fprintf(env.Stdout, "Relay %s: %d published in all, last at %s; %d %s waiting", name, lag.Published,
		lag.Updated.UTC().Format(time.RFC3339), lag.Entries, plural(lag.Entries, "entry", "entries"))
	if lag.Entries > 0 {
		fmt.Fprintf(env.Stdout, ", the oldest from %s ago", lag.Behind.Round(time.Second))
	}
	fmt.Fprintln(env.Stdout, ".")
}

// openJSONL opens the file of --to jsonl:FILE to append to. A regular file
// is opened to be read as well, so that the sink can see a line a crash
// left without its newline; a FIFO or a device write-only (O_RDWR would not
// wait for a reader of a FIFO).
func openJSONL(path string) (*os.File, error) {
	mode := os.O_WRONLY
	if fi, err := os.Stat(path); errors.Is(err, os.ErrNotExist) || err == nil && fi.Mode().IsRegular() {
		mode = os.O_RDWR
	}
	f, err := os.OpenFile(path, mode|os.O_APPEND|os.O_CREATE, 0o600)
	if mode == os.O_RDWR && errors.Is(err, os.ErrPermission) {
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	}
	return f, err
}

// reopeningJSONL is the JSON Lines sink of a file that a log rotation may
// rename or delete: each round first checks that the path still names the
// file open, and opens it anew where it does not. Writing on into the
// renamed or deleted file, the relay saved its position past entries that
// no reader of the path would see.
type reopeningJSONL struct {
	path, name string
	f          *os.File
	sink       *auditrelay.JSONL
}

func (r *reopeningJSONL) Name() string { return r.name }

func (r *reopeningJSONL) Publish(ctx context.Context, entries []auditlog.Entry) error {
	open, err1 := r.f.Stat()
	now, err2 := os.Stat(r.path)
	if err1 != nil || err2 != nil || !os.SameFile(open, now) {
		f, err := openJSONL(r.path)
		if err != nil {
			return fmt.Errorf("open %s again (renamed or deleted): %w", termSafe(r.path), err)
		}
		r.f.Close()
		r.f, r.sink = f, auditrelay.NewJSONL(f, r.name)
	}
	return r.sink.Publish(ctx, entries)
}

func (r *reopeningJSONL) close() { r.f.Close() }
