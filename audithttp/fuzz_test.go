package audithttp_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/audithttp"
)

// FuzzForwardedHeaders: for each choice of RemoteAddrHeader, any RemoteAddr
// and forwarded headers give either no address or a canonical one and a port
// in range; a peer that is not a trusted proxy is always recorded as itself
// with its own port, whatever it sends; only the configured header counts
// (dropping the others changes nothing, X-Forwarded-Port included); a
// trusted peer with the header empty is the client; the correlation id is
// always valid.
func FuzzForwardedHeaders(f *testing.F) {
	f.Add("10.0.0.1:80", "1.2.3.4, 5.6.7.8", `for="[2001:db8::1]:80"`, "9.9.9.9", "443", "abc")
	f.Add("203.0.113.1:5555", "1.2.3.4", "for=unknown", "", "x", "<script>")
	f.Add("[::1]:1", "[::1]:2,,", "for=;for=\"", "[", "65536", "")
	f.Add("[fe80::1%eth0]:80", "fe80::2%eth1, 10.0.0.2", `for="_hidden", for="[fe80::3%25eth0]:_p"`, "10.1.1.1:7", "", "x")
	f.Add("[::ffff:10.0.0.1]:80", "::ffff:10.0.0.2", `for="a, for=1.2.3.4", proto=https;for=10.0.0.3`, "1.2.3.4, 5.6.7.8", "", "x")
	trusted := func(a netip.Addr) bool {
		a = a.Unmap().WithZone("")
		return netip.MustParsePrefix("10.0.0.0/8").Contains(a) || a == netip.MustParseAddr("::1")
	}
	type choice struct {
		header string
		mw     func(http.Handler) http.Handler
	}
	var choices []choice
	for _, h := range []string{"X-Forwarded-For", "Forwarded", "X-Real-IP"} {
		mw, err := audithttp.New(audithttp.Config{TrustedProxies: []string{"10.0.0.0/8", "::1"}, RemoteAddrHeader: h})
		if err != nil {
			f.Fatal(err)
		}
		choices = append(choices, choice{h, mw})
	}
	run := func(mw func(http.Handler) http.Handler, remote string, h http.Header) (addr string, port int, cid string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header = h
		mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			addr, port = auditlog.RemoteAddrFromContext(r.Context())
			cid = auditlog.CorrelationIDFromContext(r.Context())
		})).ServeHTTP(httptest.NewRecorder(), r)
		return addr, port, cid
	}
	f.Fuzz(func(t *testing.T, remote, xff, fwd, realIP, port, cid string) {
		all := http.Header{}
		all.Set("X-Forwarded-For", xff)
		all.Set("Forwarded", fwd)
		all.Set("X-Real-IP", realIP)
		all.Set("X-Forwarded-Port", port)
		all.Set("X-Correlation-ID", cid)
		for _, c := range choices {
			addr, p, id := run(c.mw, remote, all.Clone())
			if addr != "" {
				a, err := netip.ParseAddr(addr)
				if err != nil || a.String() != addr || a.Zone() != "" || a.Is4In6() {
					t.Fatalf("%s: recorded non-canonical address %q", c.header, addr)
				}
			}
			if p < 0 || p > 65535 || addr == "" && p != 0 {
				t.Fatalf("%s: %q port %d", c.header, addr, p)
			}
			if !audithttp.ValidCorrelationID(id) {
				t.Fatalf("invalid correlation id %q stored", id)
			}
			only := http.Header{}
			only.Set(c.header, all.Get(c.header))
			if a2, p2, _ := run(c.mw, remote, only); a2 != addr || p2 != p {
				t.Fatalf("%s: other headers changed the result: %q:%d, alone %q:%d", c.header, addr, p, a2, p2)
			}
			peer, err := netip.ParseAddrPort(remote)
			if err != nil {
				continue
			}
			want, wantPort := peer.Addr().Unmap().WithZone("").String(), int(peer.Port())
			if !trusted(peer.Addr()) && (addr != want || p != wantPort) {
				t.Fatalf("%s: untrusted peer %s recorded as %q:%d", c.header, remote, addr, p)
			}
			if trusted(peer.Addr()) && strings.Trim(all.Get(c.header), " \t") == "" && (addr != want || p != wantPort) {
				t.Fatalf("%s: trusted peer %s without the header recorded as %q:%d", c.header, remote, addr, p)
			}
		}
	})
}
