package auditui_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/go-auditlog/auditlog/auditui"
)

// A damaged stored entry (a column changed by hand) is shown as unreadable,
// with what did not decode, on every page that lists it; the other entries
// and pages are served as before, and an export carries it marked.
func TestUnreadableEntriesAreShownAsSuch(t *testing.T) {
	t.Parallel()
	s, sqlDB := fixtureWithDB(t, "sqlite")
	ctx := context.Background()
	// Entry 2 (books 1) gets changes that are not JSON, with markup in
	// them; entry 4 (authors 7) a time and an action that are no such thing.
	if _, err := sqlDB.ExecContext(ctx, `UPDATE auditlog_entries SET changes = '<script>alert(1)</script>' WHERE id = 2`); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlDB.ExecContext(ctx, `UPDATE auditlog_entries SET timestamp = 'yesterday', action = 'x' WHERE id = 4`); err != nil {
		t.Fatal(err)
	}
	h := newUI(t, s, auditui.Config{})
	for _, c := range []struct {
		target string
		want   []string
	}{
		{"/", []string{`<tr class="unreadable">`, "Unreadable: changes: invalid character", "unreadable time", "Unreadable: action: not an integer: &#34;x&#34;; timestamp: cannot parse timestamp", `action unreadable`, "Dune", "Contract"}},
		{"/entries/2", []string{"This entry could not be read as stored: changes:", "&lt;script&gt;", "Its state is not rebuilt: this entry could not be read."}},
		{"/entries/4", []string{"This entry could not be read as stored: action: not an integer", "timestamp: cannot parse timestamp &#34;yesterday&#34;"}},
		// Entry 3 is readable; its object's entry 2 is not.
		{"/entries/3", []string{"Its state is not rebuilt: entry 2 of the object: changes:"}},
		{"/history?obj=" + url.QueryEscape("books:1"), []string{`<tr class="unreadable">`, "Unreadable: changes:"}},
		// Entry 4's time is the latest of authors' (it sorts after every
		// time): the summary says it is unreadable, with no date.
		{"/actor?actor=1", []string{`<tr class="unreadable">`, `<td class="time">unreadable time</td>`}},
	} {
		rec := get(h, "GET", c.target)
		body := rec.Body.String()
		if rec.Code != 200 {
			t.Fatalf("%s: %d\n%s", c.target, rec.Code, body)
		}
		if strings.Contains(body, "<script>") {
			t.Fatalf("%s renders the stored markup", c.target)
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: no %q in\n%s", c.target, w, body)
			}
		}
	}
	rec := get(h, "GET", "/export?format=jsonl")
	if rec.Code != 200 {
		t.Fatalf("export: %d", rec.Code)
	}
	lines := strings.Split(strings.TrimSpace(rec.Body.String()), "\n")
	if len(lines) != 6 {
		t.Fatalf("export wrote %d records, want 6:\n%s", len(lines), rec.Body.String())
	}
	marked := 0
	for _, l := range lines {
		var r struct {
			ID         int64
			Timestamp  string
			Action     string
			Unreadable string
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		switch r.ID {
		case 2, 4:
			marked++
			if r.Unreadable == "" {
				t.Errorf("record %d not marked: %s", r.ID, l)
			}
			if r.ID == 4 && (r.Timestamp != "" || r.Action != "") {
				t.Errorf("record 4 shows a time or action it does not have: %s", l)
			}
		default:
			if r.Unreadable != "" {
				t.Errorf("record %d marked: %s", r.ID, l)
			}
		}
	}
	if marked != 2 {
		t.Errorf("%d records marked, want 2", marked)
	}
}
