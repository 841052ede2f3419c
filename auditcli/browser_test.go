package auditcli_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browserPath finds Chromium. Without one the browser test is skipped,
// unless AUDITLOG_TEST_BROWSER is set (as .ci/run sets it), when it fails.
func browserPath(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("AUDITLOG_TEST_BROWSER") != "" {
		t.Fatal("AUDITLOG_TEST_BROWSER is set but no Chromium is installed (apt-get install -y chromium)")
	}
	t.Skip("no Chromium installed; set AUDITLOG_TEST_BROWSER to require it")
	return ""
}

// TestDemoInBrowser drives the demo in real Chromium: the shop asks who you
// are, the chosen user's delete goes through and is recorded as theirs, and
// a page on another origin of this machine (same site, so the demo's cookie
// goes along) cannot make the browser delete a book.
func TestDemoInBrowser(t *testing.T) {
	exe := browserPath(t)
	base := startServer(t, "demo", "--addr", "127.0.0.1:0", "--dir", t.TempDir())
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `<!doctype html><title>cheap books</title><form method="post" action="%s/books/3/delete"></form><script>document.forms[0].submit()</script>`, base)
	}))
	defer evil.Close()

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	must(t, chromedp.Do(ctx)) // start the browser on the parent context, then bound the steps
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

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
