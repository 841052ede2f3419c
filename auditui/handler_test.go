package auditui_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/auditui"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const xss = `<script>alert("x")</script>`

// fixture fills a SQLite store with a small, fixed audit log.
func fixture(t testing.TB) *auditstore.Store { return fixtureOn(t, "sqlite") }

// fixtureOn fills a store on the named test database with the fixed log.
func fixtureOn(t testing.TB, name string) *auditstore.Store {
	t.Helper()
	s, _ := fixtureWithDB(t, name)
	return s
}

// fixtureWithDB is fixtureOn that also returns the connection pool.
func fixtureWithDB(t testing.TB, name string) (*auditstore.Store, *sql.DB) {
	t.Helper()
	db := testdb.Open(t, name)
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	d, err := auditstore.ParseDialect(db.Dialector.Name())
	if err != nil {
		t.Fatal(err)
	}
	s, err := auditstore.New(sqlDB, d)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, s)
	return s, sqlDB
}

// fill writes the fixed log.
func fill(t testing.TB, s *auditstore.Store) {
	t.Helper()
	at := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	ch := func(old, new any) auditlog.Change {
		c, err := auditlog.NewChange(old, new)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	id := func(n int64) *int64 { return &n }
	entries := []auditlog.Entry{
		{Timestamp: at, Action: auditlog.ActionCreate, Model: "books", ObjectPK: "1", ObjectID: id(1), ObjectRepr: "Dune",
			Changes: auditlog.Changes{"id": ch(nil, 1), "title": ch(nil, "Dune"), "price": ch(nil, "9.99")},
			ActorID: "1", ActorName: "alice", RemoteAddr: "203.0.113.7", RemotePort: 51000, CorrelationID: "req-1"},
		{Timestamp: at.Add(time.Hour), Action: auditlog.ActionUpdate, Model: "books", ObjectPK: "1", ObjectID: id(1), ObjectRepr: "Dune",
			Changes: auditlog.Changes{"price": ch("9.99", "12.50"), "meta": {Old: []byte(`{"a":1}`), New: []byte(`{"a":1,"b":[1,2]}`)}, "notes": ch(nil, "long text\nwith a line break")},
			ActorID: "2", ActorName: "bob", CorrelationID: "req-2", AdditionalData: []byte(`{"shop":"north"}`), SerializedData: []byte(`{"model":"books","pk":1,"fields":{"title":"Dune","price":"12.50"}}`)},
		{Timestamp: at.Add(2 * time.Hour), Action: auditlog.ActionUpdate, Model: "books", ObjectPK: "1", ObjectID: id(1), ObjectRepr: "Dune",
			Changes: auditlog.Changes{"tags": {M2M: &auditlog.M2MChange{Operation: auditlog.M2MAdd, Objects: []string{"classic", "sf"}}}},
			ActorID: "2", ActorName: "bob", CorrelationID: "req-2"},
		{Timestamp: at.Add(3 * time.Hour), Action: auditlog.ActionCreate, Model: "authors", ObjectPK: "7", ObjectID: id(7), ObjectRepr: xss,
			Changes: auditlog.Changes{"name": ch(nil, xss), "secret": ch(nil, "*****ential")}, ActorID: "1", ActorName: "alice"},
		{Timestamp: at.Add(4 * time.Hour), Action: auditlog.ActionDelete, Model: "books", ObjectPK: "1", ObjectID: id(1), ObjectRepr: "Dune",
			Changes: auditlog.Changes{"id": ch(1, nil), "title": ch("Dune", nil)}, ActorID: "1", ActorName: "alice", CorrelationID: "=cmd|calc"},
		{Timestamp: at.Add(5 * time.Hour), Action: auditlog.ActionAccess, Model: "docs", ObjectPK: "a-b", ObjectRepr: "Contract"},
	}
	if err := s.Insert(context.Background(), entries); err != nil {
		t.Fatal(err)
	}
}

func newUI(t testing.TB, s *auditstore.Store, opts auditui.Config) http.Handler {
	t.Helper()
	opts.Store = s
	if opts.Authorize == nil {
		opts.Authorize = func(*http.Request) bool { return true }
	}
	if opts.Now == nil { // the fixture's days, for the activity strip
		opts.Now = func() time.Time { return time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC) }
	}
	h, err := auditui.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(h http.Handler, method, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

func golden(t *testing.T, name string, body []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden.html")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, body, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./auditui -update to create it)", err)
	}
	if string(want) != string(body) {
		t.Fatalf("%s differs from %s (run go test ./auditui -update after checking the change)\n%s", name, path, body)
	}
}

func TestPages(t *testing.T) {
	t.Parallel()
	s := fixture(t)
	h := newUI(t, s, auditui.Config{Prefix: "/audit", PageSize: 3})
	cases := []struct {
		name, target string
		status       int
		contains     []string
		golden       bool
	}{
		{"list", "/audit/", 200, []string{"Contract", "access", "Older »"}, true},
		{"detail", "/audit/entries/2", 200, []string{"12.50", "&#34;b&#34;: [", "Additional data", "north", "req-2"}, true},
		{"detail m2m", "/audit/entries/3", 200, []string{"classic", `class="op add"`}, false},
		{"detail xss", "/audit/entries/4", 200, []string{"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"}, false},
		{"history", "/audit/history?obj=books:1&obj=authors:7", 200, []string{"History of", "books:1"}, true},
		{"filter model", "/audit/?model=authors", 200, []string{"authors"}, false},
		{"filter action", "/audit/?action=delete", 200, []string{"delete"}, false},
		{"filter actor", "/audit/?actor=2", 200, []string{"bob"}, false},
		{"filter cid", "/audit/?cid=req-2", 200, []string{"req-2"}, false},
		{"filter pk", "/audit/?model=docs&pk=a-b", 200, []string{"Contract"}, false},
		{"filter integer pk", "/audit/?model=books&pk=1", 200, []string{"Dune"}, false},
		{"pk without model", "/audit/?pk=a-b", 400, []string{"needs a model"}, false},
		{"export pk without model", "/audit/export?format=csv&pk=1", 400, []string{"needs a model"}, false},
		{"search", "/audit/?q=Dun", 200, []string{"Dune"}, false},
		{"since until", "/audit/?since=2026-03-01T10:00&until=2026-03-01T12:00", 200, []string{"update"}, false},
		{"time zone", "/audit/?tz=Asia/Kathmandu", 200, []string{"2026-03-01 20:15:00", "Times in Asia/Kathmandu"}, false},
		{"bad action", "/audit/?action=explode", 400, []string{"action must be"}, false},
		{"bad date", "/audit/?since=yesterday", 400, []string{"is not a date"}, false},
		{"until before since", "/audit/?since=2026-03-02&until=2026-03-01", 400, []string{"later than"}, false},
		{"bad zone", "/audit/?tz=Mars/Olympus", 400, []string{"unknown time zone"}, false},
		{"bad cursor", "/audit/?cursor=garbage!!", 400, []string{"page cursor is not valid"}, false},
		{"tampered cursor", "/audit/?cursor=MTIzNDU", 400, []string{"page cursor is not valid"}, false},
		{"bad limit", "/audit/?limit=100000", 400, []string{"limit must be"}, false},
		{"repeated param", "/audit/?model=a&model=b", 400, []string{"given 2 times"}, false},
		{"oversized param", "/audit/?model=" + strings.Repeat("x", 300), 400, []string{"longer than 256"}, false},
		{"bad entry id", "/audit/entries/abc", 400, []string{"positive whole numbers"}, false},
		{"missing entry", "/audit/entries/999", 404, []string{"no entry 999"}, false},
		{"history without object", "/audit/history", 400, []string{"obj=books:42"}, false},
		{"actor", "/audit/actor?actor=2", 200, []string{"Everything bob (id <code>2</code>) did", `<a href="/audit/?actor=2&amp;model=books"><span class="model">books</span></a></th><td class="num">2</td>`, "Every entry of this actor."}, true},
		{"actor without id", "/audit/actor", 400, []string{"actor=42"}, false},
		{"actor with a filter", "/audit/actor?actor=1&model=authors", 200, []string{"authors", "that matches the filters"}, false},
		{"history bad object", "/audit/history?obj=nocolon", 400, []string{"not model:key"}, false},
		{"unknown page", "/audit/nope", 404, []string{"no such page"}, false},
		{"outside prefix", "/other", 404, nil, false},
		{"asset traversal", "/audit/assets/../../etc/passwd", 404, nil, false},
		{"export bad format", "/audit/export?format=xml", 400, []string{"csv or jsonl"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := get(h, "GET", tc.target)
			body := rec.Body.String()
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d\n%s", rec.Code, tc.status, body)
			}
			for _, want := range tc.contains {
				if !strings.Contains(body, want) {
					t.Fatalf("page lacks %q\n%s", want, body)
				}
			}
			if strings.Contains(body, "<script>") {
				t.Fatal("unescaped script tag in page")
			}
			if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
				t.Fatalf("CSP %q", csp)
			}
			if tc.golden {
				golden(t, tc.name, rec.Body.Bytes())
			}
		})
	}
}

func TestPagingFollowsNext(t *testing.T) {
	t.Parallel()
	h := newUI(t, fixture(t), auditui.Config{PageSize: 2})
	seen := 0
	target := "/"
	for i := 0; i < 10 && target != ""; i++ {
		rec := get(h, "GET", target)
		if rec.Code != 200 {
			t.Fatalf("%s: %d", target, rec.Code)
		}
		body := rec.Body.String()
		seen += strings.Count(body, `class="time"`)
		target = ""
		if i := strings.Index(body, `rel="next"`); i >= 0 {
			start := strings.LastIndex(body[:i], `href="`) + len(`href="`)
			target = strings.ReplaceAll(body[start:strings.Index(body[start:], `"`)+start], "&amp;", "&")
		}
	}
	if seen != 6 {
		t.Fatalf("saw %d entries over all pages, want 6", seen)
	}
}

func TestReadOnlyAndDenyByDefault(t *testing.T) {
	t.Parallel()
	s := fixture(t)
	h := newUI(t, s, auditui.Config{})
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		rec := get(h, m, "/entries/1")
		if rec.Code != 405 || rec.Header().Get("Allow") != "GET, HEAD" {
			t.Fatalf("%s: %d", m, rec.Code)
		}
	}
	if rec := get(h, "HEAD", "/"); rec.Code != 200 || rec.Body.Len() != 0 {
		t.Fatalf("HEAD: %d, %d bytes", rec.Code, rec.Body.Len())
	}
	deny, err := auditui.New(auditui.Config{Store: s})
	if err != nil {
		t.Fatal(err)
	}
	rec := get(deny, "GET", "/")
	if rec.Code != 403 || !strings.Contains(rec.Body.String(), "auditui.Config.Authorize") || strings.Contains(rec.Body.String(), "Dune") {
		t.Fatalf("no authorizer: %d\n%s", rec.Code, rec.Body.String())
	}
	for _, target := range []string{"/entries/1", "/history?obj=books:1", "/export?format=csv"} {
		if rec := get(deny, "GET", target); rec.Code != 403 {
			t.Fatalf("%s without authorizer: %d", target, rec.Code)
		}
	}
	no := newUI(t, s, auditui.Config{Authorize: func(*http.Request) bool { return false }})
	if rec := get(no, "GET", "/"); rec.Code != 403 {
		t.Fatalf("refused: %d", rec.Code)
	}
	rec = get(deny, "GET", "/assets/style.css")
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/css") || rec.Header().Get("ETag") == "" {
		t.Fatalf("stylesheet: %d", rec.Code)
	}
	again := httptest.NewRequest("GET", "/assets/style.css", nil)
	again.Header.Set("If-None-Match", rec.Header().Get("ETag"))
	if rec := httptest.NewRecorder(); func() int { deny.ServeHTTP(rec, again); return rec.Code }() != http.StatusNotModified {
		t.Fatal("an unchanged stylesheet is sent again")
	}
	for _, bad := range []auditui.Config{{}, {Store: s, Prefix: "audit"}, {Store: s, Prefix: "/audit/"}, {Store: s, PageSize: 9999}} {
		if _, err := auditui.New(bad); err == nil {
			t.Fatalf("options %+v accepted", bad)
		}
	}
}

func TestExport(t *testing.T) {
	t.Parallel()
	h := newUI(t, fixture(t), auditui.Config{})
	rec := get(h, "GET", "/export?format=csv&model=books")
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("csv: %d %s", rec.Code, rec.Body.String())
	}
	records, err := csv.NewReader(rec.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != 5 || records[0][0] != "id" {
		t.Fatalf("csv rows: %v", records)
	}
	for _, r := range records[1:] {
		if r[3] != "books" {
			t.Fatalf("row %v", r)
		}
		if r[11] != "" && !strings.HasPrefix(r[11], "req-") && r[11] != "'=cmd|calc" {
			t.Fatalf("formula not neutralised: %q", r[11])
		}
	}
	rec = get(h, "GET", "/export?format=jsonl")
	sc := bufio.NewScanner(rec.Body)
	n := 0
	for sc.Scan() {
		var e auditstore.ExportRecord
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 6 {
		t.Fatalf("%d JSON lines", n)
	}
}

// HTML and JavaScript in every stored field render as text on every page
// and in the download.
func TestHostileDataEverywhere(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t, "sqlite")
	sqlDB, _ := db.DB()
	s, _ := auditstore.New(sqlDB, auditstore.SQLite)
	evil := `"><script>alert(1)</script><img src=x onerror=alert(2)>`
	ch, _ := auditlog.NewChange(evil, evil+"2")
	e := auditlog.Entry{Timestamp: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Action: auditlog.ActionUpdate,
		Model: "m" + evil, ObjectPK: "k" + evil, ObjectRepr: evil,
		Changes:        auditlog.Changes{evil: ch, "tags": {M2M: &auditlog.M2MChange{Operation: auditlog.M2MAdd, Objects: []string{evil}}}},
		SerializedData: []byte(`{"x":` + strconv.Quote(evil) + `}`), AdditionalData: []byte(`{"y":` + strconv.Quote(evil) + `}`),
		ActorID: evil, ActorName: evil, RemoteAddr: "192.0.2.1", CorrelationID: "cid-ok"}
	if err := s.Insert(context.Background(), []auditlog.Entry{e}); err != nil {
		t.Fatal(err)
	}
	h := newUI(t, s, auditui.Config{})
	for _, target := range []string{"/", "/entries/1", "/history?obj=" + url.QueryEscape(e.Model+":"+e.ObjectPK), "/?actor=" + url.QueryEscape(evil), "/?q=" + url.QueryEscape(evil)} {
		rec := get(h, "GET", target)
		if rec.Code != 200 {
			t.Fatalf("%s: %d", target, rec.Code)
		}
		body := rec.Body.String()
		if strings.Contains(body, "<script") || strings.Contains(body, "<img") || strings.Contains(body, "onerror=alert") && !strings.Contains(body, "&lt;img") {
			t.Fatalf("%s renders markup:\n%s", target, body)
		}
		if !strings.Contains(body, "&lt;script&gt;") {
			t.Fatalf("%s does not show the payload as text", target)
		}
	}
}

// Display names label columns in the summary and the diff; stored keys are
// shown as the column in a title.
func TestDisplayNames(t *testing.T) {
	t.Parallel()
	h := newUI(t, fixture(t), auditui.Config{DisplayName: func(model, column string) string {
		if model == "books" && column == "price" {
			return "Price (EUR)"
		}
		return column
	}})
	for _, target := range []string{"/?model=books", "/entries/2"} {
		body := get(h, "GET", target).Body.String()
		if !strings.Contains(body, "Price (EUR)") {
			t.Fatalf("%s lacks the display name", target)
		}
	}
	if body := get(h, "GET", "/entries/2").Body.String(); !strings.Contains(body, `title="column price"`) {
		t.Fatal("the column name is not kept in the diff")
	}
}

// The history page finds an object by its key text whether the key is an
// integer key (object_id) or a text key that looks like a number.
func TestHistoryFindsTextKeysThatLookNumeric(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t, "sqlite")
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	s, err := auditstore.New(sqlDB, auditstore.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	seven := int64(7)
	at := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	if err := s.Insert(context.Background(), []auditlog.Entry{
		{Timestamp: at, Action: auditlog.ActionCreate, Model: "skus", ObjectPK: "12345", ObjectRepr: "text-key-sku"},
		{Timestamp: at, Action: auditlog.ActionCreate, Model: "books", ObjectPK: "7", ObjectID: &seven, ObjectRepr: "int-key-book"},
	}); err != nil {
		t.Fatal(err)
	}
	h := newUI(t, s, auditui.Config{})
	for target, want := range map[string]string{"/history?obj=skus:12345": "text-key-sku", "/history?obj=books:7": "int-key-book"} {
		rec := get(h, http.MethodGet, target)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), want) {
			t.Fatalf("%s: %d, %q missing", target, rec.Code, want)
		}
	}
}

// Tampered cursors and times outside what a database stores are a 400 on
// every database, never a 500.
func TestBadInputIs400OnEveryDatabase(t *testing.T) {
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	targets := []string{
		"/?cursor=" + b64("9223372036854775807.1"),
		"/?cursor=" + b64("-9223372036854775808.1"),
		"/?cursor=" + b64("253402300800000000.1"),
		"/?cursor=" + b64("-62135596800000001.1"),
		"/?cursor=" + b64("1700000000000000.9223372036854775808"),
		"/?cursor=" + b64("1700000000000000.-5"),
		"/?cursor=" + b64("+1700000000000000.1"),
		"/?model=books&cursor=" + b64("9223372036854775807.1"),
		"/history?obj=books:1&cursor=" + b64("9223372036854775807.1"),
		"/export?format=csv&cursor=" + b64("9223372036854775807.1"),
		"/?since=0000-01-01",
		"/?since=" + url.QueryEscape("0001-01-01T00:30:00+01:00"),
		"/?until=0000-06-01T10:00",
		"/export?format=jsonl&since=0000-01-01",
	}
	for _, name := range testdb.Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newUI(t, fixtureOn(t, name), auditui.Config{})
			for _, target := range targets {
				rec := get(h, "GET", target)
				if rec.Code != http.StatusBadRequest {
					t.Errorf("%s: %d, want 400\n%s", target, rec.Code, rec.Body.String())
				}
			}
		})
	}
}

// With AllowedHosts, requests addressed to any other host name get 421
// and no data, whatever the port; without it, every host is answered.
func TestAllowedHosts(t *testing.T) {
	t.Parallel()
	s := fixture(t)
	h := newUI(t, s, auditui.Config{AllowedHosts: auditui.LoopbackHosts()})
	request := func(h http.Handler, host, target string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", target, nil)
		r.Host = host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	for _, host := range []string{"localhost", "localhost:8080", "LocalHost:1", "127.0.0.1", "127.0.0.1:8080", "127.255.255.254:9", "[::1]", "[::1]:8080", "[::ffff:127.0.0.1]:80"} {
		if rec := request(h, host, "/export?format=csv"); rec.Code != 200 || !strings.Contains(rec.Body.String(), "Dune") {
			t.Errorf("Host %q: %d", host, rec.Code)
		}
	}
	for _, host := range []string{"attacker.example", "attacker.example:8080", "127.0.0.1.attacker.example", "localhost.attacker.example:8080",
		"localhost.", "0.0.0.0:8080", "[::]:8080", "[::2]:8080", "10.0.0.1", "[fe80::1%25lo]:8080", ""} {
		for _, target := range []string{"/", "/export?format=csv", "/entries/1", "/assets/style.css"} {
			rec := request(h, host, target)
			body := rec.Body.String()
			if rec.Code != http.StatusMisdirectedRequest || strings.Contains(body, "Dune") || !strings.Contains(body, "DNS rebinding") {
				t.Fatalf("Host %q %s: %d\n%s", host, target, rec.Code, body)
			}
		}
	}
	if rec := request(h, `"><script>x</script>`, "/"); strings.Contains(rec.Body.String(), "<script>") || rec.Code != http.StatusMisdirectedRequest {
		t.Fatalf("hostile Host header: %d\n%s", rec.Code, rec.Body.String())
	}
	named := newUI(t, s, auditui.Config{AllowedHosts: []string{"audit.example.com", "192.0.2.0/24"}})
	for host, want := range map[string]int{"audit.example.com": 200, "AUDIT.example.com:443": 200, "192.0.2.7:8080": 200, "example.com": 421, "192.0.3.1": 421, "localhost": 421} {
		if rec := request(named, host, "/"); rec.Code != want {
			t.Errorf("named list, Host %q: %d, want %d", host, rec.Code, want)
		}
	}
	// The library default answers every host: the application's own
	// credentials are bound to its host names.
	if rec := request(newUI(t, s, auditui.Config{}), "attacker.example", "/"); rec.Code != 200 {
		t.Fatalf("default: %d", rec.Code)
	}
	for _, bad := range [][]string{{}, {""}, {"localhost:8080"}, {"*.example.com"}, {"http://localhost"}, {"[::1]"}, {"a b"}} {
		if _, err := auditui.New(auditui.Config{Store: s, AllowedHosts: bad}); err == nil {
			t.Errorf("AllowedHosts %q accepted", bad)
		}
		if _, err := auditui.HostGuard(bad, http.NotFoundHandler()); err == nil {
			t.Errorf("HostGuard %q accepted", bad)
		}
	}
	g, err := auditui.HostGuard(auditui.LoopbackHosts(), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("secret")) }))
	if err != nil {
		t.Fatal(err)
	}
	if rec := request(g, "attacker.example:8080", "/"); rec.Code != http.StatusMisdirectedRequest || strings.Contains(rec.Body.String(), "secret") || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("guard: %d %q", rec.Code, rec.Body.String())
	}
	if rec := request(g, "127.0.0.1:8080", "/"); rec.Code != 200 || rec.Body.String() != "secret" {
		t.Fatalf("guard, loopback: %d", rec.Code)
	}
}

// A text search reads at most Config.SearchWindow entries per page; a page
// whose window ends says how far back it searched and links to the next
// window, and following the links finds every match.
func TestSearchIsBoundedPerPage(t *testing.T) {
	t.Parallel()
	h := newUI(t, fixture(t), auditui.Config{SearchWindow: 2})
	if body := get(h, "GET", "/").Body.String(); !strings.Contains(body, "searches the newest 2 entries") {
		t.Fatalf("the form does not say how far a text search reads:\n%s", body)
	}
	rec := get(h, "GET", "/?q=nothing-matches")
	if body := rec.Body.String(); rec.Code != 200 || !strings.Contains(body, "No match among the entries back to 2026-03-01 13:30:00") || !strings.Contains(body, "Search older »") {
		t.Fatalf("an empty window: %d\n%s", rec.Code, body)
	}
	target, found, pages := "/?q=Dune", 0, 0
	for ; target != "" && pages < 10; pages++ {
		rec := get(h, "GET", target)
		body := rec.Body.String()
		if rec.Code != 200 {
			t.Fatalf("%s: %d", target, rec.Code)
		}
		found += strings.Count(body, `class="time"`)
		target = ""
		if i := strings.Index(body, `rel="next"`); i >= 0 {
			start := strings.LastIndex(body[:i], `href="`) + len(`href="`)
			target = strings.ReplaceAll(body[start:strings.Index(body[start:], `"`)+start], "&amp;", "&")
			if !strings.Contains(body, "Searched back to") {
				t.Fatalf("a window that ended does not say so:\n%s", body)
			}
		}
	}
	if found != 4 || pages != 3 {
		t.Fatalf("found %d Dune entries over %d pages, want 4 over 3", found, pages)
	}
	// The export walks every window.
	if body := get(h, "GET", "/export?format=csv&q=Dune").Body.String(); strings.Count(body, "\n") != 5 {
		t.Fatalf("export of a search:\n%s", body)
	}
	for _, bad := range []int{-1, 1_000_001} {
		if _, err := auditui.New(auditui.Config{Store: fixture(t), SearchWindow: bad}); err == nil {
			t.Fatalf("SearchWindow %d accepted", bad)
		}
	}
}

// The list takes the same time bounds as the command line: dates, times and
// ages.
func TestTimeFiltersTakeAges(t *testing.T) {
	t.Parallel()
	s, _ := fixtureWithDB(t, "sqlite")
	h := newUI(t, s, auditui.Config{})
	for target, want := range map[string]int{
		"/?since=2026-03-01T12:00":     200, // the fixture's last three entries
		"/?since=1d":                   200, // none: the fixture is from March 2026
		"/?until=36500d":               200,
		"/?since=0d":                   400,
		"/?since=9223372036854775807d": 400,
	} {
		if rec := get(h, "GET", target); rec.Code != want {
			t.Errorf("%s: %d, want %d", target, rec.Code, want)
		}
	}
	if body := get(h, "GET", "/?since=2026-03-01T12:00").Body.String(); !strings.Contains(body, "Contract") || strings.Contains(body, "req-1") {
		t.Errorf("the since filter was not applied")
	}
}
