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

func TestKeywords(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"host=h", " host = h", "_x=1", "dbname=a=b"} {
		if !IsKeywordForm(s) {
			t.Errorf("%q is not taken for the keyword form", s)
		}
	}
	for _, s := range []string{"app.db", "/tmp/x=y.db", "./a=b", "postgres://h/db", "1x=2", "=x", "user:pw@tcp(h)/db"} {
		if IsKeywordForm(s) {
			t.Errorf("%q is taken for the keyword form", s)
		}
	}
	got, err := ParseKeywords(` host = h  password='it''s' user=a\ b  sslpassword='x y\'z' empty='' `)
	if err == nil {
		t.Fatalf("adjacent quotes accepted: %v", got)
	}
	got, err = ParseKeywords(` host = h  password='p w\'d\\' user=a\ b  sslpassword= q empty='' `)
	want := []Setting{{"host", "h"}, {"password", `p w'd\`}, {"user", "a b"}, {"sslpassword", "q"}, {"empty", ""}}
	if err != nil || len(got) != len(want) {
		t.Fatalf("ParseKeywords = %v, %v", got, err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("setting %d = %v, want %v", i, got[i], want[i])
		}
	}
	if s := FormatKeywords(RedactKeywords(got)); s != `host=h password=xxxxx user='a b' sslpassword=xxxxx empty=''` {
		t.Fatalf("FormatKeywords = %s", s)
	}
	if back, err := ParseKeywords(FormatKeywords(got)); err != nil || len(back) != len(got) || back[1] != got[1] || back[2] != got[2] {
		t.Fatalf("round trip: %v %v", back, err)
	}
	for _, bad := range []string{"host", "host=h password='open", "=x", "host h"} {
		if _, err := ParseKeywords(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
