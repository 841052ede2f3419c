package auditui_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
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

// pagesOfEntries is a store of 2,500 entries: more than one page of a
// download.
func pagesOfEntries(t *testing.T) *auditstore.Store {
	t.Helper()
	s := emptyStore(t)
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	var es []auditlog.Entry
	for i := range 2500 {
		es = append(es, auditlog.Entry{Timestamp: at.Add(time.Duration(i) * time.Second), Action: auditlog.ActionUpdate, Model: "books",
			ObjectPK: fmt.Sprint(i), ObjectRepr: "Book", Changes: auditlog.Changes{"price": change(t, 1, 2)}})
	}
	insert(t, s, es...)
	return s
}

// A download that fails after its first rows went out is cut off, not
// ended as a whole file: the client sees an error, never a 200 whose file
// looks complete.
func TestExportInterruptedIsCutOff(t *testing.T) {
	t.Parallel()
	s := pagesOfEntries(t)
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

// getHTTP10 sends an HTTP/1.0 GET of path to srv and reads the whole
// response as such a client does: the body ends when the connection
// closes, unless a Content-Length says where.
func getHTTP10(t *testing.T, srv *httptest.Server, path string) (*http.Response, []byte, error) {
	t.Helper()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, srv.Listener.Addr()); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(res.Body)
	return res, body, err
}

// HTTP/1.0 has no framing a cut-off could break: a download to such a
// client (nginx proxies with HTTP/1.0 unless told otherwise) is sent whole
// with its length or not at all, so a failure part-way is an error page,
// never a short file that looks whole; one larger than the server holds
// for it is refused with a page that says why.
func TestExportToHTTP10IsWholeOrAnError(t *testing.T) {
	t.Parallel()
	s := pagesOfEntries(t)
	serve := func(st auditui.Store) *httptest.Server {
		h, err := auditui.New(auditui.Config{Store: st, Authorize: func(*http.Request) bool { return true },
			Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv
	}
	failing, whole := serve(pageFailingStore{s}), serve(s)
	for _, f := range []string{"csv", "jsonl"} {
		res, body, err := getHTTP10(t, failing, "/export?format="+f)
		if err == nil && res.StatusCode == http.StatusOK {
			t.Errorf("%s: HTTP/1.0 download that failed part-way: 200 and %d bytes read without error", f, len(body))
		}
		res, body, err = getHTTP10(t, whole, "/export?format="+f)
		if err != nil || res.StatusCode != http.StatusOK || res.ContentLength != int64(len(body)) {
			t.Fatalf("%s: whole HTTP/1.0 download: %v, %v, length %d, %d bytes", f, res, err, res.ContentLength, len(body))
		}
		if lines := bytes.Count(body, []byte("\n")); lines < 2500 {
			t.Fatalf("%s: whole HTTP/1.0 download has %d lines", f, lines)
		}
	}
	// As many held at once as the server holds: the next is a 503.
	release := auditui.TakeHTTP10Slots()
	res, body, err := getHTTP10(t, whole, "/export?format=csv")
	release()
	if err != nil || res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Fatalf("HTTP/1.0 download with every slot taken: %v, %v: %s", res, err, body)
	}
	defer auditui.SetHTTP10ExportLimit(1 << 10)()
	res, body, err = getHTTP10(t, whole, "/export?format=csv")
	if err != nil || res.StatusCode == http.StatusOK || !bytes.Contains(body, []byte("HTTP/1.1")) {
		t.Fatalf("HTTP/1.0 download over the limit: %v, %v: %s", res, err, body)
	}
}
