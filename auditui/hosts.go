package auditui

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// LoopbackHosts returns the host names of this machine, for
// Config.AllowedHosts and HostGuard: "localhost", 127.0.0.0/8 and ::1.
// A browser sends one of them only for a page that this machine serves, so
// a site whose host name an attacker pointed at 127.0.0.1 (DNS rebinding)
// is refused.
func LoopbackHosts() []string { return []string{"localhost", "127.0.0.0/8", "::1"} }

// hostMatcher is a parsed list of allowed hosts.
type hostMatcher struct {
	names    map[string]bool
	prefixes []netip.Prefix
	shown    string // the list as the refusal shows it
}

// newHostMatcher parses hosts: names (compared without case), IP addresses
// and CIDR prefixes, none with a port.
func newHostMatcher(hosts []string) (*hostMatcher, error) {
	m := &hostMatcher{names: map[string]bool{}}
	for _, h := range hosts {
		if p, err := netip.ParsePrefix(h); err == nil {
			m.prefixes = append(m.prefixes, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(h); err == nil && a.Zone() == "" {
			m.prefixes = append(m.prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		if !validHostName(h) {
			return nil, fmt.Errorf("auditui: allowed host %q must be a host name, an IP address or a CIDR prefix such as 127.0.0.0/8, without a port or a wildcard", h)
		}
		m.names[strings.ToLower(h)] = true
	}
	m.shown = strings.Join(hosts, ", ")
	return m, nil
}

func validHostName(h string) bool {
	if h == "" || len(h) > 253 || strings.HasPrefix(h, ".") || strings.HasSuffix(h, ".") || strings.Contains(h, "..") {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// allows reports whether the request's Host (with any port) is allowed.
func (m *hostMatcher) allows(r *http.Request) bool {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if host == "" {
		return false
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return false
		}
		a = a.Unmap()
		for _, p := range m.prefixes {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return m.names[strings.ToLower(host)]
}

// message explains a refusal to the person who sees it.
func (m *hostMatcher) message(r *http.Request) string {
	return fmt.Sprintf("This server answers requests addressed to %s only, not to %q: open it by one of those names (for example http://127.0.0.1 with its port). Other host names are refused so that a web site cannot reach it by pointing its own name at this machine (DNS rebinding).", m.shown, r.Host)
}

// HostGuard passes to next only the requests whose Host header (with any
// port) is one of hosts: host names, IP addresses, or CIDR prefixes such as
// 127.0.0.0/8. Others get 421 Misdirected Request and a plain-text
// explanation. Wrap a whole server with it when access depends on where a
// request comes from rather than on credentials, as on a loopback listener
// without a login: there, a web page whose host name resolves to 127.0.0.1
// (DNS rebinding) would otherwise be same-origin with the server. With
// LoopbackHosts() it answers localhost, 127.0.0.0/8 and [::1] only.
func HostGuard(hosts []string, next http.Handler) (http.Handler, error) {
	if len(hosts) == 0 {
		return nil, fmt.Errorf("auditui: HostGuard needs at least one allowed host (auditui.LoopbackHosts() for this machine)")
	}
	m, err := newHostMatcher(hosts)
	if err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !m.allows(r) {
			http.Error(w, m.message(r), http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	}), nil
}
