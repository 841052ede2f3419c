package auditcli_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSealAttackSealKeyOnCommandLine (it once got through): an operator who passes the private key
// itself to --key-file (as --pubkey takes a key or a file) gets it echoed
// in the error message, which logs and CI output keep. The other commands
// redact secrets from every message; this one does not.
func TestSealAttackSealKeyOnCommandLine(t *testing.T) {
	path, _ := seeded(t)
	keyFile, _ := sealKey(t, t.TempDir())
	raw, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	skey := strings.TrimSpace(string(raw))
	r := run(t, "", false, "seal", "--db", "sqlite:"+path, "--key-file", skey, "--once")
	secret := strings.SplitN(skey, "+", 5)[4] // PRIVATE+KEY+name+hash+key (the key may hold a +)
	if strings.Contains(r.stdout+r.stderr, secret) {
		t.Errorf("the private key is printed (exit %d): %s", r.code, strings.TrimSpace(r.stderr))
	}
}

// TestSealAttackVerifyProofLargeID: verify-proof names the entry from the
// leaf decoded as float64: entry 1000000 is shown as "entry 1e+06".
func TestSealAttackVerifyProofLargeID(t *testing.T) {
	path, _ := seeded(t)
	keyFile, pub := sealKey(t, t.TempDir())
	sqlDB, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	const cols = "timestamp, action, model, object_pk, object_id, object_repr, changes, serialized_data, additional_data, actor_id, actor_name, remote_addr, remote_port, cid"
	if _, err := sqlDB.Exec("INSERT INTO auditlog_entries (id, " + cols + ") SELECT 1000000, " + cols + " FROM auditlog_entries WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	sqlDB.Close()
	if r := run(t, "", false, "seal", "--db", "sqlite:"+path, "--key-file", keyFile, "--once"); r.code != 0 {
		t.Fatalf("seal: %+v", r)
	}
	r := run(t, "", false, "prove", "--db", "sqlite:"+path, "1000000")
	if r.code != 0 {
		t.Fatalf("prove: %+v", r)
	}
	r = run(t, r.stdout, false, "verify-proof", "--pubkey", pub, "-")
	if r.code != 0 || !strings.Contains(r.stdout, "entry 1000000 ") {
		t.Errorf("verify-proof: %s", strings.TrimSpace(r.stdout))
	}
}

// TestSealNATSCredentialsNotShown: a NATS URL's user part (a token, or a
// user and password) is never shown, whichever command fails to connect.
func TestSealNATSCredentialsNotShown(t *testing.T) {
	path, _ := seeded(t)
	keyFile, pub := sealKey(t, t.TempDir())
	db := "sqlite:" + path
	for _, args := range [][]string{
		{"seal", "--db", db, "--key-file", keyFile, "--once", "--witness", "nats://s3cr3ttok@127.0.0.1:1"},
		{"seal", "--db", db, "--key-file", keyFile, "--once", "--witness", "nats://bob:pa55word@127.0.0.1:1"},
		{"verify", "--db", db, "--pubkey", pub, "--checkpoint", "nats://s3cr3ttok@127.0.0.1:1"},
		{"verify", "--db", db, "--pubkey", pub, "--checkpoint", "nats://s3cr3ttok@127.0.0.1:1/a..b"},
	} {
		r := run(t, "", false, args...)
		if r.code == 0 || r.stderr == "" {
			t.Errorf("%v: exit %d, %q", args, r.code, r.stderr)
		}
		for _, secret := range []string{"s3cr3ttok", "pa55word"} {
			if strings.Contains(r.stdout+r.stderr, secret) {
				t.Errorf("%v: %s is shown: %s", args, secret, r.stderr)
			}
		}
	}
}

// Key, proof and checkpoint files are read up to a limit each, with an
// error that names the file and the limit: /dev/zero, or a file of any
// size given by mistake, is refused instead of being read whole (out of
// memory). The files here are sparse: large, and taking no disk.
func TestSealFilesReadUpToALimit(t *testing.T) {
	t.Parallel()
	path, _ := seeded(t)
	db := "sqlite:" + path
	dir := t.TempDir()
	_, pub := sealKey(t, dir)
	pubFile := filepath.Join(dir, "seal.pub")
	if err := os.WriteFile(pubFile, []byte(pub+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sparse := func(name string, size int64) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		f.Close()
		return p
	}
	bigKey := sparse("big.key", 1<<20+1)
	bigProof := sparse("big.proof", 64<<20+1)
	bigCheckpoint := sparse("big.cp", 1<<20+1)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"seal", "--db", db, "--key-file", bigKey, "--once"}, bigKey + " is larger than 1048576 bytes"},
		{[]string{"verify-proof", "--pubkey", bigKey, pubFile}, bigKey + " is larger than 1048576 bytes"},
		{[]string{"verify-proof", "--pubkey", pubFile, bigProof}, bigProof + " is larger than 67108864 bytes"},
		{[]string{"verify", "--db", db, "--pubkey", pub, "--checkpoint", bigCheckpoint}, bigCheckpoint + " is larger than 1048576 bytes"},
		{[]string{"verify", "--db", db, "--pubkey", bigKey}, bigKey + " is larger than 1048576 bytes"},
		{[]string{"seal", "--db", db, "--key-file", "/dev/zero", "--once"}, "/dev/zero is larger than 1048576 bytes"},
		{[]string{"verify-proof", "--pubkey", "/dev/zero", pubFile}, "/dev/zero is larger than 1048576 bytes"},
		{[]string{"verify-proof", "--pubkey", pubFile, "/dev/zero"}, "/dev/zero is larger than 67108864 bytes"},
		{[]string{"verify", "--db", db, "--pubkey", pub, "--checkpoint", "/dev/zero"}, "/dev/zero is larger than 1048576 bytes"},
	} {
		r := runProcess(t, nil, tc.args...)
		if r.code != 1 && r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}

// seal --witness-file refuses the files it would corrupt by appending to
// them: the key file and the SQLite database (its -wal and -shm too), by
// any name. Each is left as it was.
func TestSealWitnessFileRefusesKeyAndDatabase(t *testing.T) {
	t.Parallel()
	path, _ := seeded(t)
	db := "sqlite:" + path
	dir := t.TempDir()
	keyFile, _ := sealKey(t, dir)
	link := func(name, target string, hard bool) string {
		p := filepath.Join(dir, name)
		mk := os.Symlink
		if hard {
			mk = os.Link
		}
		if err := mk(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	dbLink, keyLink := link("db-link", path, false), link("key-link", keyFile, false)
	dbHard, keyHard := link("db-hard", path, true), link("key-hard", keyFile, true)
	// A link to the WAL or journal that does not exist yet: the append
	// would create it.
	walLink, journalLink := link("wal-link", path+"-wal", false), link("journal-link", path+"-journal", false)
	chained := link("chained", walLink, false)
	for _, tc := range []struct {
		witness, want string
	}{
		{walLink, "is the database"},
		{journalLink, "is the database"},
		{chained, "is the database"},
		{"/dev/fd/97", "not open"},
		{"/proc/self/fd/97", "not open"},
		{keyFile, "is the --key-file"},
		{keyLink, "is the --key-file"},
		{keyHard, "is the --key-file"},
		{path, "is the database"},
		{path + "-wal", "is the database"},
		{path + "-shm", "is the database"},
		{dbLink, "is the database"},
		{dbHard, "is the database"},
	} {
		key, _ := os.ReadFile(keyFile)
		before, _ := os.ReadFile(path)
		r := run(t, "", false, "seal", "--db", db, "--key-file", keyFile, "--once", "--witness-file", tc.witness)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("--witness-file %s: exit %d, stderr %q; want 2 and %q", tc.witness, r.code, r.stderr, tc.want)
		}
		for _, side := range []string{path + "-wal", path + "-journal"} {
			if st, err := os.Stat(side); err == nil && st.Size() > 0 && strings.Contains(tc.witness, "link") {
				if b, _ := os.ReadFile(side); strings.Contains(string(b), "checkpoint") {
					t.Fatalf("--witness-file %s: a checkpoint went into %s", tc.witness, side)
				}
			}
		}
		if after, _ := os.ReadFile(keyFile); string(after) != string(key) {
			t.Fatalf("--witness-file %s: the key file changed", tc.witness)
		}
		if after, _ := os.ReadFile(path); string(after) != string(before) {
			t.Fatalf("--witness-file %s: the database file changed", tc.witness)
		}
	}
}

// seal --once with nothing new to seal still leaves the latest signed
// checkpoint in the witness file, once: verify --checkpoint can read the
// file right after.
func TestSealWitnessFileWithNothingNew(t *testing.T) {
	t.Parallel()
	path, _ := seeded(t)
	db := "sqlite:" + path
	dir := t.TempDir()
	keyFile, pub := sealKey(t, dir)
	if r := run(t, "", false, "seal", "--db", db, "--key-file", keyFile, "--once"); r.code != 0 {
		t.Fatalf("seal: %+v", r)
	}
	kept := filepath.Join(dir, "kept.cp")
	for i := range 2 {
		r := run(t, "", false, "seal", "--db", db, "--key-file", keyFile, "--once", "--witness-file", kept)
		if r.code != 0 || !strings.Contains(r.stdout, "Sealed 0 entries") {
			t.Fatalf("seal %d with nothing new: %+v", i, r)
		}
		raw, err := os.ReadFile(kept)
		if err != nil {
			t.Fatalf("seal %d with nothing new: %v", i, err)
		}
		if n := strings.Count(string(raw), "\n"); n != 1 || !strings.Contains(string(raw), `"size":6`) {
			t.Fatalf("seal %d: the witness file holds %d lines: %s", i, n, raw)
		}
	}
	if r := run(t, "", false, "verify", "--db", db, "--pubkey", pub, "--checkpoint", kept); r.code != 0 || !strings.Contains(r.stdout, "The log verifies.") {
		t.Fatalf("verify --checkpoint: %+v", r)
	}
	// A log never sealed has no checkpoint to keep: nothing is written.
	empty := filepath.Join(dir, "empty.db")
	if r := run(t, "", false, "migrate", "--db", empty); r.code != 0 {
		t.Fatalf("migrate: %+v", r)
	}
	none := filepath.Join(dir, "none.cp")
	if r := run(t, "", false, "seal", "--db", empty, "--key-file", keyFile, "--once", "--witness-file", none); r.code != 0 {
		t.Fatalf("seal of an empty log: %+v", r)
	}
	if _, err := os.Stat(none); !os.IsNotExist(err) {
		t.Fatalf("the empty log's witness file: %v", err)
	}
}

// With nothing new to seal, a witness file that is a FIFO (or a pipe,
// >(cmd)) is appended to without being read: reading it waited for a
// writer for ever.
func TestSealWitnessFIFOWithNothingNew(t *testing.T) {
	t.Parallel()
	path, _ := seeded(t)
	db := "sqlite:" + path
	dir := t.TempDir()
	keyFile, _ := sealKey(t, dir)
	if r := run(t, "", false, "seal", "--db", db, "--key-file", keyFile, "--once"); r.code != 0 {
		t.Fatalf("first seal: %+v", r)
	}
	fifo := filepath.Join(dir, "witness.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := os.ReadFile(fifo) // the reader the FIFO needs to be written
		got <- b
	}()
	done := make(chan result, 1)
	go func() {
		done <- run(t, "", false, "seal", "--db", db, "--key-file", keyFile, "--once", "--witness-file", fifo)
	}()
	select {
	case r := <-done:
		if r.code != 0 {
			t.Fatalf("seal with a FIFO witness: %+v", r)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("seal --once with a FIFO witness file did not return")
	}
	if b := <-got; !strings.Contains(string(b), "checkpoint") && len(b) == 0 {
		t.Fatalf("the FIFO got nothing")
	}
}
