package auditstore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog/auditstore"
)

// One parser for every time filter: the UI's form values and the command's
// flags take the same dates, times and ages.
func TestParseTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	paris := time.FixedZone("CET", 3600)
	for _, c := range []struct {
		in   string
		loc  *time.Location
		want time.Time
		err  string
	}{
		{"", nil, time.Time{}, ""},
		{"2026-11-01", nil, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), ""},
		{"2026-11-01", paris, time.Date(2026, 10, 31, 23, 0, 0, 0, time.UTC), ""},
		{"2026-11-01T12:30", paris, time.Date(2026, 11, 1, 11, 30, 0, 0, time.UTC), ""},
		{"2026-11-01 12:30", nil, time.Date(2026, 11, 1, 12, 30, 0, 0, time.UTC), ""},
		{"2026-11-01T12:30:15", nil, time.Date(2026, 11, 1, 12, 30, 15, 0, time.UTC), ""},
		{"2026-11-01T12:00:00+02:00", paris, time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC), ""},
		{"2026-11-01T12:00Z", paris, time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC), ""},
		{"2026-11-01T12:00+01:00", nil, time.Date(2026, 11, 1, 11, 0, 0, 0, time.UTC), ""},
		{"7d", paris, now.AddDate(0, 0, -7), ""},
		{"12h", nil, now.Add(-12 * time.Hour), ""},
		{"0d", nil, time.Time{}, "not a positive age"},
		{"-5h", nil, time.Time{}, "not a positive age"},
		{"9223372036854775807d", nil, time.Time{}, "out of range"},
		{"106751991167300d", nil, time.Time{}, "out of range"},
		{"3000000d", nil, time.Time{}, "out of range"},
		{"10000-01-01T00:00:00Z", nil, time.Time{}, "not a date"},
		{"yesterday", nil, time.Time{}, "not a date"},
		{"0001-01-01T00:00:00Z", nil, time.Time{}, "must lie after 0001-01-01T00:00:00Z"}, // the zero time: no bound at all
	} {
		got, err := auditstore.ParseTime(c.in, now, c.loc)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("ParseTime(%q) = %v, %v; want an error with %q", c.in, got, err, c.err)
		case c.err == "" && (err != nil || !got.Equal(c.want)):
			t.Errorf("ParseTime(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}
