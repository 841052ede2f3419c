package auditseal_test

// Attacks on the sealed log, by someone who can write to the database but
// does not hold the signing key, and by bad luck (a failed round, a flush
// during a round, a poisoned entry). Each comment says the attack and how
// it once got through; each test fails if it gets through again.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditseal"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

func aexec(t *testing.T, f *fixture, q string, args ...any) {
	t.Helper()
	if _, err := f.db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func aph(f *fixture, n int) string {
	if f.d == auditstore.Postgres {
		return fmt.Sprintf("$%d", n)
	}
	return "?"
}

// copyEntry inserts a copy of entry from under id to, as a DBA would.
func copyEntry(t *testing.T, f *fixture, from, to int64) {
	t.Helper()
	const cols = "timestamp, action, model, object_pk, object_id, object_repr, changes, serialized_data, additional_data, actor_id, actor_name, remote_addr, remote_port, cid"
	aexec(t, f, "INSERT INTO auditlog_entries (id, "+cols+") SELECT "+aph(f, 1)+", "+cols+" FROM auditlog_entries WHERE id = "+aph(f, 2), to, from)
}

func problems(rep auditseal.Report) string {
	var s []string
	for _, p := range rep.Problems {
		s = append(s, p.String())
	}
	return strings.Join(s, "\n")
}

// hookSigner signs with the wrapped signer after running hook (which may
// fail the signature).
type hookSigner struct {
	note.Signer
	hook func() error
}

func (s *hookSigner) Sign(msg []byte) ([]byte, error) {
	if s.hook != nil {
		if err := s.hook(); err != nil {
			return nil, err
		}
	}
	return s.Signer.Sign(msg)
}

// withSigner replaces the fixture's sealer by one that signs with a
// hookSigner (and the fixture's verifier by its key's).
func withSigner(t *testing.T, f *fixture) *hookSigner {
	t.Helper()
	signer, v := keys(t, "auditlog-test")
	hs := &hookSigner{Signer: signer}
	s, err := auditseal.New(f.db, f.d, hs, origin)
	if err != nil {
		t.Fatal(err)
	}
	s.Now, s.GapWait = f.clock.Now, time.Minute
	f.sealer, f.v = s, v
	return hs
}

// late begins an entry that commits later (a transaction held open; on
// SQLite, which has one writer, the row is parked in another table and
// put back with its id) and returns its commit.
func late(t *testing.T, f *fixture) func() {
	t.Helper()
	if f.d != auditstore.SQLite {
		tx, err := f.db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		f.insert(t, tx, "late", 1)
		return func() {
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		}
	}
	f.insert(t, nil, "late", 1)
	aexec(t, f, "CREATE TABLE parked AS SELECT * FROM auditlog_entries WHERE model = 'late'")
	aexec(t, f, "DELETE FROM auditlog_entries WHERE model = 'late'")
	return func() {
		aexec(t, f, "INSERT INTO auditlog_entries SELECT * FROM parked")
		aexec(t, f, "DROP TABLE parked")
	}
}

// TestSealAttackBackdatedEntrySealed: the docs promise that an entry forged
// with a time more than GapWait before the newest sealed entry is reported;
// it is, but only until the next sealing round, which seals it like any
// other. After that Verify is clean.
func TestSealAttackBackdatedEntrySealed(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		f.insert(t, nil, "a", 5)
		f.round(t)
		s, _ := auditstore.New(f.db, f.d)
		if err := s.Insert(context.Background(), []auditlog.Entry{{Timestamp: time.Now().AddDate(-1, 0, 0), Action: auditlog.ActionDelete,
			Model: "invoice", ObjectPK: "42", ObjectRepr: "invoice 42 (deleted a year ago)", ActorName: "ceo"}}); err != nil {
			t.Fatal(err)
		}
		if rep := f.verify(t); rep.OK() {
			t.Fatalf("before the round the forged entry is not reported: %+v", rep)
		}
		f.round(t) // the sealer's next round, a second later
		if rep := f.verify(t); rep.OK() {
			t.Errorf("an entry forged with a date a year before the newest sealed entry verifies once the sealer has run a round: %+v", rep)
		}
	})
}

// rewriteEntry changes entry id's actor name to mallory and rewrites its
// leaf hash to match, as a DBA who knows the (public) leaf encoding can.
func rewriteEntry(t *testing.T, f *fixture, id int64) {
	t.Helper()
	p, err := auditseal.Prove(context.Background(), f.db, f.d, id)
	if err != nil {
		t.Fatal(err)
	}
	leaf := strings.Replace(p.Leaf, `"alice"`, `"mallory"`, 1)
	h := auditseal.LeafHash([]byte(leaf))
	aexec(t, f, "UPDATE auditlog_entries SET actor_name = 'mallory' WHERE id = "+aph(f, 1), id)
	aexec(t, f, "UPDATE auditlog_seal_leaves SET leaf_hash = "+aph(f, 1)+" WHERE entry_id = "+aph(f, 2), h[:], id)
}

// TestSealAttackRewrittenLeafWithoutItsCheckpoints: an entry edited together
// with its leaf hash, and the checkpoints that cover it deleted. The
// sealer writes leaves and their checkpoint in one transaction, so leaves
// that no checkpoint covers are evidence; Verify does not say so, and the
// edit goes unreported (also with every checkpoint deleted: "0
// checkpoints", OK).
func TestSealAttackRewrittenLeafWithoutItsCheckpoints(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		f.insert(t, nil, "a", 5)
		f.round(t)
		f.insert(t, nil, "b", 5)
		f.round(t)
		rewriteEntry(t, f, 7)
		aexec(t, f, "DELETE FROM auditlog_seal_checkpoints WHERE size > 5")
		if rep := f.verify(t); rep.OK() {
			t.Errorf("entry 7 edited, its leaf rewritten and checkpoint 10 deleted: Verify finds nothing (leaves %d, latest checkpoint %d)", rep.Leaves, rep.Latest)
		}
		aexec(t, f, "DELETE FROM auditlog_seal_checkpoints")
		if rep := f.verify(t); rep.OK() {
			t.Errorf("every checkpoint deleted: Verify finds nothing (leaves %d, checkpoints %d)", rep.Leaves, rep.Checkpoints)
		}
	})
}

// TestSealAttackSealerSignsTamperedTree: the same edit with the stored hashes
// recomputed; the sealer's next round extends the tampered tree without
// checking it against the checkpoint it signed before, and signs it. Its
// new checkpoint (what a witness holds as the latest, and what verify
// --checkpoint nats://… reads) then vouches for the forged entry.
func TestSealAttackSealerSignsTamperedTree(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		witness := &auditseal.FileWitness{Path: filepath.Join(t.TempDir(), "cp.jsonl")}
		f.sealer.Witnesses = []auditseal.Witness{witness}
		f.insert(t, nil, "a", 5)
		f.round(t)
		f.insert(t, nil, "b", 5)
		f.round(t)
		rewriteEntry(t, f, 7)
		// Recompute the stored hashes from the leaf hashes.
		rows, err := f.db.Query("SELECT leaf_hash FROM auditlog_seal_leaves ORDER BY leaf_index")
		if err != nil {
			t.Fatal(err)
		}
		stored := map[int64]tlog.Hash{}
		r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
			out := make([]tlog.Hash, len(idx))
			for i, x := range idx {
				out[i] = stored[x]
			}
			return out, nil
		})
		var n int64
		for rows.Next() {
			var raw []byte
			if err := rows.Scan(&raw); err != nil {
				t.Fatal(err)
			}
			hs, err := tlog.StoredHashesForRecordHash(n, tlog.Hash(raw), r)
			if err != nil {
				t.Fatal(err)
			}
			for i, h := range hs {
				stored[tlog.StoredHashIndex(0, n)+int64(i)] = h
			}
			n++
		}
		rows.Close()
		aexec(t, f, "DELETE FROM auditlog_seal_hashes")
		for idx, h := range stored {
			aexec(t, f, "INSERT INTO auditlog_seal_hashes (idx, hash) VALUES ("+aph(f, 1)+", "+aph(f, 2)+")", idx, h[:])
		}
		aexec(t, f, "DELETE FROM auditlog_seal_checkpoints WHERE size > 5")
		f.insert(t, nil, "c", 1)
		if _, err := f.sealer.Round(context.Background()); !errors.Is(err, auditseal.ErrAltered) {
			t.Errorf("the round over a tampered tree: %v, want ErrAltered", err)
		}
		raw, err := os.ReadFile(witness.Path)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for sc := bufio.NewScanner(bytes.NewReader(raw)); sc.Scan(); {
			lines = append(lines, sc.Text())
		}
		cps, err := auditseal.ReadCheckpoints(strings.NewReader(lines[len(lines)-1]))
		if err != nil {
			t.Fatal(err)
		}
		if rep := f.verify(t, cps...); rep.OK() {
			t.Errorf("the sealer signed checkpoint %d over the rewritten entry 7; Verify with the latest witnessed checkpoint finds nothing: %+v", rep.Latest, rep)
		}
	})
}

// TestSealAttackFailedRoundLosesLateEntry: a round that fails after it has
// computed its gaps (here the signer fails once; a statement timeout or a
// lost connection in setNext/checkpoint does the same) rolls back its
// transaction but keeps its in-memory gaps. The late entry that round found
// is never looked for again: a committed entry never sealed.
func TestSealAttackFailedRoundLosesLateEntry(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		hs := withSigner(t, f)
		commit := late(t, f) // id 1, committed late
		f.insert(t, nil, "a", 2)
		f.round(t)
		commit()
		failOneRound(t, f, hs)
		f.clock.add(10 * time.Second)
		f.round(t)
		f.clock.add(2 * time.Minute)
		f.round(t)
		if rep := f.verify(t); !rep.OK() {
			t.Errorf("one failed round: an untampered log reports\n%s", problems(rep))
		}
		f.sealedOnce(t)
	})
}

// TestSealAttackFailedRoundWedgesSealer: the failed round's gaps are kept and
// the next round adds the same gap again; when the late entry commits it
// is found twice and appended twice, which the leaves' unique entry id
// refuses, in every round from then on: the sealer is stuck until it is
// restarted.
func TestSealAttackFailedRoundWedgesSealer(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		hs := withSigner(t, f)
		f.insert(t, nil, "a", 1)
		f.round(t)
		commit := late(t, f) // id 2
		f.insert(t, nil, "b", 1)
		failOneRound(t, f, hs)
		f.round(t)
		commit()
		for i := 0; i < 3; i++ {
			if _, err := f.sealer.Round(context.Background()); err != nil {
				t.Fatalf("round %d after the late commit: %v", i, err)
			}
		}
		f.sealedOnce(t)
	})
}

// TestSealAttackFlushDuringRound: a flush (or truncate) does not take the
// sealer's lock. On PostgreSQL a flush that runs while a round is open
// deletes entries the round has just read and cannot mark their leaves
// (not committed yet): the untampered log then reports them deleted.
func TestSealAttackFlushDuringRound(t *testing.T) {
	for _, truncate := range []bool{false, true} {
		t.Run(fmt.Sprintf("truncate=%v", truncate), func(t *testing.T) {
			testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
				f := open(t, gdb)
				hs := withSigner(t, f)
				f.insert(t, nil, "a", 3)
				f.round(t)
				f.insert(t, nil, "b", 3)
				s, _ := auditstore.New(f.db, f.d)
				done := make(chan error, 1)
				var once atomic.Bool
				hs.hook = func() error {
					if once.Swap(true) {
						return nil
					}
					go func() {
						if truncate {
							done <- s.Truncate(context.Background())
						} else {
							_, err := s.Flush(context.Background(), auditstore.FlushOptions{Reason: "retention"})
							done <- err
						}
					}()
					select { // where the flush waits for the round, let it
					case err := <-done:
						done <- err
					case <-time.After(300 * time.Millisecond):
					}
					return nil
				}
				f.round(t)
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				if rep := f.verify(t); !rep.OK() {
					t.Errorf("a flush beside a sealing round: false alarms:\n%s", problems(rep))
				}
			})
		})
	}
}

// TestSealAttackTruncateReusesIds: after `flush --truncate` MariaDB/MySQL
// start ids again at 1. New entries then have the ids of pruned leaves:
// the sealer never seals them (not above the highest id sealed), and
// Verify joins the old leaves to them and reports them modified.
func TestSealAttackTruncateReusesIds(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		f.insert(t, nil, "a", 3)
		f.round(t)
		s, _ := auditstore.New(f.db, f.d)
		if err := s.Truncate(context.Background()); err != nil {
			t.Fatal(err)
		}
		f.insert(t, nil, "b", 2)
		f.round(t)
		f.clock.add(time.Hour)
		f.round(t)
		if rep := f.verify(t); !rep.OK() {
			t.Errorf("new entries after a truncate:\n%s", problems(rep))
		}
		var unsealed int
		if err := f.db.QueryRow("SELECT COUNT(*) FROM auditlog_entries e WHERE NOT EXISTS (SELECT 1 FROM auditlog_seal_leaves l WHERE l.entry_id = e.id AND l.pruned_at IS NULL)").Scan(&unsealed); err != nil {
			t.Fatal(err)
		}
		if unsealed != 0 {
			t.Errorf("%d entries written after the truncate are never sealed", unsealed)
		}
	})
}

// TestSealAttackPoisonEntryStopsSealing: one entry whose column the leaf
// encoding cannot read (a JSON column nested deeper than encoding/json's
// limit; on SQLite any text) makes every round fail: nothing is sealed
// from then on, while `verify` exits 0 ("not sealed yet"), so every later
// entry can be edited or deleted unseen.
func TestSealAttackPoisonEntryStopsSealing(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		f.insert(t, nil, "a", 2)
		f.round(t)
		f.insert(t, nil, "poison", 1) // id 3
		deep := strings.Repeat("[", 10001) + strings.Repeat("]", 10001)
		if _, err := f.db.Exec("UPDATE auditlog_entries SET additional_data = "+aph(f, 1)+" WHERE id = 3", deep); err != nil {
			if f.d != auditstore.SQLite {
				t.Skipf("the database refuses the poison: %v", err)
			}
			t.Fatal(err)
		}
		f.insert(t, nil, "b", 5)
		var lastErr error
		for i := 0; i < 3; i++ {
			f.clock.add(time.Minute)
			_, lastErr = f.sealer.Round(context.Background())
		}
		if lastErr != nil {
			t.Fatalf("sealing stopped at the poisoned entry: %v", lastErr)
		}
		f.sealedOnce(t) // the poisoned entry too
		aexec(t, f, "UPDATE auditlog_entries SET actor_name = 'mallory' WHERE id = 5")
		rep := f.verify(t)
		if rep.OK() || rep.Problems[0].Kind != auditseal.EntryModified || rep.Problems[0].EntryID != 5 {
			t.Errorf("entry 5 edited after the poisoned entry was sealed: %+v", rep.Problems)
		}
	})
}

// TestSealAttackMaxIDSilencesSealer: one entry at the highest id (a forged
// entry with the current time, which the docs accept as undetectable)
// overflows nextGaps' id+1: the sealer keeps a gap from MinInt64 to
// MaxInt64, finds every sealed entry in it again and fails every round
// (unique entry id) from then on. Nothing is sealed any more and verify
// exits 0 ("not sealed yet"). (PostgreSQL, where the identity goes on; the
// sequence is moved to the top as well, or the entry is known to be
// inserted by hand and is not sealed: TestSealAttackHighIDOnPostgres.)
func TestSealAttackMaxIDSilencesSealer(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		if f.d != auditstore.Postgres {
			t.Skip("inserts after the highest id fail there: the attack is loud")
		}
		f.insert(t, nil, "a", 2)
		f.round(t)
		tx, err := f.db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback() }()
		f.insert(t, tx, "b", 3)           // the application's ids 3-5, committed after
		copyEntry(t, f, 1, math.MaxInt64) // forged with a current time
		aexec(t, f, "SELECT setval(pg_get_serial_sequence('auditlog_entries', 'id'), "+aph(f, 1)+")", int64(math.MaxInt64))
		f.round(t)
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		var errs []error
		for i := 0; i < 3; i++ {
			f.clock.add(time.Minute)
			if _, err := f.sealer.Round(context.Background()); err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 {
			rep := f.verify(t)
			t.Errorf("after one entry at id %d every round fails (%d of 3: %v); verify OK=%v with %d entries unsealed", int64(math.MaxInt64), len(errs), errs[0], rep.OK(), rep.Unsealed)
		}
		f.sealedOnce(t)
	})
}

// TestSealAttackLeafEncodingAmbiguous: the canonical JSON drops what
// encoding/json ignores, so a JSON column's text can be changed without
// changing its leaf: a duplicated key (SQLite's and MariaDB's
// json_extract read the first, Go the last) and, on SQLite, text after
// the value.
func TestSealAttackLeafEncodingAmbiguous(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		if f.d == auditstore.Postgres {
			t.Skip("jsonb keeps one key and refuses trailing text")
		}
		f.insert(t, nil, "a", 3) // changes {"n": [i, i+1]}
		f.round(t)
		aexec(t, f, `UPDATE auditlog_entries SET changes = '{"n":[0,999],"n":[0,1]}' WHERE id = 1`)
		var sqlView string
		q := `SELECT json_extract(changes, '$.n') FROM auditlog_entries WHERE id = 1`
		if err := f.db.QueryRow(q).Scan(&sqlView); err != nil {
			t.Fatal(err)
		}
		if f.d == auditstore.SQLite {
			aexec(t, f, `UPDATE auditlog_entries SET changes = '{"n":[1,2]} {"n":[1,999]}' WHERE id = 2`)
		}
		if rep := f.verify(t); rep.OK() {
			t.Errorf("the changes column of entry 1 (SQL reads n as %s now) and, on SQLite, entry 2 rewritten: Verify finds nothing", sqlView)
		}
	})
}

// TestSealAttackLoweredPositionHidesInsertedEntry: the sealer's position
// (auditlog_seal_state.next_id) is neither signed nor checked: a DBA who
// lowers it hides an entry forged inside the sealed range, and a sealer
// that restarts then seals the forged entry for good.
func TestSealAttackLoweredPositionHidesInsertedEntry(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		hs := withSigner(t, f)
		// id 1 rolled back (SQLite, AUTOINCREMENT: deleted before sealing)
		if f.d == auditstore.SQLite {
			f.insert(t, nil, "rolled", 1)
			aexec(t, f, "DELETE FROM auditlog_entries WHERE id = 1")
		} else {
			tx, err := f.db.Begin()
			if err != nil {
				t.Fatal(err)
			}
			f.insert(t, tx, "rolled", 1)
			_ = tx.Rollback()
		}
		f.insert(t, nil, "a", 5)
		f.round(t)
		f.clock.add(25 * time.Hour) // the gap is given up
		f.round(t)
		copyEntry(t, f, 6, 1) // forged, inside the sealed range, dated like entry 6
		if rep := f.verify(t); rep.OK() {
			t.Fatal("the forged entry is not reported")
		}
		aexec(t, f, "UPDATE auditlog_seal_state SET next_id = 0")
		if rep := f.verify(t); rep.OK() {
			t.Errorf("with next_id lowered, the entry forged inside the sealed range is not reported (unsealed: %d)", rep.Unsealed)
		}
		// The sealer restarts (a deploy): it rebuilds its gaps from next_id.
		s, err := auditseal.New(f.db, f.d, hs, origin)
		if err != nil {
			t.Fatal(err)
		}
		s.Now, s.GapWait = f.clock.Now, time.Minute
		if _, err := s.Round(context.Background()); err != nil {
			t.Fatal(err)
		}
		if rep := f.verify(t); rep.OK() {
			t.Errorf("after a sealer restart the forged entry 1 is sealed and Verify passes")
		}
	})
}

// failOneRound makes the next round fail at its signature, after it has
// read and hashed its entries, and runs it.
func failOneRound(t *testing.T, f *fixture, hs *hookSigner) {
	t.Helper()
	var fail atomic.Bool
	fail.Store(true)
	hs.hook = func() error {
		if fail.Swap(false) {
			return errors.New("signer unavailable")
		}
		return nil
	}
	if _, err := f.sealer.Round(context.Background()); err == nil {
		t.Fatal("the round did not fail")
	}
}

// A sealer's first round that runs between two batches of a flush of the
// log, not sealed when the flush began: the batches after it record what
// they prune, and the untampered log verifies (the flush decided once,
// before its first batch, and deleted sealed entries unrecorded). A round
// beside a batch, between its look and its DELETE, is still not seen
// (DESIGN.md).
func TestFirstSealBetweenFlushBatches(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		f.insert(t, nil, "a", 6)
		s, err := auditstore.New(f.db, f.d)
		if err != nil {
			t.Fatal(err)
		}
		sealedOnce := false
		res, err := s.Flush(context.Background(), auditstore.FlushOptions{BatchSize: 2, Progress: func(int64) {
			if !sealedOnce {
				sealedOnce = true
				f.round(t) // the sealer's first round, between two batches
			}
		}})
		if err != nil || res.Deleted != 6 {
			t.Fatalf("flush: %+v %v", res, err)
		}
		if rep := f.verify(t); !rep.OK() {
			t.Fatalf("the untampered log does not verify:\n%s", problems(rep))
		}
	})
}

// TestSealAttackTimestampTextRewritten: on SQLite an entry's timestamp is
// text, which time filters (the UI's dates, export --since, flush
// --before) compare as text. The leaf holds the parsed instant, so the
// same instant rewritten in another form (…Z as …+14:00, or as a BLOB,
// which sorts after all text) moved the entry out of such filters while
// Verify found nothing.
func TestSealAttackTimestampTextRewritten(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		if f.d != auditstore.SQLite {
			t.Skip("a timestamp column holds an instant, not text")
		}
		f.insert(t, nil, "a", 5)
		f.round(t)
		if rep := f.verify(t); !rep.OK() {
			t.Fatalf("the untampered log does not verify:\n%s", problems(rep))
		}
		var stored string
		if err := f.db.QueryRow(`SELECT timestamp FROM auditlog_entries WHERE id = 2`).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		at, err := auditstore.DecodeTime(f.d, stored)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			id  int64
			set string
			arg any
		}{
			{2, "?", at.In(time.FixedZone("", 14*3600)).Format(time.RFC3339Nano)},
			{3, "?", at.Format("2006-01-02T15:04:05.000000000Z")},
			{4, "CAST(timestamp AS BLOB)", nil},
		} {
			var args []any
			if c.arg != nil {
				args = append(args, c.arg)
			}
			aexec(t, f, `UPDATE auditlog_entries SET timestamp = `+c.set+` WHERE id = `+fmt.Sprint(c.id), args...)
		}
		got := problems(f.verify(t))
		for _, id := range []int{2, 3, 4} {
			if !strings.Contains(got, fmt.Sprintf("entry modified: entry %d ", id)) {
				t.Errorf("entry %d's timestamp rewritten as the same instant: Verify reports %q", id, got)
			}
		}
		if strings.Contains(got, "entry 1 ") || strings.Contains(got, "entry 5 ") {
			t.Errorf("Verify reports untouched entries: %q", got)
		}
	})
}

// prunedLog seals six entries, flushes the three oldest as "test flush"
// and seals a round after it, which signs the flush's records.
func prunedLog(t *testing.T, f *fixture) *auditstore.Store {
	t.Helper()
	ctx := context.Background()
	s, err := auditstore.New(f.db, f.d)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var es []auditlog.Entry
	for i := range 6 {
		ts := time.Now()
		if i < 3 {
			ts = old.Add(time.Duration(i) * time.Hour)
		}
		es = append(es, auditlog.Entry{Timestamp: ts, Action: auditlog.ActionCreate, Model: "m", ObjectPK: fmt.Sprint(i), ObjectRepr: "x"})
	}
	if err := s.Insert(ctx, es); err != nil {
		t.Fatal(err)
	}
	f.round(t)
	// A copy of entry 1 as it was, for an attack that puts it back.
	aexec(t, f, "CREATE TABLE saved_entry AS SELECT * FROM auditlog_entries WHERE id = 1")
	if res, err := s.Flush(ctx, auditstore.FlushOptions{Filter: auditstore.Filter{Until: old.Add(3 * time.Hour)}, BatchSize: 2, Reason: "test flush"}); err != nil || res.Deleted != 3 {
		t.Fatalf("flush: %+v, %v", res, err)
	}
	f.round(t)
	rep := f.verify(t)
	if !rep.OK() || len(rep.Pruned) != 1 || rep.Pruned[0].Leaves != 3 || !rep.Pruned[0].Signed {
		t.Fatalf("after the flush: %+v", rep)
	}
	return s
}

// borrowMark deletes entry 5 by hand and marks its leaf with the mark of
// entry 1's, flushed: its time and description, and with seq its record.
func borrowMark(t *testing.T, f *fixture, seq bool) {
	t.Helper()
	set := "pruned_at = (SELECT pruned_at FROM auditlog_seal_leaves WHERE entry_id = 1), pruned_by = 'test flush'"
	if seq {
		set += ", prune_seq = (SELECT prune_seq FROM auditlog_seal_leaves WHERE entry_id = 1)"
	}
	aexec(t, f, "DELETE FROM auditlog_entries WHERE id = 5")
	aexec(t, f, "UPDATE auditlog_seal_leaves SET "+set+" WHERE entry_id = 5")
}

// TestSealAttackForgedPruneMark: a flush marks the leaves it prunes, and
// the marks were not signed: an entry deleted by hand, its leaf marked as
// pruned (by a flush of its own, or with an earlier flush's time and
// description), passed Verify as flushed. The flushes' records, which the
// sealer signs, now count the marks.
func TestSealAttackForgedPruneMark(t *testing.T) {
	for _, c := range []struct {
		name string
		do   func(t *testing.T, f *fixture)
		want auditseal.ProblemKind
	}{
		{"an earlier flush's mark", func(t *testing.T, f *fixture) {
			borrowMark(t, f, false)
		}, auditseal.PruneUnrecorded},
		{"a mark of its own", func(t *testing.T, f *fixture) {
			aexec(t, f, "DELETE FROM auditlog_entries WHERE id = 5")
			aexec(t, f, "UPDATE auditlog_seal_leaves SET pruned_at = 1, pruned_by = 'flush' WHERE entry_id = 5")
		}, auditseal.PruneUnrecorded},
		{"a signed record counting one more", func(t *testing.T, f *fixture) {
			borrowMark(t, f, true)
			aexec(t, f, "UPDATE auditlog_seal_prunes SET leaves = leaves + 1 WHERE seq = (SELECT MIN(seq) FROM auditlog_seal_prunes)")
		}, auditseal.PruneRecordAltered},
		{"the records deleted", func(t *testing.T, f *fixture) {
			aexec(t, f, "DELETE FROM auditlog_seal_prunes")
		}, auditseal.PruneRecordAltered},
		{"an earlier flush's mark and record, with a flushed entry put back to free it", func(t *testing.T, f *fixture) {
			aexec(t, f, "INSERT INTO auditlog_entries SELECT * FROM saved_entry")
			borrowMark(t, f, true)
		}, auditseal.PruneUnrecorded},
		{"the same, the put-back entry's mark cleared", func(t *testing.T, f *fixture) {
			aexec(t, f, "INSERT INTO auditlog_entries SELECT * FROM saved_entry")
			borrowMark(t, f, true)
			aexec(t, f, "UPDATE auditlog_seal_leaves SET pruned_at = NULL, pruned_by = NULL, prune_seq = NULL WHERE entry_id = 1")
		}, auditseal.PruneUnrecorded},
	} {
		t.Run(c.name, func(t *testing.T) {
			testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
				f := open(t, gdb)
				prunedLog(t, f)
				c.do(t, f)
				rep := f.verify(t)
				if !slices.ContainsFunc(rep.Problems, func(p auditseal.Problem) bool { return p.Kind == c.want }) {
					t.Fatalf("Verify reports %q, want %q", problems(rep), c.want)
				}
			})
		})
	}
}

// TestForgedFlushIsListedUnsignedUntilSealed: whoever may write the
// sealer's tables can still pass a deletion for a flush of its own, mark
// and record alike, as whoever may flush can: Verify lists it as a flush,
// not signed until the next round, and then signed.
func TestForgedFlushIsListedUnsignedUntilSealed(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		prunedLog(t, f)
		aexec(t, f, "DELETE FROM auditlog_entries WHERE id = 5")
		var leaf int64
		if err := f.db.QueryRow("SELECT leaf_index FROM auditlog_seal_leaves WHERE entry_id = 5").Scan(&leaf); err != nil {
			t.Fatal(err)
		}
		if err := auditstore.RecordPrune(context.Background(), f.db, f.d, 7, "cleanup", []int64{leaf}); err != nil {
			t.Fatal(err)
		}
		for _, signed := range []bool{false, true} {
			if signed {
				f.round(t)
			}
			rep := f.verify(t)
			if !rep.OK() || len(rep.Pruned) != 2 || rep.Pruned[1].By != "cleanup" || rep.Pruned[1].Signed != signed {
				t.Fatalf("signed %v: %+v", signed, rep)
			}
		}
	})
}

// TestPrunesOfALogSealedBeforeVersion5: a log whose checkpoints sign no
// prune records (sealed and flushed before version 5, whose flushes
// recorded nothing) verifies with its flushes listed, unsigned; the first
// round after the upgrade records and signs them, and from then on a
// forged mark is found.
func TestPrunesOfALogSealedBeforeVersion5(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		f.insert(t, nil, "a", 6)
		f.round(t)
		// The checkpoint as a sealer before version 5 signed it.
		var size int64
		var stored string
		if err := f.db.QueryRow("SELECT size, note FROM auditlog_seal_checkpoints ORDER BY size DESC LIMIT 1").Scan(&size, &stored); err != nil {
			t.Fatal(err)
		}
		text, _, _ := strings.Cut(stored, "\n\n")
		var kept []string
		for _, l := range strings.Split(text, "\n") {
			if !strings.HasPrefix(l, "auditlog-prunes ") {
				kept = append(kept, l)
			}
		}
		old, err := note.Sign(&note.Note{Text: strings.Join(kept, "\n") + "\n"}, f.signer)
		if err != nil {
			t.Fatal(err)
		}
		aexec(t, f, "UPDATE auditlog_seal_checkpoints SET note = "+aph(f, 1)+" WHERE size = "+aph(f, 2), string(old), size)
		// A flush before version 5: marks, no records.
		aexec(t, f, "DELETE FROM auditlog_entries WHERE id IN (1, 2, 3)")
		aexec(t, f, "UPDATE auditlog_seal_leaves SET pruned_at = 100, pruned_by = 'old flush' WHERE entry_id IN (1, 2, 3)")
		rep := f.verify(t)
		if !rep.OK() || len(rep.Pruned) != 1 || rep.Pruned[0].Leaves != 3 || rep.Pruned[0].Signed {
			t.Fatalf("before the upgrade's first round: %+v", rep)
		}
		f.sealer = f.another(t) // the upgraded sealer: a process of its own
		f.round(t)
		rep = f.verify(t)
		if !rep.OK() || len(rep.Pruned) != 1 || rep.Pruned[0].Leaves != 3 || !rep.Pruned[0].Signed {
			t.Fatalf("after the upgrade's first round: %+v", rep)
		}
		aexec(t, f, "DELETE FROM auditlog_entries WHERE id = 5")
		aexec(t, f, "UPDATE auditlog_seal_leaves SET pruned_at = 100, pruned_by = 'old flush' WHERE entry_id = 5")
		if rep := f.verify(t); !slices.ContainsFunc(rep.Problems, func(p auditseal.Problem) bool { return p.Kind == auditseal.PruneUnrecorded }) {
			t.Fatalf("a mark forged after the upgrade: %q", problems(rep))
		}
	})
}

// TestSealAttackOlderNoteWrittenBack: a round that signs only new prune
// records (or a moved position) signs its tree's size again, in place.
// Writing back the note it replaced made the next round sign the records
// again, as they then were; the sealer now refuses a checkpoint that signs
// less than it saw signed at that size.
func TestSealAttackOlderNoteWrittenBack(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		f.insert(t, nil, "a", 6)
		f.round(t)
		var before string
		if err := f.db.QueryRow("SELECT note FROM auditlog_seal_checkpoints WHERE size = 6").Scan(&before); err != nil {
			t.Fatal(err)
		}
		s, err := auditstore.New(f.db, f.d)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := s.Flush(context.Background(), auditstore.FlushOptions{BatchSize: 2, Filter: auditstore.Filter{Model: "a"}, MaxID: 2}); err != nil || res.Deleted != 2 {
			t.Fatalf("flush: %+v %v", res, err)
		}
		if r := f.round(t); r.Size != 6 {
			t.Fatalf("round: %+v", r)
		}
		aexec(t, f, "UPDATE auditlog_seal_checkpoints SET note = "+aph(f, 1)+" WHERE size = 6", before)
		if _, err := f.sealer.Round(context.Background()); !errors.Is(err, auditseal.ErrAltered) {
			t.Fatalf("a round over the older note: %v", err)
		}
	})
}

// TestSealAttackTimeThatIsNoTime: an entry whose timestamp was set by hand to
// text that is no time (SQLite keeps it) neither stops sealing nor makes
// Verify fail with an error: it is sealed as stored and reported, unsealed
// or sealed, as unreadable, and an edit of it afterwards as a modification.
func TestSealAttackTimeThatIsNoTime(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		if f.d != auditstore.SQLite {
			t.Skip("a timestamp column holds an instant, not text")
		}
		f.insert(t, nil, "a", 2)
		f.round(t)
		f.insert(t, nil, "b", 1) // id 3
		aexec(t, f, `UPDATE auditlog_entries SET timestamp = 'yesterday' WHERE id = 3`)
		if got := problems(f.verify(t)); !strings.Contains(got, "entry unreadable: entry 3") {
			t.Errorf("unsealed entry 3 with a time that is no time: Verify reports %q", got)
		}
		f.insert(t, nil, "c", 2)
		var lastErr error
		for range 3 {
			f.clock.add(time.Minute)
			_, lastErr = f.sealer.Round(context.Background())
		}
		if lastErr != nil {
			t.Fatalf("sealing stopped at the entry whose time is no time: %v", lastErr)
		}
		f.sealedOnce(t)
		got := problems(f.verify(t))
		if !strings.Contains(got, "entry unreadable: entry 3") || strings.Contains(got, "entry 2 ") || strings.Contains(got, "entry 4 ") {
			t.Errorf("entry 3 sealed with a time that is no time: Verify reports %q", got)
		}
		aexec(t, f, `UPDATE auditlog_entries SET timestamp = 'today' WHERE id = 3`)
		if got := problems(f.verify(t)); !strings.Contains(got, "entry modified: entry 3 ") {
			t.Errorf("entry 3's time changed after sealing: Verify reports %q", got)
		}
	})
}

// TestSealAttackColumnRewrittenAsBlob: SQLite converts text and numbers
// to a column's type, never a BLOB. A column rewritten as the BLOB of its
// own bytes reads back as the same value, so the leaf matched, while every
// filter, which compares a BLOB with text or a number as unequal, lost the
// entry (history, --model, --cid, an actor's page). Verify reports it.
func TestSealAttackColumnRewrittenAsBlob(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		if f.d != auditstore.SQLite {
			t.Skip("only SQLite stores a value of another type than its column's")
		}
		s, err := auditstore.New(f.db, f.d)
		if err != nil {
			t.Fatal(err)
		}
		cols := []string{"action", "model", "object_pk", "object_id", "object_repr", "changes", "serialized_data", "additional_data",
			"actor_id", "actor_name", "remote_addr", "remote_port", "cid"}
		var es []auditlog.Entry
		id := int64(7)
		for i := range len(cols) + 1 {
			c, err := auditlog.NewChange(1, 2)
			if err != nil {
				t.Fatal(err)
			}
			es = append(es, auditlog.Entry{Timestamp: time.Now(), Action: auditlog.ActionUpdate, Model: "books", ObjectPK: "7", ObjectID: &id,
				ObjectRepr: "Dune", Changes: auditlog.Changes{"price": c}, SerializedData: []byte(`{"id":7}`), AdditionalData: []byte(`{"n":1}`),
				ActorID: "42", ActorName: "alice", RemoteAddr: "192.0.2.1", RemotePort: 443, CorrelationID: fmt.Sprint("req-", i)})
		}
		if err := s.Insert(context.Background(), es); err != nil {
			t.Fatal(err)
		}
		f.round(t)
		if rep := f.verify(t); !rep.OK() {
			t.Fatalf("the untampered log does not verify:\n%s", problems(rep))
		}
		for i, c := range cols {
			aexec(t, f, fmt.Sprintf("UPDATE auditlog_entries SET %s = CAST(%s AS BLOB) WHERE id = %d", c, c, i+1))
		}
		got := problems(f.verify(t))
		for i, c := range cols {
			if !strings.Contains(got, fmt.Sprintf("entry modified: entry %d (leaf %d): its %s is stored as blob", i+1, i, c)) {
				t.Errorf("entry %d's %s rewritten as a BLOB: Verify reports %q", i+1, c, got)
			}
		}
		if strings.Contains(got, fmt.Sprintf("entry %d ", len(cols)+1)) {
			t.Errorf("Verify reports the untouched entry: %q", got)
		}
	})
}

// TestSealAttackStoredHashesAltered: the tree's stored hashes, which
// proofs and the sealer's next rounds read, were never checked by Verify:
// one altered, deleted or added made every proof through it fail (and
// blamed the entry) while the log verified.
func TestSealAttackStoredHashesAltered(t *testing.T) {
	for _, c := range []struct {
		name, stmt string
	}{
		{"altered", "UPDATE auditlog_seal_hashes SET hash = (SELECT hash FROM auditlog_seal_hashes WHERE idx = 0) WHERE idx = 1"},
		{"altered parent", "UPDATE auditlog_seal_hashes SET hash = (SELECT hash FROM auditlog_seal_hashes WHERE idx = 0) WHERE idx = 2"},
		{"deleted", "DELETE FROM auditlog_seal_hashes WHERE idx = 3"},
		{"added", "INSERT INTO auditlog_seal_hashes (idx, hash) SELECT 1000, hash FROM auditlog_seal_hashes WHERE idx = 0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
				f := open(t, gdb)
				f.insert(t, nil, "a", 5)
				f.round(t)
				if rep := f.verify(t); !rep.OK() {
					t.Fatalf("the untampered log does not verify:\n%s", problems(rep))
				}
				if _, err := auditseal.Prove(context.Background(), f.db, f.d, 1); err != nil {
					t.Fatalf("prove before: %v", err)
				}
				aexec(t, f, c.stmt)
				got := problems(f.verify(t))
				if !strings.Contains(got, "tree hashes altered") {
					t.Errorf("Verify reports %q", got)
				}
				if c.name == "added" {
					return
				}
				// The proof that fails says why, and does not blame the entry.
				for id := int64(1); id <= 5; id++ {
					if _, err := auditseal.Prove(context.Background(), f.db, f.d, id); err != nil && !strings.Contains(err.Error(), "stored tree hashes") {
						t.Errorf("prove %d: %v", id, err)
					}
				}
			})
		})
	}
}

// TestSealAttackNoNumberInAnIntegerColumn: on SQLite an integer column
// keeps text or a REAL it cannot convert. Verify scanned it as an integer
// and stopped with a scan error, naming no entry and checking nothing
// after it; it now reports the entry and goes on.
func TestSealAttackNoNumberInAnIntegerColumn(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		if f.d != auditstore.SQLite {
			t.Skip("only SQLite keeps text in an integer column")
		}
		f.insert(t, nil, "a", 5)
		f.round(t)
		aexec(t, f, "UPDATE auditlog_entries SET action = '1x' WHERE id = 2")
		aexec(t, f, "UPDATE auditlog_entries SET object_id = 'x' WHERE id = 3")
		aexec(t, f, "UPDATE auditlog_entries SET remote_port = 1.5 WHERE id = 4")
		aexec(t, f, "UPDATE auditlog_entries SET object_repr = 'forged' WHERE id = 5")
		got := problems(f.verify(t))
		for id := 2; id <= 5; id++ {
			if !strings.Contains(got, fmt.Sprintf("entry modified: entry %d ", id)) {
				t.Errorf("entry %d: Verify reports %q", id, got)
			}
		}
	})
}

// TestSealAttackEntryAndLeafRewritten: an entry altered and its leaf's
// hash rewritten to match it. The stored tree hashes are the signed tree:
// Prove and Verify blamed them, and name the leaf now.
func TestSealAttackEntryAndLeafRewritten(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		f.insert(t, nil, "a", 5)
		f.round(t)
		aexec(t, f, "UPDATE auditlog_entries SET object_repr = 'forged' WHERE id = 3")
		p, err := auditseal.Prove(context.Background(), f.db, f.d, 3)
		if err == nil || !strings.Contains(err.Error(), "does not match its sealed leaf") {
			t.Fatalf("prove of the altered entry: %v", err)
		}
		h := auditseal.LeafHash([]byte(p.Leaf))
		aexec(t, f, "UPDATE auditlog_seal_leaves SET leaf_hash = "+aph(f, 1)+" WHERE entry_id = 3", h[:])
		if _, err := auditseal.Prove(context.Background(), f.db, f.d, 3); err == nil || !strings.Contains(err.Error(), "does not match its sealed leaf") {
			t.Errorf("prove after the leaf's hash was rewritten too: %v", err)
		}
		got := problems(f.verify(t))
		if !strings.Contains(got, "checkpoint mismatch") || !strings.Contains(got, "leaf hash rewritten: entry 3 (leaf 2)") || strings.Contains(got, "tree hashes altered") {
			t.Errorf("Verify reports %q", got)
		}
	})
}
