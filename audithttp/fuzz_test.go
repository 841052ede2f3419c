package audithttp_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/audithttp"
)

// FuzzForwardedHeaders: any RemoteAddr and forwarded headers give either no
// address or a valid one; a peer that is not a trusted proxy is always
// recorded as itself, whatever it sends; the correlation id is always valid.
func FuzzForwardedHeaders(f *testing.F) {
	f.Add("10.0.0.1:80", "1.2.3.4, 5.6.7.8", `for="[2001:db8::1]:80"`, "9.9.9.9", "443", "abc")
	f.Add("203.0.113.1:5555", "1.2.3.4", "for=unknown", "", "x", "<script>")
	f.Add("[::1]:1", "[::1]:2,,", "for=;for=\"", "[", "65536", "")
	mw, err := audithttp.New(audithttp.Config{TrustedProxies: []string{"10.0.0.0/8", "::1"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, remote, xff, fwd, realIP, port, cid string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		r.Header.Set("Forwarded", fwd)
		r.Header.Set("X-Real-IP", realIP)
		r.Header.Set("X-Forwarded-Port", port)
		r.Header.Set("X-Correlation-ID", cid)
		var addr, id string
		var p int
		mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			addr, p = auditlog.RemoteAddrFromContext(r.Context())
			id = auditlog.CorrelationIDFromContext(r.Context())
		})).ServeHTTP(httptest.NewRecorder(), r)
		if addr != "" {
			if _, err := netip.ParseAddr(addr); err != nil {
				t.Fatalf("recorded invalid address %q", addr)
			}
		}
		if p < 0 || p > 65535 {
			t.Fatalf("port %d", p)
		}
		if peer, err := netip.ParseAddrPort(remote); err == nil {
			a := peer.Addr().Unmap()
			trusted := netip.MustParsePrefix("10.0.0.0/8").Contains(a) || a == netip.MustParseAddr("::1")
			if !trusted && addr != a.WithZone("").String() {
				t.Fatalf("untrusted peer %s recorded as %q", remote, addr)
			}
		}
		if !audithttp.ValidCorrelationID(id) {
			t.Fatalf("invalid correlation id %q stored", id)
		}
	})
}
