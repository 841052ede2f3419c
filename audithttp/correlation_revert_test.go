package audithttp_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/audithttp"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// A client may send another request's correlation id (it is echoed in
// responses): its writes then share that id. Undoing that id refuses,
// naming the actors, instead of undoing the other client's changes too;
// it undid both.
func TestRevertOfAForgedCorrelationIDRefuses(t *testing.T) {
	db := auditNotes(t, testdb.Open(t, "sqlite"))
	mw, err := audithttp.New(audithttp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, _, _ := r.BasicAuth()
		_ = auditlog.SetActor(r.Context(), auditlog.Actor{ID: user})
		body, _ := io.ReadAll(r.Body)
		if err := db.WithContext(r.Context()).Create(&Note{Owner: user, Body: string(body)}).Error; err != nil {
			t.Error(err)
		}
	}))
	rv := httptest.NewRequest("POST", "/notes", strings.NewReader("victim's note"))
	rv.RemoteAddr = "198.51.100.7:40000"
	rv.SetBasicAuth("victim", "x")
	wv := httptest.NewRecorder()
	h.ServeHTTP(wv, rv)
	victimCID := wv.Header().Get("X-Correlation-ID")
	ra := httptest.NewRequest("POST", "/notes", strings.NewReader("attacker's note"))
	ra.RemoteAddr = "203.0.113.66:50000"
	ra.SetBasicAuth("attacker", "x")
	ra.Header.Set("X-Correlation-ID", victimCID)
	wa := httptest.NewRecorder()
	h.ServeHTTP(wa, ra)

	err = auditgorm.RevertCorrelation(context.Background(), db, wa.Header().Get("X-Correlation-ID"), auditgorm.RevertOptions{})
	if !errors.Is(err, auditgorm.ErrCannotRevert) || !strings.Contains(err.Error(), "2 actors (attacker, victim)") {
		t.Errorf("RevertCorrelation of a correlation id two clients wrote under: %v", err)
	}
	var n int64
	db.Model(&Note{}).Count(&n)
	if n != 2 {
		t.Errorf("%d notes left of 2", n)
	}
}
