package auditstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog"
)

// Micro-benchmarks of entry encoding: the changes JSON and the INSERT of one
// entry and of a 1,000-entry JSON batch.
func BenchmarkEncode(b *testing.B) {
	ch, _ := auditlog.NewChange(10, 12)
	ch2, _ := auditlog.NewChange("Dune", "Dune Messiah")
	changes := auditlog.Changes{"price": ch, "title": ch2}
	id := int64(42)
	e := auditlog.Entry{Timestamp: time.Now(), Action: auditlog.ActionUpdate, Model: "books", ObjectPK: "42", ObjectID: &id,
		ObjectRepr: "Dune Messiah", Changes: changes, ActorID: "7", ActorName: "alice", CorrelationID: "req-1"}
	b.Run("changes", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = encodeChanges(changes)
		}
	})
	b.Run("insert_1", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _, _ = buildInsert(Postgres, []auditlog.Entry{e}, time.Now(), columnsOf(&e))
		}
	})
	batch := make([]auditlog.Entry, 1000)
	for i := range batch {
		batch[i] = e
		batch[i].ObjectPK = fmt.Sprint(i)
	}
	// A write's entries: no request context, one timestamp, one model.
	plain := make([]auditlog.Entry, 1000)
	for i := range plain {
		id := int64(i)
		plain[i] = auditlog.Entry{Action: auditlog.ActionCreate, Model: "books", ObjectPK: fmt.Sprint(i), ObjectID: &id,
			ObjectRepr: "Book", Changes: changes}
	}
	b.Run("values_1000", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _, _ = buildInsert(SQLite, plain, time.Now(), columnsOfAll(plain))
		}
	})
	b.Run("json_batch_1000", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _, _, _ = encodeBatch(Postgres, batch, time.Now())
		}
	})
}
