package audithttp

import (
	"net/http"
	"net/netip"
	"strings"
)

// The headers Config.RemoteAddrHeader may name, in canonical form.
const (
	headerXForwardedFor = "X-Forwarded-For"
	headerForwarded     = "Forwarded"
	headerXRealIP       = "X-Real-Ip"
)

// Bounds on the work one request can cause. A proxy chain has a handful of
// hops; a client can make the header as long as the server accepts.
const (
	// maxElements is how many list elements (empty ones and header lines
	// included) are looked at, from the right.
	maxElements = 32
	// maxElementLen is the longest element (or X-Real-IP value) looked
	// at, in bytes.
	maxElementLen = 256
)

// clientAddr returns the client's address and port.
//
// A peer that is not a trusted proxy is the client, whatever it sends. A
// trusted peer's configured header is read, and only that header: with no
// entries at all the peer is the client (a health check, an internal
// caller); otherwise the walk from the right skips trusted proxies and
// takes the first address that is not one, since everything left of it
// could have been written by the client. If every entry is a trusted
// proxy, the left-most is the client. If the entry that decides is not an
// address (garbage, "unknown", an obfuscated identifier) or the walk
// exceeds its bounds, the client is unknown and an invalid address is
// returned: the proxy is not recorded as if it were the client.
//
// The port is the client's own source port: the peer's when the peer is the
// client, else only what the entry that gave the address carries
// (for="1.2.3.4:4711"), and 0 (unknown, stored as NULL) otherwise. Neither
// the proxy's own port nor X-Forwarded-Port, which conventionally carries
// the server's port, is the client's.
func (m *middleware) clientAddr(r *http.Request) (netip.Addr, int) {
	peer, port := parseHostPort(r.RemoteAddr)
	if !peer.IsValid() || !m.trusted(peer) {
		return peer, port
	}
	values := r.Header.Values(m.header)
	var (
		addr  netip.Addr
		p     int
		found bool
	)
	if m.header == headerXRealIP {
		addr, p, found = fromSingle(values)
	} else {
		addr, p, found = m.rightmostUntrusted(values, m.header == headerForwarded)
	}
	if !found {
		return peer, port
	}
	return addr, p
}

func (m *middleware) trusted(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, p := range m.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// rightmostUntrusted walks a list header (X-Forwarded-For, or Forwarded when
// forwarded is set) from its last element back. found is false when the
// header has no non-empty element; an invalid address with found set means
// the client is unknown.
func (m *middleware) rightmostUntrusted(values []string, forwarded bool) (addr netip.Addr, port int, found bool) {
	budget := maxElements
	var left netip.Addr // the left-most entry so far, all trusted
	var leftPort int
	for i := len(values) - 1; i >= 0; i-- {
		s := values[i]
		for {
			if budget == 0 {
				return netip.Addr{}, 0, true
			}
			budget--
			rest, elem, more, ok := lastElement(s, forwarded)
			if !ok {
				return netip.Addr{}, 0, true
			}
			if elem = strings.Trim(elem, " \t"); elem != "" {
				found = true
				var a netip.Addr
				var p int
				if forwarded {
					a, p = forwardedFor(elem)
				} else {
					a, p = parseHostPort(elem)
				}
				if !a.IsValid() {
					return netip.Addr{}, 0, true // trust nothing left of it
				}
				if !m.trusted(a) {
					return a, p, true
				}
				left, leftPort = a, p
			}
			if !more {
				break
			}
			s = rest
		}
	}
	return left, leftPort, found
}

// lastElement splits s at its last comma that is not inside a quoted
// string (quotes count only for Forwarded): more reports whether there was
// one. ok is false when the element is longer than maxElementLen, a quote
// is not closed, or (Forwarded) a backslash appears, which no address
// needs and which would make quotes ambiguous read from the right.
func lastElement(s string, quoted bool) (rest, elem string, more, ok bool) {
	inQuote := false
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if c == ',' && !inQuote {
			return s[:i], s[i+1:], true, true
		}
		if len(s)-i > maxElementLen {
			return "", "", false, false
		}
		if quoted {
			switch c {
			case '"':
				inQuote = !inQuote
			case '\\':
				return "", "", false, false
			}
		}
	}
	return "", s, false, !inQuote
}

// forwardedFor returns the node of the element's single for= parameter
// (RFC 7239): an invalid address for "unknown", an obfuscated identifier,
// a missing or repeated for=, or a malformed pair.
func forwardedFor(elem string) (netip.Addr, int) {
	var node string
	n := 0
	for pair := range strings.SplitSeq(elem, ";") {
		pair = strings.Trim(pair, " \t")
		if pair == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		if !ok || k == "" {
			return netip.Addr{}, 0
		}
		if strings.EqualFold(k, "for") {
			node, n = v, n+1
		}
	}
	if n != 1 {
		return netip.Addr{}, 0
	}
	if len(node) >= 2 && node[0] == '"' && node[len(node)-1] == '"' {
		node = node[1 : len(node)-1]
	}
	if strings.IndexByte(node, '"') >= 0 {
		return netip.Addr{}, 0
	}
	// "unknown" and "_obfuscated" are not addresses; an obfuscated port
	// ("[2001:db8::1]:_p") leaves the address and no port.
	return parseHostPort(node)
}

// fromSingle reads a header that carries one address (X-Real-IP). found is
// false when it is absent or empty; two values, a list or garbage are no
// address.
func fromSingle(values []string) (addr netip.Addr, port int, found bool) {
	if len(values) > maxElements {
		return netip.Addr{}, 0, true
	}
	var v string
	for _, s := range values {
		if s = strings.Trim(s, " \t"); s == "" {
			continue
		}
		if found {
			return netip.Addr{}, 0, true
		}
		v, found = s, true
	}
	if !found {
		return netip.Addr{}, 0, false
	}
	if len(v) > maxElementLen {
		return netip.Addr{}, 0, true
	}
	addr, port = parseHostPort(v)
	return addr, port, true
}

// parseHostPort accepts "1.2.3.4", "1.2.3.4:80", "2001:db8::1",
// "[2001:db8::1]" and "[2001:db8::1]:80", with or without an IPv6 zone.
// The address comes back canonical: IPv4-mapped IPv6 unmapped, zone
// dropped (it only means something on the host that saw it). A port that
// is not 1-65535 (obfuscated, say) is 0 with the address kept.
func parseHostPort(s string) (netip.Addr, int) {
	if s == "" {
		return netip.Addr{}, 0
	}
	// An address with a port, as net/http fills RemoteAddr, read as netip
	// reads it (a zone may hold any character, a "]" too).
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), int(ap.Port())
	}
	var host, port string
	switch {
	case s[0] == '[':
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, 0
		}
		host, port = s[1:end], s[end+1:]
		if port != "" {
			if port[0] != ':' {
				return netip.Addr{}, 0
			}
			port = port[1:]
		}
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			return netip.Addr{}, 0
		}
	case strings.Count(s, ":") == 1: // IPv4 with port
		host, port, _ = strings.Cut(s, ":")
		if a, err := netip.ParseAddr(host); err != nil || !a.Is4() {
			return netip.Addr{}, 0
		}
	default: // IPv4 or IPv6 without port
		host = s
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, 0
	}
	return a.Unmap().WithZone(""), parsePort(port)
}

func parsePort(s string) int {
	if len(s) == 0 || len(s) > 5 {
		return 0
	}
	p := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0
		}
		p = p*10 + int(s[i]-'0')
	}
	if p > 65535 {
		return 0
	}
	return p
}
