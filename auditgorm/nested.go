package auditgorm

import (
	"context"
	"reflect"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"
)

// GORM saves a statement's associations (the join rows of a many-to-many
// Append, related objects) after its write, with statements nested in the
// same transaction, and adds their errors to the statement: when that
// statement's transaction is rolled back on error (GORM's default one),
// a nested statement's failure rolls back everything, and its capture
// needs no savepoint of its own. markNested and unmarkNested mark the
// statement's context for exactly the time GORM saves them (a hook of
// the model, which may ignore a nested statement's error, runs after), and
// claimNested takes the mark off each nested statement, for that
// statement alone, before the hooks of the associated model run: a
// statement one of them runs may have its error ignored too.

// nestedKey keys the mark in a statement's context.
type nestedKey struct{}

// nestedMark is the transaction the nested statements run in, the owner's
// schema (whose associations and join tables they write), and the context
// before the mark.
type nestedMark struct {
	pool   gorm.ConnPool
	owner  *schema.Schema
	before context.Context
}

// markNested runs before gorm:save_after_associations, on every create and
// update: a statement of a model without associations is left alone.
func markNested(db *gorm.DB) {
	if db.Error != nil || db.Statement.Schema == nil || len(db.Statement.Schema.Relationships.Relations) == 0 || !rollsBackOnError(db) {
		return
	}
	ctx := db.Statement.Context
	db.Statement.Context = context.WithValue(ctx, nestedKey{}, &nestedMark{pool: db.Statement.ConnPool, owner: db.Statement.Schema, before: ctx})
}

// writes reports whether table is one the owner's associations are saved
// to: a related model's or a join table.
func (m *nestedMark) writes(table string) bool {
	for _, rel := range m.owner.Relationships.Relations {
		if !ownRelation(m.owner, rel) {
			continue
		}
		if rel.FieldSchema != nil && rel.FieldSchema.Table == table || rel.JoinTable != nil && rel.JoinTable.Table == table {
			return true
		}
	}
	return false
}

// unmarkNested runs after gorm:save_after_associations, before the
// model's After hooks.
func unmarkNested(db *gorm.DB) {
	if m, ok := db.Statement.Context.Value(nestedKey{}).(*nestedMark); ok {
		db.Statement.Context = m.before
	}
}

// nestedClaimKey marks a statement that claimNested found nested.
const nestedClaimKey = "auditlog:nested"

// claimNested runs first of a create, update and delete (before the
// model's Before hooks): a statement GORM nested in a statement whose
// transaction is rolled back on error (it runs in that transaction and
// writes one of the tables GORM saves the statement's associations to)
// is marked as such, and its context loses the mark, so that the
// statements its model's hooks run (whose errors a hook may ignore) keep
// their savepoints.
func claimNested(db *gorm.DB) {
	m, ok := db.Statement.Context.Value(nestedKey{}).(*nestedMark)
	if !ok {
		return
	}
	db.Statement.Context = m.before
	if m.writes(db.Statement.Table) && samePool(m.pool, db.Statement.ConnPool) {
		db.InstanceSet(nestedClaimKey, true)
	}
}

// nestedInRollback reports whether claimNested found the statement nested
// in a statement whose transaction is rolled back on error.
func nestedInRollback(db *gorm.DB) bool {
	v, ok := db.InstanceGet(nestedClaimKey)
	b, _ := v.(bool)
	return ok && b
}

// samePool reports whether a and b are the same connection or
// transaction (pointers to one value; other kinds are never taken for
// the same).
func samePool(a, b gorm.ConnPool) bool {
	ra, rb := reflect.ValueOf(a), reflect.ValueOf(b)
	return ra.IsValid() && rb.IsValid() && ra.Type() == rb.Type() && ra.Kind() == reflect.Pointer && ra.Pointer() == rb.Pointer()
}
