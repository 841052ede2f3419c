package auditrelay_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditrelay"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// during is a sink that runs meanwhile between a round's read and its
// publish, as writes of the application and other relays do.
type during struct {
	auditrelay.Sink
	meanwhile func()
}

func (s *during) Publish(ctx context.Context, es []auditlog.Entry) error {
	if s.meanwhile != nil {
		s.meanwhile()
	}
	return s.Sink.Publish(ctx, es)
}

// TestSQLiteRoundsAmidRollbacks: on SQLite, rounds whose reads and
// publishes interleave with the application's writes, rolled-back writes
// whose ids the next write takes again, a second relay of the name, and
// the state row deleted, publish every committed entry at least once and
// never one that was rolled back; a single relay publishes each once.
func TestSQLiteRoundsAmidRollbacks(t *testing.T) {
	for _, shared := range []bool{false, true} {
		gdb := testdb.Open(t, "sqlite")
		db, d := sqlOf(t, gdb)
		var mu sync.Mutex
		var out bytes.Buffer
		w := writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return out.Write(p)
		})
		rnd := rand.New(rand.NewPCG(1, 2))
		rollback := func() {
			tx, err := db.Begin()
			if err != nil {
				t.Fatal(err)
			}
			insert(t, db, tx, d, "gone", 1+rnd.IntN(3))
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
		}
		var other *auditrelay.Relay
		step := 0
		sink := &during{Sink: auditrelay.NewJSONL(w, "jsonl:x"), meanwhile: func() {
			step++
			switch rnd.IntN(4) {
			case 0:
				rollback()
				insert(t, db, nil, d, "kept", 1+rnd.IntN(3))
			case 1:
				insert(t, db, nil, d, "kept", 1)
				rollback()
			case 2:
				if shared {
					if _, err := other.Round(context.Background()); err != nil {
						t.Fatal(err)
					}
				}
			}
		}}
		r, err := auditrelay.New(db, d, sink)
		if err != nil {
			t.Fatal(err)
		}
		r.Batch = 2
		other, err = auditrelay.New(db, d, auditrelay.NewJSONL(w, "jsonl:x"))
		if err != nil {
			t.Fatal(err)
		}
		other.Batch = 3
		for range 200 {
			if rnd.IntN(3) == 0 {
				rollback()
			}
			insert(t, db, nil, d, "kept", 1+rnd.IntN(2))
			if _, err := r.Round(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		sink.meanwhile = nil
		if _, err := r.CatchUp(context.Background()); err != nil {
			t.Fatal(err)
		}
		committed := ids(t, db, "SELECT id FROM "+auditstore.Table+" ORDER BY id")
		got := lines(t, out.Bytes())
		seen := map[int64]int{}
		for _, id := range got {
			seen[id]++
		}
		for _, id := range committed {
			if seen[id] == 0 {
				t.Fatalf("shared %v: entry %d committed, never published", shared, id)
			}
			if !shared && seen[id] != 1 {
				t.Fatalf("entry %d published %d times by one relay", id, seen[id])
			}
			delete(seen, id)
		}
		if len(seen) > 0 {
			t.Fatalf("shared %v: published ids that are not committed: %v", shared, seen)
		}
		var models []string
		rows, err := db.Query("SELECT DISTINCT model FROM " + auditstore.Table)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var m string
			_ = rows.Scan(&m)
			models = append(models, m)
		}
		_ = rows.Close()
		if !slices.Equal(models, []string{"kept"}) {
			t.Fatalf("models %v", models)
		}
	}
}

// TestSQLiteStateDeletedMidRound: the state row deleted while a round
// publishes makes the relay start again from the start, publishing every
// entry again rather than skipping any.
func TestSQLiteStateDeletedMidRound(t *testing.T) {
	gdb := testdb.Open(t, "sqlite")
	db, d := sqlOf(t, gdb)
	var out bytes.Buffer
	sink := &during{Sink: auditrelay.NewJSONL(&out, "jsonl:x")}
	r, err := auditrelay.New(db, d, sink)
	if err != nil {
		t.Fatal(err)
	}
	insert(t, db, nil, d, "a", 3)
	if _, err := r.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	insert(t, db, nil, d, "a", 2)
	sink.meanwhile = func() {
		if _, err := db.Exec("DELETE FROM " + auditstore.RelayStateTable); err != nil {
			t.Fatal(err)
		}
		insert(t, db, nil, d, "a", 1)
	}
	if _, err := r.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	sink.meanwhile = nil
	if _, err := r.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := lines(t, out.Bytes())
	seen := map[int64]bool{}
	for _, id := range got {
		seen[id] = true
	}
	for id := int64(1); id <= 6; id++ {
		if !seen[id] {
			t.Fatalf("entry %d never published: %v", id, got)
		}
	}
	if lag, err := r.Lag(context.Background()); err != nil || lag.Entries != 0 {
		t.Fatalf("lag %+v, %v", lag, err)
	}
}
