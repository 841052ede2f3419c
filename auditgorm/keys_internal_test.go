package auditgorm

import (
	"reflect"
	"testing"

	"gorm.io/gorm/clause"
)

// keysWhere pins a one-column integer key by runs of consecutive values
// (BETWEEN) and the rest by a list, and everything else by a list.
func TestKeysWhere(t *testing.T) {
	t.Parallel()
	col := clause.Column{Table: "t", Name: "id"}
	between := func(a, b int64) clause.Expression {
		return clause.Expr{SQL: "? BETWEEN ? AND ?", Vars: []any{col, a, b}}
	}
	keys := func(vs ...any) [][]any {
		out := make([][]any, len(vs))
		for i, v := range vs {
			out[i] = []any{v}
		}
		return out
	}
	in := func(vs ...any) clause.Expression { return clause.IN{Column: col, Values: vs} }
	for _, c := range []struct {
		name    string
		vals    [][]any
		integer bool
		want    clause.Expression
	}{
		{"one run, out of order, repeated", keys(int64(3), int64(1), int64(2), int64(4), int64(2)), true, between(1, 4)},
		{"runs and singles", keys(int64(1), int64(2), int64(3), int32(7), int64(9), int64(10), int64(11), int64(12), uint64(20)), true,
			clause.Or(between(1, 3), between(9, 12), clause.IN{Column: col, Values: []any{int64(7), int64(20)}})},
		{"scattered: the list", keys(int64(1), int64(3), int64(5), int64(6)), true, in(int64(1), int64(3), int64(5), int64(6))},
		{"not integers: the list", keys([]byte("1"), []byte("2"), []byte("3")), true, in([]byte("1"), []byte("2"), []byte("3"))},
		{"a column that is not an integer key: the list", keys(int64(1), int64(2), int64(3)), false, in(int64(1), int64(2), int64(3))},
		{"one key: the list", keys(int64(5)), true, in(int64(5))},
	} {
		if got := keysWhere("t", []string{"id"}, c.vals, c.integer); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %#v, want %#v", c.name, got, c.want)
		}
	}
}
