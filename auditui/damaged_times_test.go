package auditui_test

import (
	"context"
	"html"
	"regexp"
	"testing"

	"github.com/go-auditlog/auditlog/auditui"
)

var damagedNextLink = regexp.MustCompile(`<a href="([^"]*)" rel="next">`)
var damagedEntryLink = regexp.MustCompile(`<a href="[^"]*entries/(\d+)" title="Entry`)

// A timestamp stored as RFC 3339 text with an offset decodes (so the entry
// is shown as readable, at its time in UTC) but sorts by its text: the
// "Older »" link after it leads back to the newest entries, for ever.
func TestOlderLinksPastATimeInAnotherForm(t *testing.T) {
	t.Parallel()
	s, sqlDB := fixtureWithDB(t, "sqlite")
	// Entry 2 (10:30Z) stored as 10:30-05:00, which is 15:30Z: newer than
	// every entry, and its text sorts between entries 1 and 3.
	if _, err := sqlDB.ExecContext(context.Background(), `UPDATE auditlog_entries SET timestamp = '2026-03-01T10:30:00-05:00' WHERE id = 2`); err != nil {
		t.Fatal(err)
	}
	h := newUI(t, s, auditui.Config{PageSize: 1})
	target := "/"
	var seen []string
	for range 12 {
		rec := get(h, "GET", target)
		if rec.Code != 200 {
			t.Fatalf("%s: %d", target, rec.Code)
		}
		body := rec.Body.String()
		for _, m := range damagedEntryLink.FindAllStringSubmatch(body, -1) {
			seen = append(seen, m[1])
		}
		m := damagedNextLink.FindStringSubmatch(body)
		if m == nil {
			break
		}
		target = html.UnescapeString(m[1])
	}
	if len(seen) != 6 {
		t.Errorf("following Older » by one entry shows entries %v, want the 6 entries once each", seen)
	}
}
