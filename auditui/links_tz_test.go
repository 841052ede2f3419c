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

// "Download this list" on a list read in another time zone with a time
// filter read the filter's times in the default zone: it downloaded other
// entries than the list showed (4 shown, 0 downloaded here).
func TestDownloadOfAListInAnotherZone(t *testing.T) {
	h := newUI(t, fixture(t), auditui.Config{})
	list := get(h, "GET", "/?since=2026-03-01T20:00&tz=Asia/Tokyo").Body.String() // 11:00Z
	shown := regexp.MustCompile(`href="/entries/(\d+)`).FindAllStringSubmatch(list, -1)
	for _, format := range []string{"jsonl", "csv"} {
		m := regexp.MustCompile(`href="(/export\?[^"]*format=` + format + `[^"]*)"`).FindStringSubmatch(list)
		if m == nil {
			t.Fatalf("no %s link", format)
		}
		n := strings.Count(get(h, "GET", html.UnescapeString(m[1])).Body.String(), "\n")
		if format == "csv" {
			n-- // the header
		}
		if len(shown) == 0 || n != len(shown) {
			t.Errorf("the list shows %d entries, its %s download %s holds %d", len(shown), format, html.UnescapeString(m[1]), n)
		}
	}
}

// The list showed an actor by name alone and an object by its repr alone:
// five actors named "alice" (ids 1 and 666, one with a zero-width space,
// one with a trailing space in the id) read alike, and so did two objects
// whose reprs are the same. Each shows its id or key beside.
func TestListTellsActorsAndObjectsApart(t *testing.T) {
	s := emptyStore(t)
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var es []auditlog.Entry
	for i, a := range [][2]string{{"1", "alice"}, {"666", "alice"}, {"8", "bob"}, {"8 ", "bob"}, {"al\u200bice", ""}} {
		es = append(es, auditlog.Entry{Timestamp: at.Add(time.Duration(i) * time.Second), Action: auditlog.ActionAccess, Model: "books",
			ObjectPK: []string{"2", "12", "3", "3 ", "4"}[i], ObjectRepr: "Book 1", ActorID: a[0], ActorName: a[1]})
	}
	insert(t, s, es...)
	body := get(newUI(t, s, auditui.Config{}), "GET", "/").Body.String()
	tag := regexp.MustCompile(`<[^>]*>`)
	cells := func(class string) map[string]bool {
		out := map[string]bool{}
		for _, m := range regexp.MustCompile(`(?s)<td class="`+class+`">(.*?)</td>`).FindAllStringSubmatch(body, -1) {
			out[html.UnescapeString(tag.ReplaceAllString(m[1], ""))] = true
		}
		return out
	}
	actors, objects := cells("actor"), cells("object")
	if len(actors) != 5 || len(objects) != 5 {
		t.Errorf("actors %v, objects %v: want five of each, told apart", actors, objects)
	}
	for _, w := range []string{`alice id 666`, `bob id "8 "`, `"al\u200bice"`} {
		if !actors[w] && !strings.Contains(body, html.EscapeString(w)) {
			t.Errorf("no actor shown as %q: %v", w, actors)
		}
	}
}

// A change of two documents that differ past their first 40 characters
// read as no change in the list ("{"isbn":…,"s… → {"isbn":…,"s…"): the
// summary shows them from where they differ.
func TestSummaryOfValuesAlikeAtFirst(t *testing.T) {
	s := emptyStore(t)
	long := `{"isbn":"978-0-155433-7","pages":558,"series":"Culture","year":`
	insert(t, s, auditlog.Entry{Timestamp: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), Action: auditlog.ActionUpdate, Model: "books", ObjectPK: "1",
		Changes: auditlog.Changes{"details": {Old: []byte(long + `1988}`), New: []byte(long + `1989}`)}}})
	body := get(newUI(t, s, auditui.Config{}), "GET", "/").Body.String()
	m := regexp.MustCompile(`(?s)<td class="summary">(.*?)</td>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no summary")
	}
	old, new, _ := strings.Cut(html.UnescapeString(m[1]), " → ")
	if old == new || !strings.Contains(old, "1988") || !strings.Contains(new, "1989") {
		t.Errorf("the summary: %s", html.UnescapeString(m[1]))
	}
}

// A page read in another time zone linked to entries, objects, actors and
// requests in the default one: an entry at 08:30 in Tokyo opened at 23:30.
// Every link of a row, and the entry page's, keep the zone.
func TestLinksKeepTheTimeZone(t *testing.T) {
	h := newUI(t, fixture(t), auditui.Config{})
	list := get(h, "GET", "/?tz=Asia/Tokyo").Body.String()
	hrefs := regexp.MustCompile(`href="(/(?:entries/\d+|history\?[^"]*|actor\?[^"]*|\?cid=[^"]*))"`).FindAllStringSubmatch(list, -1)
	if len(hrefs) < 4 {
		t.Fatalf("the list's links: %v", hrefs)
	}
	for _, m := range hrefs {
		if !strings.Contains(m[1], "tz=Asia%2FTokyo") {
			t.Errorf("a row's link without the zone: %s", html.UnescapeString(m[1]))
		}
	}
	entry := regexp.MustCompile(`href="(/entries/\d+)`).FindStringSubmatch(list)[1]
	page := get(h, "GET", entry+"?tz=Asia/Tokyo").Body.String()
	for _, m := range regexp.MustCompile(`href="(/[^"]*)"`).FindAllStringSubmatch(page, -1) {
		// (The heading's link, "/", is the log as it first shows.)
		if u := html.UnescapeString(m[1]); u != "/" && !strings.HasPrefix(u, "/assets/") && !strings.Contains(u, "tz=Asia%2FTokyo") {
			t.Errorf("a link of the entry page without the zone: %s", u)
		}
	}
	// In the default zone, no tz parameter.
	if strings.Contains(get(h, "GET", "/").Body.String(), "tz=") {
		t.Error("a link in the default zone names one")
	}
}
