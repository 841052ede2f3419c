package auditui_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditui"
	"github.com/go-auditlog/auditlog/internal/testbrowser"
)

// Right-to-left text in a change's values made the list's summary read
// backwards: the quotes, spaces, digits and arrow between two Hebrew
// values took their direction, and a limit raised from "א 100" to
// "א 5000" was drawn as "5000 א" → "100 א". Each name and value is
// isolated; in Chromium the old value stands left of the arrow and the
// new one right of it.
func TestSummaryOfRightToLeftValues(t *testing.T) {
	s := emptyStore(t)
	insert(t, s, auditlog.Entry{Timestamp: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), Action: auditlog.ActionUpdate, Model: "accounts", ObjectPK: "1",
		Changes: auditlog.Changes{"limit": {Old: []byte(`"א 100"`), New: []byte(`"א 5000"`)}, "status": {Old: []byte(`"פעיל"`), New: []byte(`"מושבת"`)}}})
	ui, err := auditui.New(auditui.Config{Store: s, Authorize: func(*http.Request) bool { return true }})
	must(t, err)
	srv := httptest.NewServer(ui)
	defer srv.Close()
	body := get(ui, "GET", "/").Body.String()
	if !strings.Contains(body, `<bdi>&#34;א 100&#34;</bdi> → <bdi>&#34;א 5000&#34;</bdi>`) {
		t.Errorf("the values are not isolated: %s", body[strings.Index(body, `<td class="summary">`):][:200])
	}

	ctx := testbrowser.Context(t, chromedp.WindowSize(1600, 900))
	must(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("td.summary"))))
	// The left edge of each text's first occurrence in the summary.
	xs, err := chromedp.Run(ctx, chromedp.Evaluate[[][2]float64](`(() => {
		const td = document.querySelector("td.summary");
		const text = td.textContent;
		return ["100", "5000", "פעיל", "מושבת"].map(s => {
			const i = text.indexOf(s);
			const w = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
			let at = 0, n;
			while ((n = w.nextNode())) {
				if (i < at + n.length) {
					const r = document.createRange();
					r.setStart(n, i - at);
					r.setEnd(n, i - at + s.length);
					const b = r.getBoundingClientRect(); return [b.x, b.y];
				}
				at += n.length;
			}
			return [-1, -1];
		});
	})()`))
	must(t, err)
	if len(xs) != 4 || xs[0][0] < 0 || xs[0][1] != xs[1][1] || xs[0][0] >= xs[1][0] || xs[2][0] < 0 || xs[2][1] != xs[3][1] || xs[2][0] >= xs[3][0] {
		t.Errorf("old and new values' left edges and tops (100, 5000, פעיל, מושבת): %v; each old value must stand left of its new one", xs)
	}
}
