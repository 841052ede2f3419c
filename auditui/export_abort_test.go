package auditui_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/auditui"
)

// pageFailingStore is a real store whose walk fails after its first
// page, as a later page that runs past QueryTimeout does.
type pageFailingStore struct{ *auditstore.Store }

func (f pageFailingStore) EachWith(ctx context.Context, flt auditstore.Filter, o auditstore.EachOptions, fn func(auditlog.Entry) error) error {
	n := 0
	return f.Store.EachWith(ctx, flt, o, func(e auditlog.Entry) error {
		if n++; n > auditstore.MaxPageSize {
			return fmt.Errorf("auditstore: list entries: %w", context.DeadlineExceeded)
		}
		return fn(e)
	})
}

// A download that fails after its first rows went out is cut off, not
// ended as a whole file: the client sees an error, never a 200 whose file
// looks complete.
func TestExportInterruptedIsCutOff(t *testing.T) {
	t.Parallel()
	s := emptyStore(t)
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	var es []auditlog.Entry
	for i := range 2500 {
		es = append(es, auditlog.Entry{Timestamp: at.Add(time.Duration(i) * time.Second), Action: auditlog.ActionUpdate, Model: "books",
			ObjectPK: fmt.Sprint(i), ObjectRepr: "Book", Changes: auditlog.Changes{"price": change(t, 1, 2)}})
	}
	insert(t, s, es...)
	h, err := auditui.New(auditui.Config{Store: pageFailingStore{s}, Authorize: func(*http.Request) bool { return true },
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = nil
	srv.Start()
	defer srv.Close()
	for _, f := range []string{"csv", "jsonl"} {
		res, err := http.Get(srv.URL + "/export?format=" + f)
		if err != nil {
			continue // cut off before the headers: as good
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err == nil {
			t.Errorf("%s: status %d and %d bytes read without error: the cut-off download looks whole", f, res.StatusCode, len(body))
		}
	}
	// The same download from the real store ends cleanly.
	whole, err := auditui.New(auditui.Config{Store: s, Authorize: func(*http.Request) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	ok := httptest.NewServer(whole)
	defer ok.Close()
	res, err := http.Get(ok.URL + "/export?format=csv")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if _, err := io.ReadAll(res.Body); err != nil || res.StatusCode != 200 {
		t.Fatalf("whole download: %d, %v", res.StatusCode, err)
	}
}
