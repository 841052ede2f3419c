package audithttp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/audithttp"
)

type seen struct {
	addr  string
	port  int
	cid   string
	actor auditlog.Actor
}

func serve(t *testing.T, cfg audithttp.Config, r *http.Request) (seen, *httptest.ResponseRecorder) {
	t.Helper()
	mw, err := audithttp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var s seen
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.addr, s.port = auditlog.RemoteAddrFromContext(r.Context())
		s.cid = auditlog.CorrelationIDFromContext(r.Context())
		s.actor, _ = auditlog.ActorFromContext(r.Context())
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return s, rec
}

// §10.17-19 translated, with trusted and untrusted peers.
func TestRemoteAddr(t *testing.T) {
	t.Parallel()
	proxies := []string{"10.0.0.0/8", "127.0.0.1", "2001:db8:ffff::/48"}
	cases := []struct {
		name     string
		remote   string
		headers  map[string]string
		proxies  []string
		disable  bool
		wantAddr string
		wantPort int
	}{
		{"no headers", "127.0.0.1:5000", nil, nil, false, "127.0.0.1", 5000},
		{"untrusted client spoofs XFF", "198.51.100.7:4000", map[string]string{"X-Forwarded-For": "1.2.3.4"}, proxies, false, "198.51.100.7", 4000},
		{"XFF without trusted proxies", "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "127.0.0.2"}, nil, false, "127.0.0.1", 5000},
		{"trusted proxy, XFF: the client's port is unknown", "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "127.0.0.2"}, proxies, false, "127.0.0.2", 0},
		{"XFF with port", "10.1.1.1:80", map[string]string{"X-Forwarded-For": "127.0.0.3:1234"}, proxies, false, "127.0.0.3", 1234},
		{"XFF IPv6", "10.1.1.1:80", map[string]string{"X-Forwarded-For": "2606:4700:4700::1111"}, proxies, false, "2606:4700:4700::1111", 0},
		{"XFF bracketed IPv6 with port", "10.1.1.1:80", map[string]string{"X-Forwarded-For": "[2606:4700:4700::1001]:1234"}, proxies, false, "2606:4700:4700::1001", 1234},
		{"right-most untrusted wins", "10.1.1.1:80", map[string]string{"X-Forwarded-For": "6.6.6.6, 203.0.113.5, 10.2.2.2"}, proxies, false, "203.0.113.5", 0},
		{"all hops trusted", "10.1.1.1:80", map[string]string{"X-Forwarded-For": "10.9.9.9"}, proxies, false, "10.1.1.1", 80},
		{"malformed XFF ignored", "10.1.1.1:80", map[string]string{"X-Forwarded-For": "not-an-ip"}, proxies, false, "10.1.1.1", 80},
		{"malformed hop stops the walk", "10.1.1.1:80", map[string]string{"X-Forwarded-For": "203.0.113.5, garbage"}, proxies, false, "10.1.1.1", 80},
		{"X-Forwarded-Port is the server's port, not the client's", "10.1.1.1:80", map[string]string{"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Port": "12345"}, proxies, false, "203.0.113.5", 0},
		{"trusted peer without a header is the client", "10.1.1.1:80", nil, proxies, false, "10.1.1.1", 80},
		{"X-Forwarded-Port without XFF", "10.1.1.1:80", map[string]string{"X-Forwarded-Port": "12345"}, proxies, false, "10.1.1.1", 80},
		{"Forwarded with port", "10.1.1.1:80", map[string]string{"Forwarded": `for="198.51.100.9:4711"`, "X-Forwarded-Port": "443"}, proxies, false, "198.51.100.9", 4711},
		{"X-Forwarded-Port untrusted", "198.51.100.7:4000", map[string]string{"X-Forwarded-Port": "12345"}, proxies, false, "198.51.100.7", 4000},
		{"bad X-Forwarded-Port", "10.1.1.1:80", map[string]string{"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Port": "99999"}, proxies, false, "203.0.113.5", 0},
		{"Forwarded header", "10.1.1.1:80", map[string]string{"Forwarded": `for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711"`}, proxies, false, "2001:db8:cafe::17", 4711},
		{"Forwarded wins over XFF", "10.1.1.1:80", map[string]string{"Forwarded": "for=192.0.2.60", "X-Forwarded-For": "203.0.113.5"}, proxies, false, "192.0.2.60", 0},
		{"X-Real-IP", "10.1.1.1:80", map[string]string{"X-Real-IP": "192.0.2.9"}, proxies, false, "192.0.2.9", 0},
		{"IPv6 peer", "[2001:db8::2]:443", nil, nil, false, "2001:db8::2", 443},
		{"trusted IPv6 proxy", "[2001:db8:ffff::1]:443", map[string]string{"X-Forwarded-For": "192.0.2.1"}, proxies, false, "192.0.2.1", 0},
		{"IPv4-mapped peer", "[::ffff:10.1.1.1]:80", map[string]string{"X-Forwarded-For": "192.0.2.1"}, proxies, false, "192.0.2.1", 0},
		{"garbage RemoteAddr", "@@@", nil, nil, false, "", 0},
		{"disabled (§10.18)", "10.1.1.1:80", map[string]string{"X-Forwarded-For": "192.0.2.1"}, proxies, true, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			s, _ := serve(t, audithttp.Config{TrustedProxies: tc.proxies, DisableRemoteAddr: tc.disable}, r)
			if s.addr != tc.wantAddr || s.port != tc.wantPort {
				t.Fatalf("got %q:%d, want %q:%d", s.addr, s.port, tc.wantAddr, tc.wantPort)
			}
		})
	}
}

func TestNewValidatesProxies(t *testing.T) {
	t.Parallel()
	if _, err := audithttp.New(audithttp.Config{TrustedProxies: []string{"10.0.0.0/99"}}); err == nil || !strings.Contains(err.Error(), "10.0.0.0/99") {
		t.Fatalf("error %v", err)
	}
}

// §10.20: the correlation id comes from the header, a getter, or is
// generated; an invalid one is replaced; it is echoed.
func TestCorrelationID(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		cfg    audithttp.Config
		header map[string]string
		want   string // "" = a new valid id, different from any header
	}{
		{"from header", audithttp.Config{}, map[string]string{"X-Correlation-ID": "abc-123"}, "abc-123"},
		{"custom header", audithttp.Config{CorrelationHeader: "X-Request-ID"}, map[string]string{"X-Request-ID": "r1"}, "r1"},
		{"generated", audithttp.Config{}, nil, ""},
		{"invalid replaced", audithttp.Config{}, map[string]string{"X-Correlation-ID": "<script>"}, ""},
		{"too long replaced", audithttp.Config{}, map[string]string{"X-Correlation-ID": strings.Repeat("a", 129)}, ""},
		{"getter wins", audithttp.Config{CorrelationID: func(*http.Request) string { return "my custom get_cid" }}, nil, ""},
		{"getter value", audithttp.Config{CorrelationID: func(*http.Request) string { return "custom-1" }}, map[string]string{"X-Correlation-ID": "h"}, "custom-1"},
		{"generator", audithttp.Config{NewCorrelationID: func() string { return "gen-1" }}, nil, "gen-1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			s, rec := serve(t, tc.cfg, r)
			if tc.want != "" && s.cid != tc.want {
				t.Fatalf("cid %q, want %q", s.cid, tc.want)
			}
			if !audithttp.ValidCorrelationID(s.cid) {
				t.Fatalf("invalid cid %q", s.cid)
			}
			h := tc.cfg.CorrelationHeader
			if h == "" {
				h = audithttp.DefaultCorrelationHeader
			}
			if got := rec.Header().Get(h); got != s.cid {
				t.Fatalf("echoed %q, want %q", got, s.cid)
			}
		})
	}
}

type authKey struct{}

// The actor is resolved when entries are written, so authentication inside
// the handler counts; SetActor works too.
func TestActorResolution(t *testing.T) {
	t.Parallel()
	cfg := audithttp.Config{Actor: func(r *http.Request) (auditlog.Actor, bool) {
		name, ok := r.Context().Value(authKey{}).(string)
		return auditlog.Actor{ID: name, Name: name}, ok
	}}
	mw, err := audithttp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var before, after, set auditlog.Actor
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		before, _ = auditlog.ActorFromContext(r.Context())
		ctx := context.WithValue(r.Context(), authKey{}, "alice") // a JWT checked here
		after, _ = auditlog.ActorFromContext(ctx)
		_ = auditlog.SetActor(r.Context(), auditlog.Actor{ID: "bob"})
		set, _ = auditlog.ActorFromContext(r.Context())
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if !before.IsZero() || after.ID != "alice" || set.ID != "bob" {
		t.Fatalf("before %+v after %+v set %+v", before, after, set)
	}
}
