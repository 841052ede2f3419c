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

// A text search reads at most SearchWindow entries per page: a window
// without a match ends the page empty, with a Next that goes on and the
// time it searched back to, instead of reading on to the end of the table.
// Followed to the end, the pages find every match in order.
func TestSearchWindowBoundsEachPage(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := storeOf(t, db)
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		needles := map[int]bool{94: true, 93: true, 92: true, 49: true, 2: true} // by age: 100 - i is the newest-first position
		var es []auditlog.Entry
		for i := 0; i < 100; i++ {
			repr := fmt.Sprintf("Object %d", i)
			if needles[i] {
				repr = fmt.Sprintf("needle %d", i)
			}
			// Pairs share a timestamp, so a window can end between two
			// entries of the same time.
			es = append(es, auditlog.Entry{Timestamp: base.Add(time.Duration(i/2) * time.Minute), Action: auditlog.ActionUpdate,
				Model: []string{"books", "authors"}[i%2], ObjectPK: fmt.Sprint(i), ObjectRepr: repr})
		}
		es = append(es, auditlog.Entry{Timestamp: base, Action: auditlog.ActionCreate, Model: "books", ObjectPK: "x", ObjectRepr: "needle but old"})
		if err := s.Insert(ctx, es); err != nil {
			t.Fatal(err)
		}
		type page struct {
			found      []string
			searchedTo time.Time
		}
		walk := func(f auditstore.Filter, p auditstore.Page) []page {
			t.Helper()
			var out []page
			for i := 0; i < 100; i++ {
				res, err := s.List(ctx, f, p)
				if err != nil {
					t.Fatal(err)
				}
				var pg page
				for _, e := range res.Entries {
					pg.found = append(pg.found, e.ObjectRepr)
				}
				pg.searchedTo = res.SearchedTo
				out = append(out, pg)
				if res.Next == "" {
					return out
				}
				p.Cursor = res.Next
			}
			t.Fatal("the pages never end")
			return nil
		}
		pages := walk(auditstore.Filter{Search: "needle"}, auditstore.Page{Limit: 2, SearchWindow: 20})
		var all []string
		for _, pg := range pages {
			all = append(all, pg.found...)
		}
		if fmt.Sprint(all) != "[needle 94 needle 93 needle 92 needle 49 needle 2 needle but old]" {
			t.Fatalf("found %q over %d pages", all, len(pages))
		}
		// Newest first, positions 0-19 hold 94, 93, 92: a full page (2),
		// then 92 and the window to position 21 (0-based from after 93).
		empty := 0
		for _, pg := range pages {
			if len(pg.found) == 0 {
				empty++
				if pg.searchedTo.IsZero() {
					t.Fatalf("an empty page does not say how far it searched: %+v", pages)
				}
			}
		}
		if empty == 0 {
			t.Fatalf("no window ended without a match, so the search was not bounded: %+v", pages)
		}
		if pages[0].searchedTo != (time.Time{}) || len(pages[0].found) != 2 {
			t.Fatalf("first page %+v", pages[0])
		}
		// The other filters narrow the window's entries.
		pages = walk(auditstore.Filter{Search: "needle", Model: "authors"}, auditstore.Page{Limit: 50, SearchWindow: 10})
		all = nil
		for _, pg := range pages {
			all = append(all, pg.found...)
		}
		if fmt.Sprint(all) != "[needle 93 needle 49]" || len(pages) != 5 {
			t.Fatalf("authors: %q over %d pages", all, len(pages))
		}
		// Without a window, a search reads on until the page is full.
		res, err := s.List(ctx, auditstore.Filter{Search: "needle"}, auditstore.Page{Limit: 10})
		if err != nil || len(res.Entries) != 6 || res.Next != "" || !res.SearchedTo.IsZero() {
			t.Fatalf("unbounded: %d entries, next %q, %v", len(res.Entries), res.Next, err)
		}
		// Each with a window finds everything too.
		n := 0
		if err := s.EachWith(ctx, auditstore.Filter{Search: "needle"}, auditstore.EachOptions{SearchWindow: 7}, func(auditlog.Entry) error { n++; return nil }); err != nil || n != 6 {
			t.Fatalf("EachWith: %d, %v", n, err)
		}
		if _, err := s.List(ctx, auditstore.Filter{Search: "x"}, auditstore.Page{SearchWindow: -1}); err == nil {
			t.Fatal("a negative window is accepted")
		}
	})
}
