package auditseal_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditseal"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

const origin = "example.com/audit-test"

// keys returns a signer and its verifier.
func keys(t testing.TB, name string) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

// fixture is one database with a sealer.
type fixture struct {
	db     *sql.DB
	d      auditstore.Dialect
	sealer *auditseal.Sealer
	v      note.Verifier
	signer note.Signer
	clock  *clock
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func open(t *testing.T, gdb *gorm.DB) *fixture {
	t.Helper()
	db, err := gdb.DB()
	if err != nil {
		t.Fatal(err)
	}
	d, err := auditstore.ParseDialect(gdb.Dialector.Name())
	if err != nil {
		t.Fatal(err)
	}
	signer, v := keys(t, "auditlog-test")
	s, err := auditseal.New(db, d, signer, origin)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{now: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}
	s.Now, s.GapWait = c.Now, time.Minute
	return &fixture{db: db, d: d, sealer: s, v: v, signer: signer, clock: c}
}

// another returns another sealer of the fixture's log (another process,
// or the same started again), with its key, clock and GapWait.
func (f *fixture) another(t *testing.T) *auditseal.Sealer {
	t.Helper()
	s, err := auditseal.New(f.db, f.d, f.signer, origin)
	if err != nil {
		t.Fatal(err)
	}
	s.Now, s.GapWait = f.clock.Now, time.Minute
	return s
}

func (f *fixture) round(t *testing.T) auditseal.RoundResult {
	t.Helper()
	r, err := f.sealer.Round(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *fixture) verify(t *testing.T, trusted ...[]byte) auditseal.Report {
	t.Helper()
	rep, err := auditseal.Verify(context.Background(), f.db, f.d, auditseal.VerifyOptions{Origin: origin, Verifier: f.v, Trusted: trusted, GapWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// insert writes n entries for model in one transaction of tx (nil: its
// own) and returns their ids.
func (f *fixture) insert(t *testing.T, tx *sql.Tx, model string, n int) {
	t.Helper()
	if err := f.insertErr(tx, model, n); err != nil {
		t.Fatal(err)
	}
}

// insertErr is insert for goroutines, where t.Fatal cannot stop the test.
func (f *fixture) insertErr(tx *sql.Tx, model string, n int) error {
	ctx := context.Background()
	var s *auditstore.Store
	var err error
	if tx != nil {
		s, err = auditstore.New(tx, f.d)
	} else {
		s, err = auditstore.New(f.db, f.d)
	}
	if err != nil {
		return err
	}
	es := make([]auditlog.Entry, n)
	for i := range es {
		ch, _ := auditlog.NewChange(i, i+1)
		es[i] = auditlog.Entry{Timestamp: time.Now(), Action: auditlog.ActionUpdate, Model: model, ObjectPK: fmt.Sprint(i), ObjectRepr: fmt.Sprintf("%s %d", model, i),
			Changes: auditlog.Changes{"n": ch}, ActorName: "alice"}
	}
	return s.Insert(ctx, es)
}

// sealedOnce checks that every committed entry is sealed exactly once.
func (f *fixture) sealedOnce(t *testing.T) {
	t.Helper()
	ids := func(q string) []int64 {
		rows, err := f.db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			out = append(out, id)
		}
		return out
	}
	entries := ids("SELECT id FROM auditlog_entries ORDER BY id")
	sealed := ids("SELECT entry_id FROM auditlog_seal_leaves ORDER BY entry_id")
	if !slices.Equal(entries, sealed) {
		t.Fatalf("%d entries, %d sealed: %v, %v", len(entries), len(sealed), short(entries), short(sealed))
	}
}

func short(ids []int64) []int64 {
	if len(ids) > 20 {
		return ids[:20]
	}
	return ids
}

// TestSealEveryCommittedEntryOnce writes entries with concurrent writers,
// a transaction held open across sealing rounds and one rolled back, and
// checks that every committed entry is sealed exactly once, that the
// rolled-back ids stop holding the sealer's position after GapWait, and
// that the log verifies.
func TestSealEveryCommittedEntryOnce(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		ctx := context.Background()
		concurrent := f.d != auditstore.SQLite // one writer at a time there
		var held, rolled *sql.Tx
		if concurrent {
			var err error
			if held, err = f.db.BeginTx(ctx, nil); err != nil {
				t.Fatal(err)
			}
			f.insert(t, held, "held", 3)
			if rolled, err = f.db.BeginTx(ctx, nil); err != nil {
				t.Fatal(err)
			}
			f.insert(t, rolled, "rolled", 2)
		}
		writers := 1
		if concurrent {
			writers = 4
		}
		for round := 0; round < 4; round++ {
			var wg sync.WaitGroup
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 5; i++ {
						if err := f.insertErr(nil, fmt.Sprintf("w%d", w), 1+i%3); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			r := f.round(t)
			if concurrent && r.Next > 1 {
				// The held transaction's ids are missing below sealed ones.
				var minHeld int64
				if err := held.QueryRow("SELECT MIN(id) FROM auditlog_entries WHERE model = 'held'").Scan(&minHeld); err != nil {
					t.Fatal(err)
				}
				if r.Next > minHeld {
					t.Fatalf("round %d: position %d passed the held transaction's id %d", round, r.Next, minHeld)
				}
			}
			f.clock.add(10 * time.Second)
		}
		if concurrent {
			if err := rolled.Rollback(); err != nil {
				t.Fatal(err)
			}
			if err := held.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		f.insert(t, nil, "after", 2)
		r := f.round(t)
		f.sealedOnce(t)
		if rep := f.verify(t); !rep.OK() || rep.Unsealed != 0 {
			t.Fatalf("verify: %+v", rep)
		}
		if concurrent {
			// The rolled-back ids hold the position until GapWait passes.
			var maxID int64
			if err := f.db.QueryRow("SELECT MAX(id) FROM auditlog_entries").Scan(&maxID); err != nil {
				t.Fatal(err)
			}
			if r.Next > maxID {
				t.Fatalf("position %d passed the rolled-back ids before GapWait", r.Next)
			}
			f.clock.add(2 * time.Minute)
			if r = f.round(t); r.Next != maxID+1 {
				t.Fatalf("after GapWait the position is %d, want %d", r.Next, maxID+1)
			}
		}
		if rep := f.verify(t); !rep.OK() {
			t.Fatalf("verify: %+v", rep)
		}
	})
}

// TestVerifyFindsTampering seals a log, tampers with it one way at a
// time, and checks that Verify names what was done.
func TestVerifyFindsTampering(t *testing.T) {
	type tamper struct {
		name string
		do   func(t *testing.T, f *fixture, trusted []byte) [][]byte // returns the trusted checkpoints to verify with
		want []string                                                // in the problems' text
	}
	exec := func(t *testing.T, f *fixture, q string, args ...any) {
		t.Helper()
		if _, err := f.db.Exec(q, args...); err != nil {
			t.Fatal(err)
		}
	}
	ph := func(f *fixture, n int) string {
		if f.d == auditstore.Postgres {
			return fmt.Sprintf("$%d", n)
		}
		return "?"
	}
	tampers := []tamper{
		{"one byte of changes", func(t *testing.T, f *fixture, _ []byte) [][]byte {
			exec(t, f, `UPDATE auditlog_entries SET changes = `+ph(f, 1)+` WHERE id = 3`, `{"n":[2,4]}`)
			return nil
		}, []string{"entry modified: entry 3"}},
		{"actor name", func(t *testing.T, f *fixture, _ []byte) [][]byte {
			exec(t, f, `UPDATE auditlog_entries SET actor_name = 'mallory' WHERE id = 4`)
			return nil
		}, []string{"entry modified: entry 4"}},
		{"deleted entry", func(t *testing.T, f *fixture, _ []byte) [][]byte {
			exec(t, f, `DELETE FROM auditlog_entries WHERE id = 5`)
			return nil
		}, []string{"entry deleted: entry 5"}},
		{"forged entry with an old timestamp", func(t *testing.T, f *fixture, _ []byte) [][]byte {
			s, _ := auditstore.New(f.db, f.d)
			if err := s.Insert(context.Background(), []auditlog.Entry{{Timestamp: time.Now().Add(-time.Hour), Action: auditlog.ActionDelete, Model: "m", ObjectPK: "1", ObjectRepr: "m 1"}}); err != nil {
				t.Fatal(err)
			}
			return nil
		}, []string{"entry not sealed: entry 11", "more than 1m0s before the newest sealed entry"}},
		{"swapped ids", func(t *testing.T, f *fixture, _ []byte) [][]byte {
			exec(t, f, `UPDATE auditlog_entries SET id = 1000 WHERE id = 2`)
			exec(t, f, `UPDATE auditlog_entries SET id = 2 WHERE id = 6`)
			exec(t, f, `UPDATE auditlog_entries SET id = 6 WHERE id = 1000`)
			return nil
		}, []string{"entry modified: entry 2", "entry modified: entry 6"}},
		{"leaf rewritten with the entry", func(t *testing.T, f *fixture, _ []byte) [][]byte {
			// Whoever edits an entry and recomputes its leaf hash still
			// cannot sign the root.
			exec(t, f, `UPDATE auditlog_entries SET object_repr = 'forged' WHERE id = 7`)
			exec(t, f, `UPDATE auditlog_seal_leaves SET leaf_hash = (SELECT leaf_hash FROM (SELECT leaf_hash FROM auditlog_seal_leaves WHERE entry_id = 8) x) WHERE entry_id = 7`)
			return nil
		}, []string{"entry modified: entry 7", "checkpoint mismatch"}},
		{"newest entries and checkpoints deleted", func(t *testing.T, f *fixture, trusted []byte) [][]byte {
			exec(t, f, `DELETE FROM auditlog_seal_checkpoints WHERE size > 5`)
			exec(t, f, `DELETE FROM auditlog_seal_leaves WHERE leaf_index >= 5`)
			exec(t, f, `DELETE FROM auditlog_seal_hashes`)
			exec(t, f, `DELETE FROM auditlog_entries WHERE id > 5`)
			exec(t, f, `UPDATE auditlog_seal_state SET next_id = 6`)
			return [][]byte{trusted}
		}, []string{"checkpoint missing: checkpoint of size 10"}},
		{"checkpoint signed by another key", func(t *testing.T, f *fixture, _ []byte) [][]byte {
			other, _ := keys(t, "auditlog-test")
			var text string
			if err := f.db.QueryRow(`SELECT note FROM auditlog_seal_checkpoints WHERE size = 10`).Scan(&text); err != nil {
				t.Fatal(err)
			}
			body := text[:strings.Index(text, "\n\n")+1]
			forged, err := note.Sign(&note.Note{Text: body}, other)
			if err != nil {
				t.Fatal(err)
			}
			exec(t, f, `UPDATE auditlog_seal_checkpoints SET note = `+ph(f, 1)+` WHERE size = 10`, string(forged))
			return nil
		}, []string{"checkpoint invalid: checkpoint of size 10"}},
	}
	for _, tc := range tampers {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
				f := open(t, gdb)
				f.insert(t, nil, "a", 5) // ids 1-5: one checkpoint of size 5
				f.round(t)
				f.insert(t, nil, "b", 5) // ids 6-10
				f.round(t)
				var trusted string
				if err := f.db.QueryRow(`SELECT note FROM auditlog_seal_checkpoints WHERE size = 10`).Scan(&trusted); err != nil {
					t.Fatal(err)
				}
				if rep := f.verify(t, []byte(trusted)); !rep.OK() || rep.Leaves != 10 || rep.Checkpoints != 2 {
					t.Fatalf("before tampering: %+v", rep)
				}
				rep := f.verify(t, tc.do(t, f, []byte(trusted))...)
				var got []string
				for _, p := range rep.Problems {
					got = append(got, p.String())
				}
				text := strings.Join(got, "\n")
				for _, w := range tc.want {
					if !strings.Contains(text, w) {
						t.Errorf("problems:\n%s\nwant one with %q", text, w)
					}
				}
			})
		})
	}
}

// TestFlushKeepsTheLogVerifiable flushes sealed entries: Verify lists them
// as pruned by that flush, not as deleted, while an entry deleted by hand
// beside it is still reported.
func TestFlushKeepsTheLogVerifiable(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		ctx := context.Background()
		s, _ := auditstore.New(f.db, f.d)
		old := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		var es []auditlog.Entry
		for i := range 6 {
			ts := time.Now()
			if i < 4 {
				ts = old.Add(time.Duration(i) * time.Hour)
			}
			es = append(es, auditlog.Entry{Timestamp: ts, Action: auditlog.ActionCreate, Model: "m", ObjectPK: fmt.Sprint(i), ObjectRepr: "x"})
		}
		if err := s.Insert(ctx, es); err != nil {
			t.Fatal(err)
		}
		f.round(t)
		res, err := s.Flush(ctx, auditstore.FlushOptions{Filter: auditstore.Filter{Until: old.Add(3 * time.Hour)}, BatchSize: 2, Reason: "test flush"})
		if err != nil || res.Deleted != 3 {
			t.Fatalf("flush: %+v, %v", res, err)
		}
		rep := f.verify(t)
		if !rep.OK() || len(rep.Pruned) != 1 || rep.Pruned[0].By != "test flush" || rep.Pruned[0].Leaves != 3 {
			t.Fatalf("after the flush: %+v", rep)
		}
		if _, err := f.db.Exec("DELETE FROM auditlog_entries WHERE id = 5"); err != nil {
			t.Fatal(err)
		}
		rep = f.verify(t)
		if len(rep.Problems) != 1 || rep.Problems[0].Kind != auditseal.EntryDeleted || rep.Problems[0].EntryID != 5 {
			t.Fatalf("an entry deleted by hand: %+v", rep.Problems)
		}
		// Emptying the table prunes what it deletes, not what was gone.
		if err := s.Truncate(ctx); err != nil {
			t.Fatal(err)
		}
		rep = f.verify(t)
		if len(rep.Problems) != 1 || rep.Problems[0].EntryID != 5 || len(rep.Pruned) != 2 || rep.Pruned[1].By != "truncate" || rep.Pruned[1].Leaves != 2 {
			t.Fatalf("after truncate: %+v", rep)
		}
	})
}

// TestProveAndCheckProof proves each entry against the latest checkpoint,
// checks the proofs with the public key alone (through JSON, as an
// auditor gets them), and refuses a proof of an altered entry or checked
// with another key.
func TestProveAndCheckProof(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		ctx := context.Background()
		f.insert(t, nil, "a", 3)
		f.round(t)
		f.insert(t, nil, "b", 4)
		if _, err := auditseal.Prove(ctx, f.db, f.d, 5); !errors.Is(err, auditseal.ErrNotSealed) {
			t.Fatalf("proof of an unsealed entry: %v", err)
		}
		f.round(t)
		for id := int64(1); id <= 7; id++ {
			p, err := auditseal.Prove(ctx, f.db, f.d, id)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := json.Marshal(p)
			var back auditseal.Proof
			if err := json.Unmarshal(raw, &back); err != nil {
				t.Fatal(err)
			}
			if err := auditseal.CheckProof(back, origin, f.v); err != nil {
				t.Fatalf("entry %d: %v", id, err)
			}
			altered := back
			altered.Leaf = strings.Replace(back.Leaf, `"alice"`, `"mallory"`, 1)
			if err := auditseal.CheckProof(altered, origin, f.v); err == nil {
				t.Fatalf("entry %d: a proof of an altered entry checks", id)
			}
			_, other := keys(t, "auditlog-test")
			if err := auditseal.CheckProof(back, origin, other); err == nil {
				t.Fatalf("entry %d: a proof checks with another key", id)
			}
		}
		// An entry edited after sealing has no proof.
		if _, err := f.db.Exec("UPDATE auditlog_entries SET actor_name = 'mallory' WHERE id = 2"); err != nil {
			t.Fatal(err)
		}
		if _, err := auditseal.Prove(ctx, f.db, f.d, 2); err == nil {
			t.Fatal("a proof of an edited entry")
		}
		// An entry that does not exist, or no longer does, is not one
		// "not sealed yet".
		if _, err := auditseal.Prove(ctx, f.db, f.d, 99); !errors.Is(err, auditstore.ErrNotFound) || errors.Is(err, auditseal.ErrNotSealed) || !strings.Contains(err.Error(), "no entry 99") {
			t.Errorf("a proof of entry 99 of 7: %v", err)
		}
		if _, err := f.db.Exec("DELETE FROM auditlog_entries WHERE id = 3"); err != nil {
			t.Fatal(err)
		}
		if _, err := auditseal.Prove(ctx, f.db, f.d, 3); !errors.Is(err, auditstore.ErrNotFound) || !strings.Contains(err.Error(), "no longer in the table") {
			t.Errorf("a proof of a deleted entry: %v", err)
		}
	})
}

// TestVerifyReportsUnsealedAndOrigin counts the entries the sealer has not
// reached and the time of the oldest, and refuses checkpoints of another
// log (a wrong origin).
func TestVerifyReportsUnsealedAndOrigin(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		f.insert(t, nil, "a", 3)
		f.round(t)
		before := time.Now().Add(-time.Second)
		f.insert(t, nil, "b", 2)
		rep := f.verify(t)
		if !rep.OK() || rep.Unsealed != 2 || rep.Oldest.Before(before) || rep.Oldest.After(time.Now()) {
			t.Fatalf("two entries not sealed yet: %+v", rep)
		}
		other, err := auditseal.Verify(context.Background(), f.db, f.d, auditseal.VerifyOptions{Origin: "example.com/other", Verifier: f.v})
		if err != nil {
			t.Fatal(err)
		}
		if other.OK() || other.Problems[0].Kind != auditseal.CheckpointForged {
			t.Fatalf("checkpoints checked as another log's: %+v", other.Problems)
		}
	})
}

// TestTwoSealers runs two sealers of one database at once beside a writer:
// they take turns, and every entry is sealed once in one tree.
func TestTwoSealers(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		second := f.another(t)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for _, s := range []*auditseal.Sealer{f.sealer, second} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					if _, err := s.Round(ctx); err != nil && ctx.Err() == nil && !testdb.Retryable(err) {
						errs <- err
						return
					}
				}
			}()
		}
		for i := range 20 {
			f.insert(t, nil, fmt.Sprint("w", i), 1+i%3)
		}
		cancel()
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		// A round cancelled above may still hold its locks on MySQL until
		// the server has rolled it back: a deadlock with it is retried, as
		// the seal command goes on after a failed round (Run's onError).
		for try := 0; ; try++ {
			_, err := f.sealer.Round(context.Background())
			if err == nil {
				break
			}
			if !testdb.Retryable(err) || try == 5 {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		f.sealedOnce(t)
		if rep := f.verify(t); !rep.OK() {
			t.Fatalf("verify: %+v", rep.Problems)
		}
	})
}

// TestRunLogs: Run logs each round that sealed entries (debug) and each
// failed round (error) to the sealer's Logger.
func TestRunLogs(t *testing.T) {
	f := open(t, testdb.Open(t, "sqlite"))
	var buf syncBuffer
	f.sealer.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.insert(t, nil, "books", 3)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.sealer.Run(ctx, 10*time.Millisecond, func(error) {}) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(buf.String(), "entries=3") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := f.db.Exec("DROP TABLE auditlog_seal_checkpoints"); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(buf.String(), "level=ERROR") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if out := buf.String(); !strings.Contains(out, `level=DEBUG msg="auditlog seal: sealed" entries=3 size=3`) || !strings.Contains(out, `level=ERROR msg="auditlog seal: round failed"`) {
		t.Fatalf("log:\n%s", out)
	}
}

// syncBuffer is a strings.Builder written by one goroutine and read by
// another.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLateCommitAfterTheSealerStartsAgain: an entry whose transaction
// commits after GapWait, within SweepFor, is sealed by the round after its
// commit whether the sealer ran on, started again, or another sealer ran a
// round in between. A sealer that started again (or followed another one)
// rebuilt its gaps from its position up only: the late entry was never
// sealed, and Verify called the untampered log tampered ("its id is below
// the sealer's position").
func TestLateCommitAfterTheSealerStartsAgain(t *testing.T) {
	for _, how := range []string{"running", "started again", "after another sealer", "saved before version 5"} {
		t.Run(how, func(t *testing.T) {
			testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
				if gdb.Dialector.Name() == "sqlite" {
					t.Skip("SQLite has one writer: an entry cannot commit after a later one")
				}
				f := open(t, gdb)
				ctx := context.Background()
				f.insert(t, nil, "a", 1)
				held, err := f.db.BeginTx(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer held.Rollback()
				f.insert(t, held, "late", 1)
				f.insert(t, nil, "b", 1)
				f.round(t)
				f.clock.add(2 * time.Minute) // past GapWait, inside SweepFor
				f.insert(t, nil, "c", 1)
				if r := f.round(t); r.Sealed != 1 {
					t.Fatalf("round 2: %+v", r)
				}
				switch how {
				case "started again":
					f.sealer = f.another(t)
				case "after another sealer":
					second := f.another(t)
					f.insert(t, nil, "d", 1)
					if r, err := second.Round(ctx); err != nil || r.Sealed != 1 {
						t.Fatalf("the other sealer's round: %+v %v", r, err)
					}
				case "saved before version 5":
					// A state without gaps is rebuilt from the leaves: what the
					// sealer did before it saved them, seen here doing so.
					aexec(t, f, "UPDATE auditlog_seal_state SET gaps = NULL")
				}
				if err := held.Commit(); err != nil {
					t.Fatal(err)
				}
				r := f.round(t)
				want := 1
				if how == "saved before version 5" {
					want = 0 // the gap below the position is not known again
				}
				if r.Sealed != want {
					t.Errorf("the late entry's round sealed %d, want %d", r.Sealed, want)
				}
				if rep := f.verify(t); rep.OK() != (want == 1) {
					t.Errorf("verify: %s", problems(rep))
				}
			})
		})
	}
}

// TestUnreadableSavedGaps: saved gaps that do not decode stop the round
// with a message that says how to rebuild them, rather than being dropped.
func TestUnreadableSavedGaps(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		f.insert(t, nil, "a", 2)
		f.round(t)
		aexec(t, f, `UPDATE auditlog_seal_state SET gaps = '{"size":2,"gaps":[[5,3,0]]}'`)
		if _, err := f.sealer.Round(context.Background()); err == nil || !strings.Contains(err.Error(), "set them to NULL") {
			t.Fatalf("round over unreadable gaps: %v", err)
		}
		aexec(t, f, `UPDATE auditlog_seal_state SET gaps = NULL`)
		f.insert(t, nil, "b", 1)
		if r := f.round(t); r.Sealed != 1 {
			t.Fatalf("round after the gaps were cleared: %+v", r)
		}
		// Gaps over sealed ids, dated in the future, and above the highest
		// id: the rounds go on, sealing what comes; the position is held
		// for GapWait at most, and not raised.
		soon := f.clock.Now().Add(time.Hour).UnixMilli()
		aexec(t, f, fmt.Sprintf(`UPDATE auditlog_seal_state SET gaps = '{"size":3,"gaps":[[1,2,%d],[1000000,1000000,%d]]}'`, soon, soon))
		f.insert(t, nil, "c", 2)
		if r := f.round(t); r.Sealed != 2 || r.Next != 1 {
			t.Fatalf("round over gaps of sealed ids: %+v", r)
		}
		f.clock.add(2 * time.Minute)
		if r := f.round(t); r.Sealed != 0 || r.Next != 6 {
			t.Fatalf("round after GapWait: %+v", r)
		}
		f.sealedOnce(t)
		if rep := f.verify(t); !rep.OK() {
			t.Fatalf("verify: %s", problems(rep))
		}
	})
}

// TestFirstRoundSignsThePositionAfterIt: the first round of a log signs
// the position after the entries it sealed. It saw a gap at id 0, and
// signed position 0 for GapWait, in which an entry forged inside the
// sealed range was not reported as inserted.
func TestFirstRoundSignsThePositionAfterIt(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		f.insert(t, nil, "a", 3)
		if r := f.round(t); r.Next != 4 {
			t.Fatalf("first round: %+v", r)
		}
	})
}
