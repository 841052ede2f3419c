package auditlog_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/go-auditlog/auditlog"
)

type (
	userKey  struct{}
	otherKey struct{}
)

func TestActorScope(t *testing.T) {
	t.Parallel()
	base := context.Background()
	if _, ok := auditlog.ActorFromContext(base); ok {
		t.Fatal("actor in an empty context")
	}
	if err := auditlog.SetActor(base, auditlog.Actor{ID: "x"}); !errors.Is(err, auditlog.ErrNoActorScope) {
		t.Fatalf("SetActor without scope: %v", err)
	}
	// A resolver reads what an auth layer put into the write's context.
	resolver := func(ctx context.Context) (auditlog.Actor, bool) {
		id, ok := ctx.Value(userKey{}).(string)
		return auditlog.Actor{ID: id}, ok
	}
	scoped := auditlog.WithActorScope(base, resolver)
	if _, ok := auditlog.ActorFromContext(scoped); ok {
		t.Fatal("resolved before authentication")
	}
	authed := context.WithValue(scoped, userKey{}, "42")
	if a, _ := auditlog.ActorFromContext(authed); a.ID != "42" {
		t.Fatalf("resolved %+v", a)
	}
	// SetActor after the fact reaches contexts derived earlier.
	derived := context.WithValue(scoped, otherKey{}, 1)
	if err := auditlog.SetActor(scoped, auditlog.Actor{ID: "7", Name: "bob"}); err != nil {
		t.Fatal(err)
	}
	if a, _ := auditlog.ActorFromContext(derived); a.ID != "7" {
		t.Fatalf("derived context sees %+v", a)
	}
	// WithActor nearer to the write wins; an inner scope shadows the outer.
	if a, _ := auditlog.ActorFromContext(auditlog.WithActor(derived, auditlog.Actor{ID: "job"})); a.ID != "job" {
		t.Fatalf("WithActor lost: %+v", a)
	}
	inner := auditlog.WithActorScope(derived, nil)
	if _, ok := auditlog.ActorFromContext(inner); ok {
		t.Fatal("inner scope inherited the outer actor")
	}
	if err := auditlog.SetActor(inner, auditlog.Actor{ID: "in"}); err != nil {
		t.Fatal(err)
	}
	if a, _ := auditlog.ActorFromContext(derived); a.ID != "7" {
		t.Fatalf("inner SetActor leaked out: %+v", a)
	}
	// Concurrent use.
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(2)
		go func() { defer wg.Done(); _ = auditlog.SetActor(scoped, auditlog.Actor{ID: "c"}) }()
		go func() { defer wg.Done(); auditlog.ActorFromContext(derived) }()
	}
	wg.Wait()
}

func TestContextHelpers(t *testing.T) {
	t.Parallel()
	ctx := auditlog.WithRemoteAddr(context.Background(), "203.0.113.9", 443)
	ctx = auditlog.WithCorrelationID(ctx, "c1")
	ctx = auditlog.WithExtra(ctx, map[string]any{"a": 1})
	ctx = auditlog.WithExtra(ctx, map[string]any{"b": 2})
	if addr, port := auditlog.RemoteAddrFromContext(ctx); addr != "203.0.113.9" || port != 443 {
		t.Fatal(addr, port)
	}
	if auditlog.CorrelationIDFromContext(ctx) != "c1" || len(auditlog.ExtraFromContext(ctx)) != 2 {
		t.Fatal("cid or extra lost")
	}
	if !auditlog.IsDisabled(auditlog.Disable(ctx)) || auditlog.IsDisabled(auditlog.Enable(auditlog.Disable(ctx))) {
		t.Fatal("Disable/Enable")
	}
}
