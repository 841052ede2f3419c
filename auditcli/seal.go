package auditcli

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/go-auditlog/auditlog/auditnats"
	"github.com/go-auditlog/auditlog/auditseal"
)

// The commands of the sealed log (package auditseal).

const (
	sealKeyArgs     = "--name NAME --out FILE"
	sealArgs        = "--db DSN --key-file FILE [--interval 1s] [--once] [--gap-wait 10m] [--witness-file FILE] [--witness nats://… …]"
	verifyArgs      = "--db DSN --pubkey KEY|FILE [--checkpoint FILE|nats://…]... [--record]"
	proveArgs       = "--db DSN ENTRY_ID"
	verifyProofArgs = "--pubkey KEY|FILE [PROOF_FILE|-]"
)

// The largest files the sealing commands read (a file named by mistake,
// such as /dev/zero, must not be read whole): a key is one line of about a
// hundred bytes; a proof holds one entry, whose values are each stored up
// to auditgorm.MaxValueBytes (1 MiB), so it allows as much as a proof on
// stdin. Checkpoint files have their limits in auditseal.ReadCheckpoints.
const (
	maxKeyFile   = 1 << 20
	maxProofFile = 64 << 20
)

// runSealKey makes a signing key: the private key goes to a new file only
// its owner can read, the public key to stdout.
func runSealKey(_ context.Context, env Env, args []string) error {
	fs := flags(env, "seal-key", sealKeyArgs)
	name := fs.String("name", "", "the log's name, which its checkpoints carry (e.g. example.com/audit)")
	out := fs.String("out", "", "new file for the private key (never printed)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *name == "" || *out == "" {
		return usageError("--name and --out are required")
	}
	if *out == "-" {
		return usageError("--out takes a new file for the private key, which no command prints: not -")
	}
	if strings.ContainsAny(*name, "+ \t\n") {
		return usageError("--name must not contain spaces or +")
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, *name)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("the private key's file: %w", err)
	}
	if _, err := io.WriteString(f, skey+"\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, vkey)
	return nil
}

// readSigner reads a private key file.
func readSigner(env Env, path string) (note.Signer, error) {
	if strings.HasPrefix(path, "PRIVATE+") {
		// The key itself on the command line: never echoed.
		env.secrets.add(path)
		return nil, usageError("--key-file takes the file that holds the private key, not the key (which others see on a command line)")
	}
	raw, err := readSmallFile(path, maxKeyFile)
	if err != nil {
		return nil, fmt.Errorf("--key-file: %w", err)
	}
	skey := strings.TrimSpace(string(raw))
	env.secrets.add(skey)
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, errors.New("--key-file: not a private key made by auditlog seal-key")
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		// Whoever reads it can sign checkpoints of a log they edited.
		fmt.Fprintf(env.Stderr, "auditlog seal: warning: %s is readable by other users (mode %04o); chmod 600 it\n", termSafe(path), st.Mode().Perm())
	}
	return s, nil
}

// readVerifier reads a public key, given as itself or as a file.
func readVerifier(key string) (note.Verifier, error) {
	if key == "" {
		return nil, usageError("--pubkey is required")
	}
	text := key
	if raw, err := readSmallFile(key, maxKeyFile); err == nil {
		text = strings.TrimSpace(string(raw))
	} else if _, isPath := err.(*os.PathError); !isPath || !strings.Contains(key, "+") {
		return nil, fmt.Errorf("--pubkey: %w", err)
	}
	if strings.HasPrefix(text, "PRIVATE+") {
		return nil, usageError("--pubkey is given a private key; pass the public key seal-key printed")
	}
	v, err := note.NewVerifier(text)
	if err != nil {
		return nil, usageError("--pubkey: not a public key made by auditlog seal-key")
	}
	return v, nil
}

func runSeal(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "seal", sealArgs)
	dsn := fs.String("db", "", "database: sqlite:PATH, postgres://…, mysql://…")
	keyFile := fs.String("key-file", "", "the private key made by auditlog seal-key")
	interval := fs.Duration("interval", time.Second, "time between rounds")
	once := fs.Bool("once", false, "seal one round and exit")
	gapWait := fs.Duration("gap-wait", auditseal.DefaultGapWait, "how long a missing entry id holds the sealer's position (above the longest transaction)")
	witnessFile := fs.String("witness-file", "", "append each checkpoint to this file (keep it out of the database administrator's reach)")
	var witnessNATS []string
	fs.Func("witness", "publish each checkpoint to NATS JetStream: nats://host:4222[/subject][?stream=NAME]; repeatable", func(v string) error {
		witnessNATS = append(witnessNATS, v)
		return nil
	})
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *keyFile == "" {
		return usageError("--key-file is required")
	}
	if *interval <= 0 || *gapWait <= 0 {
		return usageError("--interval and --gap-wait must be positive")
	}
	t, err := ParseDSN(*dsn)
	if err != nil {
		return usageError("%v", err)
	}
	if *witnessFile != "" {
		if err := checkWitnessFile(*witnessFile, *keyFile, t.Path); err != nil {
			return err
		}
	}
	signer, err := readSigner(env, *keyFile)
	if err != nil {
		return err
	}
	db, err := openMigrated(ctx, t)
	if err != nil {
		return err
	}
	defer db.Close()
	s, err := auditseal.New(db, t.Dialect, signer, signer.Name())
	if err != nil {
		return err
	}
	s.GapWait = *gapWait
	if *witnessFile != "" {
		s.Witnesses = append(s.Witnesses, &auditseal.FileWitness{Path: *witnessFile})
	}
	for _, url := range witnessNATS {
		target, err := auditnats.Parse(url)
		if err != nil {
			return usageError("--witness: %v", err)
		}
		w, err := auditnats.Connect(ctx, target)
		if err != nil {
			return err
		}
		defer w.Close()
		s.Witnesses = append(s.Witnesses, w)
	}
	if *once {
		r, err := s.Round(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "Sealed %d %s; the tree has %d %s.\n", r.Sealed, plural(int64(r.Sealed), "entry", "entries"), r.Size, plural(r.Size, "leaf", "leaves"))
		return nil
	}
	fmt.Fprintf(env.Stderr, "auditlog seal: sealing log %s every %s\n", signer.Name(), *interval)
	err = s.Run(ctx, *interval, func(err error) { fmt.Fprintf(env.Stderr, "auditlog seal: %v\n", err) })
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// checkWitnessFile refuses a --witness-file that is the key file or the
// SQLite database at dbPath (or one of its files), by any name (symlinks,
// hard links): a checkpoint appended to it would corrupt it.
func checkWitnessFile(witness, keyFile, dbPath string) error {
	// A descriptor by number (/dev/fd/7, /proc/self/fd/7) that is not
	// open yet would be one the command opens itself, the database's.
	if fdDirRE.MatchString(filepath.Dir(filepath.Clean(witness))) {
		if _, err := os.Stat(witness); err != nil {
			return usageError("--witness-file %s names a file descriptor that is not open: choose a file", termSafe(witness))
		}
	}
	if dbPath != "" && isDatabaseFile(witness, dbPath) {
		return usageError("--witness-file %s is the database (or one of its files): choose another file", termSafe(witness))
	}
	if sameFile(witness, keyFile) {
		return usageError("--witness-file %s is the --key-file: choose another file", termSafe(witness))
	}
	return nil
}

// sameFile reports whether a and b name one file: the same existing file,
// or the same path once symlinks are resolved.
func sameFile(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	if errA == nil && errB == nil && os.SameFile(sa, sb) {
		return true
	}
	ra, rb := resolvedName(a), resolvedName(b)
	return ra != "" && ra == rb
}

// fdDirRE matches the directories that list a process's open descriptors.
var fdDirRE = regexp.MustCompile(`^/(?:dev/fd|proc/(?:self|thread-self|\d+)/fd|proc/(?:self|\d+)/task/\d+/fd)$`)

func runVerify(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "verify", verifyArgs)
	dsn := fs.String("db", "", "database: sqlite:PATH, postgres://…, mysql://…")
	pubkey := fs.String("pubkey", "", "the public key seal-key printed, or a file holding it")
	var trusted []string
	fs.Func("checkpoint", "checkpoints kept outside the database: a file (a witness file, or one checkpoint) or nats://host:4222[/subject][?stream=NAME]; repeatable", func(s string) error {
		trusted = append(trusted, s)
		return nil
	})
	gapWait := fs.Duration("gap-wait", auditseal.DefaultGapWait, "the sealer's --gap-wait")
	record := fs.Bool("record", false, "store the result in the database, for the admin UI")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	v, err := readVerifier(*pubkey)
	if err != nil {
		return err
	}
	o := auditseal.VerifyOptions{Origin: v.Name(), Verifier: v, GapWait: *gapWait}
	// keep takes a source's checkpoints: one that holds none of this
	// log's checks nothing, and says so rather than pass.
	keep := func(source string, cps [][]byte) error {
		ours := 0
		for _, cp := range cps {
			if auditseal.CheckpointOrigin(cp) == v.Name() {
				ours++
			}
		}
		if ours == 0 {
			return fmt.Errorf("--checkpoint %s holds no checkpoint of %s (%d of other logs): nothing to check the log against", source, termSafe(v.Name()), len(cps))
		}
		o.Trusted = append(o.Trusted, cps...)
		return nil
	}
	for _, path := range trusted {
		if strings.HasPrefix(path, "nats://") || strings.HasPrefix(path, "tls://") {
			target, err := auditnats.Parse(path)
			if err != nil {
				return usageError("--checkpoint: %v", err)
			}
			cps, err := auditnats.Checkpoints(ctx, target)
			if err != nil {
				return err
			}
			if err := keep(target.Host()+"/"+target.Subject, cps); err != nil {
				return err
			}
			continue
		}
		f, err := openForReading(path)
		if err != nil {
			return fmt.Errorf("--checkpoint: %w", err)
		}
		cps, err := auditseal.ReadCheckpoints(f)
		f.Close()
		var large *auditseal.TooLargeError
		if errors.As(err, &large) {
			return fmt.Errorf("--checkpoint: %s is larger than %d bytes, the most %s may take", path, large.Limit, large.What)
		}
		if err != nil {
			return fmt.Errorf("--checkpoint %s: %w", path, err)
		}
		if err := keep(path, cps); err != nil {
			return err
		}
	}
	db, t, err := openDB(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if env.StderrTerminal {
		o.Progress = func(done, total int64) { bar(env.progressWriter(), done, total) }
	}
	rep, err := auditseal.Verify(ctx, db, t.Dialect, o)
	if env.StderrTerminal {
		fmt.Fprintln(env.Stderr)
	}
	if err != nil {
		return err
	}
	if *record {
		if err := auditseal.Record(ctx, db, t.Dialect, rep); err != nil {
			return err
		}
	}
	w := env.Stdout
	fmt.Fprintf(w, "%d sealed %s, %d %s (latest: %d %s).\n", rep.Leaves, plural(rep.Leaves, "entry", "entries"),
		rep.Checkpoints, plural(int64(rep.Checkpoints), "checkpoint", "checkpoints"), rep.Latest, plural(rep.Latest, "entry", "entries"))
	if len(trusted) > 0 {
		fmt.Fprintf(w, "Kept outside the database: %d %s of this log checked", rep.Trusted, plural(int64(rep.Trusted), "checkpoint", "checkpoints"))
		if rep.OtherLogs > 0 {
			fmt.Fprintf(w, ", %d %s of another log passed over", rep.OtherLogs, plural(int64(rep.OtherLogs), "checkpoint", "checkpoints"))
		}
		fmt.Fprintln(w, ".")
	}
	for _, p := range rep.Pruned {
		unsigned := ""
		if !p.Signed {
			unsigned = " (not signed yet: the next sealing round signs it)"
		}
		fmt.Fprintf(w, "Pruned: %d %s by %s at %s%s.\n", p.Leaves, plural(p.Leaves, "entry", "entries"), termSafe(p.By), p.At.Format(time.RFC3339), unsigned)
	}
	if rep.Unsealed > 0 {
		fmt.Fprintf(w, "Not sealed yet: %d %s, the oldest from %s.\n", rep.Unsealed, plural(rep.Unsealed, "entry", "entries"), rep.Oldest.Format(time.RFC3339))
		if rep.Leaves == 0 && rep.Checkpoints == 0 && rep.Trusted == 0 {
			// Also what a log whose seal tables were emptied looks like.
			fmt.Fprintln(w, "Nothing is sealed: no checkpoint signs any entry, so nothing here is proven. If this log was sealed before, its seal tables were emptied: check it against a checkpoint kept outside the database (--checkpoint).")
		}
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(w, "PROBLEM: "+termSafe(p.String()))
	}
	if !rep.OK() {
		return fmt.Errorf("the log does not verify: %d %s", len(rep.Problems), plural(int64(len(rep.Problems)), "problem", "problems"))
	}
	fmt.Fprintln(w, "The log verifies.")
	return nil
}

func runProve(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "prove", proveArgs)
	dsn := fs.String("db", "", "database: sqlite:PATH, postgres://…, mysql://…")
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
	if err != nil || id <= 0 {
		return usageError("ENTRY_ID must be a positive integer")
	}
	db, t, err := openDB(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	p, err := auditseal.Prove(ctx, db, t.Dialect, id)
	if err != nil {
		return err
	}
	// The leaf holds the entry's stored text: escaped on a terminal, as
	// export does (the JSON keeps its values), exact into a pipe or file.
	out, done := forTerminal(env.Stdout, env.StdoutTerminal)
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(p); err != nil {
		return err
	}
	return done()
}

func runVerifyProof(_ context.Context, env Env, args []string) error {
	fs := flags(env, "verify-proof", verifyProofArgs)
	pubkey := fs.String("pubkey", "", "the public key seal-key printed, or a file holding it")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return usageError("want at most one proof file")
	}
	v, err := readVerifier(*pubkey)
	if err != nil {
		return err
	}
	var raw []byte
	if path := fs.Arg(0); path != "" && path != "-" {
		raw, err = readSmallFile(path, maxProofFile)
	} else {
		raw, err = readAtMost(env.Stdin, "the proof on stdin", maxProofFile)
	}
	if err != nil {
		return err
	}
	var p auditseal.Proof
	if err := json.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("not a proof made by auditlog prove: %v", err)
	}
	if err := auditseal.CheckProof(p, v.Name(), v); err != nil {
		return err
	}
	var leaf []json.RawMessage
	_ = json.Unmarshal([]byte(p.Leaf), &leaf)
	entry := "the entry"
	if len(leaf) > 1 {
		entry = "entry " + termSafe(string(leaf[1]))
	}
	fmt.Fprintf(env.Stdout, "The proof holds: %s is leaf %d of the log %s of %d entries, signed by its key.\n", entry, p.Index, termSafe(v.Name()), p.Size)
	return nil
}

// openDB opens --db as a database/sql pool.
func openDB(ctx context.Context, dsn string) (*sql.DB, Target, error) {
	t, err := ParseDSN(dsn)
	if err != nil {
		return nil, t, usageError("%v", err)
	}
	db, err := openMigrated(ctx, t)
	return db, t, err
}
