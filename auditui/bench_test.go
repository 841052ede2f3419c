package auditui_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/auditui"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// BenchmarkPages measures the server time of the main pages (the list with
// its activity strip included) on a table of
// AUDITLOG_BENCH_ROWS entries (default 1,000,000), on SQLite and, when its
// DSN is set, PostgreSQL:
//
//	go test ./auditui -run XXX -bench Pages -benchtime 200x
func BenchmarkPages(b *testing.B) {
	rows := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("AUDITLOG_BENCH_ROWS")); err == nil && v > 0 {
		rows = v
	}
	for _, name := range testdb.Names() {
		if name == "mysql" {
			continue
		}
		b.Run(name, func(b *testing.B) {
			db := testdb.Open(b, name)
			sqlDB, _ := db.DB()
			d, _ := auditstore.ParseDialect(db.Dialector.Name())
			s, _ := auditstore.New(sqlDB, d)
			base := load(b, s, rows)
			if name == "postgres" {
				_ = db.Exec("ANALYZE auditlog_entries").Error
			}
			ui, err := auditui.New(auditui.Config{Store: s, Authorize: func(*http.Request) bool { return true }})
			if err != nil {
				b.Fatal(err)
			}
			res, err := s.List(context.Background(), auditstore.Filter{}, auditstore.Page{Limit: 1000})
			if err != nil {
				b.Fatal(err)
			}
			deep := res.Entries[len(res.Entries)-1]
			for i := 0; i < rows/2000; i++ { // walk half way down, a thousand at a time
				if res, err = s.List(context.Background(), auditstore.Filter{}, auditstore.Page{Limit: 1000, Cursor: auditstore.CursorAfter(deep)}); err != nil || len(res.Entries) == 0 {
					break
				}
				deep = res.Entries[len(res.Entries)-1]
			}
			pages := map[string]string{
				"first_page":      "/",
				"model_and_actor": "/?model=model_3&actor=13",
				"deep_page":       "/?cursor=" + auditstore.CursorAfter(deep),
				"object_history":  "/history?obj=model_3:4243",
				"actor_page":      "/actor?actor=13",
				"entry_state":     "/entries/" + strconv.FormatInt(deep.ID, 10),
				// The activity strip over days of 86,400 entries each, every
				// one counted up to its bound: the most a strip reads.
				"busy_strip": "/?until=" + base.Add(12*24*time.Hour).Format("2006-01-02T15:04"),
			}
			for _, page := range []string{"first_page", "model_and_actor", "deep_page", "object_history", "actor_page", "entry_state", "busy_strip"} {
				b.Run(page, func(b *testing.B) {
					for b.Loop() {
						rec := httptest.NewRecorder()
						ui.ServeHTTP(rec, httptest.NewRequest("GET", pages[page], nil))
						if rec.Code != 200 {
							b.Fatalf("%s: %d", page, rec.Code)
						}
					}
				})
			}
		})
	}
}

// load inserts rows entries, one a second from a year ago, and returns
// the time of the first.
func load(b *testing.B, s *auditstore.Store, rows int) time.Time {
	b.Helper()
	base := time.Now().Add(-365 * 24 * time.Hour).UTC().Truncate(time.Second)
	ch, _ := auditlog.NewChange(1, 2)
	batch := make([]auditlog.Entry, 0, 10_000)
	for i := 0; i < rows; i++ {
		obj := int64(i % 100_000)
		batch = append(batch, auditlog.Entry{Timestamp: base.Add(time.Duration(i) * time.Second), Action: auditlog.Action(i % 3),
			Model: fmt.Sprintf("model_%d", obj%10), ObjectPK: strconv.FormatInt(obj, 10), ObjectID: &obj, ObjectRepr: fmt.Sprintf("Object %d", obj),
			Changes: auditlog.Changes{"price": ch}, ActorID: strconv.Itoa(i % 50), ActorName: fmt.Sprintf("user %d", i%50)})
		if len(batch) == cap(batch) || i == rows-1 {
			if err := s.Insert(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	return base
}
