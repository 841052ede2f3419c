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
