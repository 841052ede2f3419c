package auditui_test

import (
	"html"
	"regexp"
	"strings"
	"testing"

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
