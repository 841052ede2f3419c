package auditui_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/go-auditlog/auditlog/internal/testbrowser"

	"github.com/go-auditlog/auditlog/auditui"
)

// TestBrowser drives real Chromium through the UI: list, filters, paging,
// an entry's diff, an object's history, and an XSS payload that must stay
// text. With -update it rewrites the screenshots under testdata/screenshots.
func TestBrowser(t *testing.T) {
	s := fixture(t)
	ui, err := auditui.New(auditui.Config{Store: s, Prefix: "/audit", PageSize: 3, Authorize: func(*http.Request) bool { return true },
		Now: func() time.Time { return time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/audit/", ui)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx := testbrowser.Context(t, chromedp.WindowSize(1280, 900))

	var alerted atomic.Bool
	must(t, chromedp.Listen(ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			alerted.Store(true)
		}
	}))
	// Screenshots (testdata/screenshots, for the README and for review) are
	// rewritten with -update only: a plain run leaves the tree as it is.
	shot := func(name string) {
		t.Helper()
		if !*update {
			return
		}
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		must(t, err)
		dir := filepath.Join("testdata", "screenshots")
		must(t, os.MkdirAll(dir, 0o755))
		must(t, os.WriteFile(filepath.Join(dir, name), buf, 0o644))
	}
	count := func(sel string) int {
		t.Helper()
		nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll(sel), chromedp.AtLeast(0)))
		must(t, err)
		return len(nodes)
	}
	text := func(sel chromedp.Search) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		must(t, err)
		return s
	}

	// The list, newest first, a page of three.
	must(t, chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/audit/"),
		chromedp.WaitVisible(chromedp.CSS("table.entries")),
	))
	shot("list.png")
	if n := count("table.entries tbody tr"); n != 3 {
		t.Fatalf("first page has %d rows", n)
	}
	// The activity strip: a bar per day, each a link to its day.
	if n := count("figure.strip svg a rect"); n != 30 {
		t.Fatalf("the activity strip has %d bars", n)
	}
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.Search(`(//figure[@class="strip"]//*[local-name()="a"])[29]`)),
		chromedp.WaitVisible(chromedp.CSS(`.buttons a`)),
	))
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err != nil || !strings.Contains(loc, "since=2026-03-01T00%3A00&until=2026-03-02T00%3A00") || count("table.entries tbody tr") != 3 {
		t.Fatalf("the bar of 2026-03-01 led to %s (%v)", loc, err)
	}
	// Filter by model and actor with the form, from the unfiltered list.
	must(t, chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/audit/"),
		chromedp.WaitVisible(chromedp.CSS("table.entries")),
		chromedp.SetValue(chromedp.CSS(`input[name=model]`), "books"),
		chromedp.SetValue(chromedp.CSS(`input[name=actor]`), "2"),
		chromedp.Click(chromedp.CSS(`form.filters button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.buttons a`)), // the Clear link of a filtered list
	))
	body := text("//table[contains(@class,'entries')]/tbody")
	if n := count("table.entries tbody tr"); n != 2 || strings.Contains(body, "alice") || !strings.Contains(body, "bob") {
		t.Fatalf("filtered list: %d rows: %s", n, body)
	}
	// A time filter the form does not write itself (an age, a date) is
	// kept by the form: a datetime-local input showed it blank, and the
	// next Filter dropped it.
	for _, since := range []string{"2026-03-01", "30d", "2026-03-01T00:00:00Z"} {
		must(t, chromedp.Do(ctx,
			chromedp.Navigate(srv.URL+"/audit/?since="+since),
			chromedp.WaitVisible(chromedp.CSS("form.filters")),
			chromedp.SetValue(chromedp.CSS(`input[name=model]`), "books"),
			chromedp.Click(chromedp.CSS(`form.filters button[type=submit]`)),
		))
		// The page before was filtered too: wait for the form's page.
		var loc string
		for start := time.Now(); !strings.Contains(loc, "model=books") && time.Since(start) < 10*time.Second; time.Sleep(20 * time.Millisecond) {
			if loc, err = chromedp.Run(ctx, chromedp.Location()); err != nil {
				t.Fatal(err)
			}
		}
		if !strings.Contains(loc, "model=books") || !strings.Contains(loc, "since="+strings.ReplaceAll(since, ":", "%3A")) {
			t.Fatalf("the form dropped since=%s: %s", since, loc)
		}
	}
	// Page forward on the full list.
	must(t, chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/audit/"),
		chromedp.WaitVisible(chromedp.CSS(`a[rel=next]`)),
		chromedp.Click(chromedp.CSS(`a[rel=next]`)),
		chromedp.WaitVisible(chromedp.CSS(`.pager a:not([rel])`)), // "« Newest" appears after the first page
	))
	if body := text("//table[contains(@class,'entries')]/tbody"); !strings.Contains(body, "classic") || !strings.Contains(body, "12.50") {
		t.Fatalf("second page: %s", body)
	}
	// Open the price change and check its diff cells.
	must(t, chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/audit/entries/2"),
		chromedp.WaitVisible(chromedp.CSS("table.diff")),
	))
	old := text(`//tr[th[@title="column price"]]/td[@class="old"]`)
	nw := text(`//tr[th[@title="column price"]]/td[@class="new"]`)
	if strings.TrimSpace(old) != "9.99" || strings.TrimSpace(nw) != "12.50" {
		t.Fatalf("diff cells %q → %q", old, nw)
	}
	shot("detail.png")
	// A JSON column's change by key path, and the object's state after the
	// entry with the changed fields marked.
	if path, was := text(`//table[@class="pathdiff"]//th[@scope="row"]`), text(`//table[@class="pathdiff"]//td[@class="old"]`); path != "meta.b" || strings.TrimSpace(was) != "absent" {
		t.Fatalf("JSON path diff: %q was %q", path, was)
	}
	// Its own headers: Before over the old values, After over the new
	// (the key paths stood under the outer table's Before).
	if head := text(`//table[@class="pathdiff"]/thead`); !regexp.MustCompile(`(?is)Key path.*Before.*After`).MatchString(head) {
		t.Fatalf("JSON path diff headers: %q", head)
	}
	if v := text(`//table[@class="state"]//tr[@class="changed"][th[@title="column price"]]/td[1]`); strings.TrimSpace(v) != "12.50" {
		t.Fatalf("state: price %q", v)
	}
	if v := text(`//table[@class="state"]//tr[not(@class)][th[@title="column title"]]/td[2]`); !strings.Contains(v, "entry 1") {
		t.Fatalf("state: title recorded by %q", v)
	}
	must(t, chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/audit/entries/3"),
		chromedp.WaitVisible(chromedp.CSS("table.state")),
	))
	if v := text(`//table[@class="state"]//tr[th[@title="column tags"]]/td[1]`); strings.TrimSpace(v) != "classic, sf" {
		t.Fatalf("state: tags %q", v)
	}
	must(t, chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/audit/entries/2#state"),
		chromedp.WaitVisible(chromedp.CSS("table.state")),
	))
	shot("state.png")
	// The object's history from the entry page.
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.Search(`//a[contains(., "history of this object")]`)),
		chromedp.WaitVisible(chromedp.CSS("table.entries")),
	))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	must(t, err)
	if n := count("table.entries tbody tr"); !strings.Contains(loc, "/audit/history?obj=books%3A1") || n != 3 {
		t.Fatalf("history at %s with %d rows", loc, n)
	}
	shot("history.png")
	// An actor's page from a row: entries by model, then the entries.
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.Search(`(//td[@class="actor"]/a[contains(., "bob")])[1]`)),
		chromedp.WaitVisible(chromedp.CSS("table.models")),
	))
	if models := text(`//table[@class="models"]/tbody`); !strings.Contains(models, "books") || count("table.entries tbody tr") != 2 {
		t.Fatalf("actor page: %q", models)
	}
	shot("actor.png")
	// An XSS payload in a repr and a value stays text.
	must(t, chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/audit/entries/4"),
		chromedp.WaitVisible(chromedp.CSS("h1")),
	))
	heading := text("//h1")
	if scripts := count("script"); alerted.Load() || scripts != 0 || !strings.Contains(heading, `<script>alert("x")</script>`) {
		t.Fatalf("XSS: alerted=%v scripts=%d heading %q", alerted.Load(), scripts, heading)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
