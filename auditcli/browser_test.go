package auditcli_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/go-auditlog/auditlog/internal/testbrowser"
)

// TestDemoInBrowser drives the demo in real Chromium: the shop asks who you
// are, the chosen user's delete goes through and is recorded as theirs, and
// a page on another origin of this machine (same site, so the demo's cookie
// goes along) cannot make the browser delete a book.
func TestDemoInBrowser(t *testing.T) {
	base := startServer(t, "demo", "--addr", "127.0.0.1:0", "--dir", t.TempDir())
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `<!doctype html><title>cheap books</title><form method="post" action="%s/books/3/delete"></form><script>document.forms[0].submit()</script>`, base)
	}))
	defer evil.Close()

	ctx := testbrowser.Context(t)

	must(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`select[name=user]`)),
	))
	body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	must(t, err)
	if !strings.Contains(body, "Choose who you are") || strings.Contains(body, "Delete") {
		t.Fatalf("shop without a user offers changes: %s", body)
	}
	must(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(`select[name=user]`), "2"),
		chromedp.Click(chromedp.CSS(`form[action="/act-as"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/books/2/delete"] button`)),
		chromedp.Click(chromedp.CSS(`form[action="/books/2/delete"] button`)),
		chromedp.WaitNotPresent(chromedp.CSS(`form[action="/books/2/delete"]`)),
	))
	must(t, chromedp.Do(ctx,
		chromedp.Navigate(evil.URL),
		chromedp.WaitVisible(chromedp.Search(`//pre[contains(., "refused")]`)),
	))
	code, export := send(t, "GET", base, "/audit/export?format=csv&model=books&action=delete", "", nil, nil)
	if code != 200 || !strings.Contains(export, ",delete,books,2,Dune Messiah,") || !strings.Contains(export, ",2,bob,") {
		t.Fatalf("the browser's delete is not recorded as bob's: %d\n%s", code, export)
	}
	if strings.Contains(export, ",delete,books,3,") {
		t.Fatalf("the other origin's form deleted book 3:\n%s", export)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
