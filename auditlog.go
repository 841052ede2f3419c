// Package auditlog is the vocabulary of a transactional audit trail for Go
// applications: entries, actions, changes, the registry of audited models and
// the context helpers that carry the actor and request data.
//
// An entry is committed if and only if its change is committed, and it records
// exactly what the change did. The GORM plugin in package auditgorm captures
// every write of a registered model and writes its entry in the statement's
// own transaction; package auditstore reads, migrates and maintains the
// entries table.
//
// Quick start (examples/readme has it as a whole program):
//
//	db, err := gorm.Open(gormlite.Open("app.db"), &gorm.Config{}) // or any GORM SQLite driver
//	err = auditgorm.Migrate(ctx, db)                // creates auditlog_entries
//	err = db.Use(auditgorm.New(auditgorm.Config{})) // installs the capture callbacks
//	err = auditlog.Register(&Book{})                // one line per audited model
//
//	ctx = auditlog.WithActor(ctx, auditlog.Actor{ID: "42", Name: "alice"})
//	book := Book{Title: "Dune"}
//	err = db.WithContext(ctx).Create(&book).Error // writes a create entry
//
//	page, err := auditgorm.History(ctx, db, &book, auditstore.Page{Limit: 20})
package auditlog

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Action is what an entry records. The numeric values are stored and are the
// same as the seed system's, ordered from least to most intrusive.
type Action int8

// The actions an entry can record.
const (
	ActionCreate Action = 0
	ActionUpdate Action = 1
	ActionDelete Action = 2
	ActionAccess Action = 3
)

// String returns "create", "update", "delete" or "access".
func (a Action) String() string {
	switch a {
	case ActionCreate:
		return "create"
	case ActionUpdate:
		return "update"
	case ActionDelete:
		return "delete"
	case ActionAccess:
		return "access"
	}
	return "action(" + strconv.Itoa(int(a)) + ")"
}

// Valid reports whether a is one of the four defined actions.
func (a Action) Valid() bool { return a >= ActionCreate && a <= ActionAccess }

// ParseAction parses the result of Action.String, or a number.
func ParseAction(s string) (Action, error) {
	switch s {
	case "create":
		return ActionCreate, nil
	case "update":
		return ActionUpdate, nil
	case "delete":
		return ActionDelete, nil
	case "access":
		return ActionAccess, nil
	}
	if n, err := strconv.Atoi(s); err == nil && Action(n).Valid() {
		return Action(n), nil
	}
	return 0, fmt.Errorf("auditlog: unknown action %q: use create, update, delete or access", s)
}

// Actor is who made a change. ID is the stable identifier (a user id, a
// service name); Name is a display name kept with the entry so it survives the
// actor's deletion.
type Actor struct {
	ID   string
	Name string
}

// IsZero reports whether no actor is set.
func (a Actor) IsZero() bool { return a.ID == "" && a.Name == "" }

// String is how the actor is shown: its name, else its id, else "".
func (a Actor) String() string {
	if a.Name != "" {
		return a.Name
	}
	return a.ID
}

// Entry is one row of the audit log.
type Entry struct {
	ID        int64
	Timestamp time.Time // UTC, microsecond precision
	Action    Action
	// Model is the registered model's stable name (by default its table name).
	Model string
	// ObjectPK is the text form of the object's primary key; a composite key
	// is a JSON array.
	ObjectPK string
	// ObjectID is the key as an integer when it is one, else nil.
	ObjectID   *int64
	ObjectRepr string
	// Changes maps a column name to what happened to it. Nil for access entries.
	Changes Changes
	// SerializedData is an optional snapshot of the object, as JSON.
	SerializedData json.RawMessage
	// AdditionalData is the model's additional data and the context's extra
	// data, as JSON.
	AdditionalData json.RawMessage
	// ActorID and ActorName are empty when the change had no actor.
	ActorID   string
	ActorName string
	// RemoteAddr is empty and RemotePort zero when unknown.
	RemoteAddr string
	RemotePort int
	// CorrelationID ties the entries of one request or job together.
	CorrelationID string
	// Unreadable is empty for an entry read as it was written. A stored
	// entry that does not decode (a column changed by hand, a damaged row)
	// is still read, with Unreadable saying which columns and why: their
	// fields are left zero, the others hold what was stored. Nothing can be
	// rebuilt from such an entry; readers show it as unreadable.
	Unreadable string
}

// UnreadableColumn reports whether Unreadable names column: its field is
// then zero because the stored value did not decode.
func (e *Entry) UnreadableColumn(column string) bool {
	return strings.HasPrefix(e.Unreadable, column+": ") || strings.Contains(e.Unreadable, "; "+column+": ")
}

// Actor returns the entry's actor.
func (e *Entry) Actor() Actor { return Actor{ID: e.ActorID, Name: e.ActorName} }

// String returns "Created Book(1)", "Updated …", "Deleted …" or "Logged …",
// as the seed system does.
func (e *Entry) String() string {
	switch e.Action {
	case ActionCreate:
		return "Created " + e.ObjectRepr
	case ActionUpdate:
		return "Updated " + e.ObjectRepr
	case ActionDelete:
		return "Deleted " + e.ObjectRepr
	}
	return "Logged " + e.ObjectRepr
}

// Reprer is implemented by models that choose their own object repr, the
// text stored with each entry to name the object. Without it, a model's
// String method is used, and without that "Type(key)".
type Reprer interface {
	AuditRepr() string
}

// AdditionalDataProvider is implemented by models that attach data to each of
// their entries (additional_data), like the seed system's
// get_additional_data. The value must encode to JSON.
type AdditionalDataProvider interface {
	AuditAdditionalData() any
}
