package auditstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// CountSpans counts per span within the filter, and stops at its limit.
func TestCountSpans(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := storeOf(t, db)
		day := func(d int) time.Time { return time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC) }
		var es []auditlog.Entry
		for d, n := range map[int]int{1: 3, 2: 7, 4: 1} {
			for i := 0; i < n; i++ {
				es = append(es, auditlog.Entry{Timestamp: day(d).Add(time.Duration(i) * time.Hour), Action: auditlog.ActionUpdate,
					Model: []string{"books", "authors"}[i%2], ObjectPK: fmt.Sprint(i)})
			}
		}
		if err := s.Insert(ctx, es); err != nil {
			t.Fatal(err)
		}
		bounds := []time.Time{day(1), day(2), day(3), day(4), day(5)}
		for _, c := range []struct {
			f     auditstore.Filter
			limit int
			want  string
		}{
			{auditstore.Filter{}, 100, "[3 7 0 1]"},
			{auditstore.Filter{}, 5, "[3 6 0 1]"}, // 6: more than 5
			{auditstore.Filter{}, 7, "[3 7 0 1]"}, // exactly 7
			{auditstore.Filter{Model: "books"}, 100, "[2 4 0 1]"},
			{auditstore.Filter{Since: day(2).Add(3 * time.Hour), Until: day(4)}, 100, "[0 4 0 0]"},
		} {
			got, err := s.CountSpans(ctx, c.f, bounds, c.limit)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != c.want {
				t.Errorf("%+v limit %d: %v, want %s", c.f, c.limit, got, c.want)
			}
		}
		if _, err := s.CountSpans(ctx, auditstore.Filter{}, bounds, 0); err == nil {
			t.Error("a limit of 0 was accepted")
		}
	})
}

// CountModels counts the newest entries that match, by model, and says
// whether it read them all. The times have microseconds, as the entries
// the plugin writes have: SQLite's driver then hands MAX(timestamp) over
// as a time, not as the stored text, and the newest time of every model
// came back zero (the activity page showed none).
func TestCountModels(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := storeOf(t, db)
		base := time.Date(2026, 1, 1, 0, 0, 0, 123456000, time.UTC)
		var es []auditlog.Entry
		for i := 0; i < 9; i++ {
			es = append(es, auditlog.Entry{Timestamp: base.Add(time.Duration(i) * time.Minute), Action: auditlog.ActionUpdate,
				Model: []string{"books", "books", "authors"}[i%3], ObjectPK: fmt.Sprint(i), ActorID: []string{"alice", "bob"}[i%2]})
		}
		if err := s.Insert(ctx, es); err != nil {
			t.Fatal(err)
		}
		show := func(cs []auditstore.ModelCount) string {
			var out []string
			for _, c := range cs {
				out = append(out, fmt.Sprintf("%s:%d@%s", c.Model, c.Entries, c.Latest.Format("15:04")))
			}
			return fmt.Sprint(out)
		}
		for _, c := range []struct {
			f     auditstore.Filter
			limit int
			want  string
			all   bool
		}{
			{auditstore.Filter{ActorID: "alice"}, 100, "[books:3@00:06 authors:2@00:08]", true},
			{auditstore.Filter{}, 4, "[authors:2@00:08 books:2@00:07]", false},
			{auditstore.Filter{ActorID: "carol"}, 100, "[]", true},
			{auditstore.Filter{}, 9, "[books:6@00:07 authors:3@00:08]", true}, // exactly the limit
		} {
			got, all, err := s.CountModels(ctx, c.f, c.limit)
			if err != nil {
				t.Fatal(err)
			}
			if show(got) != c.want || all != c.all {
				t.Errorf("%+v limit %d: %s %v, want %s %v", c.f, c.limit, show(got), all, c.want, c.all)
			}
		}
	})
}
