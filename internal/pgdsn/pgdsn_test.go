package pgdsn

import "testing"

func TestWithSearchPath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"postgres://u@h:5432/db?sslmode=disable": "postgres://u@h:5432/db?search_path=s1&sslmode=disable",
		"postgresql://h/db?search_path=old":      "postgresql://h/db?search_path=s1",
		"host=h user=u dbname=db":                "host=h user=u dbname=db search_path=s1",
	} {
		if got := WithSearchPath(in, "s1"); got != want {
			t.Errorf("WithSearchPath(%q) = %q, want %q", in, got, want)
		}
	}
}
