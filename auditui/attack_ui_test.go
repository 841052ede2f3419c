package auditui_test

// Attacks on the new UI parts: the state table on an entry's page,
// JSON changes by key path, the activity strip and the actor page.
// Hostile and edge cases: stored values that must stay text, parameters
// that must be refused cleanly, and numbers that must mean what they say.

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/auditui"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// emptyStore is an empty SQLite store.
func emptyStore(t testing.TB) *auditstore.Store {
	t.Helper()
	db := testdb.Open(t, "sqlite")
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	s, err := auditstore.New(sqlDB, auditstore.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func insert(t testing.TB, s *auditstore.Store, es ...auditlog.Entry) {
	t.Helper()
	if err := s.Insert(context.Background(), es); err != nil {
		t.Fatal(err)
	}
}

func change(t testing.TB, old, new any) auditlog.Change {
	t.Helper()
	c, err := auditlog.NewChange(old, new)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var (
	barLink  = regexp.MustCompile(`<a href="([^"]*)"(?: class="full")?><title>([^<]*)</title>`)
	rowCount = regexp.MustCompile(`<tr[ >]`)
)

// bars returns the strip's bars of a list page: title -> link.
func bars(t *testing.T, body string) (titles []string, links map[string]string) {
	t.Helper()
	i := strings.Index(body, `<figure class="strip">`)
	if i < 0 {
		t.Fatalf("no activity strip:\n%s", body)
	}
	strip := body[i:]
	strip = strip[:strings.Index(strip, "</figure>")]
	links = map[string]string{}
	for _, m := range barLink.FindAllStringSubmatch(strip, -1) {
		title := html.UnescapeString(m[2])
		titles = append(titles, title)
		links[title] = html.UnescapeString(m[1])
	}
	return titles, links
}

// --- regressions -----------------------------------------------------------

// On a day whose midnight does not exist (DST starts at 00:00, as in
// Havana, Santiago, Asunción), time.Date normalises the day's start to
// 23:00 of the day before: the strip shows the previous date twice, the
// DST day not at all, and the day before's bar loses its last hour to it.
func TestAttackUIStripDSTDayWithoutMidnight(t *testing.T) {
	t.Parallel()
	s := emptyStore(t)
	havana, err := time.LoadLocation("America/Havana")
	if err != nil {
		t.Skip(err)
	}
	// 2026-03-08 is a Sunday: clocks go from 00:00 CST to 01:00 CDT.
	insert(t, s,
		auditlog.Entry{Timestamp: time.Date(2026, 3, 7, 23, 30, 0, 0, havana).UTC(), Action: auditlog.ActionCreate, Model: "books", ObjectPK: "1", ObjectRepr: "late saturday"},
		auditlog.Entry{Timestamp: time.Date(2026, 3, 8, 12, 0, 0, 0, havana).UTC(), Action: auditlog.ActionCreate, Model: "books", ObjectPK: "2", ObjectRepr: "sunday noon"},
	)
	h := newUI(t, s, auditui.Config{TimeZone: havana, Now: func() time.Time { return time.Date(2026, 3, 10, 12, 0, 0, 0, havana) }})
	rec := get(h, "GET", "/")
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	titles, _ := bars(t, rec.Body.String())
	seen := map[string]int{}
	for _, title := range titles {
		day, _, _ := strings.Cut(title, ":")
		seen[day]++
	}
	var problems []string
	for day, n := range seen {
		if n > 1 {
			problems = append(problems, fmt.Sprintf("%d bars for %s", n, day))
		}
	}
	if seen["Sun 2026-03-08"] != 1 {
		problems = append(problems, "no bar for Sun 2026-03-08")
	}
	want := map[string]bool{"Sat 2026-03-07: 1 entry": true, "Sun 2026-03-08: 1 entry": true}
	for _, title := range titles {
		delete(want, title)
	}
	for w := range want {
		problems = append(problems, "no bar "+w)
	}
	if len(problems) > 0 {
		t.Fatalf("strip in America/Havana around 2026-03-08: %v\nbars: %q", problems, titles)
	}
}

// A list filtered until early in year 1 is a valid filter (List accepts
// it), but the strip's 30 days reach back into year 0 and CountSpans
// refuses the span: the whole list page answers 400.
func TestAttackUIStripUntilInYearOne(t *testing.T) {
	t.Parallel()
	h := newUI(t, fixture(t), auditui.Config{})
	for _, target := range []string{"/?until=0001-01-02", "/?until=0001-01-01T00:01", "/?tz=Pacific/Kiritimati&until=0001-01-01T15:00"} {
		rec := get(h, "GET", target)
		if rec.Code != 200 {
			t.Errorf("%s: status %d, want 200 (an empty list); page says:\n%s", target, rec.Code, pageMessage(rec.Body.String()))
		}
	}
}

func pageMessage(body string) string {
	if i := strings.Index(body, "<main"); i >= 0 {
		body = body[i:]
	}
	if len(body) > 600 {
		body = body[:600]
	}
	return body
}

// A bar's title counts the day within the list's since/until, but its
// link drops those bounds and lists the whole day: the list it opens
// shows more entries than the bar said.
func TestAttackUIStripBarLinkWidensSinceUntil(t *testing.T) {
	t.Parallel()
	h := newUI(t, fixture(t), auditui.Config{PageSize: 50})
	for _, target := range []string{"/?since=2026-03-01T10:00", "/?until=2026-03-01T12:00", "/?since=2026-03-01T10:00&until=2026-03-01T12:00"} {
		rec := get(h, "GET", target)
		if rec.Code != 200 {
			t.Fatalf("%s: %d", target, rec.Code)
		}
		_, links := bars(t, rec.Body.String())
		for title, link := range links {
			if !strings.HasPrefix(title, "Sun 2026-03-01: ") {
				continue
			}
			var counted int
			fmt.Sscanf(strings.TrimPrefix(title, "Sun 2026-03-01: "), "%d", &counted)
			day := get(h, "GET", link)
			listed := len(rowCount.FindAllString(day.Body.String()[strings.Index(day.Body.String(), "<h1>"):], -1)) - 1 // minus the header row
			if listed != counted {
				t.Errorf("%s: the bar %q links to %s, which lists %d entries", target, title, link, listed)
			}
		}
	}
}

// The state note for an entry whose object has no state after it (an
// access entry on an object that no audited write touched): "the object
// has the key : its state is under that key" names an empty key that does
// not exist.
func TestAttackUIStateNoteForAccessOnlyObject(t *testing.T) {
	t.Parallel()
	h := newUI(t, fixture(t), auditui.Config{})
	rec := get(h, "GET", "/entries/6") // the fixture's access entry on docs:a-b
	body := rec.Body.String()
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	if strings.Contains(body, "has the key :") || strings.Contains(body, "has the key  ") {
		i := strings.Index(body, `id="state"`)
		t.Fatalf("misleading state note for an object with no entries but accesses:\n%s", body[i:min(len(body), i+250)])
	}
}

// JSON keys with <, > or & are shown in a key path as \u003c, \u003e and
// \u0026 (json.Marshal's HTML escaping, before html/template escapes
// again): the path a reader sees is not the key that changed.
func TestAttackUIJSONPathKeyShownAsWritten(t *testing.T) {
	t.Parallel()
	s := emptyStore(t)
	insert(t, s, auditlog.Entry{Timestamp: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), Action: auditlog.ActionUpdate, Model: "docs", ObjectPK: "1",
		Changes: auditlog.Changes{"meta": {Old: []byte(`{"a<b>&c":1,"x":1}`), New: []byte(`{"a<b>&c":2,"x":1}`)}}})
	h := newUI(t, s, auditui.Config{})
	body := get(h, "GET", "/entries/1").Body.String()
	if !strings.Contains(body, `<table class="pathdiff">`) {
		t.Fatalf("no path diff:\n%s", body)
	}
	if strings.Contains(body, `\u003c`) || strings.Contains(body, `\u0026`) {
		i := strings.Index(body, `<table class="pathdiff">`)
		t.Fatalf("key path shows JSON's HTML escapes instead of the key: %s", body[i:i+200])
	}
	if !strings.Contains(body, `<code>meta[&#34;a&lt;b&gt;&amp;c&#34;]</code>`) {
		t.Fatalf("key path not shown as meta[\"a<b>&c\"]")
	}
}

// The actor page's heading names the actor by Actor().String(), which is
// the id when the entries carry no name: "Everything 42 (id 42) did".
func TestAttackUIActorWithoutNameHeading(t *testing.T) {
	t.Parallel()
	s := emptyStore(t)
	insert(t, s, auditlog.Entry{Timestamp: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), Action: auditlog.ActionCreate, Model: "books", ObjectPK: "1", ActorID: "42"})
	h := newUI(t, s, auditui.Config{})
	body := get(h, "GET", "/actor?actor=42").Body.String()
	if strings.Contains(body, "Everything 42 (id <code>42</code>) did") {
		t.Fatalf("the id is shown as the actor's name: %q", "Everything 42 (id <code>42</code>) did")
	}
}

// The actor page's summary by model ignores the search window that bounds
// a text search (q): CountModels reads the actor's entries through a LIKE
// until it finds 2,000 matches, so its cost is not bounded by its limit
// (the strip skips text searches for that reason), and its counts cover
// entries far beyond what the list below searched, while the page says
// "Every entry of this actor that matches the filters".
func TestAttackUIActorSummaryIgnoresSearchWindow(t *testing.T) {
	t.Parallel()
	s := emptyStore(t)
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var es []auditlog.Entry
	es = append(es, auditlog.Entry{Timestamp: at, Action: auditlog.ActionCreate, Model: "books", ObjectPK: "1", ObjectRepr: "needle", ActorID: "7"})
	for i := range 50 {
		es = append(es, auditlog.Entry{Timestamp: at.Add(time.Duration(i+1) * time.Minute), Action: auditlog.ActionUpdate, Model: "books", ObjectPK: "2", ObjectRepr: "hay", ActorID: "7"})
	}
	insert(t, s, es...)
	h := newUI(t, s, auditui.Config{SearchWindow: 10})
	rec := get(h, "GET", "/actor?actor=7&q=needle")
	body := rec.Body.String()
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	if !strings.Contains(body, "No entries by this actor") && !strings.Contains(body, "Search") && !strings.Contains(body, "Searched") {
		t.Logf("list part:\n%s", pageMessage(body))
	}
	if strings.Contains(body, `<table class="models">`) && strings.Contains(body, "Every entry of this actor that matches the filters") {
		t.Fatalf("the summary counted beyond the search window of 10 (and unbounded by it) while the list below did not search that far:\n%s", pageMessage(body))
	}
}

// With exactly 2,000 entries the actor page says there may be older ones
// ("older ones are in the list below"): CountModels reads LIMIT 2000 and
// cannot tell 2,000 from more (it would need limit+1).
func TestAttackUIActorExactlyAtBound(t *testing.T) {
	t.Parallel()
	s := emptyStore(t)
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	es := make([]auditlog.Entry, 2000)
	for i := range es {
		es[i] = auditlog.Entry{Timestamp: at.Add(time.Duration(i) * time.Second), Action: auditlog.ActionUpdate, Model: "books", ObjectPK: "1", ActorID: "7"}
	}
	insert(t, s, es...)
	body := get(newUI(t, s, auditui.Config{}), "GET", "/actor?actor=7").Body.String()
	if !strings.Contains(body, "Every entry of this actor.") {
		i := strings.Index(body, `<p class="status">`)
		t.Fatalf("an actor with exactly 2,000 entries: %s", body[i:i+160])
	}
}

// Likewise the strip: a day with exactly 1,000 entries shows "1,000+" and
// a dark "stopped" bar.
func TestAttackUIStripExactlyAtBound(t *testing.T) {
	t.Parallel()
	s := emptyStore(t)
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	es := make([]auditlog.Entry, 1000)
	for i := range es {
		es[i] = auditlog.Entry{Timestamp: at.Add(time.Duration(i) * time.Second), Action: auditlog.ActionUpdate, Model: "books", ObjectPK: "1"}
	}
	insert(t, s, es...)
	titles, _ := bars(t, get(newUI(t, s, auditui.Config{}), "GET", "/").Body.String())
	for _, title := range titles {
		if strings.HasPrefix(title, "Sun 2026-03-01") && title != "Sun 2026-03-01: 1,000 entries" {
			t.Fatalf("a day with exactly 1,000 entries: %q", title)
		}
	}
	// One more: the count stops, the bar goes dark and says so.
	insert(t, s, auditlog.Entry{Timestamp: at.Add(2 * time.Hour), Action: auditlog.ActionUpdate, Model: "books", ObjectPK: "2"})
	body := get(newUI(t, s, auditui.Config{}), "GET", "/").Body.String()
	titles, _ = bars(t, body)
	if !slices.Contains(titles, "Sun 2026-03-01: 1,000+ entries") || strings.Count(body, `class="full"`) != 1 || !strings.Contains(body, "a dark bar counted up to 1,000 and stopped") {
		t.Fatalf("a day with 1,001 entries: %q", titles)
	}
}

// --- cases that held ---------------------------------------------------------

// Hostile stored values in every new part (state table, key paths, the
// strip's links and titles carrying hostile filters, the actor page) stay
// text, and no link takes a script URL.
func TestAttackUIHeldHostileValuesInNewParts(t *testing.T) {
	t.Parallel()
	s := emptyStore(t)
	evil := `"><script>alert(1)</script><svg onload=alert(2)><a href="javascript:alert(3)">`
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	e1 := auditlog.Entry{Timestamp: at, Action: auditlog.ActionCreate, Model: "m" + evil, ObjectPK: "k" + evil, ObjectRepr: evil,
		Changes: auditlog.Changes{evil: change(t, nil, evil), "doc": {Old: []byte(`null`), New: []byte(`{"` + strings.ReplaceAll(evil, `"`, `\"`) + `":1}`)},
			"rel" + evil: {M2M: &auditlog.M2MChange{Operation: auditlog.M2MAdd, Objects: []string{evil}}}},
		ActorID: "javascript:alert(4)//" + evil, ActorName: evil, CorrelationID: "c" + evil}
	e2 := e1
	e2.Timestamp, e2.Action = at.Add(time.Hour), auditlog.ActionUpdate
	e2.Changes = auditlog.Changes{evil: change(t, evil, evil+"2"),
		"doc": {Old: []byte(`{"` + strings.ReplaceAll(evil, `"`, `\"`) + `":1}`), New: []byte(`{"` + strings.ReplaceAll(evil, `"`, `\"`) + `":2, "</title><script>":3}`)}}
	insert(t, s, e1, e2)
	h := newUI(t, s, auditui.Config{Prefix: "/audit"})
	for _, target := range []string{
		"/audit/entries/1", "/audit/entries/2",
		"/audit/?model=" + url.QueryEscape(e1.Model) + "&actor=" + url.QueryEscape(e1.ActorID) + "&cid=" + url.QueryEscape(e1.CorrelationID),
		"/audit/actor?actor=" + url.QueryEscape(e1.ActorID),
		"/audit/actor?actor=" + url.QueryEscape(e1.ActorID) + "&model=" + url.QueryEscape(e1.Model) + "&pk=" + url.QueryEscape(e1.ObjectPK),
	} {
		rec := get(h, "GET", target)
		body := rec.Body.String()
		if rec.Code != 200 {
			t.Fatalf("%s: %d\n%s", target, rec.Code, body)
		}
		for _, bad := range []string{"<script", "<svg onload", "href=\"javascript:", "href=\"/audit/javascript", "</title><script"} {
			if strings.Contains(body, bad) {
				t.Fatalf("%s renders %q", target, bad)
			}
		}
		for _, m := range regexp.MustCompile(`href="([^"]*)"`).FindAllStringSubmatch(body, -1) {
			if !strings.HasPrefix(m[1], "/audit/") && m[1] != "/audit" {
				t.Fatalf("%s: link %q leaves the UI", target, m[1])
			}
		}
	}
}

// Hostile query parameters on /actor and the list (with its strip) answer
// 400, never 500 or a panic.
func TestAttackUIHeldHostileParameters(t *testing.T) {
	t.Parallel()
	h := newUI(t, fixture(t), auditui.Config{})
	for _, c := range []struct {
		target string
		status int
	}{
		{"/actor?actor=%ff%fe", 400},
		{"/actor?actor=1%00", 400},
		{"/actor?actor=1&actor=2", 400},
		{"/actor?actor=+++", 200}, // an actor id of three spaces: exact, as stored
		{"/actor?actor=" + strings.Repeat("9", 257), 400},
		{"/actor?actor=1&tz=../../../../etc/passwd", 400},
		{"/actor?actor=1&tz=/etc/localtime", 400},
		{"/actor?actor=1&tz=" + strings.Repeat("A", 65), 400},
		{"/actor?actor=1&limit=-1", 400},
		{"/actor?actor=1&limit=99999999999999999999", 400},
		{"/actor?actor=1&cursor=%ff", 400},
		{"/actor?actor=1&pk=1", 400},
		{"/actor?actor=1&since=99999-01-01", 400},
		{"/actor?actor=1&since=9223372036854775807d", 400},
		{"/actor?actor=1&since=2562048h", 400},
		{"/actor?actor=1&until=0001-01-01", 400},
		{"/actor?actor=1&action=9", 400},
		{"/actor?actor=1&since=9999-12-31T23:59", 200},
		{"/actor?actor=1&until=0001-01-02", 200},
		{"/actor?actor=1&tz=Etc/GMT%2B12", 200},
		{"/actor?actor=1&q=%25_%21", 200},
		{"/?until=9999-12-31T23:59", 200},
		{"/?since=9999-12-31T23:59", 200},
		{"/?tz=Pacific/Kiritimati&until=9999-12-31T23:59", 200},
		{"/?tz=Etc/GMT-14&since=0001-01-01T00:00&until=0001-01-05", 400}, // before year 1 in UTC
		{"/?limit=0", 400},
	} {
		rec := get(h, "GET", c.target)
		if rec.Code != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.target, rec.Code, c.status, pageMessage(rec.Body.String()))
		}
	}
}

// The strip's links keep the viewer's time zone and filters, and bars in a
// zone with ordinary DST days (23 and 25 hours) count their own days.
func TestAttackUIHeldStripOrdinaryDST(t *testing.T) {
	t.Parallel()
	s := emptyStore(t)
	paris, _ := time.LoadLocation("Europe/Paris")
	insert(t, s,
		auditlog.Entry{Timestamp: time.Date(2026, 3, 29, 0, 30, 0, 0, paris).UTC(), Action: auditlog.ActionCreate, Model: "books", ObjectPK: "1"},
		auditlog.Entry{Timestamp: time.Date(2026, 3, 29, 23, 30, 0, 0, paris).UTC(), Action: auditlog.ActionCreate, Model: "books", ObjectPK: "2"},
		auditlog.Entry{Timestamp: time.Date(2026, 3, 28, 23, 30, 0, 0, paris).UTC(), Action: auditlog.ActionCreate, Model: "books", ObjectPK: "3"},
	)
	h := newUI(t, s, auditui.Config{Now: func() time.Time { return time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC) }})
	titles, links := bars(t, get(h, "GET", "/?tz=Europe/Paris&model=books").Body.String())
	if len(titles) != 30 {
		t.Fatalf("%d bars", len(titles))
	}
	if _, ok := links["Sun 2026-03-29: 2 entries"]; !ok {
		t.Fatalf("bars: %q", titles)
	}
	if _, ok := links["Sat 2026-03-28: 1 entry"]; !ok {
		t.Fatalf("bars: %q", titles)
	}
	l := links["Sun 2026-03-29: 2 entries"]
	if !strings.Contains(l, "tz=Europe%2FParis") || !strings.Contains(l, "model=books") || !strings.Contains(l, "since=2026-03-29T00%3A00") || !strings.Contains(l, "until=2026-03-30T00%3A00") {
		t.Fatalf("link %s", l)
	}
}

// The new pages stay read-only: every method but GET and HEAD is refused
// before anything is read, and HEAD sends no body.
func TestAttackUIHeldReadOnly(t *testing.T) {
	t.Parallel()
	h := newUI(t, fixture(t), auditui.Config{})
	for _, target := range []string{"/actor?actor=1", "/entries/2", "/?since=2026-03-01"} {
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, "PROPFIND"} {
			if rec := get(h, m, target); rec.Code != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d", m, target, rec.Code)
			}
		}
		if rec := get(h, http.MethodHead, target); rec.Code != 200 || rec.Body.Len() != 0 {
			t.Errorf("HEAD %s: %d with %d bytes", target, rec.Code, rec.Body.Len())
		}
	}
}

// An entry whose key is odd (empty, huge, an overflowing number, a JSON
// array) still shows its state table.
func TestAttackUIHeldOddKeysOnEntryPage(t *testing.T) {
	t.Parallel()
	s := emptyStore(t)
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	keys := []string{"99999999999999999999", "-0", "[1,\"a\"]", strings.Repeat("k", 255), " 1"}
	for i, k := range keys {
		insert(t, s, auditlog.Entry{Timestamp: at.Add(time.Duration(i) * time.Minute), Action: auditlog.ActionCreate, Model: "m", ObjectPK: k,
			Changes: auditlog.Changes{"name": change(t, nil, "v")}})
	}
	h := newUI(t, s, auditui.Config{})
	for i := range keys {
		rec := get(h, "GET", fmt.Sprintf("/entries/%d", i+1))
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `<table class="state">`) {
			t.Errorf("key %q: %d\n%s", keys[i], rec.Code, pageMessage(rec.Body.String()))
		}
	}
}

// A bar of a day outside the list's since and until counted nothing and
// has no link: it linked to a page whose until came before its since (a
// 400), 29 of the 30 bars of a day's own list.
func TestStripBarsLinkOnlyDaysInTheList(t *testing.T) {
	t.Parallel()
	h := newUI(t, fixture(t), auditui.Config{PageSize: 50})
	for _, target := range []string{"/?since=2026-03-01T10:00", "/?since=2026-03-01&until=2026-03-02", "/?since=2026-02-27&until=2026-03-02T12:00", "/?until=2026-03-01T12:00"} {
		rec := get(h, "GET", target)
		if rec.Code != 200 {
			t.Fatalf("%s: %d", target, rec.Code)
		}
		body := rec.Body.String()
		if n := strings.Count(body, "<rect "); n != 30 {
			t.Fatalf("%s: %d bars", target, n)
		}
		_, links := bars(t, body)
		if len(links) == 0 {
			t.Fatalf("%s: no bar links", target)
		}
		for title, link := range links {
			if rec := get(h, "GET", link); rec.Code != 200 {
				t.Errorf("%s: the bar %q links to %s, a %d", target, title, link, rec.Code)
			}
		}
	}
}
