// Package audithttp is net/http middleware that records, for every request,
// who makes it, from where and under which correlation id, in the request's
// context.Context, where the GORM plugin reads it through
// db.WithContext(r.Context()).
//
//	mw, err := audithttp.New(audithttp.Config{
//		Actor:          func(r *http.Request) (auditlog.Actor, bool) { … },
//		TrustedProxies: []string{"10.0.0.0/8"},
//	})
//	http.ListenAndServe(addr, mw(mux))
//
// Behind proxies, TrustedProxies lists them and RemoteAddrHeader names the
// one header they set for the client (X-Forwarded-For by default); without
// TrustedProxies no header is read and the TCP peer is recorded.
//
// The actor is resolved late, when an entry is written, from that write's
// context: authentication that happens inside the handler (a JWT checked
// there, say) is seen. A handler can also set it with auditlog.SetActor.
package audithttp

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/google/uuid"

	"github.com/go-auditlog/auditlog"
)

// DefaultCorrelationHeader is the header read and echoed by default.
const DefaultCorrelationHeader = "X-Correlation-ID"

// Config configures the middleware. The zero value records the peer's
// address, no actor unless the application sets one, and a correlation id
// from X-Correlation-ID or a new one.
type Config struct {
	// Actor resolves the actor from a request. It is called when an entry is
	// written, with the request carrying the context of that write, so it
	// sees what authentication stored in the context. Default: none; the
	// handler may call auditlog.SetActor.
	Actor func(r *http.Request) (auditlog.Actor, bool)
	// TrustedProxies lists the networks (CIDR, or single addresses) of your
	// proxies and load balancers. Only a request whose TCP peer is in one of
	// them has its RemoteAddrHeader read; no other client can choose its
	// recorded address. Default: none, so the TCP peer is recorded and no
	// header is read.
	TrustedProxies []string
	// RemoteAddrHeader names the one header your trusted proxies set for the
	// client's address; every other forwarded header is ignored:
	//
	//   - "X-Forwarded-For" (default): the right-most address that is not in
	//     TrustedProxies; if every address is, the left-most.
	//   - "Forwarded" (RFC 7239): the same walk over the for= parameters;
	//     "unknown" and obfuscated identifiers are no address.
	//   - "X-Real-IP": a single address, taken as it is.
	//
	// Behind a proxy the client's port is recorded only when the header
	// carries it (Forwarded: for="[2001:db8::1]:4711"), else it is unknown
	// (0, stored as NULL); X-Forwarded-Port is never read.
	RemoteAddrHeader string
	// DisableRemoteAddr stores no address or port at all.
	DisableRemoteAddr bool
	// CorrelationHeader is read for an incoming id and set on the response.
	// Default: DefaultCorrelationHeader. "-" disables reading and echoing.
	CorrelationHeader string
	// CorrelationID, if set, gives the request's id instead of the header;
	// an empty or invalid result falls back to the header, then to a new id.
	CorrelationID func(r *http.Request) string
	// NewCorrelationID makes a new id. Default: a UUID (version 7).
	NewCorrelationID func() string
}

type middleware struct {
	cfg     Config
	proxies []netip.Prefix
	header  string // canonical RemoteAddrHeader
}

// New validates cfg and returns the middleware.
func New(cfg Config) (func(http.Handler) http.Handler, error) {
	m := &middleware{cfg: cfg}
	for _, p := range cfg.TrustedProxies {
		p = strings.TrimSpace(p)
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			a, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return nil, fmt.Errorf("audithttp: trusted proxy %q is neither a CIDR (10.0.0.0/8) nor an address", p)
			}
			prefix = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if a := prefix.Addr(); a.Is4In6() {
			// Peers and hops are compared unmapped (::ffff:10.1.2.3 is
			// 10.1.2.3), so a mapped network is its IPv4 one.
			if prefix.Bits() < 96 {
				return nil, fmt.Errorf("audithttp: trusted proxy %q reaches beyond the IPv4-mapped addresses (::ffff:0:0/96): write its IPv4 network", p)
			}
			prefix = netip.PrefixFrom(a.Unmap(), prefix.Bits()-96)
		}
		m.proxies = append(m.proxies, prefix.Masked())
	}
	switch h := http.CanonicalHeaderKey(strings.TrimSpace(cfg.RemoteAddrHeader)); h {
	case "":
		m.header = headerXForwardedFor
	case headerXForwardedFor, headerForwarded, headerXRealIP:
		m.header = h
	default:
		return nil, fmt.Errorf("audithttp: RemoteAddrHeader %q is none of X-Forwarded-For, Forwarded and X-Real-IP", cfg.RemoteAddrHeader)
	}
	if m.cfg.CorrelationHeader == "" {
		m.cfg.CorrelationHeader = DefaultCorrelationHeader
	}
	if m.cfg.NewCorrelationID == nil {
		m.cfg.NewCorrelationID = newID
	}
	return m.handler, nil
}

func newID() string {
	if id, err := uuid.NewV7(); err == nil {
		return id.String()
	}
	return uuid.NewString()
}

func (m *middleware) handler(next http.Handler) http.Handler {
	if next == nil {
		next = http.DefaultServeMux // as http.Server does
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var resolver auditlog.ActorResolver
		if m.cfg.Actor != nil {
			req := r
			resolver = func(c context.Context) (auditlog.Actor, bool) { return m.cfg.Actor(req.WithContext(c)) }
		}
		ctx = auditlog.WithActorScope(ctx, resolver)
		if !m.cfg.DisableRemoteAddr {
			if addr, port := m.clientAddr(r); addr.IsValid() {
				ctx = auditlog.WithRemoteAddr(ctx, addr.String(), port)
			}
		}
		cid := m.correlationID(r)
		ctx = auditlog.WithCorrelationID(ctx, cid)
		if m.cfg.CorrelationHeader != "-" {
			w.Header().Set(m.cfg.CorrelationHeader, cid)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (m *middleware) correlationID(r *http.Request) string {
	if m.cfg.CorrelationID != nil {
		if id := m.cfg.CorrelationID(r); ValidCorrelationID(id) {
			return id
		}
	}
	if m.cfg.CorrelationHeader != "-" {
		if id := r.Header.Get(m.cfg.CorrelationHeader); ValidCorrelationID(id) {
			return id
		}
	}
	if id := m.cfg.NewCorrelationID(); ValidCorrelationID(id) {
		return id
	}
	return newID()
}

// ValidCorrelationID reports whether id may be stored: 1 to 128 characters
// of letters, digits and . _ ~ : / + = -.
func ValidCorrelationID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("._~:/+=-", c) >= 0:
		default:
			return false
		}
	}
	return true
}
