package auditui_test

import (
	"html"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditui"
)

// A query that does not parse whole (a bad escape, a ';') is a 400: a
// filter dropped from it would answer, or download, more than was asked.
func TestMalformedQueryIsRefused(t *testing.T) {
	t.Parallel()
	h := newUI(t, fixture(t), auditui.Config{})
	for _, target := range []string{
		"/export?format=jsonl&model=books;actor=3",
		"/export?format=csv&model=books&actor=%zz",
		"/?model=%zz",
		"/?model=books&since=%zz",
		"/history?obj=books:1&obj=%zz",
		"/actor?actor=1&model=%zz",
		"/entries/1?tz=%zz",
	} {
		if rec := get(h, "GET", target); rec.Code != 400 {
			t.Errorf("%s: status %d, want 400", target, rec.Code)
		}
	}
}

var hrefs = regexp.MustCompile(`href="([^"]*)"`)

// links returns the page's links that start with prefix, unescaped.
func links(body, prefix string) []string {
	var out []string
	for _, m := range hrefs.FindAllStringSubmatch(body, -1) {
		if l := html.UnescapeString(m[1]); strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

// Every link to an object's history, an actor or a request lands on that
// one, whatever its model, key or id holds: a ':' in the model, spaces
// around an id.
func TestLinksLandOnTheirOwnObjectAndActor(t *testing.T) {
	t.Parallel()
	s := emptyStore(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	insert(t, s,
		auditlog.Entry{Timestamp: at, Action: auditlog.ActionCreate, Model: "shop:orders", ObjectPK: "1", ObjectRepr: "ORDER-ONE", ActorID: "1 ", ActorName: "mallory", CorrelationID: " req"},
		auditlog.Entry{Timestamp: at.Add(time.Minute), Action: auditlog.ActionCreate, Model: "shop", ObjectPK: "orders:1", ObjectRepr: "SHOP-OTHER", ActorID: "1", ActorName: "alice", CorrelationID: "req"},
		auditlog.Entry{Timestamp: at.Add(2 * time.Minute), Action: auditlog.ActionCreate, Model: "[x", ObjectPK: "2", ObjectRepr: "BRACKET", ActorName: "cron"},
		auditlog.Entry{Timestamp: at.Add(3 * time.Minute), Action: auditlog.ActionCreate, Model: " ", ObjectPK: " ", ObjectRepr: "BLANK", ActorID: " ", ActorName: "space", CorrelationID: " "},
		auditlog.Entry{Timestamp: at.Add(4 * time.Minute), Action: auditlog.ActionCreate, Model: strings.Repeat("m:", 127), ObjectPK: strings.Repeat("\x01", 255), ObjectRepr: "LONG"},
	)
	h := newUI(t, s, auditui.Config{})
	for id, want := range map[int]string{1: "ORDER-ONE", 2: "SHOP-OTHER", 3: "BRACKET", 4: "BLANK", 5: "LONG"} {
		rec := get(h, "GET", "/entries/"+string(rune('0'+id)))
		if rec.Code != 200 {
			t.Fatalf("entry %d: status %d", id, rec.Code)
		}
		body := rec.Body.String()
		hl := links(body, "/history?")
		if len(hl) == 0 {
			t.Errorf("entry %d: no history link", id)
		}
		for _, l := range hl {
			page := get(h, "GET", l).Body.String()
			if !strings.Contains(page, want) || strings.Count(page, `<td class="time"><a href=`) != 1 {
				t.Errorf("entry %d: %s does not show %s alone:\n%s", id, l, want, pageMessage(page))
			}
		}
	}
	list := get(h, "GET", "/").Body.String()
	owner := map[string]string{"/actor?actor=1+": "ORDER-ONE", "/actor?actor=1": "SHOP-OTHER", "/?cid=+req": "ORDER-ONE", "/?cid=req": "SHOP-OTHER",
		"/actor?actor=+": "BLANK", "/?cid=+": "BLANK"}
	got := append(links(list, "/actor?"), links(list, "/?cid=")...)
	if len(got) != len(owner) {
		t.Errorf("actor and request links %q, want %d (cron has no id)", got, len(owner))
	}
	for _, l := range got {
		page := get(h, "GET", l)
		body := page.Body.String()
		if page.Code != 200 || strings.Count(body, `<td class="time"><a href=`) != 1 || !strings.Contains(body, owner[l]) {
			t.Errorf("%s: status %d, not the one entry of %s:\n%s", l, page.Code, owner[l], pageMessage(body))
		}
	}
}

// The pages after the first of a filtered history keep its filters and
// its page size.
func TestHistoryPagesKeepTheirFilters(t *testing.T) {
	t.Parallel()
	s := emptyStore(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var es []auditlog.Entry
	for i := range 9 {
		actor := "alice"
		if i%3 == 1 {
			actor = "bob"
		}
		es = append(es, auditlog.Entry{Timestamp: at.Add(time.Duration(i) * time.Minute), Action: auditlog.ActionUpdate, Model: "books", ObjectPK: "x", ObjectRepr: "Dune", ActorID: actor, ActorName: actor})
	}
	insert(t, s, es...)
	h := newUI(t, s, auditui.Config{})
	next := "/history?obj=books:x&actor=alice&limit=2"
	seen := 0
	for next != "" {
		page := get(h, "GET", next)
		body := page.Body.String()
		if page.Code != 200 || strings.Contains(body, "bob") {
			t.Fatalf("%s: status %d, or bob's entries:\n%s", next, page.Code, pageMessage(body))
		}
		n := strings.Count(body, `<td class="time"><a href=`)
		if n > 2 {
			t.Fatalf("%s: %d rows on a page of 2", next, n)
		}
		seen += n
		next = ""
		for _, l := range links(body, "/history?") {
			if strings.Contains(l, "cursor=") {
				next = l
			}
		}
	}
	if seen != 6 {
		t.Fatalf("%d of alice's 6 entries", seen)
	}
}
