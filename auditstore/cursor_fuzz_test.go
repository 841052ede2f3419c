package auditstore

import (
	"testing"
	"time"

	"github.com/go-auditlog/auditlog"
)

// FuzzCursor: any cursor text is accepted or refused with ErrInvalidCursor
// without panicking; every cursor List makes parses back to its position.
func FuzzCursor(f *testing.F) {
	for _, s := range []string{"", "MTIzNDU2Ljc", "%%%", "bm90LWEtY3Vyc29y", CursorAfter(auditlog.Entry{ID: 9, Timestamp: time.Unix(1700000000, 123000)})} {
		f.Add(s, int64(1), int64(1700000000000000))
	}
	f.Fuzz(func(t *testing.T, s string, id, micros int64) {
		if _, err := parseCursor(s); err == nil && s == "" {
			t.Fatal("an empty cursor parsed")
		}
		if id <= 0 {
			return
		}
		c := CursorAfter(auditlog.Entry{ID: id, Timestamp: time.UnixMicro(micros)})
		back, err := parseCursor(c)
		if err != nil || back.id != id || back.micros != micros {
			t.Fatalf("cursor %q for (%d, %d) parsed to %+v, %v", c, micros, id, back, err)
		}
	})
}
