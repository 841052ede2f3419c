package auditstore

import (
	"encoding/json"
	"testing"
)

var validJSONCases = []string{
	``, ` `, `0`, `-0`, `01`, `-`, `1.`, `.5`, `1.5`, `1e5`, `1E+5`, `1e-`, `1e`, `-12.50e-3`, `12a`, ` 1`, `1 `,
	`""`, `"`, `"a`, `"a"`, `"a"b"`, `"\n"`, `"\u00e9"`, `"\x"`, "\"\x01\"", "\"\xff\"", `"é"`, `" "`,
	`null`, `nul`, `nulll`, `true`, `tru`, `false`, `falsey`, `{}`, `{"a":1}`, `[1,2]`, `[`, `{"a"}`, ` null`,
	`"a" "b"`, `1 2`, `NaN`, `Infinity`, `+1`, `0x10`,
}

// validJSON agrees with json.Valid on every value, the fast paths' edges
// included.
func TestValidJSON(t *testing.T) {
	t.Parallel()
	for _, c := range validJSONCases {
		if got, want := validJSON([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("validJSON(%q) = %v, json.Valid says %v", c, got, want)
		}
	}
}

func FuzzValidJSON(f *testing.F) {
	for _, c := range validJSONCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		if got, want := validJSON(v), json.Valid(v); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid says %v", v, got, want)
		}
	})
}
