package auditstore_test

import (
	"context"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// BadCursorTexts are decoded cursor texts that List must refuse with
// ErrInvalidCursor on every database: ids out of range, timestamps the
// databases cannot store, numbers that overflow, and forms List never makes.
var badCursorTexts = []string{
	"9223372036854775807.1",                                     // year 294247
	"-9223372036854775808.1",                                    // year -290308
	"253402300800000000.1",                                      // 10000-01-01, one microsecond past the range
	"-62135596800000001.1",                                      // just before 0001-01-01
	"1700000000000000.0",                                        // id 0
	"1700000000000000.-1",                                       // negative id
	"1700000000000000.9223372036854775808",                      // id overflows int64
	"99999999999999999999999999.1",                              // timestamp overflows int64
	"1700000000000000." + "1" + "00000000000000000000000000000", // huge id
	"+1700000000000000.1",                                       // a sign List never writes
	"1700000000000000.+1",
	"01700000000000000.1", // leading zero
	"1700000000000000.01",
	"-0.1",
	"1700000000000000", // no id
	"1700000000000000.1.1",
	".1",
	"1700000000000000.",
	" 1700000000000000.1",
	"1e15.1",
	"0x10.1",
}

func encodeCursor(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// Every tampered cursor is refused as invalid before it reaches the
// database, on every database; the edges of the valid range work.
func TestTamperedCursorsAreInvalid(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := storeOf(t, db)
		if err := s.Insert(ctx, []auditlog.Entry{{Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Action: auditlog.ActionCreate, Model: "books", ObjectPK: "x", ObjectRepr: "x"}}); err != nil {
			t.Fatal(err)
		}
		for _, text := range badCursorTexts {
			if _, err := s.List(ctx, auditstore.Filter{}, auditstore.Page{Cursor: encodeCursor(text)}); !errors.Is(err, auditstore.ErrInvalidCursor) {
				t.Errorf("cursor %q: %v, want ErrInvalidCursor", text, err)
			}
		}
		for _, edge := range []struct {
			at   time.Time
			want int
		}{
			{time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), 0},
			{time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), 1},
			{time.Unix(0, 0), 0},
		} {
			c := auditstore.CursorAfter(auditlog.Entry{ID: 1<<63 - 1, Timestamp: edge.at})
			res, err := s.List(ctx, auditstore.Filter{}, auditstore.Page{Cursor: c})
			if err != nil || len(res.Entries) != edge.want {
				t.Errorf("cursor at %s: %d entries, %v; want %d", edge.at, len(res.Entries), err, edge.want)
			}
		}
	})
}
