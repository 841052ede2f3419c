package auditlog

import (
	"context"
	"errors"
	"maps"
	"sync"
)

type ctxKey int

const (
	actorKey ctxKey = iota
	remoteKey
	cidKey
	extraKey
	disabledKey
	scopeKey
)

type remote struct {
	addr string
	port int
}

// WithActor returns a context whose writes are attributed to a. Entries
// written without an actor have a null actor.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey, a)
}

// ActorFromContext returns the actor of ctx: the innermost one set with
// WithActor, or else the actor of the innermost scope (see WithActorScope):
// the one set with SetActor, or else the one its resolver gives for ctx.
func ActorFromContext(ctx context.Context) (Actor, bool) {
	switch v := ctx.Value(actorKey).(type) {
	case Actor:
		return v, !v.IsZero()
	case *actorScope:
		return v.actor(ctx)
	}
	return Actor{}, false
}

// ActorResolver finds the actor for the context of a write, for example from
// the authenticated user that an auth middleware stored in it.
type ActorResolver func(ctx context.Context) (Actor, bool)

// actorScope is the mutable actor of one request or job.
type actorScope struct {
	mu       sync.RWMutex
	a        Actor
	set      bool
	resolver ActorResolver
}

func (s *actorScope) actor(ctx context.Context) (Actor, bool) {
	s.mu.RLock()
	a, set, resolve := s.a, s.set, s.resolver
	s.mu.RUnlock()
	if set {
		return a, !a.IsZero()
	}
	if resolve != nil {
		if a, ok := resolve(ctx); ok && !a.IsZero() {
			return a, true
		}
	}
	return Actor{}, false
}

// WithActorScope returns a context with a fresh actor scope: an actor that
// can be set later with SetActor (after authentication inside a handler,
// say), and that resolver (may be nil) otherwise finds when an entry is
// written, from the context of that write. Resolution therefore happens
// late, never before the application has authenticated the user. Each
// request gets its own scope, so nothing leaks between requests; an inner
// scope shadows an outer one. The HTTP middleware in package audithttp
// installs one per request.
func WithActorScope(ctx context.Context, resolver ActorResolver) context.Context {
	s := &actorScope{resolver: resolver}
	return context.WithValue(context.WithValue(ctx, actorKey, s), scopeKey, s)
}

// ErrNoActorScope is returned by SetActor for a context without a scope.
var ErrNoActorScope = errors.New("auditlog: SetActor: the context has no actor scope: wrap the handler in audithttp middleware, or call auditlog.WithActorScope (or WithActor) first")

// SetActor sets the actor of the innermost scope of ctx, for every entry
// written afterwards with a context derived from the scope's, including
// contexts derived before the call. A WithActor nearer to the write still
// wins. It is safe for concurrent use.
func SetActor(ctx context.Context, a Actor) error {
	s, ok := ctx.Value(scopeKey).(*actorScope)
	if !ok {
		return ErrNoActorScope
	}
	s.mu.Lock()
	s.a, s.set = a, true
	s.mu.Unlock()
	return nil
}

// WithRemoteAddr returns a context whose entries record the client's address
// and port (0 when unknown; a port outside 1 to 65535, such as -1, is
// recorded as unknown: context never makes a write fail).
func WithRemoteAddr(ctx context.Context, addr string, port int) context.Context {
	if port < 0 || port > 65535 {
		port = 0
	}
	return context.WithValue(ctx, remoteKey, remote{addr: addr, port: port})
}

// RemoteAddrFromContext returns the address and port set with WithRemoteAddr.
func RemoteAddrFromContext(ctx context.Context) (addr string, port int) {
	r, _ := ctx.Value(remoteKey).(remote)
	return r.addr, r.port
}

// WithCorrelationID returns a context whose entries carry the correlation id,
// which ties together the entries of one request or job. An id that does not
// fit a column (over 255 bytes, or not text) is stored cut, with a digest of
// the whole (auditstore.StoredCorrelationID); filters find it by id as given.
func WithCorrelationID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, cidKey, id)
}

// CorrelationIDFromContext returns the id set with WithCorrelationID.
func CorrelationIDFromContext(ctx context.Context) string {
	id, _ := ctx.Value(cidKey).(string)
	return id
}

// WithExtra returns a context whose entries carry data in additional_data,
// merged over extra data already in ctx. The values must encode to JSON.
func WithExtra(ctx context.Context, data map[string]any) context.Context {
	merged := maps.Clone(ExtraFromContext(ctx))
	if merged == nil {
		merged = make(map[string]any, len(data))
	}
	maps.Copy(merged, data)
	return context.WithValue(ctx, extraKey, merged)
}

// ExtraFromContext returns the data set with WithExtra. It must not be
// modified.
func ExtraFromContext(ctx context.Context) map[string]any {
	m, _ := ctx.Value(extraKey).(map[string]any)
	return m
}

// Disable returns a context in which writes are not audited, like the seed
// system's disable_auditlog(). Access logging is not affected.
func Disable(ctx context.Context) context.Context {
	return context.WithValue(ctx, disabledKey, true)
}

// Enable undoes Disable for a derived context.
func Enable(ctx context.Context) context.Context {
	return context.WithValue(ctx, disabledKey, false)
}

// IsDisabled reports whether auditing is disabled for ctx.
func IsDisabled(ctx context.Context) bool {
	d, _ := ctx.Value(disabledKey).(bool)
	return d
}
