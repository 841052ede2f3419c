package auditui_test

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-auditlog/auditlog/auditui"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// FuzzQuery: any query string on any page gets 200, 400 or 404, never a
// 500, and never echoes unescaped markup, on every database of the run (a
// tampered cursor or an out-of-range time must not reach one as a value it
// cannot handle).
func FuzzQuery(f *testing.F) {
	seeds := []string{"model=books", "cursor=MTIz", "since=2026-01-01&until=2025-01-01", "tz=../../etc/passwd", "action=x", "limit=-1", "obj=a:1&obj=b", "q=%3Cscript%3E", "format=csv", "%zz",
		"since=0000-01-01", "until=0001-01-01T00:00:00%2B01:00", "pk=1&model=books", "pk=1", "q=Dune&model=books"}
	for _, text := range []string{"9223372036854775807.1", "-9223372036854775808.1", "253402300800000000.1", "-62135596800000001.1", "1.9223372036854775808", "1.-1", "+1.1"} {
		seeds = append(seeds, "cursor="+base64.RawURLEncoding.EncodeToString([]byte(text)))
	}
	for _, q := range seeds {
		f.Add("/", q)
		f.Add("/history", q+"&obj=books:1")
		f.Add("/entries/1", q)
	}
	var handlers []http.Handler
	for _, name := range testdb.Names() {
		handlers = append(handlers, newUI(f, fixtureOn(f, name), auditui.Config{}))
	}
	f.Fuzz(func(t *testing.T, path, rawQuery string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " ?#\x00") || strings.HasPrefix(path, "/export") {
			return
		}
		for i, h := range handlers {
			r := httptest.NewRequest("GET", "/", nil)
			r.URL.Path, r.URL.RawQuery = path, rawQuery
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			switch rec.Code {
			case 200, 400, 404:
			default:
				t.Fatalf("%s: %s?%s: status %d\n%s", testdb.Names()[i], path, rawQuery, rec.Code, rec.Body.String())
			}
			if strings.Contains(rec.Body.String(), "<script") {
				t.Fatalf("%s: %s?%s: unescaped markup", testdb.Names()[i], path, rawQuery)
			}
		}
	})
}
