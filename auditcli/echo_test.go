package auditcli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An argument in the wrong place may be a secret pasted there: a
// password given as the command, or as the path of --tls-key, was
// repeated in the error.
func TestArgumentsInTheWrongPlaceAreNotRepeated(t *testing.T) {
	t.Parallel()
	cert := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(cert, []byte("not read as far as this"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"Sup3rS3cretPw"},
		{"flush", "--db", "x.db", "-Sup3rS3cretPw"},
		{"flush", "--db", "x.db", "--Sup3rS3cretPw=1"},
		{"revert", "--db", "x.db", "Sup3rS3cretPw"},
		{"history", "--db", "x.db", "--limit", "Sup3rS3cretPw", "books", "1"},
		{"flush", "--db", "x.db", "---Sup3rS3cretPw"},
		{"flush", "--db", "x.db", "-=Sup3rS3cretPw"},
		{"flush", "--db", "x.db", "--yes=Sup3rS3cretPw"},
		{"serve", "--db", "x.db", "--tls-cert", cert, "--tls-key", "Sup3rS3cretPw", "--insecure-no-auth"},
	} {
		r := run(t, "", false, args...)
		if r.code == 0 || strings.Contains(r.stderr+r.stdout, "S3cret") {
			t.Errorf("%q: %+v", args, r)
		}
	}
}
