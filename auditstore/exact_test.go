package auditstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// A filter's text values match exactly, trailing spaces included, on every
// database: MariaDB's utf8mb4_bin compares "books " equal to "books" (PAD
// SPACE), so a flush of model "books " counted and deleted the entries of
// "books", and an actor "1 " listed actor "1"'s entries.
func TestFiltersMatchTrailingSpacesExactly(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := storeOf(t, db)
		var es []auditlog.Entry
		for _, v := range []string{"x", "x "} {
			for _, w := range []string{"y", "y "} {
				es = append(es, auditlog.Entry{Action: auditlog.ActionUpdate, Model: "m" + v, ObjectPK: "k" + w, ObjectRepr: "r", ActorID: "a" + v, CorrelationID: "c" + w})
			}
		}
		// An integer key too: object_id is set for the decimal text.
		es = append(es, auditlog.Entry{Action: auditlog.ActionUpdate, Model: "mx", ObjectPK: "7", ObjectRepr: "r"},
			auditlog.Entry{Action: auditlog.ActionUpdate, Model: "mx ", ObjectPK: "7", ObjectRepr: "r"})
		if err := s.Insert(ctx, es); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			f    auditstore.Filter
			want int64
		}{
			{auditstore.Filter{Model: "mx"}, 3},
			{auditstore.Filter{Model: "mx "}, 3},
			{auditstore.Filter{ActorID: "ax "}, 2},
			{auditstore.Filter{CorrelationID: "cy "}, 2},
			{auditstore.Filter{ObjectPK: "ky "}, 2},
			{auditstore.Filter{Model: "mx ", ObjectPK: "ky "}, 1},
			{auditstore.Filter{Model: "mx ", ObjectPK: "7"}, 1},
			{auditstore.Filter{Objects: []auditstore.ObjectRef{{Model: "mx", PK: "ky "}, {Model: "mx ", PK: "ky"}}}, 2},
			{auditstore.Filter{Objects: append(auditstore.KeyRefs("mx ", "ky"), auditstore.KeyRefs("mx ", "ky ")...)}, 2},
			// Objects with a model or a key besides: one condition per
			// column, since MariaDB's optimizer merged two on one column
			// that differ in trailing spaces and let either through.
			{auditstore.Filter{ObjectPK: "ky ", Objects: auditstore.KeyRefs("mx", "ky")}, 0},
			{auditstore.Filter{ObjectPK: "ky ", Objects: auditstore.KeyRefs("mx", "ky ")}, 1},
			{auditstore.Filter{Model: "mx ", Objects: auditstore.KeyRefs("mx", "ky")}, 0},
			{auditstore.Filter{Model: "mx ", Objects: append(auditstore.KeyRefs("mx", "ky"), auditstore.KeyRefs("mx ", "ky")...)}, 1},
			{auditstore.Filter{Model: "mx", ObjectPK: "7", Objects: auditstore.KeyRefs("mx ", "7")}, 0},
			{auditstore.Filter{Model: "mx", ObjectPK: "7", Objects: auditstore.KeyRefs("mx", "7")}, 1},
			{auditstore.Filter{ObjectPK: "7 ", Objects: auditstore.KeyRefs("mx", "7")}, 0},
			{auditstore.Filter{ObjectPK: "7", Objects: []auditstore.ObjectRef{{Model: "mx", PK: "7"}}}, 1},
		} {
			n, err := s.Count(ctx, c.f)
			if err != nil || n != c.want {
				t.Errorf("count %+v: %d, %v; want %d", c.f, n, err, c.want)
			}
			res, err := s.List(ctx, c.f, auditstore.Page{Limit: 10})
			if err != nil || int64(len(res.Entries)) != c.want {
				t.Errorf("list %+v: %d entries, %v; want %d", c.f, len(res.Entries), err, c.want)
			}
		}
		counts, all, err := s.CountModels(ctx, auditstore.Filter{}, 100)
		if err != nil || !all || len(counts) != 2 || fmt.Sprintf("%q %d %q %d", counts[0].Model, counts[0].Entries, counts[1].Model, counts[1].Entries) != `"mx" 3 "mx " 3` {
			t.Errorf("counts by model: %+v, %v, %v; want mx and \"mx \" 3 each", counts, all, err)
		}
		res, err := s.Flush(ctx, auditstore.FlushOptions{Filter: auditstore.Filter{Model: "mx "}})
		if err != nil || res.Deleted != 3 {
			t.Fatalf("flush of model \"mx \": %+v, %v; want 3 deleted", res, err)
		}
		var left []string
		if err := s.Each(ctx, auditstore.Filter{}, func(e auditlog.Entry) error {
			if e.Timestamp.Year() < 2000 {
				t.Errorf("entry %d: time %v", e.ID, e.Timestamp)
			}
			left = append(left, fmt.Sprintf("%q", e.Model))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(left) != `["mx" "mx" "mx"]` {
			t.Fatalf("left after the flush: %v", left)
		}
	})
}

// KeyEvents returns, by id, the entries that can move or end an object
// under a key: its creates, deletes and key changes, not its other updates
// (left out by the database); and an entry whose changes are not JSON, to
// be read as unreadable rather than passed over.
func TestKeyEvents(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := storeOf(t, db)
		change := func(col, old, new string) auditlog.Changes {
			c, err := auditlog.NewChange(old, new)
			if err != nil {
				t.Fatal(err)
			}
			return auditlog.Changes{col: c}
		}
		es := []auditlog.Entry{
			{Action: auditlog.ActionCreate, Model: "m", ObjectPK: "k", ObjectRepr: "r", Changes: change("name", "", "a")},
			{Action: auditlog.ActionUpdate, Model: "m", ObjectPK: "k", ObjectRepr: "r", Changes: change("name", "a", "b")},
			{Action: auditlog.ActionUpdate, Model: "m", ObjectPK: "k", ObjectRepr: "r", Changes: change("code", "k", "k2")},
			{Action: auditlog.ActionUpdate, Model: "m", ObjectPK: "other", ObjectRepr: "r", Changes: change("code", "other", "k")},
			{Action: auditlog.ActionUpdate, Model: "m", ObjectPK: "k", ObjectRepr: "r", Changes: change("name", "b", "c")},
			{Action: auditlog.ActionDelete, Model: "m", ObjectPK: "k", ObjectRepr: "r", Changes: change("name", "c", "")},
		}
		if err := s.Insert(ctx, es); err != nil {
			t.Fatal(err)
		}
		show := func(after int64, limit int) string {
			got, err := s.KeyEvents(ctx, "m", "k", "code", after, limit)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, e := range got {
				out = append(out, fmt.Sprintf("%d:%s", e.ID, e.Action))
				if e.Unreadable != "" {
					out[len(out)-1] += "(unreadable)"
				}
			}
			return fmt.Sprint(out)
		}
		if got := show(0, 10); got != "[1:create 3:update 6:delete]" {
			t.Fatalf("key events: %s", got)
		}
		if got := show(1, 1); got != "[3:update]" {
			t.Fatalf("key events after 1, one: %s", got)
		}
		if db.Dialector.Name() == "sqlite" {
			// Only SQLite keeps text that is not JSON in the column.
			if err := db.Exec("UPDATE auditlog_entries SET changes = 'not json' WHERE id = 2").Error; err != nil {
				t.Fatal(err)
			}
			if got := show(0, 10); got != "[1:create 2:update(unreadable) 3:update 6:delete]" {
				t.Fatalf("key events with a damaged entry: %s", got)
			}
		}
		if _, err := s.KeyEvents(ctx, "m", "k", "code", 0, 0); err == nil {
			t.Fatal("a limit of 0 was accepted")
		}
	})
}

// Objects with a key besides, which differs from theirs in trailing
// spaces: MariaDB's optimizer took the two conditions on object_pk for one
// and listed, counted (and would have flushed) the entry of "7 ", which is
// not one of the objects.
func TestObjectsAndAKeyThatDifferInSpaces(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := storeOf(t, db)
		seven := int64(7)
		if err := s.Insert(ctx, []auditlog.Entry{
			{Action: auditlog.ActionUpdate, Model: "books", ObjectPK: "7", ObjectID: &seven, ObjectRepr: "int 7"},
			{Action: auditlog.ActionUpdate, Model: "books", ObjectPK: "7 ", ObjectRepr: "text '7 '"},
		}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			f    auditstore.Filter
			want string
		}{
			{auditstore.Filter{ObjectPK: "7 ", Objects: auditstore.KeyRefs("books", "7")}, ""},
			{auditstore.Filter{Model: "books", ObjectPK: "7 ", Objects: auditstore.KeyRefs("books", "7")}, ""},
			{auditstore.Filter{ObjectPK: "7", Objects: auditstore.KeyRefs("books", "7")}, "int 7"},
			{auditstore.Filter{Model: "books ", Objects: auditstore.KeyRefs("books", "7 ")}, ""},
			{auditstore.Filter{Model: "books", ObjectPK: "7 ", Objects: auditstore.KeyRefs("books", "7 ")}, "text '7 '"},
		} {
			n, err := s.Count(ctx, c.f)
			res, lerr := s.List(ctx, c.f, auditstore.Page{Limit: 10})
			var got []string
			for _, e := range res.Entries {
				got = append(got, e.ObjectRepr)
			}
			if err != nil || lerr != nil || strings.Join(got, ",") != c.want || n != int64(len(got)) {
				t.Errorf("%+v: listed %q, counted %d (%v, %v); want %q", c.f, got, n, err, lerr, c.want)
			}
		}
		fr, err := s.Flush(ctx, auditstore.FlushOptions{Filter: auditstore.Filter{ObjectPK: "7 ", Objects: auditstore.KeyRefs("books", "7")}})
		if err != nil || fr.Deleted != 0 {
			t.Errorf("flush deleted %d (%v), want 0", fr.Deleted, err)
		}
	})
}

// A Since or Until between two microseconds (the parser takes
// nanoseconds) is the next one, as the entries are stored to the
// microsecond: it was the one before, which took in an entry before Since
// and left out one before Until.
func TestBoundsBetweenMicroseconds(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := storeOf(t, db)
		at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		if err := s.Insert(ctx, []auditlog.Entry{{Timestamp: at, Action: auditlog.ActionUpdate, Model: "m", ObjectPK: "k", ObjectRepr: "r"}}); err != nil {
			t.Fatal(err)
		}
		bound := at.Add(500 * time.Nanosecond)
		for _, c := range []struct {
			f    auditstore.Filter
			want int64
		}{{auditstore.Filter{Since: bound}, 0}, {auditstore.Filter{Until: bound}, 1}, {auditstore.Filter{Since: at}, 1}, {auditstore.Filter{Until: at}, 0}} {
			if n, err := s.Count(ctx, c.f); err != nil || n != c.want {
				t.Errorf("since %s until %s: %d (%v), want %d", c.f.Since.Format(time.RFC3339Nano), c.f.Until.Format(time.RFC3339Nano), n, err, c.want)
			}
		}
	})
}
