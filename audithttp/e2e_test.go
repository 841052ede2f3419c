package audithttp_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/audithttp"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

type Note struct {
	ID    uint
	Owner string
	Body  string
}

// auditNotes installs the plugin on db with Note registered, and returns db.
func auditNotes(t *testing.T, db *gorm.DB) *gorm.DB {
	t.Helper()
	reg := auditlog.NewRegistry()
	if err := db.Use(auditgorm.New(auditgorm.Config{Registry: reg})); err != nil {
		t.Fatal(err)
	}
	if err := db.AutoMigrate(&Note{}); err != nil {
		t.Fatal(err)
	}
	if err := reg.Register(&Note{}); err != nil {
		t.Fatal(err)
	}
	return db
}

func allEntries(t *testing.T, db *gorm.DB) []auditlog.Entry {
	t.Helper()
	s, err := auditgorm.NewStore(db)
	if err != nil {
		t.Fatal(err)
	}
	var out []auditlog.Entry
	p := auditstore.Page{Limit: 1000}
	for {
		res, err := s.List(context.Background(), auditstore.Filter{}, p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, res.Entries...)
		if res.Next == "" {
			return out
		}
		p.Cursor = res.Next
	}
}

// An HTTP server with the middleware and the plugin: a request that
// authenticates inside the handler writes entries carrying that actor, its
// address and the request's correlation id; 200 concurrent requests from
// different actors each get only their own actor.
func TestEndToEnd(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		auditNotes(t, db)
		mw, err := audithttp.New(audithttp.Config{TrustedProxies: []string{"127.0.0.1", "::1"}})
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("POST /notes", func(w http.ResponseWriter, r *http.Request) {
			user, _, ok := r.BasicAuth() // authentication inside the handler
			if !ok {
				http.Error(w, "who are you?", http.StatusUnauthorized)
				return
			}
			if err := auditlog.SetActor(r.Context(), auditlog.Actor{ID: user, Name: "User " + user}); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			n := Note{Owner: user, Body: "hello"}
			if err := db.WithContext(r.Context()).Create(&n).Error; err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			if err := db.WithContext(r.Context()).Model(&n).Update("body", "bye").Error; err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			fmt.Fprint(w, n.ID)
		})
		srv := httptest.NewServer(mw(mux))
		defer srv.Close()

		post := func(user, cid, xff string) (string, error) {
			req, _ := http.NewRequest("POST", srv.URL+"/notes", nil)
			req.SetBasicAuth(user, "pw")
			if cid != "" {
				req.Header.Set("X-Correlation-ID", cid)
			}
			if xff != "" {
				req.Header.Set("X-Forwarded-For", xff)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				return "", err
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 {
				return "", fmt.Errorf("status %d: %s", resp.StatusCode, b)
			}
			return resp.Header.Get("X-Correlation-ID"), nil
		}
		cid, err := post("alice", "req-alice-1", "203.0.113.50")
		if err != nil || cid != "req-alice-1" {
			t.Fatalf("post: %q %v", cid, err)
		}
		es := allEntries(t, db)
		if len(es) != 2 {
			t.Fatalf("%d entries", len(es))
		}
		// Behind the (loopback) proxy the client's port is unknown: the
		// column is NULL, not the proxy's own port.
		for _, e := range es {
			if e.ActorID != "alice" || e.ActorName != "User alice" || e.CorrelationID != "req-alice-1" || e.RemoteAddr != "203.0.113.50" || e.RemotePort != 0 {
				t.Fatalf("entry %+v", e)
			}
		}
		var withPort int64
		if err := db.Raw("SELECT COUNT(*) FROM auditlog_entries WHERE remote_port IS NOT NULL").Scan(&withPort).Error; err != nil {
			t.Fatal(err)
		}
		if withPort != 0 {
			t.Fatalf("%d entries store a port for a client behind a proxy", withPort)
		}

		const n = 200
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := post(fmt.Sprintf("user%03d", i), fmt.Sprintf("cid-%03d", i), ""); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		var notes []Note
		if err := db.Find(&notes).Error; err != nil {
			t.Fatal(err)
		}
		owner := map[string]string{}
		for _, nt := range notes {
			owner[fmt.Sprint(nt.ID)] = nt.Owner
		}
		es = allEntries(t, db)
		if len(es) != 2+2*n {
			t.Fatalf("%d entries, want %d", len(es), 2+2*n)
		}
		for _, e := range es {
			if e.ActorID != owner[e.ObjectPK] || e.CorrelationID != "cid-"+e.ActorID[4:] && e.ActorID != "alice" {
				t.Fatalf("entry for note %s (owner %s) has actor %q cid %q", e.ObjectPK, owner[e.ObjectPK], e.ActorID, e.CorrelationID)
			}
			// Without a forwarded header the peer is the client: its port is known.
			if e.ActorID != "alice" && (e.RemoteAddr != "127.0.0.1" || e.RemotePort == 0) {
				t.Fatalf("entry %+v", e)
			}
		}
	})
}

// What reaches the entries table: the client's address, and its port only
// when it is known: the peer's for a direct client, the one a Forwarded
// element carries, else NULL (never the proxy's own port).
func TestStoredClientAddress(t *testing.T) {
	t.Parallel()
	db := auditNotes(t, testdb.Open(t, "sqlite"))
	cases := []struct {
		cid, header, remote string
		headers             map[string]string
		wantAddr            string
		wantPort            any // nil: NULL
	}{
		{"direct", "", "198.51.100.7:4000", map[string]string{"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Port": "443"}, "198.51.100.7", int64(4000)},
		{"xff", "", "10.0.0.2:8080", map[string]string{"X-Forwarded-For": "203.0.113.50", "X-Forwarded-Port": "443"}, "203.0.113.50", nil},
		{"forwarded-port", "Forwarded", "10.0.0.2:8080", map[string]string{"Forwarded": `for="[2001:db8::50]:4711"`}, "2001:db8::50", int64(4711)},
		{"forwarded-no-port", "Forwarded", "10.0.0.2:8080", map[string]string{"Forwarded": "for=203.0.113.51"}, "203.0.113.51", nil},
		{"real-ip", "X-Real-IP", "10.0.0.2:8080", map[string]string{"X-Real-IP": "203.0.113.52"}, "203.0.113.52", nil},
		{"unknown", "Forwarded", "10.0.0.2:8080", map[string]string{"Forwarded": "for=unknown"}, "", nil},
	}
	for _, tc := range cases {
		mw, err := audithttp.New(audithttp.Config{TrustedProxies: []string{"10.0.0.0/8"}, RemoteAddrHeader: tc.header})
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("POST", "/", nil)
		r.RemoteAddr = tc.remote
		r.Header.Set("X-Correlation-ID", tc.cid)
		for k, v := range tc.headers {
			r.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := db.WithContext(r.Context()).Create(&Note{Owner: tc.cid}).Error; err != nil {
				http.Error(w, err.Error(), 500)
			}
		})).ServeHTTP(rec, r)
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", tc.cid, rec.Code, rec.Body)
		}
		var addr, port any
		if err := db.Raw("SELECT remote_addr, remote_port FROM auditlog_entries WHERE cid = ?", tc.cid).Row().Scan(&addr, &port); err != nil {
			t.Fatalf("%s: %v", tc.cid, err)
		}
		gotAddr := ""
		if addr != nil {
			gotAddr = fmt.Sprint(addr)
		}
		if gotAddr != tc.wantAddr || port != tc.wantPort {
			t.Fatalf("%s: stored %v (%T) port %v (%T), want %q port %v", tc.cid, addr, addr, port, port, tc.wantAddr, tc.wantPort)
		}
	}
}

// A background job sets a "system" actor and a correlation id with the
// root package's helpers; no HTTP involved.
func TestBackgroundJobActor(t *testing.T) {
	t.Parallel()
	db := auditNotes(t, testdb.Open(t, "sqlite"))
	done := make(chan error)
	go func() {
		ctx := auditlog.WithActor(context.Background(), auditlog.Actor{ID: "system", Name: "nightly cleanup"})
		ctx = auditlog.WithCorrelationID(ctx, "job-42")
		done <- db.WithContext(ctx).Create(&Note{Owner: "system", Body: "archived"}).Error
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	es := allEntries(t, db)
	if len(es) != 1 || es[0].ActorID != "system" || es[0].ActorName != "nightly cleanup" || es[0].CorrelationID != "job-42" || es[0].RemoteAddr != "" {
		t.Fatalf("entries %+v", es)
	}
}
