package auditlog

import (
	"context"
	"maps"
)

type ctxKey int

const (
	actorKey ctxKey = iota
	remoteKey
	cidKey
	extraKey
	disabledKey
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

// ActorFromContext returns the actor set with WithActor.
func ActorFromContext(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey).(Actor)
	return a, ok && !a.IsZero()
}

// WithRemoteAddr returns a context whose entries record the client's address
// and port (0 when unknown).
func WithRemoteAddr(ctx context.Context, addr string, port int) context.Context {
	return context.WithValue(ctx, remoteKey, remote{addr: addr, port: port})
}

// RemoteAddrFromContext returns the address and port set with WithRemoteAddr.
func RemoteAddrFromContext(ctx context.Context) (addr string, port int) {
	r, _ := ctx.Value(remoteKey).(remote)
	return r.addr, r.port
}

// WithCorrelationID returns a context whose entries carry the correlation id,
// which ties together the entries of one request or job.
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
