package value_test

import (
	"encoding/json"
	"testing"

	"github.com/go-auditlog/auditlog/internal/value"
)

// FuzzNormalize: any text, as a string, bytes, JSON or decimal column,
// normalises without panicking to a value equal to itself whose JSON is
// valid.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"", "44.00", "1e400", `{"b":1,"a":[1,2]}`, "null", "NaN", "\xff", `"quoted"`, "-0.0", "12345678901234567890"} {
		f.Add(s, true, false)
		f.Add(s, false, true)
	}
	f.Fuzz(func(t *testing.T, s string, isJSON, isDecimal bool) {
		opts := value.Options{JSON: isJSON, Decimal: isDecimal}
		for _, in := range []any{s, []byte(s), &s, json.RawMessage(s)} {
			v, err := value.Normalize(in, opts)
			if err != nil {
				continue // invalid raw JSON is refused, not recorded wrongly
			}
			if !v.Equal(v) {
				t.Fatalf("%q is not equal to itself", s)
			}
			raw, _ := v.MarshalJSON()
			if !json.Valid(raw) {
				t.Fatalf("%q encodes to invalid JSON %s", s, raw)
			}
		}
	})
}
