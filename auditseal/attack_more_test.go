package auditseal_test

// More attacks on the sealed log, and mistakes an operator makes, in the
// manner of attack_test.go.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditseal"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// TestSealAttackLogCutBackUnderARunningSealer: the sealer that signed ten
// leaves was handed a log cut back to five (the leaves, hashes and
// checkpoints above deleted, the state row reset) with an entry among
// the cut ones rewritten, and sealed the rewritten entry again, signing a
// tree of ten that verified. A tree smaller than one it signed is altered.
func TestSealAttackLogCutBackUnderARunningSealer(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		f.insert(t, nil, "a", 5)
		f.round(t)
		f.insert(t, nil, "b", 5)
		if r := f.round(t); r.Size != 10 {
			t.Fatalf("size %d", r.Size)
		}
		aexec(t, f, `DELETE FROM auditlog_seal_checkpoints WHERE size > 5`)
		aexec(t, f, `DELETE FROM auditlog_seal_leaves WHERE leaf_index >= 5`)
		aexec(t, f, `DELETE FROM auditlog_seal_hashes WHERE idx >= `+aph(f, 1), int64(8)) // tlog.StoredHashIndex(0, 5)
		aexec(t, f, `UPDATE auditlog_seal_state SET next_id = 6, gaps = NULL`)
		aexec(t, f, `UPDATE auditlog_entries SET actor_name = 'mallory' WHERE id = 8`)
		r, err := f.sealer.Round(context.Background())
		if !errors.Is(err, auditseal.ErrAltered) {
			t.Fatalf("the sealer that signed 10 leaves extended a log cut back to 5: %+v, %v", r, err)
		}
		if !strings.Contains(err.Error(), "10") {
			t.Errorf("the error does not say what the sealer signed: %v", err)
		}
	})
}

// TestSealerStartedWithAnotherKey: a sealer started with another key (a
// rotated or mistaken --key-file) over an intact log said the log was
// altered. It says the key is another, and is no ErrAltered.
func TestSealerStartedWithAnotherKey(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		f.insert(t, nil, "a", 3)
		f.round(t)
		f.insert(t, nil, "b", 1)
		for _, name := range []string{"auditlog-test", "another-name"} {
			other, _ := keys(t, name)
			s, err := auditseal.New(f.db, f.d, other, origin)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Round(context.Background())
			if !errors.Is(err, auditseal.ErrOtherKey) || errors.Is(err, auditseal.ErrAltered) {
				t.Errorf("key %q: %v", name, err)
			}
			if !f.verify(t).OK() {
				t.Fatalf("the log is not intact: %s", problems(f.verify(t)))
			}
		}
		// The same sealer's key still seals it.
		if r := f.round(t); r.Sealed != 1 {
			t.Errorf("after: %+v", r)
		}
	})
}

// TestWitnessFileAfterATornAppend: an append cut short (a crash, a full
// disk) left the witness file's last line half written; the next
// checkpoint was appended to that line, so it was lost too, and
// ReadCheckpoints refused the whole file, the good checkpoints before.
func TestWitnessFileAfterATornAppend(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "wit.jsonl")
	w := &auditseal.FileWitness{Path: path}
	ctx := context.Background()
	note1 := "example.com/audit-test\n1\nAAAA\n\n— sig\n"
	note3 := "example.com/audit-test\n3\nBBBB\n\n— sig\n"
	if err := w.Witness(ctx, 1, []byte(note1)); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"size":2,"checkpoint":"example.com/au`); err != nil { // the torn append
		t.Fatal(err)
	}
	f.Close()
	read := func() ([][]byte, error) {
		r, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		return auditseal.ReadCheckpoints(r)
	}
	// Read as it is: the torn end is no checkpoint, the ones before are.
	if cps, err := read(); err != nil || len(cps) != 1 || string(cps[0]) != note1 {
		t.Errorf("with a torn end: %q, %v", cps, err)
	}
	if err := w.Witness(ctx, 3, []byte(note3)); err != nil {
		t.Fatal(err)
	}
	if cps, err := read(); err != nil || len(cps) != 2 || string(cps[0]) != note1 || string(cps[1]) != note3 {
		t.Errorf("after the next append: %q, %v", cps, err)
	}
	// The same where the file cannot be read (a drop box): the failed
	// append itself tells.
	if os.Geteuid() != 0 { // root reads it anyway
		if err := os.Chmod(path, 0o200); err != nil {
			t.Fatal(err)
		}
		if err := w.Witness(ctx, 4, []byte(note3)); err != nil {
			t.Errorf("a witness file that can only be written: %v", err)
		}
		if err := os.Chmod(path, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A line that is no checkpoint, and no cut one, is still refused.
	if err := os.WriteFile(path, []byte(`{"size":2,"checkpoint":"x"} and more`+"\n"+`{"size":3,"checkpoint":"y"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := read(); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("a bad line inside the file: %v", err)
	}
}

// TestVerifyWithAnotherPublicKey: verify given another public key than
// the sealer's reported every checkpoint "no verifiable signatures" and
// did not say why. Each problem names the key that signed and the one
// given.
func TestVerifyWithAnotherPublicKey(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		f.insert(t, nil, "a", 2)
		f.round(t)
		_, other := keys(t, "auditlog-test")
		rep, err := auditseal.Verify(context.Background(), f.db, f.d, auditseal.VerifyOptions{Origin: origin, Verifier: other, GapWait: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK() {
			t.Fatal("verified with another key")
		}
		found := false
		for _, p := range rep.Problems {
			if p.Kind == auditseal.CheckpointForged {
				found = true
				if !strings.Contains(p.Detail, "not the sealer's") || !strings.Contains(p.Detail, fmt.Sprintf("%08x", f.v.KeyHash())) {
					t.Errorf("the problem does not name the keys: %s", p.Detail)
				}
			}
		}
		if !found {
			t.Errorf("no checkpoint problem: %s", problems(rep))
		}
		// The sealer's own key: no such words.
		if rep := f.verify(t); !rep.OK() {
			t.Errorf("with the sealer's key: %s", problems(rep))
		}
	})
}

// TestSealAttackHighIDOnPostgres: PostgreSQL's identity does not move past
// an id given by hand. One entry inserted with id 1,000,000 was sealed,
// the writers' later entries took ids below it, in a gap the sealer gave
// up after SweepFor: they were never sealed, and Verify blamed them, not
// the forgery. The forged entry is left unsealed and is the one reported.
func TestSealAttackHighIDOnPostgres(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		if f.d != auditstore.Postgres {
			t.Skip("the id counter moves past an id given by hand there")
		}
		f.insert(t, nil, "a", 2) // ids 1-2
		f.round(t)
		copyEntry(t, f, 1, 1_000_000) // forged, dated now
		f.round(t)
		f.insert(t, nil, "b", 1) // id 3
		f.round(t)
		f.clock.add(25 * time.Hour) // past SweepFor
		f.round(t)
		f.insert(t, nil, "c", 2) // ids 4-5
		for range 3 {
			f.clock.add(time.Second)
			f.round(t)
		}
		var sealed []int64
		rows, err := f.db.Query("SELECT entry_id FROM auditlog_seal_leaves ORDER BY entry_id")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			sealed = append(sealed, id)
		}
		rows.Close()
		if !slices.Equal(sealed, []int64{1, 2, 3, 4, 5}) {
			t.Errorf("sealed %v, want the writers' 1 to 5", sealed)
		}
		rep := f.verify(t)
		if len(rep.Problems) != 1 || rep.Problems[0].EntryID != 1_000_000 || rep.Problems[0].Kind != auditseal.EntryInserted {
			t.Errorf("verify: %s", problems(rep))
		}
	})
}

// TestSealAttackEntryDatedAhead: one entry dated an hour ahead (forged
// before a round, or written by a host whose clock runs fast) made verify
// call every later entry inserted, and never named it. Checkpoints sign
// when they were signed: the entry is reported as dated ahead, and the
// others are not.
func TestSealAttackEntryDatedAhead(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		s, err := auditstore.New(f.db, f.d)
		if err != nil {
			t.Fatal(err)
		}
		f.insert(t, nil, "a", 2) // ids 1-2, dated now
		if err := s.Insert(context.Background(), []auditlog.Entry{{Timestamp: time.Now().Add(time.Hour), Action: auditlog.ActionCreate, Model: "ahead", ObjectPK: "1", ObjectRepr: "ahead 1"}}); err != nil {
			t.Fatal(err)
		}
		f.round(t)
		f.insert(t, nil, "b", 2) // ids 4-5
		f.round(t)
		f.insert(t, nil, "c", 1) // id 6, not sealed yet
		rep := f.verify(t)
		if len(rep.Problems) != 1 || rep.Problems[0].Kind != auditseal.EntryDatedAhead || rep.Problems[0].EntryID != 3 {
			t.Errorf("want entry 3 dated ahead, and nothing else:\n%s", problems(rep))
		}
		if rep.Unsealed != 1 {
			t.Errorf("unsealed %d", rep.Unsealed)
		}
	})
}

// TestSealerAfterPartitioning: the conversion to a partitioned table set
// the identity with RESTART, which leaves its sequence "not called": the
// highest id handed out read as 0, and every entry not sealed yet was
// reported as inserted by hand and never sealed.
func TestSealerAfterPartitioning(t *testing.T) {
	if os.Getenv(testdb.PostgresEnv) == "" {
		t.Skip(testdb.PostgresEnv + " is not set")
	}
	ctx := context.Background()
	f := open(t, testdb.Open(t, "postgres"))
	f.insert(t, nil, "a", 3)
	f.round(t)
	f.insert(t, nil, "b", 2) // written, not sealed yet
	if err := auditstore.MigrateWith(ctx, f.db, f.d, auditstore.MigrateOptions{Partition: auditstore.PartitionMonthly}); err != nil {
		t.Fatal(err)
	}
	if h, known, err := auditstore.HighestIssuedID(ctx, f.db, f.d); err != nil || !known || h != 5 {
		t.Errorf("the highest id handed out: %d, %v, %v", h, known, err)
	}
	if rep := f.verify(t); !rep.OK() {
		t.Errorf("verify after the conversion: %s", problems(rep))
	}
	if r := f.round(t); r.Sealed != 2 {
		t.Errorf("the round after the conversion sealed %d of 2: %+v", r.Sealed, r)
	}
	f.insert(t, nil, "c", 1)
	var id int64
	if err := f.db.QueryRow("SELECT max(id) FROM auditlog_entries").Scan(&id); err != nil || id != 6 {
		t.Errorf("the next entry took id %d, %v", id, err)
	}
}
