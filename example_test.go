package auditlog_test

import (
	"context"
	"fmt"

	"github.com/go-auditlog/auditlog"
)

type Customer struct {
	ID       uint
	Name     string
	Email    string
	Password string
	Notes    string
}

// One line registers a model; options choose the fields.
func ExampleRegister() {
	reg := auditlog.NewRegistry() // auditlog.Register uses auditlog.DefaultRegistry
	err := reg.Register(&Customer{},
		auditlog.Exclude("Password"),   // never recorded
		auditlog.Mask("Email"),         // recorded masked: "*****@example.com"
		auditlog.ModelName("customer"), // stored instead of the table name
	)
	fmt.Println(err)
	fmt.Println(reg.Register(&Customer{}, auditlog.Include("Nickname")))
	// Output:
	// <nil>
	// auditlog: invalid registration: Customer: Include names unknown field "Nickname": use a Go field name or a column name of Customer
}

// Jobs, CLIs and handlers set the actor and correlation id on the context
// they pass to db.WithContext.
func ExampleWithActor() {
	ctx := auditlog.WithActor(context.Background(), auditlog.Actor{ID: "system", Name: "nightly import"})
	ctx = auditlog.WithCorrelationID(ctx, "import-2026-11-25")
	a, _ := auditlog.ActorFromContext(ctx)
	fmt.Println(a.Name, auditlog.CorrelationIDFromContext(ctx))
	// Output: nightly import import-2026-11-25
}

func ExampleMaskString() {
	fmt.Println(auditlog.MaskString("4111111111111111"))
	// Output: ************1111
}

// Authentication that runs after the middleware (inside a handler, say)
// sets the actor on the request's scope; every later write carries it.
func ExampleSetActor() {
	ctx := auditlog.WithActorScope(context.Background(), nil) // audithttp does this per request
	before, ok := auditlog.ActorFromContext(ctx)
	fmt.Println(before.Name == "", ok)
	if err := auditlog.SetActor(ctx, auditlog.Actor{ID: "7", Name: "carol"}); err != nil {
		fmt.Println(err)
	}
	a, _ := auditlog.ActorFromContext(ctx)
	fmt.Println(a.ID, a.Name)
	fmt.Println(auditlog.SetActor(context.Background(), a) != nil) // no scope: an error, never a silent loss
	// Output:
	// true false
	// 7 carol
	// true
}
