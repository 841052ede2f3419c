package auditcli

import (
	"io"
	"net/http"
	"testing"
)

// serve accepts exactly the credentials it was given: the right user and
// password together, or the token, whatever the lengths of wrong ones.
// Both the user and the password are compared every time, by their
// SHA-256 digests, so neither a wrong user nor a length shows in the time
// an answer takes (sameSecret).
func TestServeAuthorizer(t *testing.T) {
	t.Parallel()
	env := Env{Stderr: io.Discard, Getenv: func(string) string { return "0123456789abcdef0123" }}
	basic, err := authorizer(env, authFlags{basic: "auditor:correct-horse"}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	token, err := authorizer(env, authFlags{tokenEnv: "T"}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	req := func(user, pass, bearer string, withBasic bool) *http.Request {
		r, _ := http.NewRequest("GET", "http://127.0.0.1/", nil)
		if withBasic {
			r.SetBasicAuth(user, pass)
		}
		if bearer != "" {
			r.Header.Set("Authorization", "Bearer "+bearer)
		}
		return r
	}
	header := func(v string) *http.Request {
		r, _ := http.NewRequest("GET", "http://127.0.0.1/", nil)
		r.Header.Set("Authorization", v)
		return r
	}
	for _, tc := range []struct {
		name      string
		authorize func(*http.Request) bool
		r         *http.Request
		want      bool
	}{
		{"basic: right", basic, req("auditor", "correct-horse", "", true), true},
		{"basic: wrong user", basic, req("auditer", "correct-horse", "", true), false},
		{"basic: longer user", basic, req("auditor2", "correct-horse", "", true), false},
		{"basic: wrong password", basic, req("auditor", "correct-horsf", "", true), false},
		{"basic: shorter password", basic, req("auditor", "correct", "", true), false},
		{"basic: both wrong", basic, req("x", "y", "", true), false},
		{"basic: empty", basic, req("", "", "", true), false},
		{"basic: none", basic, req("", "", "", false), false},
		{"token: bearer", token, req("", "", "0123456789abcdef0123", false), true},
		{"token: wrong bearer", token, req("", "", "0123456789abcdef0124", false), false},
		{"token: shorter bearer", token, req("", "", "0123456789abcdef", false), false},
		{"token: as the password", token, req("anyone", "0123456789abcdef0123", "", true), true},
		{"token: wrong password", token, req("anyone", "0123456789abcdef012", "", true), false},
		{"token: none", token, req("", "", "", false), false},
		// The scheme's name has no case (RFC 9110).
		{"token: lower-case bearer", token, header("bearer 0123456789abcdef0123"), true},
		{"token: upper-case bearer", token, header("BEARER 0123456789abcdef0123"), true},
		{"token: lower-case, wrong", token, header("bearer 0123456789abcdef0124"), false},
		{"token: no space", token, header("Bearer0123456789abcdef0123"), false},
	} {
		if got := tc.authorize(tc.r); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"secret", "secret", 1}, {"secret", "secreT", 0}, {"secret", "secret-longer", 0}, {"", "", 1}, {"", "x", 0},
	} {
		if got := sameSecret(tc.a, digest(tc.b)); got != tc.want {
			t.Errorf("sameSecret(%q, digest(%q)) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
