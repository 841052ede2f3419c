package auditseal_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// TestSealAttackOneBadLeafHidesNothing: a leaf row at an index no round
// writes (below 0), or a leaf row deleted, once made Verify stop at it and
// report only that, hiding every other change to the log (entries edited,
// deleted, forged). Verify now reports the bad leaf and checks every other
// leaf against its entry.
func TestSealAttackOneBadLeafHidesNothing(t *testing.T) {
	cases := []struct {
		name string
		do   func(t *testing.T, f *fixture)
		want []string
	}{
		{"a leaf below 0 naming a forged entry", func(t *testing.T, f *fixture) {
			aexec(t, f, "INSERT INTO auditlog_entries (id, timestamp, action, model, object_pk, object_repr) SELECT 99, timestamp, 2, 'books', '1', 'x' FROM auditlog_entries WHERE id = 1")
			aexec(t, f, "INSERT INTO auditlog_seal_leaves (leaf_index, entry_id, leaf_hash) SELECT -1, 99, leaf_hash FROM auditlog_seal_leaves WHERE leaf_index = 0")
		}, []string{"leaf out of place: entry 99: its leaf's index is -1"}},
		{"the first leaf deleted", func(t *testing.T, f *fixture) {
			aexec(t, f, "DELETE FROM auditlog_seal_leaves WHERE leaf_index = 0")
		}, []string{"leaf missing (leaf 0)", "entry not sealed: entry 1"}},
		{"a middle leaf deleted", func(t *testing.T, f *fixture) {
			aexec(t, f, "DELETE FROM auditlog_seal_leaves WHERE leaf_index IN (2, 3)")
		}, []string{"leaf missing (leaf 2): leaves 2 to 3 are missing"}},
		{"a leaf at the largest index", func(t *testing.T, f *fixture) {
			aexec(t, f, "INSERT INTO auditlog_entries (id, timestamp, action, model, object_pk, object_repr) SELECT 99, timestamp, 2, 'books', '1', 'x' FROM auditlog_entries WHERE id = 1")
			aexec(t, f, "INSERT INTO auditlog_seal_leaves (leaf_index, entry_id, leaf_hash) SELECT 9223372036854775807, 99, leaf_hash FROM auditlog_seal_leaves WHERE leaf_index = 0")
		}, []string{"leaf out of place: entry 99: its leaf's index is 9223372036854775807"}},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
				f := open(t, gdb)
				f.insert(t, nil, "a", 15)
				f.round(t)
				if rep := f.verify(t); !rep.OK() {
					t.Fatalf("before: %s", problems(rep))
				}
				tc.do(t, f)
				aexec(t, f, "UPDATE auditlog_entries SET actor_name = 'mallory' WHERE id IN (5, 9)")
				aexec(t, f, "DELETE FROM auditlog_entries WHERE id = 12")
				rep := f.verify(t)
				text := problems(rep)
				for _, w := range append(tc.want, "entry modified: entry 5 (leaf 4)", "entry modified: entry 9 (leaf 8)", "entry deleted: entry 12 (leaf 11)") {
					if !strings.Contains(text, w) {
						t.Errorf("problems:\n%s\nwant one with %q", text, w)
					}
				}
				if strings.Contains(text, "checkpoint missing") || strings.Contains(text, "tree hashes altered") || strings.Contains(text, "-9223372036854775808") {
					t.Errorf("a checkpoint reported missing, or the stored hashes altered, where the log has them:\n%s", text)
				}
			})
		})
	}
}

// TestSealAttackIDTwiceInAPartitionedTable: a partitioned PostgreSQL
// table's key is (id, timestamp), so a forged copy of a sealed entry can
// be stored in another month. Verify reported a leaf missing that was not,
// and stopped there, hiding an edit of another entry.
func TestSealAttackIDTwiceInAPartitionedTable(t *testing.T) {
	if os.Getenv(testdb.PostgresEnv) == "" {
		t.Skip(testdb.PostgresEnv + " is not set")
	}
	ctx := context.Background()
	f := open(t, testdb.OpenEmpty(t, "postgres"))
	if err := auditstore.MigrateWith(ctx, f.db, f.d, auditstore.MigrateOptions{Partition: auditstore.PartitionMonthly}); err != nil {
		t.Fatal(err)
	}
	aexec(t, f, "CREATE TABLE auditlog_entries_p2025_01 PARTITION OF auditlog_entries FOR VALUES FROM ('2025-01-01 00:00Z') TO ('2025-02-01 00:00Z')")
	s, err := auditstore.New(f.db, f.d)
	if err != nil {
		t.Fatal(err)
	}
	var es []auditlog.Entry
	for i := range 10 {
		es = append(es, auditlog.Entry{Timestamp: time.Now(), Action: auditlog.ActionCreate, Model: "m", ObjectPK: fmt.Sprint(i), ObjectRepr: "x", ActorName: "alice"})
	}
	if err := s.Insert(ctx, es); err != nil {
		t.Fatal(err)
	}
	f.round(t)
	aexec(t, f, "UPDATE auditlog_entries SET actor_name = 'mallory' WHERE id = 9")
	aexec(t, f, "INSERT INTO auditlog_entries SELECT id, timestamp '2025-01-15 00:00Z', action, model, object_pk, object_id, 'forged', changes, serialized_data, additional_data, actor_id, 'eve', remote_addr, remote_port, cid FROM auditlog_entries WHERE id = 3")
	rep := f.verify(t)
	text := problems(rep)
	for _, w := range []string{"entry not sealed: entry 3 (leaf 2): the entries table holds its id twice", "entry modified: entry 9 (leaf 8)"} {
		if !strings.Contains(text, w) {
			t.Errorf("problems:\n%s\nwant one with %q", text, w)
		}
	}
	if strings.Contains(text, "leaf missing") {
		t.Errorf("a leaf reported missing:\n%s", text)
	}
	if rep.Leaves != 10 {
		t.Errorf("%d leaves checked, want 10", rep.Leaves)
	}
}
