package auditstore

import (
	"encoding/base64"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog"
)

// FuzzCursor: any cursor text is accepted or refused with ErrInvalidCursor
// without panicking; an accepted one is exactly what List would write for a
// position inside the range every database stores, so it never reaches a
// database as a value it cannot compare. Every cursor List makes for such a
// position parses back to it.
func FuzzCursor(f *testing.F) {
	for _, s := range []string{"", "MTIzNDU2Ljc", "%%%", "bm90LWEtY3Vyc29y", CursorAfter(auditlog.Entry{ID: 9, Timestamp: time.Unix(1700000000, 123000)})} {
		f.Add(s, int64(1), int64(1700000000000000))
	}
	for _, text := range []string{"9223372036854775807.1", "-9223372036854775808.1", "253402300800000000.1", "-62135596800000001.1",
		"1.0", "1.-1", "1.9223372036854775808", "+1.1", "01.1", "1.01", "-0.1", "1e15.1",
		"e5", "e0", "e-1", "e05", "e+5", "e9223372036854775808", "e", "ee5", "e5.1"} {
		f.Add(base64.RawURLEncoding.EncodeToString([]byte(text)), int64(9223372036854775807), int64(-62135596800000000))
	}
	f.Add("OTIyMzM3MjAzNjg1NDc3NTgwNy4x", int64(1), int64(253402300799999999))
	f.Fuzz(func(t *testing.T, s string, id, micros int64) {
		c, err := parseCursor(s)
		switch {
		case err != nil && !errors.Is(err, ErrInvalidCursor):
			t.Fatalf("%q: %v is not ErrInvalidCursor", s, err)
		case err == nil && s == "":
			t.Fatal("an empty cursor parsed")
		case err == nil:
			if c.id < 1 || !c.atEntry && (c.micros < minTime.UnixMicro() || c.micros > maxTime.UnixMicro()) || c.atEntry && c.micros != 0 {
				t.Fatalf("%q parsed to %+v, outside the valid range", s, c)
			}
			raw, _ := base64.RawURLEncoding.DecodeString(s)
			want := strconv.FormatInt(c.micros, 10) + "." + strconv.FormatInt(c.id, 10)
			if c.atEntry {
				want = "e" + strconv.FormatInt(c.id, 10)
			}
			if string(raw) != want {
				t.Fatalf("%q (%q) parsed to %+v, which List writes as %q", s, raw, c, want)
			}
			if again, err := parseCursor(c.String()); err != nil || again != c {
				t.Fatalf("%q parsed to %+v, whose text %q parses to %+v, %v", s, c, c.String(), again, err)
			}
		}
		if id <= 0 {
			return
		}
		at := time.UnixMicro(micros)
		made := CursorAfter(auditlog.Entry{ID: id, Timestamp: at})
		back, err := parseCursor(made)
		if !ValidTimestamp(at) {
			if !errors.Is(err, ErrInvalidCursor) {
				t.Fatalf("cursor %q for a time out of range (%d) parsed: %+v, %v", made, micros, back, err)
			}
			return
		}
		if err != nil || back.id != id || back.micros != micros {
			t.Fatalf("cursor %q for (%d, %d) parsed to %+v, %v", made, micros, id, back, err)
		}
	})
}
