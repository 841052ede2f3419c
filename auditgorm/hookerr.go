package auditgorm

import (
	"reflect"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog/internal/capture"
	"github.com/go-auditlog/auditlog/internal/value"
)

// A failed statement's error may quote the values it sent: MariaDB's
// duplicate-key error names the key's value ("Duplicate entry 'x' for key
// 'k'"), PostgreSQL's invalid-input errors the text they could not read.
// Hooks export it (auditotel's span), so they see it without the clear
// values of the model's masked and excluded fields; the application's own
// error is left as the database wrote it.

// scrubbedError is a failed statement's error as the hooks see it: its
// text without the statement's secret values, and the error itself
// underneath, for errors.Is and errors.As.
type scrubbedError struct {
	err  error
	text string
}

func (e *scrubbedError) Error() string { return e.text }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrubbed returns err as the hooks see it.
func (o *observation) scrubbed(db *gorm.DB, err error) error {
	if o == nil || o.m == nil || len(o.m.secret) == 0 {
		return err
	}
	text := o.m.sentSecrets(db, o.set).Quoted(err.Error())
	if text == err.Error() {
		return err
	}
	return &scrubbedError{err: err, text: text}
}

// sentSecrets returns a scrubber that knows the clear values of m's secret
// fields that the statement sent: in the rows it creates (its objects, and
// GORM's VALUES clause, which holds them as the driver got them, maps'
// included), and in what its SET or an upsert's DO UPDATE assigns.
func (m *model) sentSecrets(db *gorm.DB, set clause.Set) *capture.Scrubber {
	var sc capture.Scrubber
	stmt := db.Statement
	add := func(f *field, x any) {
		if _, ok := x.(clause.Expression); ok {
			return // excluded.col and the like: no value of the statement's
		}
		defer func() {
			// A Valuer that panics here panicked for the driver too, which
			// then sent nothing of it.
			_ = recover()
		}()
		if v, err := value.Normalize(x, f.opts); err == nil && !v.IsNull() {
			sc.Add(v.Text(), m.standIn(f, v))
		}
	}
	secret := func(col string) *field {
		for _, f := range m.secret {
			if f.column == col || f.f.Name == col {
				return f
			}
		}
		return nil
	}
	eachRow(stmt.ReflectValue, func(row reflect.Value) {
		for _, f := range m.secret {
			if x, _ := f.f.ValueOf(stmt.Context, row); x != nil {
				add(f, x)
			}
		}
	})
	if c, ok := stmt.Clauses["VALUES"]; ok {
		if vs, ok := c.Expression.(clause.Values); ok {
			for i, col := range vs.Columns {
				if f := secret(col.Name); f != nil {
					for _, row := range vs.Values {
						if i < len(row) {
							add(f, row[i])
						}
					}
				}
			}
		}
	}
	if c, ok := stmt.Clauses["ON CONFLICT"]; ok {
		if oc, ok := c.Expression.(clause.OnConflict); ok {
			set = append(set[:len(set):len(set)], oc.DoUpdates...)
		}
	}
	for _, a := range set {
		if f := secret(a.Column.Name); f != nil {
			add(f, a.Value)
		}
	}
	return &sc
}
