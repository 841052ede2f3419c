package auditgorm

import "testing"

// sqlCode blanks comments and quoted literals, doubled quotes included,
// and keeps the rest.
func TestSQLCode(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"a UNIQUE ON CONFLICT REPLACE", "a UNIQUE ON CONFLICT REPLACE"},
		{"a UNIQUE ON /* x */ CONFLICT REPLACE", "a UNIQUE ON   CONFLICT REPLACE"},
		{"a -- ON CONFLICT REPLACE\nb", "a  \nb"},
		{"d DEFAULT 'it''s ON CONFLICT REPLACE' x", "d DEFAULT   x"},
		{`"col ""q"" ON CONFLICT REPLACE" int`, "  int"},
		{"[ON CONFLICT REPLACE] int, `on conflict replace` t", "  int,   t"},
		{"x 'unclosed ON CONFLICT REPLACE", "x  "},
		{"x /* unclosed ON CONFLICT REPLACE", "x  "},
	} {
		if got := sqlCode(c.in); got != c.want {
			t.Errorf("sqlCode(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
