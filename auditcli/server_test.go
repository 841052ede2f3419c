package auditcli_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// startServer runs an auditlog command that serves (serve, demo) until the
// test ends, and returns the base URL it prints.
func startServer(t *testing.T, args ...string) string {
	t.Helper()
	base, out, errb, stop := startCommand(t, args, func(string) string { return "" })
	t.Cleanup(func() {
		if code := stop(); code != 0 {
			t.Errorf("%s exited %d: %s", args[0], code, errb.String())
		}
	})
	if base == "" {
		t.Fatalf("%s did not start: %s %s", args[0], out.String(), errb.String())
	}
	return base
}

// noRedirects is a client that shows redirects instead of following them.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// send makes a request with the given Host header and extra headers, and
// returns the status and body.
func send(t *testing.T, method, base, path, host string, form url.Values, headers map[string]string) (int, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// serve --insecure-no-auth answers loopback host names only: a web page
// whose own name resolves to 127.0.0.1 (DNS rebinding) gets nothing.
func TestServeInsecureAnswersLoopbackHostsOnly(t *testing.T) {
	t.Parallel()
	path, _ := seeded(t)
	base := startServer(t, "serve", "--db", path, "--addr", "127.0.0.1:0", "--insecure-no-auth")
	port := base[strings.LastIndex(base, ":")+1:]
	for _, host := range []string{"attacker.example", "attacker.example:" + port, "127.0.0.1.attacker.example:" + port, "0.0.0.0:" + port} {
		for _, target := range []string{"/export?format=csv", "/", "/entries/1"} {
			code, body := send(t, "GET", base, target, host, nil, nil)
			if code != http.StatusMisdirectedRequest || strings.Contains(body, "Dune") || !strings.Contains(body, "DNS rebinding") {
				t.Fatalf("Host %q %s: %d\n%s", host, target, code, body)
			}
		}
	}
	for _, host := range []string{"", "localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port} {
		if code, body := send(t, "GET", base, "/export?format=csv", host, nil, nil); code != 200 || !strings.Contains(body, "Dune") {
			t.Fatalf("Host %q: %d", host, code)
		}
	}
}

// The demo answers loopback host names only, on the shop and the audit
// log alike, and a rebinding page cannot change a book.
func TestDemoAnswersLoopbackHostsOnly(t *testing.T) {
	t.Parallel()
	base := startServer(t, "demo", "--addr", "127.0.0.1:0", "--dir", t.TempDir())
	port := base[strings.LastIndex(base, ":")+1:]
	evil := "attacker.example:" + port
	for _, target := range []string{"/", "/audit/", "/audit/export?format=csv", "/audit/assets/style.css"} {
		if code, body := send(t, "GET", base, target, evil, nil, nil); code != http.StatusMisdirectedRequest || strings.Contains(body, "Dune") {
			t.Fatalf("%s: %d\n%s", target, code, body)
		}
	}
	code, _ := send(t, "POST", base, "/books/2/delete", evil, url.Values{}, map[string]string{
		"Origin": "http://" + evil, "Sec-Fetch-Site": "same-origin", "Cookie": "demo_user=2"})
	if code != http.StatusMisdirectedRequest {
		t.Fatalf("rebinding delete: %d", code)
	}
	if code, body := send(t, "GET", base, "/", "localhost:"+port, nil, nil); code != 200 || !strings.Contains(body, "Dune Messiah") {
		t.Fatalf("shop on localhost: %d, book 2 missing", code)
	}
}

// Every write in the demo needs a same-origin proof (Sec-Fetch-Site or
// Origin) and a chosen user: a cross-site form cannot change a book, and a
// request without the demo's cookie is nobody's, so it is refused rather
// than recorded as someone's.
func TestDemoWritesNeedSameOriginAndAUser(t *testing.T) {
	t.Parallel()
	base := startServer(t, "demo", "--addr", "127.0.0.1:0", "--dir", t.TempDir())
	self := strings.TrimPrefix(base, "http://")
	bob := "demo_user=2"
	sameSite := map[string]string{"Origin": base, "Sec-Fetch-Site": "same-origin", "Cookie": bob}
	refused := []struct {
		name    string
		headers map[string]string
	}{
		{"cross-site fetch metadata", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example", "Cookie": bob}},
		{"same-site fetch metadata", map[string]string{"Sec-Fetch-Site": "same-site", "Cookie": bob}},
		{"foreign origin, old browser", map[string]string{"Origin": "https://evil.example", "Cookie": bob}},
		{"opaque origin", map[string]string{"Origin": "null", "Cookie": bob}},
		{"origin on another port", map[string]string{"Origin": "http://127.0.0.1:1", "Cookie": bob}},
		{"no proof at all", map[string]string{"Cookie": bob}},
		{"no user", map[string]string{"Origin": base, "Sec-Fetch-Site": "same-origin"}},
		{"unknown user", map[string]string{"Origin": base, "Sec-Fetch-Site": "same-origin", "Cookie": "demo_user=999"}},
	}
	_, before := send(t, "GET", base, "/audit/export?format=csv&model=books", "", nil, nil)
	for _, tc := range refused {
		for _, op := range []struct {
			path string
			form url.Values
		}{{"/books/2/delete", url.Values{}}, {"/books/2/price", url.Values{"price": {"0.01"}}}, {"/books/2/tag", url.Values{"tag": {"1"}}}} {
			if code, body := send(t, "POST", base, op.path, "", op.form, tc.headers); code != http.StatusForbidden && code != http.StatusUnauthorized {
				t.Fatalf("%s, %s: %d\n%s", tc.name, op.path, code, body)
			}
		}
	}
	code, body := send(t, "GET", base, "/audit/export?format=csv&model=books", "", nil, nil)
	if code != 200 || body != before || !strings.Contains(body, "Dune Messiah") {
		t.Fatalf("a refused write was recorded: %d\n%s", code, body)
	}
	if code, body := send(t, "GET", base, "/", "", nil, nil); code != 200 || !strings.Contains(body, "Choose who you are") || !strings.Contains(body, "Dune Messiah") {
		t.Fatalf("shop without a user: %d\n%s", code, body)
	}
	// Choosing a user is a write too.
	if code, _ := send(t, "POST", base, "/act-as", "", url.Values{"user": {"2"}}, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}); code != http.StatusForbidden {
		t.Fatalf("cross-site act-as: %d", code)
	}
	if code, _ := send(t, "POST", base, "/act-as", "", url.Values{"user": {"mallory"}}, map[string]string{"Origin": base}); code != http.StatusBadRequest {
		t.Fatalf("unknown user: %d", code)
	}
	if code, _ := send(t, "POST", base, "/act-as", "", url.Values{"user": {"2"}}, map[string]string{"Origin": base, "Sec-Fetch-Site": "same-origin"}); code != http.StatusSeeOther {
		t.Fatalf("act-as: %d", code)
	}
	// The browser's own form, as Chromium sends it, works and is bob's.
	if code, body := send(t, "POST", base, "/books/2/delete", self, url.Values{}, sameSite); code != http.StatusSeeOther {
		t.Fatalf("same-origin delete: %d\n%s", code, body)
	}
	code, body = send(t, "GET", base, "/audit/export?format=csv&model=books&pk=2&action=delete", "", nil, nil)
	if code != 200 || !strings.Contains(body, ",delete,books,2,Dune Messiah,") || !strings.Contains(body, ",2,bob,") {
		t.Fatalf("the delete is not bob's: %d\n%s", code, body)
	}
}

// The demo's shop, whose forms write, cannot be framed: a page on another
// local port is the same site, and its cookie would go along. Every
// response of the demo has the UI's protective headers.
func TestDemoShopIsNotFramed(t *testing.T) {
	t.Parallel()
	base := startServer(t, "demo", "--addr", "127.0.0.1:0", "--dir", t.TempDir())
	// Every response: the shop, the mux's redirect and 404, a refusal.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []struct {
		method, path string
		code         int
	}{{"GET", "/", 200}, {"GET", "/audit", http.StatusTemporaryRedirect}, {"GET", "/nothing", 404}, {"POST", "/books/2/delete", 403}} {
		req, _ := http.NewRequest(c.method, base+c.path, nil)
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		h := res.Header
		if res.StatusCode != c.code || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") || h.Get("X-Frame-Options") != "DENY" ||
			h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "same-origin" {
			t.Errorf("%s %s: %d, headers %v", c.method, c.path, res.StatusCode, h)
		}
	}
}

// serve --query-timeout bounds each query: past it, a page is a 503.
func TestServeQueryTimeout(t *testing.T) {
	t.Parallel()
	path, _ := seeded(t)
	base := startServer(t, "serve", "--db", path, "--addr", "127.0.0.1:0", "--insecure-no-auth", "--query-timeout", "1ns")
	if code, body := send(t, "GET", base, "/?model=books", "", nil, nil); code != http.StatusServiceUnavailable || !strings.Contains(body, "took longer than 1ns") {
		t.Fatalf("%d\n%s", code, body)
	}
	for _, bad := range []string{"0s", "-1s", "soon"} {
		if r := run(t, "", false, "serve", "--db", path, "--insecure-no-auth", "--query-timeout", bad); r.code != 2 {
			t.Fatalf("--query-timeout %s: %+v", bad, r)
		}
	}
}

// A price that is no price (text, empty, infinite, past the column's
// precision, negative) is refused with a 400, and nothing is recorded; a
// price is stored and recorded as given.
func TestDemoRefusesAPriceThatIsNone(t *testing.T) {
	t.Parallel()
	base := startServer(t, "demo", "--addr", "127.0.0.1:0", "--dir", t.TempDir())
	self := strings.TrimPrefix(base, "http://")
	bob := map[string]string{"Origin": base, "Sec-Fetch-Site": "same-origin", "Cookie": "demo_user=2"}
	_, before := send(t, "GET", base, "/audit/export?format=csv&model=books", "", nil, nil)
	for _, p := range []string{"abc", "", " ", "1e400", "Inf", "NaN", "-1", "99999999999999999999", "1.234", "0x10", "1,5"} {
		if code, body := send(t, "POST", base, "/books/2/price", self, url.Values{"price": {p}}, bob); code != http.StatusBadRequest {
			t.Errorf("price %q: %d\n%s", p, code, body)
		}
	}
	if _, after := send(t, "GET", base, "/audit/export?format=csv&model=books", "", nil, nil); after != before {
		t.Fatal("a refused price was recorded")
	}
	if code, body := send(t, "POST", base, "/books/2/price", self, url.Values{"price": {"12.5"}}, bob); code != http.StatusSeeOther {
		t.Fatalf("price 12.5: %d\n%s", code, body)
	}
}

// A tag or a book the shop does not have is a 404, and nothing is written
// or recorded: GORM's Append inserted a tag given by its id alone, with an
// empty name, and the demo recorded it as created by the chosen user.
func TestDemoRefusesATagOrBookItHasNot(t *testing.T) {
	t.Parallel()
	base := startServer(t, "demo", "--addr", "127.0.0.1:0", "--dir", t.TempDir())
	self := strings.TrimPrefix(base, "http://")
	bob := map[string]string{"Origin": base, "Sec-Fetch-Site": "same-origin", "Cookie": "demo_user=2"}
	_, before := send(t, "GET", base, "/audit/export?format=csv", "", nil, nil)
	for _, op := range []struct {
		path string
		form url.Values
	}{
		{"/books/2/tag", url.Values{"tag": {"999"}}},
		{"/books/999/tag", url.Values{"tag": {"1"}}},
		{"/books/999/price", url.Values{"price": {"3"}}},
		{"/books/999/delete", url.Values{}},
	} {
		if code, body := send(t, "POST", base, op.path, self, op.form, bob); code != http.StatusNotFound {
			t.Errorf("%s %v: %d\n%s", op.path, op.form, code, body)
		}
	}
	if _, after := send(t, "GET", base, "/audit/export?format=csv", "", nil, nil); after != before {
		t.Fatal("a refused write was recorded")
	}
	if _, shop := send(t, "GET", base, "/", "", nil, bob); strings.Contains(shop, `value="999"`) {
		t.Fatal("the shop offers a tag 999")
	}
	if code, body := send(t, "POST", base, "/books/2/tag", self, url.Values{"tag": {"1"}}, bob); code != http.StatusSeeOther {
		t.Fatalf("tag 1: %d\n%s", code, body)
	}
}
