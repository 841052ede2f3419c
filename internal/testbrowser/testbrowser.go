// Package testbrowser starts real Chromium for the browser tests of the
// admin UI and the demo.
package testbrowser

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Env requires the browser tests: with it set (as .ci/run sets it), a
// machine without Chromium fails them instead of skipping them.
const Env = "AUDITLOG_TEST_BROWSER"

// Context starts Chromium for t, with its own profile, and returns the
// context that drives it, bounded to 90 seconds; the browser is closed when
// t ends. Without Chromium the test is skipped, unless Env is set.
func Context(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	exe := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			exe = p
			break
		}
	}
	if exe == "" {
		if os.Getenv(Env) != "" {
			t.Fatal(Env + " is set but no Chromium is installed (apt-get install -y chromium)")
		}
		t.Skip("no Chromium installed; set " + Env + " to require it")
	}
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
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(opts, extra...)...)
	t.Cleanup(cancelAlloc)
	ctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	// Start the browser on the parent context, then bound the steps.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}
