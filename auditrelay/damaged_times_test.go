package auditrelay_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog/auditrelay"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// The lag's age is MIN(timestamp) of the entries behind: on SQLite an
// unreadable time (” sorts before every time) is that minimum, and the
// readable times of all the other entries behind are not looked at: a
// relay days behind reports Behind 0, as if it were not behind at all.
func TestLagAgeSkipsUnreadableTimes(t *testing.T) {
	t.Parallel()
	gdb := testdb.Open(t, "sqlite")
	db, d := sqlOf(t, gdb)
	insert(t, db, nil, d, "a", 4)
	// Entries 2-4 waiting for two days; entry 1's time damaged.
	if _, err := db.Exec(`UPDATE auditlog_entries SET timestamp = '2020-01-01T00:00:00.000000Z' WHERE id > 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE auditlog_entries SET timestamp = '' WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	lag, err := auditrelay.ReadLag(context.Background(), db, d, "jsonl:test", time.Date(2020, 1, 3, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if lag.Entries != 4 || lag.Behind < 24*time.Hour {
		t.Errorf("lag %+v: want 4 entries behind by 2 days (entries 2-4 are dated 2020-01-01)", lag)
	}
}

// A relay whose first round created its state and failed before it saved
// any (the destination unreachable) was reported as "last at 1970-01-01":
// its state says 0, never.
func TestLagOfARelayThatNeverPublished(t *testing.T) {
	t.Parallel()
	gdb := testdb.Open(t, "sqlite")
	db, d := sqlOf(t, gdb)
	insert(t, db, nil, d, "a", 2)
	if _, err := db.Exec(`INSERT INTO auditlog_relay_state (name, hi, gaps, relayed, updated_at) VALUES ('jsonl:never', 0, '[]', 0, 0)`); err != nil {
		t.Fatal(err)
	}
	lag, err := auditrelay.ReadLag(context.Background(), db, d, "jsonl:never", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !lag.Updated.IsZero() || lag.Entries != 2 {
		t.Errorf("lag %+v: want no time of a last round, and 2 entries waiting", lag)
	}
}
