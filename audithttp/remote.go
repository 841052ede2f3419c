package audithttp

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// clientAddr returns the client's address and port. Forwarded headers are
// honoured only when the immediate peer is a trusted proxy; then the
// right-most address that is not itself a trusted proxy is the client,
// since everything left of it could have been written by the client.
// Malformed values are ignored.
//
// The port is the client's own source port: the peer's when the peer is the
// client, else only what the header that gave the address carries (a
// Forwarded for="1.2.3.4:4711" does), and 0 (unknown, stored as NULL)
// otherwise. Neither the proxy's own port nor X-Forwarded-Port, which
// conventionally carries the server's port, is the client's.
func (m *middleware) clientAddr(r *http.Request) (netip.Addr, int) {
	peer, port := parseHostPort(r.RemoteAddr)
	if !peer.IsValid() || !m.trusted(peer) {
		return peer, port
	}
	if addr, p, ok := m.fromForwarded(r.Header.Values("Forwarded")); ok {
		return addr, p
	}
	if addr, p, ok := m.rightmostUntrusted(r.Header.Values("X-Forwarded-For")); ok {
		return addr, p
	}
	if v := strings.TrimSpace(r.Header.Get("X-Real-Ip")); v != "" {
		if a, p := parseHostPort(v); a.IsValid() {
			return a, p
		}
	}
	return peer, port
}

func (m *middleware) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range m.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// rightmostUntrusted walks the X-Forwarded-For chain from the right.
func (m *middleware) rightmostUntrusted(values []string) (netip.Addr, int, bool) {
	var hops []string
	for _, v := range values {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, p := parseHostPort(strings.TrimSpace(hops[i]))
		if !a.IsValid() {
			return netip.Addr{}, 0, false // a malformed hop: trust nothing left of it
		}
		if !m.trusted(a) {
			return a, p, true
		}
	}
	return netip.Addr{}, 0, false
}

// fromForwarded reads RFC 7239 "for=" parameters the same way.
func (m *middleware) fromForwarded(values []string) (netip.Addr, int, bool) {
	var fors []string
	for _, v := range values {
		for _, elem := range strings.Split(v, ",") {
			for _, pair := range strings.Split(elem, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(k, "for") {
					fors = append(fors, strings.Trim(strings.TrimSpace(val), `"`))
				}
			}
		}
	}
	for i := len(fors) - 1; i >= 0; i-- {
		a, p := parseHostPort(fors[i])
		if !a.IsValid() {
			return netip.Addr{}, 0, false
		}
		if !m.trusted(a) {
			return a, p, true
		}
	}
	return netip.Addr{}, 0, false
}

// parseHostPort accepts "1.2.3.4", "1.2.3.4:80", "2001:db8::1",
// "[2001:db8::1]" and "[2001:db8::1]:80".
func parseHostPort(s string) (netip.Addr, int) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 {
		return netip.Addr{}, 0
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil && (!strings.Contains(s, "[") || strings.HasSuffix(s, "]")) {
		return a.Unmap().WithZone(""), 0
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return netip.Addr{}, 0
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, 0
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		p = 0
	}
	return a.Unmap().WithZone(""), p
}
