package auditstore

import (
	"reflect"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog"
)

// TestEntryEncoderSharesOnlyWhatIsEqual: an insert's entries encoded
// together (what they share encoded once, buffers reused) get the bind
// values each would get alone, whatever their timestamps, models and
// changes, on every dialect.
func TestEntryEncoderSharesOnlyWhatIsEqual(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 6, 4, 0, 0, 123456789, time.UTC)
	t1 := time.Date(2020, 1, 2, 3, 4, 5, 6000, time.UTC)
	t1There := t1.In(time.FixedZone("x", 3600)) // the same instant elsewhere
	t2 := t1.Add(time.Microsecond)
	small, _ := auditlog.NewChange(1, 2)
	long, _ := auditlog.NewChange("a fairly long old value", "and a new one, longer still, than the buffer's first fill")
	id := int64(4)
	es := []auditlog.Entry{
		{Model: "a", ObjectPK: "1", ObjectRepr: "r", Changes: auditlog.Changes{"x": small, "b": long}},
		{Timestamp: t1, Model: "a", ObjectPK: "2", ObjectRepr: "r", Changes: auditlog.Changes{"x": small}},
		{Timestamp: t1There, Model: "b", ObjectPK: "3", ObjectRepr: "r"},
		{Timestamp: t2, Model: "b", ObjectPK: "4", ObjectID: &id, ObjectRepr: "r", Changes: auditlog.Changes{"c": long, "a": small, "b": small}},
		{Model: "a", ObjectPK: "5", ObjectRepr: "r", Changes: auditlog.Changes{}},
		{Timestamp: t1, Model: "a", ObjectPK: "6", ObjectRepr: "r", Changes: auditlog.Changes{"y": small}},
	}
	for _, d := range []Dialect{SQLite, Postgres, MySQL} {
		_, together, err := buildInsert(d, es, now, allColumns)
		if err != nil {
			t.Fatal(err)
		}
		var alone []any
		for i := range es {
			r, err := encodeEntry(d, &es[i], now)
			if err != nil {
				t.Fatal(err)
			}
			alone = r.args(alone)
		}
		if !reflect.DeepEqual(together, alone) {
			t.Fatalf("%s: encoded together:\n%v\nalone:\n%v", d, together, alone)
		}
		// And the values themselves, for one entry of each kind.
		if got := together[3*columnsPerEntry+6]; got != `{"a":[1,2],"b":[1,2],"c":["a fairly long old value","and a new one, longer still, than the buffer's first fill"]}` {
			t.Fatalf("%s: changes %v", d, got)
		}
		if d != Postgres && together[2*columnsPerEntry] != encodeTime(d, t1) || together[2*columnsPerEntry+2] != "b" {
			t.Fatalf("%s: timestamp %v, model %v", d, together[2*columnsPerEntry], together[2*columnsPerEntry+2])
		}
	}
}
