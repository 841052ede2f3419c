package capture

import (
	"fmt"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/value"
)

// BenchmarkChanges measures the changes of 1,000 rows of a seven-column
// table, created and updated: the Go side of a batch's capture.
func BenchmarkChanges(b *testing.B) {
	tbl := &Table{Model: "items", IntPK: true, PK: []int{0}, Columns: []Column{
		{Name: "id", Audited: true}, {Name: "name", Audited: true}, {Name: "price", Audited: true},
		{Name: "stock", Audited: true}, {Name: "grp", Audited: true},
		{Name: "created_at", Audited: true, Noise: true}, {Name: "updated_at", Audited: true, Noise: true},
	}}
	must := func(v value.Value, err error) value.Value {
		if err != nil {
			b.Fatal(err)
		}
		return v
	}
	now := time.Now()
	rows := make([][2][]value.Value, 1000)
	for i := range rows {
		for k := range 2 {
			rows[i][k] = []value.Value{
				must(value.Normalize(int64(i+1), value.Options{})), must(value.Normalize(fmt.Sprint("item ", i), value.Options{})),
				must(value.Normalize(int64(i+k), value.Options{})), must(value.Normalize(int64(k*7), value.Options{})),
				must(value.Normalize(int64(3), value.Options{})), must(value.Normalize(now, value.Options{})),
				must(value.Normalize(now.Add(time.Duration(k)*time.Second), value.Options{})),
			}
		}
	}
	b.Run("created_1000", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for i := range rows {
				_ = tbl.Created(rows[i][1])
			}
		}
	})
	b.Run("diff_1000", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for i := range rows {
				_ = tbl.Diff(auditlog.ActionUpdate, rows[i][0], rows[i][1])
			}
		}
	})
}
