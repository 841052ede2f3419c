package auditgorm

import (
	"reflect"
	"strings"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"github.com/go-auditlog/auditlog/internal/testdb"
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

// tuplesIn matches the rows "(cols) IN (vals)" matches, on every database,
// NULLs included (a NULL matches nothing either way), and reads one tuple
// of several columns by equalities, which SQLite searches its index by
// without first filling a list.
func TestTuplesIn(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		if err := db.Exec("CREATE TABLE pairs (a INTEGER, b INTEGER)").Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Exec("INSERT INTO pairs (a, b) VALUES (1, 2), (1, NULL), (NULL, 2), (1, 3), (2, 2)").Error; err != nil {
			t.Fatal(err)
		}
		cols := []string{"a", "b"}
		for _, vals := range [][][]any{
			{{1, 2}}, {{1, nil}}, {{nil, 2}}, {{nil, nil}}, {{9, 9}},
			{{1, 2}, {2, 2}}, {{1, nil}, {1, 3}},
		} {
			count := func(e clause.Expression) int64 {
				var n int64
				if err := db.Table("pairs").Where(e).Count(&n).Error; err != nil {
					t.Fatalf("%v: %v", vals, err)
				}
				return n
			}
			column, values := schema.ToQueryValues("pairs", cols, vals)
			if got, want := count(tuplesIn("pairs", cols, vals)), count(clause.IN{Column: column, Values: values}); got != want {
				t.Errorf("%v: %d rows, the row values' IN matches %d", vals, got, want)
			}
		}
		sql := db.Session(&gorm.Session{DryRun: true}).Table("pairs").Where(tuplesIn("pairs", cols, [][]any{{1, 2}})).Find(&[]map[string]any{}).Statement.SQL.String()
		if strings.Contains(sql, " IN ") {
			t.Errorf("one pair is read by a list: %s", sql)
		}
	})
}

// The table of a Table expression, with any characters in its quoted
// names (GORM quotes Table("db.t") whole).
func TestTableOfExpr(t *testing.T) {
	for _, c := range []struct{ sql, table string }{
		{"docs", "docs"},
		{"  docs AS d", "docs"},
		{"docs d", "docs"},
		{"reports.books as r", "reports.books"},
		{"`otherdb`.`t`", "otherdb.t"},
		{`"archive"."bücher"`, "archive.bücher"},
		{`"archive"."order-items" AS o`, "archive.order-items"},
		{"bücher AS b", "bücher"},
		{`"a""b"`, `a"b`},
		{"`a``b`.c", "a`b.c"},
		{"(SELECT * FROM t) AS x", ""},
		{"docs AS d, other", ""},
		{"a.b.c", ""},
		{`"unclosed`, ""},
		{`""`, ""},
		{"docs AS", ""},
		{`"x"y`, ""},
	} {
		got, ok := tableOfExpr(c.sql)
		if got != c.table || ok != (c.table != "") {
			t.Errorf("tableOfExpr(%q) = %q, %v; want %q", c.sql, got, ok, c.table)
		}
	}
}
