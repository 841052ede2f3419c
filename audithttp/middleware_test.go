package audithttp_test

import (
	"context"
	"fmt"
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

// addrCase is one request: its TCP peer, its headers (in order; a key given
// twice is two header lines), the configuration, and the address and port
// the middleware must record ("" and 0: none).
type addrCase struct {
	name     string
	header   string // Config.RemoteAddrHeader
	proxies  []string
	remote   string
	headers  []string // key, value, key, value, …
	wantAddr string
	wantPort int
}

var proxies = []string{"10.0.0.0/8", "127.0.0.1", "2001:db8:ffff::/48"}

func runAddrCases(t *testing.T, cases []addrCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for i := 0; i+1 < len(tc.headers); i += 2 {
				r.Header.Add(tc.headers[i], tc.headers[i+1])
			}
			s, _ := serve(t, audithttp.Config{TrustedProxies: tc.proxies, RemoteAddrHeader: tc.header}, r)
			if s.addr != tc.wantAddr || s.port != tc.wantPort {
				t.Fatalf("got %q:%d, want %q:%d", s.addr, s.port, tc.wantAddr, tc.wantPort)
			}
		})
	}
}

// every forwarded header a client could send, all lying.
var spoofed = []string{
	"X-Forwarded-For", "6.6.6.6",
	"Forwarded", `for=6.6.6.6;proto=https, for="[2001:db8::6]:66"`,
	"X-Real-IP", "6.6.6.6",
	"X-Forwarded-Port", "6666",
	"True-Client-IP", "6.6.6.6",
}

// A peer that is not a trusted proxy is recorded as itself, with its own
// port, whatever it sends and whichever header is configured; so is every
// peer when no proxies are trusted.
func TestRemoteAddrUntrustedPeer(t *testing.T) {
	t.Parallel()
	var cases []addrCase
	for _, h := range []string{"", "X-Forwarded-For", "Forwarded", "X-Real-IP"} {
		cases = append(cases,
			addrCase{"untrusted peer, header " + h, h, proxies, "198.51.100.7:4000", spoofed, "198.51.100.7", 4000},
			addrCase{"no trusted proxies, header " + h, h, nil, "127.0.0.1:5000", spoofed, "127.0.0.1", 5000},
			addrCase{"untrusted IPv6 peer, header " + h, h, proxies, "[2001:db8::2]:443", spoofed, "2001:db8::2", 443},
			addrCase{"just outside a trusted CIDR, header " + h, h, proxies, "11.0.0.1:80", spoofed, "11.0.0.1", 80},
			addrCase{"untrusted link-local peer with a zone, header " + h, h, proxies, "[fe80::1%eth0]:80", spoofed, "fe80::1", 80},
		)
	}
	cases = append(cases,
		addrCase{"no headers", "", nil, "127.0.0.1:5000", nil, "127.0.0.1", 5000},
		addrCase{"garbage RemoteAddr", "", proxies, "@@@", spoofed, "", 0},
		addrCase{"empty RemoteAddr", "", proxies, "", spoofed, "", 0},
	)
	runAddrCases(t, cases)
}

// Only the configured header is read. nginx's default appends to
// X-Forwarded-For and passes the client's own Forwarded and X-Real-IP
// through; a proxy that sets X-Real-IP passes the client's X-Forwarded-For
// through; neither lets the client choose its address.
func TestRemoteAddrHeaderChoice(t *testing.T) {
	t.Parallel()
	runAddrCases(t, []addrCase{
		{"nginx default: the client's Forwarded is not read", "", proxies, "10.1.1.1:80",
			[]string{"Forwarded", "for=6.6.6.6", "X-Real-IP", "6.6.6.6", "X-Forwarded-For", "6.6.6.6, 203.0.113.9"}, "203.0.113.9", 0},
		{"X-Forwarded-For named explicitly", "x-forwarded-for", proxies, "10.1.1.1:80",
			[]string{"Forwarded", "for=6.6.6.6", "X-Forwarded-For", "203.0.113.9"}, "203.0.113.9", 0},
		{"X-Real-IP proxy: the client's X-Forwarded-For is not read", "X-Real-IP", proxies, "10.1.1.1:80",
			[]string{"X-Forwarded-For", "6.6.6.6", "Forwarded", "for=6.6.6.6", "X-Real-IP", "203.0.113.9"}, "203.0.113.9", 0},
		{"Forwarded proxy: the client's X-Forwarded-For is not read", "Forwarded", proxies, "10.1.1.1:80",
			[]string{"X-Forwarded-For", "6.6.6.6", "X-Real-IP", "6.6.6.6", "Forwarded", "for=203.0.113.9"}, "203.0.113.9", 0},
		{"configured header absent: the peer is the client", "Forwarded", proxies, "10.1.1.1:80",
			[]string{"X-Forwarded-For", "6.6.6.6", "X-Real-IP", "6.6.6.6"}, "10.1.1.1", 80},
		{"X-Real-IP configured, absent", "X-Real-IP", proxies, "10.1.1.1:80",
			[]string{"X-Forwarded-For", "6.6.6.6", "Forwarded", "for=6.6.6.6"}, "10.1.1.1", 80},
	})
}

// X-Forwarded-For, the default: walk from the right, skip trusted proxies,
// take the first untrusted address; if every hop is trusted, the left-most.
func TestRemoteAddrXForwardedFor(t *testing.T) {
	t.Parallel()
	runAddrCases(t, []addrCase{
		{"one trusted proxy", "", proxies, "127.0.0.1:5000", []string{"X-Forwarded-For", "203.0.113.9"}, "203.0.113.9", 0},
		{"right-most untrusted wins over the client's own entries", "", proxies, "10.1.1.1:80", []string{"X-Forwarded-For", "6.6.6.6, 203.0.113.5, 10.2.2.2"}, "203.0.113.5", 0},
		{"several trusted proxies", "", proxies, "10.1.1.1:80", []string{"X-Forwarded-For", "6.6.6.6, 203.0.113.9, 10.3.3.3, 2001:db8:ffff::5, 127.0.0.1"}, "203.0.113.9", 0},
		{"several header lines are one list", "", proxies, "10.1.1.1:80", []string{"X-Forwarded-For", "6.6.6.6", "X-Forwarded-For", "203.0.113.9, 10.2.2.2", "X-Forwarded-For", "10.3.3.3"}, "203.0.113.9", 0},
		{"all hops trusted: the left-most", "", proxies, "10.1.1.1:80", []string{"X-Forwarded-For", "10.9.9.9, 10.8.8.8"}, "10.9.9.9", 0},
		{"all hops trusted, over several lines", "", proxies, "10.1.1.1:80", []string{"X-Forwarded-For", "10.9.9.9:1234", "X-Forwarded-For", "10.8.8.8"}, "10.9.9.9", 1234},
		{"entry with port", "", proxies, "10.1.1.1:80", []string{"X-Forwarded-For", "203.0.113.9:1234"}, "203.0.113.9", 1234},
		{"IPv6", "", proxies, "10.1.1.1:80", []string{"X-Forwarded-For", "2606:4700:4700::1111"}, "2606:4700:4700::1111", 0},
		{"bracketed IPv6", "", proxies, "10.1.1.1:80", []string{"X-Forwarded-For", "[2606:4700:4700::1001]"}, "2606:4700:4700::1001", 0},
		{"bracketed IPv6 with port", "", proxies, "10.1.1.1:80", []string{"X-Forwarded-For", "[2606:4700:4700::1001]:1234"}, "2606:4700:4700::1001", 1234},
		{"non-canonical IPv6 is canonicalised", "", proxies, "10.1.1.1:80", []string{"X-Forwarded-For", "2606:4700:4700:0:0:0:0:1111"}, "2606:4700:4700::1111", 0},
		{"IPv4-mapped IPv6 entry", "", proxies, "10.1.1.1:80", []string{"X-Forwarded-For", "::ffff:203.0.113.9"}, "203.0.113.9", 0},
		{"IPv4-mapped trusted entry is skipped", "", proxies, "10.1.1.1:80", []string{"X-Forwarded-For", "203.0.113.9, ::ffff:10.2.2.2"}, "203.0.113.9", 0},
		{"IPv4-mapped trusted peer", "", proxies, "[::ffff:10.1.1.1]:80", []string{"X-Forwarded-For", "192.0.2.1"}, "192.0.2.1", 0},
		{"trusted IPv6 peer", "", proxies, "[2001:db8:ffff::1]:443", []string{"X-Forwarded-For", "192.0.2.1"}, "192.0.2.1", 0},
		{"empty elements are skipped", "", proxies, "10.1.1.1:80", []string{"X-Forwarded-For", "6.6.6.6,, 203.0.113.9 , ,10.2.2.2,"}, "203.0.113.9", 0},
		{"tabs around entries", "", proxies, "10.1.1.1:80", []string{"X-Forwarded-For", "6.6.6.6,\t203.0.113.9\t"}, "203.0.113.9", 0},
	})
}

// IPv6 zones are local to the host that saw them: dropped from the
// recorded address, and no obstacle to matching a trusted network.
func TestRemoteAddrZones(t *testing.T) {
	t.Parallel()
	ll := []string{"fe80::/10"}
	runAddrCases(t, []addrCase{
		{"zone in an entry", "", proxies, "10.1.1.1:80", []string{"X-Forwarded-For", "fe80::1%eth0"}, "fe80::1", 0},
		{"bracketed zone with port", "", proxies, "10.1.1.1:80", []string{"X-Forwarded-For", "[fe80::1%eth0]:4711"}, "fe80::1", 4711},
		{"Forwarded zone", "Forwarded", proxies, "10.1.1.1:80", []string{"Forwarded", `for="[fe80::1%25eth0]:4711"`}, "fe80::1", 4711},
		{"trusted peer with a zone", "", ll, "[fe80::2%eth0]:80", []string{"X-Forwarded-For", "203.0.113.9"}, "203.0.113.9", 0},
		{"trusted hop with a zone is skipped", "", ll, "[fe80::2%eth0]:80", []string{"X-Forwarded-For", "203.0.113.9, fe80::5%eth1"}, "203.0.113.9", 0},
		{"zone on an IPv4 address is garbage", "", proxies, "10.1.1.1:80", []string{"X-Forwarded-For", "203.0.113.9%eth0"}, "", 0},
	})
}

// TrustedProxies takes CIDRs and single addresses, IPv4 and IPv6; a prefix
// with host bits set means its network.
func TestRemoteAddrTrustedCIDRs(t *testing.T) {
	t.Parallel()
	nets := []string{"172.16.0.0/12", "192.0.2.7", "2001:db8:ffff::/48", " 198.51.100.1/24 ", "::1"}
	runAddrCases(t, []addrCase{
		{"inside a CIDR", "", nets, "172.31.255.255:80", []string{"X-Forwarded-For", "203.0.113.9"}, "203.0.113.9", 0},
		{"just outside it", "", nets, "172.32.0.0:80", []string{"X-Forwarded-For", "203.0.113.9"}, "172.32.0.0", 80},
		{"single address", "", nets, "192.0.2.7:80", []string{"X-Forwarded-For", "203.0.113.9"}, "203.0.113.9", 0},
		{"its neighbour", "", nets, "192.0.2.8:80", []string{"X-Forwarded-For", "203.0.113.9"}, "192.0.2.8", 80},
		{"host bits set: the network", "", nets, "198.51.100.200:80", []string{"X-Forwarded-For", "203.0.113.9"}, "203.0.113.9", 0},
		{"IPv6 CIDR", "", nets, "[2001:db8:ffff:1::1]:80", []string{"X-Forwarded-For", "203.0.113.9"}, "203.0.113.9", 0},
		{"IPv6 loopback", "", nets, "[::1]:80", []string{"X-Forwarded-For", "203.0.113.9"}, "203.0.113.9", 0},
		{"IPv6 outside", "", nets, "[2001:db8:fffe::1]:80", []string{"X-Forwarded-For", "203.0.113.9"}, "2001:db8:fffe::1", 80},
		{"chain through CIDRs", "", nets, "[::1]:80", []string{"X-Forwarded-For", "6.6.6.6, 203.0.113.9, 172.16.0.1, 2001:db8:ffff::9, 192.0.2.7"}, "203.0.113.9", 0},
	})
	// An IPv4-mapped network is its IPv4 network, as mapped peers are
	// their IPv4 addresses.
	mapped := []string{"::ffff:10.0.0.0/104"}
	runAddrCases(t, []addrCase{
		{"mapped peer in a mapped CIDR", "", mapped, "[::ffff:10.1.2.3]:443", []string{"X-Forwarded-For", "203.0.113.9"}, "203.0.113.9", 0},
		{"IPv4 peer in a mapped CIDR", "", mapped, "10.1.2.3:443", []string{"X-Forwarded-For", "203.0.113.9"}, "203.0.113.9", 0},
		{"outside a mapped CIDR", "", mapped, "11.1.2.3:443", []string{"X-Forwarded-For", "203.0.113.9"}, "11.1.2.3", 443},
	})
}

// Forwarded (RFC 7239): the right-most untrusted for=, quoted IPv6 and
// ports understood; unknown and obfuscated identifiers are no address.
func TestRemoteAddrForwarded(t *testing.T) {
	t.Parallel()
	f := func(name, v, addr string, port int) addrCase {
		return addrCase{name, "Forwarded", proxies, "10.1.1.1:80", []string{"Forwarded", v}, addr, port}
	}
	runAddrCases(t, []addrCase{
		f("RFC 7239 example", `for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711"`, "2001:db8:cafe::17", 4711),
		f("right-most untrusted", `for=6.6.6.6, for=203.0.113.9, for=10.2.2.2`, "203.0.113.9", 0),
		f("quoted IPv4 with port", `for="203.0.113.9:4711"`, "203.0.113.9", 4711),
		f("quoted bracketed IPv6", `for="[2001:db8:cafe::17]"`, "2001:db8:cafe::17", 0),
		f("parameter names are case-insensitive", `For=203.0.113.9;PROTO=https`, "203.0.113.9", 0),
		f("for= after other parameters", `proto=https;by=10.1.1.1;for=203.0.113.9;host=example.com`, "203.0.113.9", 0),
		f("obfuscated port", `for="[2001:db8:cafe::17]:_abc"`, "2001:db8:cafe::17", 0),
		f("all trusted: the left-most", `for="10.9.9.9:1234", for=10.8.8.8`, "10.9.9.9", 1234),
		f("unknown", `for=unknown`, "", 0),
		f("unknown behind a trusted hop", `for=6.6.6.6, for=unknown, for=10.2.2.2`, "", 0),
		f("obfuscated identifier", `for=_hidden, for=10.2.2.2`, "", 0),
		f("obfuscated identifier is not skipped to reach the client's entry", `for=6.6.6.6, for="_x:80"`, "", 0),
		f("element without for=", `for=6.6.6.6, proto=https;by=10.2.2.2`, "", 0),
		f("for= twice in one element", `for=6.6.6.6;for=203.0.113.9`, "", 0),
		f("empty for=", `for=`, "", 0),
		f("pair without =", `for=203.0.113.9;secure`, "", 0),
		f("unterminated quote", `for="203.0.113.9`, "", 0),
		f("quote inside a value", `for="203.0.113.9"x"`, "", 0),
		f("backslash in a quoted string", `for="\\203.0.113.9"`, "", 0),
		f("the client's broken quoting left of the proxy's element", `for="6.6.6.6, for=203.0.113.9`, "203.0.113.9", 0),
		f("a quoted comma does not split", `for="6.6.6.6, for=203.0.113.9"`, "", 0),
		{"several header lines", "Forwarded", proxies, "10.1.1.1:80", []string{"Forwarded", "for=6.6.6.6", "Forwarded", "for=203.0.113.9", "Forwarded", "for=10.2.2.2"}, "203.0.113.9", 0},
	})
}

// X-Real-IP: one value set by the trusted peer, taken as it is (a trusted
// address too); anything else is no address.
func TestRemoteAddrXRealIP(t *testing.T) {
	t.Parallel()
	x := func(name string, headers []string, addr string, port int) addrCase {
		return addrCase{name, "X-Real-IP", proxies, "10.1.1.1:80", headers, addr, port}
	}
	runAddrCases(t, []addrCase{
		x("IPv4", []string{"X-Real-IP", "203.0.113.9"}, "203.0.113.9", 0),
		x("IPv6", []string{"X-Real-IP", "2001:db8:cafe::17"}, "2001:db8:cafe::17", 0),
		x("a trusted address is the client", []string{"X-Real-IP", "10.5.5.5"}, "10.5.5.5", 0),
		x("with port", []string{"X-Real-IP", "[2001:db8:cafe::17]:4711"}, "2001:db8:cafe::17", 4711),
		x("a list", []string{"X-Real-IP", "6.6.6.6, 203.0.113.9"}, "", 0),
		x("two header lines", []string{"X-Real-IP", "6.6.6.6", "X-Real-IP", "203.0.113.9"}, "", 0),
		x("garbage", []string{"X-Real-IP", "unknown"}, "", 0),
		x("empty", []string{"X-Real-IP", ""}, "10.1.1.1", 80),
		x("over-long", []string{"X-Real-IP", "fe80::1%" + strings.Repeat("z", 300)}, "", 0),
	})
}

// Malformed input is bounded and never yields an address the trusted chain
// did not give: when the entry that decides is not an address, no address
// is recorded (not the proxy's, which would look like the client's).
func TestRemoteAddrMalformed(t *testing.T) {
	t.Parallel()
	x := func(name, v, addr string, port int) addrCase {
		return addrCase{name, "", proxies, "10.1.1.1:80", []string{"X-Forwarded-For", v}, addr, port}
	}
	trustedHops := func(n int) string {
		return strings.TrimSuffix(strings.Repeat("10.2.2.2, ", n), ", ")
	}
	lines := make([]string, 0, 200)
	for range 100 {
		lines = append(lines, "X-Forwarded-For", "10.2.2.2")
	}
	runAddrCases(t, []addrCase{
		x("garbage", "not-an-ip", "", 0),
		x("unknown", "unknown", "", 0),
		x("garbage right of the client", "203.0.113.5, garbage", "", 0),
		x("the client's garbage left of its address", "garbage, 203.0.113.5", "203.0.113.5", 0),
		x("half-bracketed", "[2001:db8::1", "", 0),
		x("bracketed IPv4", "[203.0.113.9]", "", 0),
		x("bracket then garbage", "[2001:db8::1]x", "", 0),
		x("bad port keeps the address", "203.0.113.9:99999", "203.0.113.9", 0),
		x("empty", "", "10.1.1.1", 80),
		x("only commas and spaces", " , ,, ", "10.1.1.1", 80),
		x("a long client prefix does not hide the client", strings.Repeat("6.6.6.6, ", 100_000)+"203.0.113.9", "203.0.113.9", 0),
		x("an over-long entry", strings.Repeat("1", 10_000)+", 10.2.2.2", "", 0),
		x("30 trusted hops: the left-most", "203.0.113.9, "+trustedHops(30), "203.0.113.9", 0),
		x("40 trusted hops: too many to walk", "203.0.113.9, "+trustedHops(40), "", 0),
		x("100,000 empty elements", strings.Repeat(",", 100_000)+"10.2.2.2", "", 0),
		{"100 header lines", "", proxies, "10.1.1.1:80", lines, "", 0},
		{"Forwarded over-long element", "Forwarded", proxies, "10.1.1.1:80", []string{"Forwarded", `for=203.0.113.9;host="` + strings.Repeat("a", 10_000) + `"`}, "", 0},
	})
}

// The recorded port is the client's: the peer's when the peer is the
// client, else only a port the configured header carries.
func TestRemotePort(t *testing.T) {
	t.Parallel()
	runAddrCases(t, []addrCase{
		{"direct client", "", proxies, "198.51.100.7:4000", nil, "198.51.100.7", 4000},
		{"trusted peer without a header is the client", "", proxies, "10.1.1.1:80", nil, "10.1.1.1", 80},
		{"behind a proxy: unknown, not the proxy's port", "", proxies, "10.1.1.1:80", []string{"X-Forwarded-For", "203.0.113.9"}, "203.0.113.9", 0},
		{"X-Forwarded-Port is the server's port, never read", "", proxies, "10.1.1.1:80", []string{"X-Forwarded-For", "203.0.113.9", "X-Forwarded-Port", "12345"}, "203.0.113.9", 0},
		{"X-Forwarded-Port without a forwarded address", "", proxies, "10.1.1.1:80", []string{"X-Forwarded-Port", "12345"}, "10.1.1.1", 80},
		{"X-Forwarded-Port from an untrusted peer", "", proxies, "198.51.100.7:4000", []string{"X-Forwarded-Port", "12345"}, "198.51.100.7", 4000},
		{"XFF entry with port", "", proxies, "10.1.1.1:80", []string{"X-Forwarded-For", "203.0.113.9:1234"}, "203.0.113.9", 1234},
		{"Forwarded IPv4 with port", "Forwarded", proxies, "10.1.1.1:80", []string{"Forwarded", `for="203.0.113.9:4711"`, "X-Forwarded-Port", "443"}, "203.0.113.9", 4711},
		{"Forwarded IPv6 with port", "Forwarded", proxies, "10.1.1.1:80", []string{"Forwarded", `for="[2001:db8::1]:4711"`}, "2001:db8::1", 4711},
		{"Forwarded without port", "Forwarded", proxies, "10.1.1.1:80", []string{"Forwarded", `for=203.0.113.9`}, "203.0.113.9", 0},
		{"port 0 is unknown", "", proxies, "10.1.1.1:80", []string{"X-Forwarded-For", "203.0.113.9:0"}, "203.0.113.9", 0},
	})
}

// DisableRemoteAddr records neither address nor port.
func TestDisableRemoteAddr(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.1.1.1:80"
	r.Header.Set("X-Forwarded-For", "192.0.2.1")
	s, _ := serve(t, audithttp.Config{TrustedProxies: proxies, DisableRemoteAddr: true}, r)
	if s.addr != "" || s.port != 0 {
		t.Fatalf("got %q:%d", s.addr, s.port)
	}
}

func TestNewValidatesProxies(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"10.0.0.0/99", "", "example.com", "10.0.0.1:80", "::ffff:0:0/95"} {
		if _, err := audithttp.New(audithttp.Config{TrustedProxies: []string{p}}); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", p)) {
			t.Fatalf("%q: error %v", p, err)
		}
	}
}

// RemoteAddrHeader is one of three headers, in any case; anything else is
// refused, so a typo cannot silently record the proxy as the client.
func TestNewValidatesRemoteAddrHeader(t *testing.T) {
	t.Parallel()
	for _, h := range []string{"", "X-Forwarded-For", "x-forwarded-for", "Forwarded", "FORWARDED", "X-Real-IP", "x-real-ip"} {
		if _, err := audithttp.New(audithttp.Config{RemoteAddrHeader: h}); err != nil {
			t.Fatalf("%q: %v", h, err)
		}
	}
	for _, h := range []string{"X-Forwarded", "CF-Connecting-IP", "X-Forwarded-For, Forwarded", "-"} {
		if _, err := audithttp.New(audithttp.Config{RemoteAddrHeader: h}); err == nil || !strings.Contains(err.Error(), h) {
			t.Fatalf("%q: error %v", h, err)
		}
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
