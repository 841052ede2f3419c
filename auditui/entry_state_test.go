package auditui_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/auditui"
)

// slowObjects is a store whose reads of one object's entries wait until
// their time runs out.
type slowObjects struct{ *auditstore.Store }

func (s slowObjects) List(ctx context.Context, f auditstore.Filter, p auditstore.Page) (auditstore.Result, error) {
	if len(f.Objects) > 0 {
		<-ctx.Done()
		return auditstore.Result{}, ctx.Err()
	}
	return s.Store.List(ctx, f, p)
}

// Reading an object's entries for its state ran under the page's time:
// one that ran out of it failed the whole entry page with a 503. The entry
// is shown, with a note where its state would be.
func TestEntryPageWhoseStateTakesTooLong(t *testing.T) {
	s := emptyStore(t)
	insert(t, s, auditlog.Entry{Timestamp: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), Action: auditlog.ActionUpdate, Model: "docs", ObjectPK: "1",
		ObjectRepr: "Doc", Changes: auditlog.Changes{"title": {Old: []byte(`"a"`), New: []byte(`"b"`)}}})
	ui, err := auditui.New(auditui.Config{Store: slowObjects{s}, QueryTimeout: 200 * time.Millisecond, Authorize: func(*http.Request) bool { return true }})
	must(t, err)
	res := get(ui, "GET", "/entries/1")
	body := res.Body.String()
	if res.Code != http.StatusOK || !strings.Contains(body, "took longer than 200ms") || !strings.Contains(body, "title") {
		t.Fatalf("%d: %s", res.Code, body)
	}
}
