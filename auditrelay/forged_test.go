package auditrelay_test

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/auditrelay"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/audittest"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// TestRelayPastAnEntryInsertedWithAHighID: PostgreSQL's identity does not
// move past an id given by hand. An entry inserted with id 1,000,000 was
// relayed; the writers' later entries took ids below it, in a gap the
// relay gave up after SweepFor, and were never relayed. Elsewhere the
// counter moves past it, and it is relayed as any entry.
func TestRelayPastAnEntryInsertedWithAHighID(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		db, d := sqlOf(t, gdb)
		ctx := context.Background()
		var out bytes.Buffer
		c := audittest.NewClock(time.Now().Add(time.Hour).Truncate(time.Second))
		r, err := auditrelay.New(db, d, auditrelay.NewJSONL(&out, "jsonl:test"))
		if err != nil {
			t.Fatal(err)
		}
		r.Now, r.GapWait = c.Now, time.Minute
		round := func() {
			t.Helper()
			if _, err := r.Round(ctx); err != nil {
				t.Fatal(err)
			}
		}
		insert(t, db, nil, d, "a", 2)
		round()
		cols := "timestamp, action, model, object_pk, object_id, object_repr, changes, serialized_data, additional_data, actor_id, actor_name, remote_addr, remote_port, cid"
		ph := "?"
		if d == auditstore.Postgres {
			ph = "$1"
		}
		if _, err := db.Exec("INSERT INTO auditlog_entries (id, "+cols+") SELECT "+ph+", "+cols+" FROM auditlog_entries WHERE id = 1", int64(1_000_000)); err != nil {
			t.Fatal(err)
		}
		round()
		insert(t, db, nil, d, "b", 1)
		round()
		c.Advance(25 * time.Hour) // past SweepFor
		round()
		insert(t, db, nil, d, "c", 2)
		round()
		want := []int64{1, 2, 3, 4, 5}
		if d != auditstore.Postgres {
			want = []int64{1, 2, 1_000_000, 1_000_001, 1_000_002, 1_000_003}
		}
		if got := lines(t, out.Bytes()); !slices.Equal(got, want) {
			t.Errorf("relayed %v, want %v", got, want)
		}
	})
}
