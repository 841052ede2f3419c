package auditgorm_test

import (
	"context"
	"encoding/json"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// Log either refuses a record or stores an entry that reads back as the
// record: it accepted a many-to-many change with fewer keys than objects,
// which no reader could decode, and a change with both values and M2M set,
// stored as the many-to-many change alone.
func TestLogStoresChangesAsGivenOrRefusesThem(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		setup(t, db)
		ctx := context.Background()
		for _, c := range []struct {
			name string
			ch   auditlog.Change
		}{
			{"m2m keys do not match objects", auditlog.Change{M2M: &auditlog.M2MChange{Operation: auditlog.M2MAdd, Objects: []string{"a", "b"}, Keys: []string{"1"}}}},
			{"m2m with an unknown operation", auditlog.Change{M2M: &auditlog.M2MChange{Operation: "drop table", Objects: []string{"a"}}}},
			{"values and m2m: values dropped", auditlog.Change{Old: json.RawMessage(`1`), New: json.RawMessage(`2`), M2M: &auditlog.M2MChange{Operation: auditlog.M2MAdd, Objects: []string{"a"}}}},
		} {
			db.Exec("DELETE FROM auditlog_entries")
			err := auditgorm.Log(ctx, db, auditgorm.Record{Action: auditlog.ActionUpdate, Model: "m", PK: "1", Changes: auditlog.Changes{"f": c.ch}})
			if err != nil {
				continue // refused: fine
			}
			e := entries(t, db)[0]
			want, _ := json.Marshal(auditlog.Changes{"f": c.ch})
			got, _ := json.Marshal(e.Changes)
			if len(e.Unreadable) > 0 || string(got) != string(want) || c.ch.M2M != nil && c.ch.Old != nil {
				t.Errorf("%s: Log accepted it; entry reads back changes %s, unreadable %q (given %+v / %s)", c.name, got, e.Unreadable, c.ch, want)
			}
		}
	})
}
