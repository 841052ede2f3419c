package auditcli_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	_ "github.com/ncruces/go-sqlite3/driver" // database/sql driver "sqlite3"
)

// TestSealCommands runs the sealed log's commands as an operator would:
// make a key, seal, verify, tamper, verify again, prove an entry and check
// the proof with the public key alone.
func TestSealCommands(t *testing.T) {
	path, _ := seeded(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "seal.key")
	db := "sqlite:" + path

	r := run(t, "", false, "seal-key", "--name", "example.com/audit", "--out", keyFile)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "example.com/audit+") {
		t.Fatalf("seal-key: %+v", r)
	}
	pub := strings.TrimSpace(r.stdout)
	skey, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(keyFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("the private key's file has mode %v", fi.Mode().Perm())
	}
	if r := run(t, "", false, "seal-key", "--name", "example.com/audit", "--out", keyFile); r.code != 1 {
		t.Errorf("seal-key over an existing file: %+v", r)
	}

	// Before any seal (and after the seal tables are emptied) the log
	// verifies, saying that nothing is proven.
	r = run(t, "", false, "verify", "--db", db, "--pubkey", pub)
	if r.code != 0 || !strings.Contains(r.stdout, "Nothing is sealed") || !strings.Contains(r.stdout, "--checkpoint") {
		t.Fatalf("verify before any seal: %+v", r)
	}

	witness := filepath.Join(dir, "checkpoints.jsonl")
	r = run(t, "", false, "seal", "--db", db, "--key-file", keyFile, "--once", "--witness-file", witness)
	if r.code != 0 || !strings.Contains(r.stdout, "Sealed 6 entries") {
		t.Fatalf("seal: %+v", r)
	}
	if raw, err := os.ReadFile(witness); err != nil || !strings.Contains(string(raw), `"size":6`) {
		t.Fatalf("the witness file: %q, %v", raw, err)
	}
	r = run(t, "", true, "verify", "--db", db, "--pubkey", pub)
	if r.code != 0 || !strings.Contains(r.stdout, "The log verifies.") || !strings.Contains(r.stderr, "] 6/6") {
		t.Fatalf("verify (with a progress bar on a terminal): %+v", r)
	}
	r = run(t, "", false, "prove", "--db", db, "3")
	if r.code != 0 {
		t.Fatalf("prove: %+v", r)
	}
	proof := r.stdout
	pubFile := filepath.Join(dir, "seal.pub")
	if err := os.WriteFile(pubFile, []byte(pub+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = run(t, proof, false, "verify-proof", "--pubkey", pubFile, "-")
	if r.code != 0 || !strings.Contains(r.stdout, "entry 3 is leaf 2") {
		t.Fatalf("verify-proof: %+v", r)
	}
	altered := strings.Replace(proof, "alice", "mallo", 1)
	if r := run(t, altered, false, "verify-proof", "--pubkey", pub); r.code != 1 {
		t.Errorf("verify-proof of an altered entry: %+v", r)
	}

	// Tampering: one entry's actor, and the checkpoints rolled back.
	sqlDB, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()
	var checkpoint string
	if err := sqlDB.QueryRow("SELECT note FROM auditlog_seal_checkpoints ORDER BY size DESC LIMIT 1").Scan(&checkpoint); err != nil {
		t.Fatal(err)
	}
	cpFile := filepath.Join(dir, "checkpoint")
	if err := os.WriteFile(cpFile, []byte(checkpoint), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlDB.Exec("UPDATE auditlog_entries SET actor_name = 'mallory' WHERE id = 4"); err != nil {
		t.Fatal(err)
	}
	r = run(t, "", false, "verify", "--db", db, "--pubkey", pub, "--record")
	if r.code != 1 || !strings.Contains(r.stdout, "PROBLEM: entry modified: entry 4") || !strings.Contains(r.stderr, "does not verify: 1 problem") {
		t.Fatalf("verify after an edit: %+v", r)
	}
	var ok bool
	var summary string
	if err := sqlDB.QueryRow("SELECT ok, summary FROM auditlog_seal_verifications ORDER BY id DESC LIMIT 1").Scan(&ok, &summary); err != nil || ok || !strings.Contains(summary, "entry 4") {
		t.Fatalf("the recorded verification: %v %q %v", ok, summary, err)
	}
	for _, q := range []string{"DELETE FROM auditlog_seal_checkpoints", "DELETE FROM auditlog_seal_leaves WHERE leaf_index >= 2", "DELETE FROM auditlog_entries WHERE id >= 3"} {
		if _, err := sqlDB.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	for _, kept := range []string{cpFile, witness} {
		r = run(t, "", false, "verify", "--db", db, "--pubkey", pub, "--checkpoint", kept)
		if r.code != 1 || !strings.Contains(r.stdout, "checkpoint missing: checkpoint of size 6") {
			t.Fatalf("verify of a log cut back, with the checkpoint kept in %s: %+v", kept, r)
		}
	}

	// Bad input: a clear error, never the private key.
	for _, args := range [][]string{
		{"seal", "--db", db},
		{"seal", "--db", db, "--key-file", filepath.Join(dir, "missing")},
		{"verify", "--db", db},
		{"verify", "--db", db, "--pubkey", string(skey)},
		{"verify", "--db", db, "--pubkey", "not-a-key"},
		{"prove", "--db", db, "x"},
		{"prove", "--db", db, "999"},
		{"verify-proof", "--pubkey", pub, filepath.Join(dir, "missing")},
		{"seal-key", "--name", "a b", "--out", filepath.Join(dir, "k2")},
	} {
		r := run(t, "not json", false, args...)
		if r.code == 0 {
			t.Errorf("%v: exit 0", args)
		}
		if strings.Contains(r.stdout+r.stderr, strings.TrimSpace(string(skey))) {
			t.Errorf("%v: the private key is printed", args)
		}
		if r.stderr == "" {
			t.Errorf("%v: no message", args)
		}
	}
}

// TestSealWitnessNATS seals with a NATS witness and verifies a log cut
// back against the checkpoint NATS kept.
func TestSealWitnessNATS(t *testing.T) {
	u := os.Getenv("AUDITLOG_TEST_NATS_URL")
	if u == "" {
		t.Skip("AUDITLOG_TEST_NATS_URL is not set")
	}
	path, _ := seeded(t)
	keyFile, pub := sealKey(t, t.TempDir())
	n := fmt.Sprint(time.Now().UnixNano())
	witness := u + "/auditlog.clitest." + n + "?stream=AUDITLOG_CLITEST_" + n
	t.Cleanup(func() { deleteStream(t, u, "AUDITLOG_CLITEST_"+n) })
	db := "sqlite:" + path
	if r := run(t, "", false, "seal", "--db", db, "--key-file", keyFile, "--once", "--witness", witness); r.code != 0 {
		t.Fatalf("seal: %+v", r)
	}
	sqlDB, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()
	for _, q := range []string{"DELETE FROM auditlog_seal_checkpoints", "DELETE FROM auditlog_seal_leaves WHERE leaf_index >= 2", "DELETE FROM auditlog_entries WHERE id >= 3"} {
		if _, err := sqlDB.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	r := run(t, "", false, "verify", "--db", db, "--pubkey", pub, "--checkpoint", witness)
	if r.code != 1 || !strings.Contains(r.stdout, "checkpoint missing: checkpoint of size 6") {
		t.Fatalf("verify against NATS: %+v", r)
	}
}

// Two --witness flags: the first was dropped, silently (the flag kept
// the last). Each gets the checkpoint.
func TestSealToTwoNATSWitnesses(t *testing.T) {
	u := os.Getenv("AUDITLOG_TEST_NATS_URL")
	if u == "" {
		t.Skip("AUDITLOG_TEST_NATS_URL is not set")
	}
	path, _ := seeded(t)
	keyFile, pub := sealKey(t, t.TempDir())
	n := fmt.Sprint(time.Now().UnixNano())
	var witnesses []string
	for _, w := range []string{"A", "B"} {
		stream := "AUDITLOG_CLITEST_" + w + n
		witnesses = append(witnesses, u+"/auditlog.clitest."+w+n+"?stream="+stream)
		t.Cleanup(func() { deleteStream(t, u, stream) })
	}
	db := "sqlite:" + path
	if r := run(t, "", false, "seal", "--db", db, "--key-file", keyFile, "--once", "--witness", witnesses[0], "--witness", witnesses[1]); r.code != 0 {
		t.Fatalf("seal: %+v", r)
	}
	for _, w := range witnesses {
		if r := run(t, "", false, "verify", "--db", db, "--pubkey", pub, "--checkpoint", w); r.code != 0 || !strings.Contains(r.stdout, "1 checkpoint of this log checked") {
			t.Errorf("verify against %s: %+v", w, r)
		}
	}
}

func deleteStream(t *testing.T, url, stream string) {
	nc, err := nats.Connect(url)
	if err != nil {
		t.Log(err)
		return
	}
	defer nc.Close()
	if js, err := jetstream.New(nc); err == nil {
		_ = js.DeleteStream(context.Background(), stream)
	}
}

// TestVerifyAfterFlush: an untampered sealed log verifies with exit 0
// after flush --before, and names the flush.
func TestVerifyAfterFlush(t *testing.T) {
	path, _ := seeded(t)
	keyFile, pub := sealKey(t, t.TempDir())
	db := "sqlite:" + path
	if r := run(t, "", false, "seal", "--db", db, "--key-file", keyFile, "--once"); r.code != 0 {
		t.Fatalf("seal: %+v", r)
	}
	if r := run(t, "", false, "flush", "--db", db, "--before", "2026-01-02", "--yes"); r.code != 0 {
		t.Fatalf("flush: %+v", r)
	}
	r := run(t, "", false, "verify", "--db", db, "--pubkey", pub)
	if r.code != 0 || !strings.Contains(r.stdout, "Pruned: 4 entries by auditlog flush: 4 entries older than 2026-01-02") || !strings.Contains(r.stdout, "The log verifies.") {
		t.Fatalf("verify after flush: %+v", r)
	}
}

// sealKey makes a key pair with seal-key in dir and returns the private
// key's file and the public key.
func sealKey(t *testing.T, dir string) (keyFile, pub string) {
	t.Helper()
	keyFile = filepath.Join(dir, "seal.key")
	r := run(t, "", false, "seal-key", "--name", "example.com/audit", "--out", keyFile)
	if r.code != 0 {
		t.Fatalf("seal-key: %+v", r)
	}
	return keyFile, strings.TrimSpace(r.stdout)
}

// A private key pasted where it does not belong (a misplaced argument, a
// flag's value) is never echoed, by any command.
func TestPrivateKeyNeverEchoed(t *testing.T) {
	t.Parallel()
	path, _ := seeded(t)
	db := "sqlite:" + path
	// Names seal-key takes, some with the separators of a URL or a DSN.
	for i, name := range []string{"example.com/audit", "audit,prod", "example.com/audit?v=1", "audit#1", "audit(prod)", "a&b", "a;b"} {
		keyFile := filepath.Join(t.TempDir(), fmt.Sprintf("seal%d.key", i))
		if r := run(t, "", false, "seal-key", "--name", name, "--out", keyFile); r.code != 0 {
			t.Fatalf("seal-key %q: %+v", name, r)
		}
		raw, err := os.ReadFile(keyFile)
		if err != nil {
			t.Fatal(err)
		}
		key := strings.TrimSpace(string(raw))
		// The key's own bytes, in pieces of letters and digits: the forms
		// any escaping leaves alone.
		var pieces []string
		for _, p := range strings.FieldsFunc(strings.SplitN(key, "+", 5)[4], func(r rune) bool {
			return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
		}) {
			if len(p) >= 8 {
				pieces = append(pieces, p)
			}
		}
		if len(pieces) == 0 {
			t.Fatalf("no piece of the key to look for: %s", key)
		}
		for _, args := range [][]string{
			{"seal", "--db", db, key},
			{"seal", "--db", db, "--key-file", keyFile, "--interval", key},
			{"seal", "--db", db, "--key-file", keyFile, "--interval=" + key},
			{"seal", "--db", db, "--key-file", key},
			{"flush", "--db", db, key},
			{"verify", "--db", db, "--pubkey", key},
			{"history", "--db", db, "books", key},
			{"export", "--db", db, "--model", "x " + key},
			{key},
			{strings.Repeat("%FF", 60) + key},
			{strings.Repeat("\xff", 60) + key},
			{strings.Repeat("ɐ", 35) + key},
			{"history", "--db", "postgres://u@127.0.0.1:1/db?application_name=" + key + "&connect_timeout=1", "books", "1"},
			{"history", "--db", "postgres://u@127.0.0.1:1/db?application_name=" + url.QueryEscape(key) + "&connect_timeout=1", "books", "1"},
			{"history", "--db", "postgres://u@127.0.0.1:1/db?application_name=" + strings.ReplaceAll(key, "+", "%2B") + "&password=pw", "books", "1"},
		} {
			r := run(t, "", false, args...)
			for _, p := range pieces {
				if strings.Contains(r.stdout, p) || strings.Contains(r.stderr, p) {
					t.Errorf("%q: the private key appears in the output (exit %d):\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
					break
				}
			}
		}
	}
}

// Two logs sharing one NATS witness subject (the default one, or any):
// each verifies against its own checkpoints there, the other log's are
// passed over and counted, and a source holding none of this log's is an
// error, not a check that did not happen.
func TestSealWitnessSharedByTwoLogs(t *testing.T) {
	u := os.Getenv("AUDITLOG_TEST_NATS_URL")
	if u == "" {
		t.Skip("AUDITLOG_TEST_NATS_URL is not set")
	}
	n := fmt.Sprint(time.Now().UnixNano())
	witness := u + "/auditlog.shared." + n + "?stream=AUDITLOG_SHARED_" + n
	t.Cleanup(func() { deleteStream(t, u, "AUDITLOG_SHARED_"+n) })
	type log struct{ db, key, pub string }
	var logs []log
	for _, name := range []string{"example.com/a", "example.com/b"} {
		path, _ := seeded(t)
		dir := t.TempDir()
		key := filepath.Join(dir, "seal.key")
		r := run(t, "", false, "seal-key", "--name", name, "--out", key)
		if r.code != 0 {
			t.Fatalf("seal-key: %+v", r)
		}
		logs = append(logs, log{"sqlite:" + path, key, strings.TrimSpace(r.stdout)})
	}
	// Before b seals, a's checkpoints only: b has none there.
	if r := run(t, "", false, "seal", "--db", logs[0].db, "--key-file", logs[0].key, "--once", "--witness", witness); r.code != 0 {
		t.Fatalf("seal a: %+v", r)
	}
	r := run(t, "", false, "verify", "--db", logs[1].db, "--pubkey", logs[1].pub, "--checkpoint", witness)
	if r.code != 1 || !strings.Contains(r.stderr, "holds no checkpoint of example.com/b") || strings.Contains(r.stdout+r.stderr, "size -1") {
		t.Fatalf("verify b against a witness holding only a's: %+v", r)
	}
	if r := run(t, "", false, "seal", "--db", logs[1].db, "--key-file", logs[1].key, "--once", "--witness", witness); r.code != 0 {
		t.Fatalf("seal b: %+v", r)
	}
	for i, l := range logs {
		r := run(t, "", false, "verify", "--db", l.db, "--pubkey", l.pub, "--checkpoint", witness)
		if r.code != 0 || !strings.Contains(r.stdout, "The log verifies.") || !strings.Contains(r.stdout, "1 checkpoint of another log") {
			t.Errorf("verify log %d against the shared witness: %+v", i, r)
		}
	}
}

// A PEM private key (a TLS key pasted for --tls-key, the likeliest key to
// paste) was echoed by every message that shows an argument; and a
// sealing key given as a relay's --name was printed on stdout and stored
// as the relay's name. No command takes a key as an argument: the command
// refuses, showing none of it, and runs nothing.
func TestAnArgumentHoldingAPrivateKeyIsRefused(t *testing.T) {
	t.Parallel()
	path, _ := seeded(t)
	db := "sqlite:" + path
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	body := strings.Fields(strings.Split(pemKey, "-----")[2])
	keyFile, _ := sealKey(t, t.TempDir())
	raw, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	sealingKey := strings.TrimSpace(string(raw))
	out := filepath.Join(t.TempDir(), "r.jsonl")
	for _, args := range [][]string{
		{"serve", "--db", db, "--insecure-no-auth", "--tls-cert", "c.pem", "--tls-key", pemKey},
		{"serve", "--db", db, "--insecure-no-auth", "--tls-cert", pemKey, "--tls-key", "k.pem"},
		{"history", "--db", pemKey, "books", "1"},
		{"history", "--db", db, "books", pemKey},
		{"export", "--db", db, "--output", strings.TrimSpace(pemKey)},
		{"verify", "--db", db, "--pubkey", pemKey},
		{"verify", "--db", db, "--pubkey", strings.ReplaceAll(pemKey, "\n", " ")},
		{"relay", "--db", db, "--name", sealingKey, "--to", "jsonl:" + out, "--once"},
		{"relay", "--db", db, "--name", pemKey, "--to", "jsonl:" + out, "--once"},
	} {
		r := run(t, "", false, args...)
		if r.code != 2 || !strings.Contains(r.stderr, "an argument holds a private key") {
			t.Errorf("%q: exit %d, stderr %s", args[:2], r.code, r.stderr)
		}
		for _, p := range append(body, strings.SplitN(sealingKey, "+", 5)[4]) {
			if strings.Contains(r.stdout, p) || strings.Contains(r.stderr, p) {
				t.Errorf("%q: the private key appears in the output:\nstdout: %s\nstderr: %s", args[:2], r.stdout, r.stderr)
				break
			}
		}
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a relay ran: %v", err)
	}
	// A header alone is no key: a search of the log for leaked keys.
	if r := run(t, "", false, "export", "--db", db, "--search", "-----BEGIN RSA PRIVATE KEY-----"); r.code != 0 {
		t.Errorf("a search for a key's header: %+v", r)
	}
}

// seal-key --out - wrote the private key to a file named "-"; and a key
// file others can read (whoever reads it signs checkpoints of a log they
// edited) was used without a word.
func TestSealKeyFileIsKeptPrivate(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if r := run(t, "", false, "seal-key", "--name", "example.com/audit", "--out", "-"); r.code != 2 || !strings.Contains(r.stderr, "not -") {
		t.Errorf("seal-key --out -: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "-")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file named -: %v", err)
	}
	path, _ := seeded(t)
	keyFile, _ := sealKey(t, dir)
	if err := os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, "", false, "seal", "--db", "sqlite:"+path, "--key-file", keyFile, "--once")
	if r.code != 0 || !strings.Contains(r.stderr, "is readable by other users (mode 0644); chmod 600 it") {
		t.Errorf("seal with a key file others can read: %+v", r)
	}
	if err := os.Chmod(keyFile, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "", false, "seal", "--db", "sqlite:"+path, "--key-file", keyFile, "--once"); r.code != 0 || strings.Contains(r.stderr, "warning") {
		t.Errorf("seal with a private key file: %+v", r)
	}
}
