package auditrelay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/go-auditlog/auditlog/auditnats"
	"github.com/go-auditlog/auditlog/auditrelay"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// An entry that does not decode as stored (columns changed by hand) is
// published in its place, marked unreadable with no time or action it does
// not have, and neither stops the relay nor its lag.
func TestRelayPublishesUnreadableEntriesMarked(t *testing.T) {
	t.Parallel()
	gdb := testdb.Open(t, "sqlite")
	db, d := sqlOf(t, gdb)
	var out bytes.Buffer
	r, err := auditrelay.New(db, d, auditrelay.NewJSONL(&out, "jsonl:test"))
	if err != nil {
		t.Fatal(err)
	}
	insert(t, db, nil, d, "a", 4)
	if _, err := db.Exec(`UPDATE auditlog_entries SET timestamp = 'yesterday', action = 'x', changes = '[' WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	// '' is the least of the times: the one whose age the lag would read.
	if _, err := db.Exec(`UPDATE auditlog_entries SET timestamp = '' WHERE id = 2`); err != nil {
		t.Fatal(err)
	}
	if lag, err := r.Lag(context.Background()); err != nil || lag.Entries != 4 {
		t.Fatalf("lag: %+v, %v", lag, err)
	}
	if res, err := r.Round(context.Background()); err != nil || res.Published != 4 {
		t.Fatalf("round: %+v, %v", res, err)
	}
	if got := lines(t, out.Bytes()); !slices.Equal(got, []int64{1, 2, 3, 4}) {
		t.Fatalf("published %v", got)
	}
	first, _, _ := strings.Cut(out.String(), "\n")
	var rec auditstore.ExportRecord
	if err := json.Unmarshal([]byte(first), &rec); err != nil {
		t.Fatal(err)
	}
	for _, col := range []string{"timestamp", "action", "changes"} {
		if !strings.Contains(rec.Unreadable, col+": ") {
			t.Errorf("the record does not say %s is unreadable: %s", col, first)
		}
	}
	if rec.Timestamp != "" || rec.Action != "" || rec.Changes != nil {
		t.Errorf("the record shows values the entry does not have: %s", first)
	}
}

// Through NATS, an entry whose action does not decode goes on the subject
// PREFIX.<model>.unreadable, not on that of the action its zero value
// names (create).
func TestNATSSubjectOfAnUnreadableAction(t *testing.T) {
	url, name, prefix := stream(t)
	gdb := testdb.Open(t, "sqlite")
	db, d := sqlOf(t, gdb)
	ctx := context.Background()
	sink, err := auditnats.ConnectSink(ctx, url, auditnats.SinkOptions{Stream: name, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	r, err := auditrelay.New(db, d, sink)
	if err != nil {
		t.Fatal(err)
	}
	insert(t, db, nil, d, "a", 2)
	if _, err := db.Exec(`UPDATE auditlog_entries SET action = 'x' WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Round(ctx); err != nil {
		t.Fatal(err)
	}
	got := readStream(t, url, name)
	if len(got) != 2 || got[0].subject != prefix+".a.unreadable" || got[1].subject != prefix+".a.update" || got[0].rec.Unreadable == "" {
		t.Errorf("published %+v", got)
	}
}
