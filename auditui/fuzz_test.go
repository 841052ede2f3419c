package auditui_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-auditlog/auditlog/auditui"
)

// FuzzQuery: any query string on any page gets 200, 400 or 404, never a
// 500, and never echoes unescaped markup.
func FuzzQuery(f *testing.F) {
	for _, q := range []string{"model=books", "cursor=MTIz", "since=2026-01-01&until=2025-01-01", "tz=../../etc/passwd", "action=x", "limit=-1", "obj=a:1&obj=b", "q=%3Cscript%3E", "format=csv", "%zz"} {
		f.Add("/", q)
		f.Add("/history", q)
		f.Add("/entries/1", q)
	}
	h := newUI(f, fixture(f), auditui.Options{})
	f.Fuzz(func(t *testing.T, path, rawQuery string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " ?#\x00") || strings.HasPrefix(path, "/export") {
			return
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.Path, r.URL.RawQuery = path, rawQuery
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		switch rec.Code {
		case 200, 400, 404:
		default:
			t.Fatalf("%s?%s: status %d\n%s", path, rawQuery, rec.Code, rec.Body.String())
		}
		if strings.Contains(rec.Body.String(), "<script") {
			t.Fatalf("%s?%s: unescaped markup", path, rawQuery)
		}
	})
}
