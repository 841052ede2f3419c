package auditui_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/auditui"
)

// walkDone is a real store that says when each walk of a download ends.
type walkDone struct {
	*auditstore.Store
	done chan error
}

func (s walkDone) EachWith(ctx context.Context, f auditstore.Filter, o auditstore.EachOptions, fn func(auditlog.Entry) error) error {
	err := s.Store.EachWith(ctx, f, o, fn)
	s.done <- err
	return err
}

// stalledGet sends a GET of path to srv with protocol proto from a client
// with a small receive buffer that never reads.
func stalledGet(t *testing.T, srv *httptest.Server, proto, path string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(2048)
	}
	if _, err := fmt.Fprintf(c, "GET %s %s\r\nHost: %s\r\n\r\n", path, proto, srv.Listener.Addr()); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestExportToAClientThatStopsReading: a download whose client stopped
// reading held its query, its connection and (for an HTTP/1.0 client) one
// of the four held downloads for ever, so four such clients made every
// other HTTP/1.0 download a 503 for good. A download that makes no
// progress for a while is cut off.
func TestExportToAClientThatStopsReading(t *testing.T) {
	defer auditui.SetExportStall(300 * time.Millisecond)()
	s := emptyStore(t)
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	big := strings.Repeat("x", 3000)
	var es []auditlog.Entry
	for i := range 4000 {
		es = append(es, auditlog.Entry{Timestamp: at.Add(time.Duration(i) * time.Second), Action: auditlog.ActionUpdate, Model: "books",
			ObjectPK: fmt.Sprint(i), ObjectRepr: "Book", Changes: auditlog.Changes{"blurb": change(t, big, big+"y")}})
	}
	insert(t, s, es...) // 12 MB of JSON Lines: more than the sockets buffer
	store := walkDone{s, make(chan error, 16)}
	h, err := auditui.New(auditui.Config{Store: store, Authorize: func(*http.Request) bool { return true }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = nil
	srv.Start()
	t.Cleanup(srv.Close) // after the stalled clients' connections close

	// HTTP/1.1: the download is streamed; its walk ends once it is cut off.
	stalledGet(t, srv, "HTTP/1.1", "/export?format=jsonl")
	select {
	case <-store.done:
	case <-time.After(20 * time.Second):
		t.Fatal("a download to a client that stopped reading still runs after 20 s")
	}

	// HTTP/1.0: four stalled downloads take every held slot until they are
	// cut off; then a fifth is sent whole.
	for range 4 {
		stalledGet(t, srv, "HTTP/1.0", "/export?format=jsonl")
	}
	for range 4 {
		<-store.done // each was read and is being sent
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, body, err := getHTTP10(t, srv, "/export?format=jsonl")
		if err == nil && res.StatusCode == http.StatusOK && len(body) > 12<<20 {
			break
		}
		if err == nil && res.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("a fifth HTTP/1.0 download: %d, %d bytes", res.StatusCode, len(body))
		}
		if time.Now().After(deadline) {
			t.Fatalf("20 s after four HTTP/1.0 clients stopped reading, a fifth download is still refused: %v %v", res.Status, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// slowWalk is a store whose walk pauses between its entries (a search
// scanning windows that hold no match, a slow page query).
type slowWalk struct {
	*auditstore.Store
	pause time.Duration
}

func (s slowWalk) EachWith(ctx context.Context, f auditstore.Filter, o auditstore.EachOptions, fn func(auditlog.Entry) error) error {
	first := true
	return s.Store.EachWith(ctx, f, o, func(e auditlog.Entry) error {
		if !first {
			time.Sleep(s.pause)
		}
		first = false
		return fn(e)
	})
}

// TestExportThatPausesOverHTTP2: a client that reads everything promptly,
// a download whose walk pauses longer than the stall limit between two
// entries. The first form of the limit left each write's deadline set
// until the next write: over HTTP/2 the stream's deadline fired while no
// write was under way and reset the stream. A deadline covers a write in
// progress only.
func TestExportThatPausesOverHTTP2(t *testing.T) {
	defer auditui.SetExportStall(300 * time.Millisecond)()
	s := emptyStore(t)
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	big := strings.Repeat("x", 100_000)
	var es []auditlog.Entry
	for i := range 3 {
		es = append(es, auditlog.Entry{Timestamp: at.Add(time.Duration(i) * time.Second), Action: auditlog.ActionUpdate, Model: "books",
			ObjectPK: "1", ObjectRepr: "Book", Changes: auditlog.Changes{"blurb": change(t, big, big+"y")}})
	}
	insert(t, s, es...)
	h, err := auditui.New(auditui.Config{Store: slowWalk{s, time.Second}, Authorize: func(*http.Request) bool { return true }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for _, h2 := range []bool{false, true} {
		srv := httptest.NewUnstartedServer(h)
		srv.EnableHTTP2 = h2
		srv.StartTLS()
		res, err := srv.Client().Get(srv.URL + "/export?format=jsonl")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		lines := strings.Count(string(body), "\n")
		t.Logf("%s: %d, %d lines, %v", res.Proto, res.StatusCode, lines, err)
		if err != nil || lines != 3 {
			t.Errorf("%s: a client reading promptly got %d of 3 lines: %v", res.Proto, lines, err)
		}
		srv.Close()
	}
}
